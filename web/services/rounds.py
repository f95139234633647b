"""Matching rounds: create (scope, filters, config, capacities) → solve → review/adjust → publish.

A round's inputs are frozen in its snapshot on the first solve, so a re-solve (after a lock, an
exclusion or a capacity change) and a replay see the same features. Every change bumps the round's
version (an optimistic lock): a coordinator acting on an old page gets a ``Conflict``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import gc
import hashlib
import itertools
import operator
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from typing import Any, NamedTuple, TypeVar

import numpy as np
import orjson
import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.orm.exc import StaleDataError

from matching.config import RoundConfig
from matching.features import CraftsmanFeatures
from matching.outcome import ProposedPair, RoundInputs, run_round
from matching.problem import ProblemError
from matching.result import OPTIMAL, Result
from web.caches import LastFew
from web.clock import local_today
from web.cpu import idle_core
from web.models import (
    Craftsman,
    Demand,
    DemandCategory,
    DemandRole,
    DemandStatus,
    DemandStatusEvent,
    Engagement,
    EngagementMember,
    MatchingRound,
    Proposal,
    Region,
    RoundCraftsman,
    RoundDemand,
    RoundFeatures,
    User,
    demand_industry,
)
from web.policy import covers, region_subtree
from web.services import audit, eligibility, explain, features, notifications, reference
from web.services.craftsmen import filtered_query
from web.services.errors import Conflict, NotFound, PermissionDenied, ServiceError, ValidationFailed
from web.services.paging import Page, page_of, paginate

T = TypeVar("T")
U = TypeVar("U")
PRIORITY_BY_URGENCY = {"low": 1.0, "medium": 1.5, "high": 2.0}
SOLVING_STATUSES = ("queued", "solving")
INTERRUPTED = "interrupted"  # solver_status of a background solve that never finished
WARNING_LABELS = explain.WARNING_LABELS
# Why a role of a team demand stayed open (``_unfilled_roles``), in the words a coordinator acts on.
ROLE_GAP_LABELS = {
    "no_holder": _l("no eligible craftsman in this round holds this skill"),
    "excluded": _l("every craftsman with this skill is excluded from this demand"),
    "ruled_out": _l("craftsmen with this skill cannot serve this demand (distance, dates, capacity or another rule)"),
    "taken": _l("all craftsmen with this skill are taken by other demands or roles"),
}
DEMAND_FILTER_KEYS = ("region", "category", "industry", "urgency", "q")
CRAFTSMAN_FILTER_KEYS = ("region", "honour", "industry", "skill", "studio")


def default_config() -> dict[str, Any]:
    return RoundConfig().to_dict()


def _config(data: dict[str, Any]) -> RoundConfig:
    try:
        return RoundConfig.from_dict(data)
    except ProblemError as error:  # FeatureError is a ProblemError: it names the field
        raise ValidationFailed({getattr(error, "field", "config"): [str(error)]}) from None


def get_round(session: Session, round_id: int, actor: User | None = None) -> MatchingRound:
    rnd = session.get(MatchingRound, round_id)
    if rnd is None:
        raise NotFound(_l("This matching round does not exist."))
    if actor is not None and not covers(actor, rnd.region_id, session):
        raise PermissionDenied(_l("This round belongs to another region."))
    return rnd


def _require_editor(actor: User | str | None) -> None:
    if isinstance(actor, User) and not actor.can_edit():
        raise PermissionDenied(_l("Viewers cannot change matching rounds."))


def _check_version(rnd: MatchingRound, expected_version: int | None) -> None:
    if expected_version is not None and int(expected_version) != rnd.version:
        raise Conflict(_l("Someone else changed this round meanwhile. Reload the page to see the current state."))


def _require_editable(rnd: MatchingRound, expected_version: int | None) -> None:
    _check_version(rnd, expected_version)
    if rnd.status == "published":
        raise ServiceError(_l("This round is published and can no longer change."), field="status")


def require_editable(rnd: MatchingRound, actor: User | str | None, expected_version: int | None = None) -> None:
    """Raise unless ``actor`` may change ``rnd`` now: an editor, on the round's current version, not published."""
    _require_editor(actor)
    _require_editable(rnd, expected_version)


def _touch(session: Session, rnd: MatchingRound) -> None:
    """Bump the round's version (optimistic lock); a concurrent writer gets a Conflict, not an overwrite."""
    flag_modified(rnd, "filters")
    try:
        session.flush()
    except StaleDataError:
        raise Conflict(_l("Someone else changed this round meanwhile. Reload the page to see the current state.")) \
            from None


# ---------------------------------------------------------------- create
def demand_query(session: Session, filters: dict[str, Any], scope: frozenset[int] | None) -> sa.Select:
    query = sa.select(Demand.id, Demand.team_size, Demand.urgency).where(Demand.status == "open")
    if scope is not None:
        query = query.where(Demand.region_id.in_(sorted(scope)))
    if filters.get("region"):
        region_id = session.scalar(sa.select(Region.id).where(Region.code == filters["region"]))
        query = query.where(Demand.region_id.in_(sorted(region_subtree(region_id, session)) if region_id else []))
    if filters.get("category"):
        query = query.where(Demand.category_id.in_(
            sa.select(DemandCategory.id).where(DemandCategory.code == filters["category"])))
    if filters.get("industry"):
        query = query.where(Demand.id.in_(sa.select(demand_industry.c.demand_id).where(
            demand_industry.c.industry_id.in_(reference.industry_ids_under(filters["industry"])))))
    if filters.get("urgency") in PRIORITY_BY_URGENCY:
        query = query.where(Demand.urgency == filters["urgency"])
    if filters.get("q"):
        query = query.where(Demand.title.contains(filters["q"]))
    return query


def create_round(session: Session, *, name: str, demand_filters: dict[str, Any] | None = None,
                 craftsman_filters: dict[str, Any] | None = None, config: dict[str, Any] | None = None,
                 default_capacity: int | None = None, actor: User | str | None, now: dt.datetime) -> MatchingRound:
    """A draft round over the open demands and active craftsmen that pass the filters, within the actor's region."""
    _require_editor(actor)
    name = (name or "").strip()
    if not name or len(name) > 120:
        raise ServiceError(_l("Give the round a name of at most 120 characters."), field="name")
    if default_capacity is not None and not 0 <= default_capacity <= 50:
        raise ServiceError(_l("The capacity per round must be between 0 and 50."), field="default_capacity")
    round_config = _config({**default_config(), **(config or {})})
    demand_filters = {k: v for k, v in (demand_filters or {}).items() if k in DEMAND_FILTER_KEYS and v}
    craftsman_filters = {k: v for k, v in (craftsman_filters or {}).items() if k in CRAFTSMAN_FILTER_KEYS and v}
    actor_region = actor.region_id if isinstance(actor, User) else None
    scope = region_subtree(actor_region, session) if actor_region is not None else None
    demands = session.execute(demand_query(session, demand_filters, scope).order_by(Demand.id)).all()
    pool = filtered_query(session, {**craftsman_filters, "status": "active"}, scope=scope).subquery()
    craftsmen = session.execute(sa.select(pool.c.id, pool.c.round_capacity).order_by(pool.c.id)).all()
    if not demands:
        raise ServiceError(_l("No open demand matches these filters."), field="demand_filters")
    if not craftsmen:
        raise ServiceError(_l("No active craftsman matches these filters."), field="craftsman_filters")
    rnd = MatchingRound(name=name, status="draft", region_id=actor_region, config=round_config.to_dict(),
                        filters={"demands": demand_filters, "craftsmen": craftsman_filters,
                                 "default_capacity": default_capacity},
                        created_by_id=actor.id if isinstance(actor, User) else None, created_at=now)
    session.add(rnd)
    session.flush()
    session.execute(sa.insert(RoundDemand), [
        {"round_id": rnd.id, "demand_id": d.id, **_places_and_priority(d)} for d in demands])
    session.execute(sa.insert(RoundCraftsman), [
        {"round_id": rnd.id, "craftsman_id": c.id, **capacity_in_round(c, default_capacity)} for c in craftsmen])
    audit.record(session, actor=actor, action="round.create", entity=rnd, now=now,
                 after={"name": name, "filters": rnd.filters, "config": rnd.config, "demands": len(demands),
                        "craftsmen": len(craftsmen)})
    return rnd


def _places_and_priority(demand: Demand) -> dict[str, Any]:
    """What a round holds of a demand (`RoundDemand`): its places to fill and its priority, from the team size and
    urgency; copied when the round is created and again when the demand is edited before the round publishes."""
    return {"slots": max(1, demand.team_size), "priority": PRIORITY_BY_URGENCY.get(demand.urgency, 1.0)}


def capacity_in_round(craftsman: Any, default_capacity: int | None) -> dict[str, Any]:
    """What a round holds of a craftsman it takes in (`RoundCraftsman`): the number of demands the coordinator
    chose for every craftsman of the round, or else his profile's, copied (and followed by
    :func:`follow_capacity_edit`)."""
    if default_capacity is None:
        return {"capacity": craftsman.round_capacity, "capacity_chosen": False}
    return {"capacity": default_capacity, "capacity_chosen": True}


def _unpublished_rounds() -> sa.Select:
    return sa.select(MatchingRound.id).where(MatchingRound.status != "published")


def _release_locks_beyond(session: Session, locked: sa.Select, keep: int, reason: str, *,
                          actor: User | str | None, now: dt.datetime) -> None:
    """Of the locked proposals ``locked`` selects (id, craftsman_id, demand_id, round_id; each round's in the order
    they are kept), those beyond the first ``keep`` of each round are released, on the record of their round."""
    by_round: dict[int, list[Any]] = defaultdict(list)
    for row in session.execute(locked).all():
        by_round[row.round_id].append(row)
    for round_id, rows in by_round.items():
        _release_locks(session, session.get(MatchingRound, round_id), rows[keep:], reason, actor=actor, now=now)


def _locked_in(round_ids: sa.Select | list[int]) -> sa.Select:
    """The locked proposals of these rounds, as :func:`_release_locks_beyond` reads them."""
    return sa.select(Proposal.id, Proposal.craftsman_id, Proposal.demand_id, Proposal.round_id).where(
        Proposal.locked, Proposal.round_id.in_(round_ids))


def follow_demand_edit(session: Session, demand: Demand, *, actor: User | str | None, now: dt.datetime) -> None:
    """The places and priority the rounds not published yet hold for an edited demand: they were copied from its
    team size and urgency when each round was created, and a solve reads them there (the edit itself marks the
    demand's proposals until a re-solve, which then fills as many places as the demand now wants). Locks beyond
    a team cut smaller are released, on the record (the first by craftsman kept), or that re-solve would fail."""
    copied = _places_and_priority(demand)
    session.execute(sa.update(RoundDemand).where(RoundDemand.demand_id == demand.id,
                                                 RoundDemand.round_id.in_(_unpublished_rounds())).values(**copied))
    _release_locks_beyond(session, _locked_in(_unpublished_rounds()).where(Proposal.demand_id == demand.id)
                          .order_by(Proposal.round_id, Proposal.craftsman_id),
                          copied["slots"], "the demand's team was made smaller", actor=actor, now=now)


def follow_capacity_edit(session: Session, craftsman_id: int, before: int, after: int, *,
                         actor: User | str | None, now: dt.datetime) -> None:
    """A craftsman's demands per round, edited on his profile, reach the rounds not published yet that hold the
    number copied from it when they were created (a number the coordinator chose stays: ``capacity_chosen``). His
    locks on open demands beyond the new number are released on the record (the first by demand kept): he can no
    longer fill them all (a lock on a demand closed meanwhile goes at the next solve)."""
    if before == after:
        return
    followed = session.scalars(
        sa.update(RoundCraftsman).where(RoundCraftsman.craftsman_id == craftsman_id,
                                        RoundCraftsman.capacity_chosen.is_(False),
                                        RoundCraftsman.round_id.in_(_unpublished_rounds()))
        .values(capacity=after).returning(RoundCraftsman.round_id)).all()
    if not followed or after > before:
        return
    _release_locks_beyond(session, _locked_in(followed).join(Demand, Demand.id == Proposal.demand_id)
                          .where(Proposal.craftsman_id == craftsman_id, Demand.status == DemandStatus.open.value)
                          .order_by(Proposal.round_id, Proposal.demand_id),
                          after, "the craftsman's demands per round were lowered", actor=actor, now=now)


# ---------------------------------------------------------------- solve
def _pairs(session: Session, rnd: MatchingRound, *flags) -> list[tuple[str, str]]:
    rows = session.execute(sa.select(Proposal.craftsman_id, Proposal.demand_id)
                           .where(Proposal.round_id == rnd.id, *flags)
                           .order_by(Proposal.demand_id, Proposal.craftsman_id)).all()
    return [(str(c), str(d)) for c, d in rows]


def _locks_with_roles(session: Session, rnd: MatchingRound, roles, craftsmen: CraftsmanFeatures, *,
                      actor: User | str | None, now: dt.datetime
                      ) -> tuple[list[tuple[str, str]], tuple[tuple[str, str, int], ...]]:
    """The round's locked pairs, and among them (craftsman id, demand id, skill column) of those locked onto a named
    team role: one read of the locked proposals.

    What the pools no longer allow is released, on the record, so that the solve does not fail on it and publishing
    does not wait for a role nobody can fill: a role the demand no longer has, or whose speciality the craftsman no
    longer holds, releases that part of the lock (he stays locked onto the demand); holding none of a team's roles,
    he cannot be on it, and the whole lock goes."""
    column_of = {(demand, skill_id): column for demand, column, _, skill_id in roles}
    team_columns: dict[str, list[int]] = defaultdict(list)
    for demand, column, _, _ in roles:
        team_columns[demand].append(column)
    rows = session.execute(sa.select(Proposal.id, Proposal.craftsman_id, Proposal.demand_id,
                                     Proposal.locked_role_skill_id)
                           .where(Proposal.round_id == rnd.id, Proposal.locked)
                           .order_by(Proposal.demand_id, Proposal.craftsman_id)).all()
    index = {c: i for i, c in enumerate(craftsmen.ids)}

    def holds(row: Any, column: int) -> bool:  # as matching.pipeline.team_roles decides who may fill a role
        i = index.get(str(row.craftsman_id))
        return i is not None and craftsmen.skills[i, column] > 0

    locks, role_locks, released, roles_released = [], [], [], []
    for row in rows:
        craftsman, demand = str(row.craftsman_id), str(row.demand_id)
        if demand in team_columns and not any(holds(row, column) for column in team_columns[demand]):
            released.append(row)
            continue
        locks.append((craftsman, demand))
        if row.locked_role_skill_id is None:
            continue
        column = column_of.get((demand, row.locked_role_skill_id))
        if column is not None and holds(row, column):
            role_locks.append((craftsman, demand, column))
        else:
            roles_released.append(row)
    if released or roles_released:
        for rows_, values in ((released, {"locked": False}), (roles_released, {})):
            if rows_:
                session.execute(sa.update(Proposal), [{"id": row.id, "locked_role_skill_id": None, **values}
                                                      for row in rows_])
        audit.record(session, actor=actor, action="round.release_role_locks", entity=rnd, now=now,
                     after={"locks": [[row.craftsman_id, row.demand_id] for row in released],
                            "roles": [[row.craftsman_id, row.demand_id, row.locked_role_skill_id]
                                      for row in roles_released],
                            "reason": "the role is no longer the demand's or the craftsman lacks its speciality"})
    return locks, tuple(role_locks)


def mark_queued(session: Session, rnd: MatchingRound, *, job_id: str | None, actor: User | str | None,
                now: dt.datetime, expected_version: int | None = None) -> MatchingRound:
    _require_editor(actor)
    if rnd.status in SOLVING_STATUSES:  # a second click on a page loaded before the first one queued it
        raise ServiceError(_l("This round is being solved already; its page shows the result when it is ready."),
                           field="status")
    _require_editable(rnd, expected_version)
    rnd.status = "queued"
    rnd.job_id = job_id
    rnd.queued_at = now
    _touch(session, rnd)
    audit.record(session, actor=actor, action="round.queue", entity=rnd, now=now, after={"job_id": job_id})
    return rnd


def mark_solve_interrupted(session: Session, rnd: MatchingRound, *, reason: str, actor: User | str | None,
                           now: dt.datetime) -> MatchingRound:
    """A background solve that will never finish (its job failed, vanished or ran out of time) ends the wait.

    The round becomes ``failed`` with the reason, so its page stops polling and offers to solve again; its
    earlier proposals, if any, stay for review. Doing it twice changes nothing.
    """
    if rnd.status not in ("queued", "solving"):
        return rnd
    before = {"status": rnd.status, "job_id": rnd.job_id}
    rnd.status = "failed"
    rnd.solver_status = INTERRUPTED
    rnd.solver_message = str(reason)[:2000]
    _touch(session, rnd)
    audit.record(session, actor=actor, action="round.solve_interrupted", entity=rnd, now=now, before=before,
                 after={"status": "failed", "reason": str(reason)})
    return rnd


def solve_round(session: Session, rnd: MatchingRound, *, actor: User | str | None, now: dt.datetime,
                expected_version: int | None = None, keep_unaffected: bool = False) -> Result:
    """Solve exactly over the round's craftsmen and demands that are still eligible; store proposals and metrics.

    The features come from the snapshot of the last solve unless a demand was edited since (then the round
    reloads them), and the pools decide eligibility every time: craftsmen who paused or left get no demand,
    capacity booked by other rounds since this one was created is taken off, demands no longer open drop out,
    and locks on them are released (audited). With ``keep_unaffected`` (the repair after the pools moved) every
    proposed pair that no change touches is held for this solve, so only the affected places are filled anew.
    """
    with _cyclic_gc_paused():
        return _solve_round(session, rnd, actor=actor, now=now, expected_version=expected_version,
                            keep_unaffected=keep_unaffected)


def _collect_held_back() -> None:
    """While the cyclic collector is paused for a solve: a full collection done now, on a wait for the server, rather
    than where it would come otherwise. A province round's first solve leaves ~100,000 containers young (the scored
    round, the snapshot's features, the proposals still referenced); promoted to the oldest generation by a younger
    collection, they made the next full one due (its trigger: a quarter as many promoted since the last), and it
    fell in the next request's Python, the re-solve's page (~70-120 ms). Collected fully here, they set the next
    one's trigger by their number instead; the first solve of a process walks few more objects than a pass over
    the young ones would (~45 ms)."""
    if not gc.isenabled():
        gc.collect()


@contextlib.contextmanager
def _cyclic_gc_paused():
    """A province round builds ~10,000 proposals' dicts (facts, breakdowns, rows) that form no cycle; the cyclic
    collector would scan the whole heap again and again while they pile up (0.1-0.2 s of a re-solve)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _solve_round(session: Session, rnd: MatchingRound, *, actor: User | str | None, now: dt.datetime,
                 expected_version: int | None, keep_unaffected: bool) -> Result:
    _require_editor(actor)
    _require_editable(rnd, expected_version)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    today = local_today(now)
    config = _config(rnd.config)
    capacities = dict(session.execute(sa.select(RoundCraftsman.craftsman_id, RoundCraftsman.capacity)
                                      .where(RoundCraftsman.round_id == rnd.id)).all())
    slots = dict(session.execute(sa.select(RoundDemand.demand_id, RoundDemand.slots)
                                 .where(RoundDemand.round_id == rnd.id)).all())
    snapshot = rnd.snapshot
    # a craftsman put on a demand from outside the round (placing) is not in the snapshot, and one whose profile was
    # saved since the last solve may differ from it: reload the features too
    edited = eligibility.edited_craftsmen(session, rnd)
    joined = snapshot and ({str(c) for c in capacities} != set(snapshot["craftsmen"]["ids"]) or bool(edited))
    round_id = rnd.id
    # the craftsmen, when they must be read, are read meanwhile on a second connection if that sees the same
    craftsmen_aside = _read_aside(session, lambda own: features.load_craftsmen(own, round_id, today=today)) \
        if not snapshot or joined else None
    # a first solve has every demand hashed (by the server, ~25 ms): on a third connection too, if it sees the same
    with _ended_on_error(craftsmen_aside):
        fingerprints_aside = _read_aside(session, lambda own: eligibility.demand_fingerprints(
            own, slots, round_id=round_id)) if not snapshot else None
    with _ended_on_error(craftsmen_aside, fingerprints_aside):  # a failed solve leaves no read running
        pools = eligibility.PoolState.read(  # read once, shared with the repair's check
            session, rnd, today, slots, fingerprints=fingerprints_aside.result if fingerprints_aside else None,
            edited=edited)
        affected = {(change.kind, change.id)
                    for change in eligibility.changes_since_solve(session, rnd, today, pools)} \
            if keep_unaffected and rnd.status == "solved" else None
        inactive, booked, closed = pools.inactive, pools.booked, pools.closed
        open_ids = [d for d in slots if d not in closed]
        if not open_ids:
            raise ServiceError(_l("None of this round's demands is still open: they were served, withdrawn or "
                                  "closed since the round was created."), field="demands")
        skill_parent = features.skill_parent_from_snapshot(snapshot) if snapshot else None
        if skill_parent is None:
            skill_parent = features.load_skill_parent(session)
        # the fingerprints are checked now and stored after the solve (a first solve's maybe read meanwhile aside)
        stored_features = None  # the snapshot's craftsmen and demands, while the stored features may be kept
        if snapshot and not joined and not eligibility.edited_demands(session, rnd, open_ids, pools.fingerprints):
            craftsmen, demands, history, _ = features.inputs_from_snapshot(snapshot)
            track_record = features.track_record_from_snapshot(snapshot)
            roles = features.roles_from_snapshot(snapshot)
            if features.reusable(snapshot):
                stored_features = (craftsmen, demands)
        else:
            demands = features.load_demands(session, rnd.id, today=today)
            track_record = features.load_track_record(session, rnd.id)
            # read before the craftsmen are waited for, if read aside: all they need of them is that there are some
            history = features.load_history(session, capacities, demands)
            roles = features.load_roles(session, rnd.id)
            craftsmen = craftsmen_aside.result() if craftsmen_aside else features.load_craftsmen(session, rnd.id,
                                                                                                  today=today)
        if roles is None:
            roles = features.load_roles(session, rnd.id)
        still_open = np.array([int(d) not in closed for d in demands.ids], dtype=bool)
        if not still_open.all():
            demands = demands.take(still_open)
        craftsmen = dataclasses.replace(
            craftsmen, active=np.array([int(c) not in inactive for c in craftsmen.ids], dtype=bool),
            capacity=np.array([max(0, capacities[int(c)] - booked.get(int(c), 0)) for c in craftsmen.ids]))
        demands = dataclasses.replace(demands, slots=np.array([slots[int(d)] for d in demands.ids]))
        demands = features.with_role_slots(demands, roles)
        _release_ineligible_locks(session, rnd, set(inactive), set(closed), actor=actor, now=now)
        _release_locks_beyond_capacity(session, rnd, {c: max(0, capacities.get(c, 0) - n) for c, n in booked.items()},
                                       set(inactive), set(closed), actor=actor, now=now)
        known = {"c": set(craftsmen.ids), "d": set(demands.ids)}

        def in_round(pairs):
            return [(c, d) for c, d in pairs if c in known["c"] and d in known["d"]]

        locks, role_locks = _locks_with_roles(session, rnd, roles, craftsmen, actor=actor, now=now)
        exclusions = sorted(set(in_round(_pairs(session, rnd, Proposal.excluded.is_(True))))
                            | set(in_round(features.declined_pairs(session, rnd.id))))
        previous = in_round(_pairs(session, rnd, Proposal.assigned.is_(True))) if rnd.solved_at else None
        kept = _unaffected(previous or [], affected, locks, exclusions, craftsmen) if affected is not None else []
        timings["load"] = time.perf_counter() - started

        committed = {str(c): n for c, n in _active_loads(session, [int(c) for c in craftsmen.ids]).items()}
        inputs = RoundInputs(craftsmen, demands, config, history=history, track_record=track_record,
                             skill_parent=skill_parent, locks=tuple(locks + kept), exclusions=tuple(exclusions),
                             previous=None if previous is None else tuple(previous), committed=committed,
                             roles=tuple(features.solver_roles(roles, demands.ids)), role_locks=role_locks)
        reuse = _scored_rounds.get(rnd.id)
        solving = _in_background(lambda: run_round(inputs, reuse=reuse, beside_solver=idle_core))

        def prepare_save() -> _SaveInputs:
            return _prepare_save(session, rnd, [int(d) for d in demands.ids], pools.fingerprints)

        try:  # the matching's error first, as when the save's preparation ran after it
            # the fingerprints stored meanwhile stay if the solve is optimal
            with session.begin_nested() as fingerprinting:
                outcome, saving = _alongside(solving, prepare_save)
                if outcome.result.status != OPTIMAL:  # a failed solve leaves them as they were
                    fingerprinting.rollback()
        except ProblemError as error:
            raise ServiceError(_l("The round cannot be built: %(error)s", error=str(error)), field="config") from None
        _scored_rounds.keep(rnd.id, outcome.scored)
        result = outcome.result
        timings.update(outcome.timings)

        mark = time.perf_counter()
        solve_inputs = features.snapshot_solve_inputs(config, locks=locks, exclusions=exclusions, previous=previous,
                                                      kept=kept)
        if stored_features is not None and features.same_features(stored_features, craftsmen, demands):
            serialising = None  # the features stay as stored: not written again
        else:  # serialised and the whole snapshot digested (~50 ms) on another thread while the server checks the
            # proposals' foreign keys, if copied
            serialising = _Deferred(lambda: _serialised_and_digested(features.snapshot_features(
                craftsmen, demands, history, skill_parent=skill_parent, track_record=track_record, roles=roles),
                solve_inputs))
        checking: list[Future[None]] = []

        def while_checked() -> None:
            """On the COPY's wait, one thread: the features first (this thread waits for them next), then the full
            collection the solve held back (``_collect_held_back``, ~45 ms holding the GIL: on a thread of its own it
            would stall the features' serialisation that long), which goes on while this thread stores the features."""
            def work() -> None:
                if serialising is not None:
                    serialising.run()
                _collect_held_back()
            checking.append(_in_background(work))

        if result.status == OPTIMAL:
            _store_result(session, rnd, outcome.proposals, saving,
                          role_skills={column: skill_id for _, column, _, skill_id in roles},
                          while_checked=while_checked)
        if serialising is None:
            snapshot_digest = features.snapshot_digest(features.stored_feature_texts(rnd.features), solve_inputs)
        else:
            serialised, snapshot_digest = serialising.result()
            _store_features(session, rnd, serialised, now=now)
        rnd.solve_inputs = solve_inputs
        rnd.snapshot_digest = snapshot_digest
        rnd.solver_status = result.status
        rnd.solver_message = result.message or None
        if result.status == OPTIMAL:
            session.flush()  # where storing the fingerprints used to flush: the round's version counts as before
            rnd.objective = result.objective
            rnd.status = "solved"
            rnd.solved_at = now
        else:
            rnd.status = "failed"
        timings["save"] = time.perf_counter() - mark
        timings["total"] = time.perf_counter() - started
        changes = result.changes or {"added": [], "removed": []}
        left_out: dict[str, int] = defaultdict(int)
        for reason, _ in closed.values():
            left_out[reason] += 1
        rnd.metrics = {**result.metrics, "timings": timings, "solver_timings": dict(result.timings),
                       "solver": result.solver, "unfilled": len(result.unfilled),
                       "craftsmen": len(craftsmen), "demands": len(demands),
                       "changes": {kind: [list(map(int, p)) for p in pairs] for kind, pairs in changes.items()},
                       "incremental": previous is not None,
                       "inactive_craftsmen": len(inactive), "demands_left_out": dict(left_out),
                       "booked_elsewhere": {str(c): n for c, n in booked.items()},
                       "unfilled_roles": _unfilled_roles(result, roles, craftsmen, exclusions)}
        _touch(session, rnd)
        audit.record(session, actor=actor, action="round.solve", entity=rnd, now=now,
                     after={"status": rnd.status, "objective": rnd.objective, "digest": rnd.snapshot_digest,
                            "locks": len(locks), "exclusions": len(exclusions),
                            "added": len(changes["added"]), "removed": len(changes["removed"]),
                            "inactive_craftsmen": sorted(inactive), "demands_left_out": sorted(closed)})
        for job in checking:  # the collection done while the collector is still paused
            job.result()
        return result


@contextlib.contextmanager
def _ended_on_error(*reads: Future[Any] | None) -> Iterator[None]:
    """On an error, each read aside is waited for (its own error dropped) before the error goes on: its connection
    is back in the pool when the caller ends (and disposes of the engine, as a job's work horse does)."""
    try:
        yield
    except BaseException:
        for read in reads:
            if read is not None:
                read.exception()
        raise


def _in_background(work: Callable[[], T]) -> Future[T]:
    """``work`` (no database work) on a thread of its own, while this one waits on the database; a fresh thread
    each time, as a pool's threads would not survive the fork of an rq work horse."""
    future: Future[T] = Future()

    def run() -> None:
        future.set_running_or_notify_cancel()
        try:
            future.set_result(work())
        except BaseException as error:  # handed to whoever asks for the result
            future.set_exception(error)

    threading.Thread(target=run, name="craftmatch-background", daemon=True).start()
    return future


def _read_aside(session: Session, read: Callable[[Session], T]) -> Future[T] | None:
    """``read`` (reads only) in a session of its own on a second connection, on a thread of its own, when that
    connection sees what ``session`` sees: PostgreSQL at READ COMMITTED (each statement reads what is committed
    when it starts) with nothing written nor pending in this transaction yet (what it wrote only it sees: so never
    in the tests, whose data stays uncommitted in one transaction). None otherwise.

    An error of this thread's meanwhile leaves the read to end on its own: it returns its connection then."""
    bind = session.get_bind()
    if not isinstance(bind, sa.Engine) or bind.dialect.name != "postgresql" or session.new or session.dirty \
            or session.deleted:
        return None
    if not session.execute(sa.text("SELECT txid_current_if_assigned() IS NULL "
                                   "AND current_setting('transaction_isolation') = 'read committed'")).scalar():
        return None

    def read_on_own_connection() -> T:
        with bind.connect() as connection, Session(bind=connection) as own:
            return read(own)

    return _in_background(read_on_own_connection)


def _alongside(background: Future[T], work: Callable[[], U]) -> tuple[T, U]:
    """``work`` on this thread while ``background`` runs; both results once both are done. ``background``'s error
    is raised first (it came first when ``work`` ran after it), and this thread leaves no work still running."""
    try:
        done = work()
    except Exception:
        if background.exception() is not None:
            background.result()
        raise
    return background.result(), done


@dataclasses.dataclass(frozen=True)
class _SaveInputs:
    """What saving a solve needs whatever its result, read while the matching runs."""

    flagged: dict[tuple[int, int], int]  # see _flagged
    vocabulary: tuple[tuple[int, ...], tuple[int, ...]]  # the skills' and industries' ids by column
    stored: dict[tuple[int, int], tuple[int, tuple]] | None  # see _stored_unflagged (PostgreSQL)


def _prepare_save(session: Session, rnd: MatchingRound, demand_ids: list[int],
                  fingerprints: dict[int, str]) -> _SaveInputs:
    """Store the demands' fingerprints (the caller keeps them only if the solve is optimal), read the rows and ids
    the proposals' save needs: work of the database mostly, with little for this process (it would slow the
    matching's Python down); nothing in the round's row changes here, as its version counts."""
    eligibility.store_fingerprints(session, rnd, demand_ids, fingerprints)
    return _save_inputs(session, rnd)


def _save_inputs(session: Session, rnd: MatchingRound) -> _SaveInputs:
    """The round's rows and the vocabulary's ids the proposals' save reads, as they stand now."""
    return _SaveInputs(_flagged(session, rnd), explain.vocabulary_ids(session),
                       _stored_unflagged(session, rnd) if _copies_proposals(session.connection()) else None)


class _Deferred:
    """``work`` (no database work), done once: by the first thread to ``run`` it or to ask for its result."""

    def __init__(self, work: Callable[[], T]) -> None:
        self._work = work
        self._future: Future[T] | None = None
        self._claim = threading.Lock()

    def run(self) -> None:
        with self._claim:
            if self._future is not None:
                return
            self._future = future = Future()
        future.set_running_or_notify_cancel()
        try:
            future.set_result(self._work())
        except BaseException as error:  # handed to whoever asks for the result
            future.set_exception(error)

    def result(self) -> T:
        self.run()  # here, unless another thread took it
        return self._future.result()


def _serialised_and_digested(values: dict[str, Any], solve_inputs: dict[str, Any]
                             ) -> tuple[features.SerialisedFeatures, str]:
    """A features part serialised, and the digest of the snapshot it makes with these solve inputs (no database
    work)."""
    serialised = features.serialise_features(values)
    return serialised, features.snapshot_digest(serialised.texts, solve_inputs)


def _store_features(session: Session, rnd: MatchingRound, values: features.SerialisedFeatures,
                    *, now: dt.datetime) -> None:
    """Point the round at these features (stored unless another round or solve stored the same already), drop
    its earlier ones if no round uses them any more."""
    earlier = rnd.features_digest
    features_digest, _ = features.store_features(session, values, now=now)
    rnd.features = session.get(RoundFeatures, features_digest)
    if earlier is not None and earlier != features_digest:
        session.flush()
        features.drop_unused_features(session, earlier)


# The last rounds this process scored (``matching.pipeline.ScoredRound``, ~100 MB at 5,000 × 2,000): a re-solve
# after a lock, an exclusion or a capacity change skips preparing and scoring the pools again. ``run_round`` reuses
# an entry only when its scoring key (a digest of the features and settings) matches, so an entry that no longer
# fits the round is recomputed, never used; a re-solve in another process scores anew.
SCORED_ROUNDS_KEPT = 2
_scored_rounds = LastFew(SCORED_ROUNDS_KEPT)


def _unfilled_roles(result: Result, roles, craftsmen, exclusions) -> list[dict[str, Any]]:
    """Each open role of a team demand with the reason a coordinator can act on (``ROLE_GAP_LABELS``).

    The solver says "taken" (every eligible craftsman went elsewhere) or "no eligible craftsman"; the latter is
    told apart here: nobody active in the round holds the skill, all who hold it are excluded from this demand
    (by the coordinator, or they declined it), or the hard rules rule them out (distance, time, conflicts…).
    """
    skill_of = {(demand, column): skill_id for demand, column, _, skill_id in roles}
    excluded = defaultdict(set)
    for c, d in exclusions:
        excluded[d].add(c)
    gaps = []
    for gap in result.unfilled_roles:
        demand, column = gap["demand"], gap["role"]
        if gap["reason"] != "no eligible craftsman":
            reason = "taken"
        else:
            holders = craftsmen.skills[:, column].nonzero()[0]
            holders = {craftsmen.ids[i] for i in holders.tolist() if craftsmen.active[i]}
            reason = ("no_holder" if not holders else "excluded" if holders <= excluded[demand] else "ruled_out")
        gaps.append({"demand": int(demand), "skill_id": skill_of[(demand, column)], "missing": gap["missing"],
                     "reason": reason})
    return gaps


def _unaffected(previous, affected, locks, exclusions, craftsmen) -> list[tuple[str, str]]:
    """The proposed pairs no pool change touches (and that still fit each craftsman's capacity), to hold."""
    held = set(locks) | set(exclusions)
    pairs = [(c, d) for c, d in previous if ("craftsman", int(c)) not in affected
             and ("demand", int(d)) not in affected and (c, d) not in held]
    room = dict(zip(craftsmen.ids, craftsmen.capacity.tolist(), strict=True))
    active = dict(zip(craftsmen.ids, craftsmen.active.tolist(), strict=True))
    for c, _ in locks:
        room[c] = room.get(c, 0) - 1
    count: dict[str, int] = defaultdict(int)
    for c, _ in pairs:
        count[c] += 1
    return [(c, d) for c, d in pairs if active.get(c) and count[c] <= room.get(c, 0)]


def _release_ineligible_locks(session: Session, rnd: MatchingRound, craftsmen: set[int], demands: set[int], *,
                              actor: User | str | None, now: dt.datetime) -> None:
    """A lock cannot hold a craftsman who left or a demand already served: release it, on the record."""
    if not craftsmen and not demands:
        return
    stale = session.execute(sa.select(Proposal.id, Proposal.craftsman_id, Proposal.demand_id).where(
        Proposal.round_id == rnd.id, Proposal.locked,
        sa.or_(Proposal.craftsman_id.in_(craftsmen), Proposal.demand_id.in_(demands)))).all()
    _release_locks(session, rnd, stale, "craftsman or demand no longer eligible", actor=actor, now=now)


def _release_locks(session: Session, rnd: MatchingRound, stale: list[Any], reason: str, *,
                   actor: User | str | None, now: dt.datetime) -> None:
    """Unlock these proposals (rows with id, craftsman_id, demand_id), with one audit entry giving the reason."""
    if not stale:
        return
    session.execute(sa.update(Proposal).where(Proposal.id.in_([row.id for row in stale])).values(locked=False))
    audit.record(session, actor=actor, action="round.release_locks", entity=rnd, now=now,
                 after={"pairs": [[row.craftsman_id, row.demand_id] for row in stale], "reason": reason})


def _release_locks_beyond_capacity(session: Session, rnd: MatchingRound, left: dict[int, int], craftsmen: set[int],
                                   demands: set[int], *, actor: User | str | None, now: dt.datetime) -> None:
    """Locks a craftsman can no longer fill because other rounds booked him since this one was created (``left``:
    craftsman → places still his here): those beyond his places are released, on the record, so that the re-solve
    offered with the changes does not fail on them (his first locks, by demand, are kept)."""
    left = {c: n for c, n in left.items() if c not in craftsmen}
    if not left:
        return
    held: dict[int, int] = defaultdict(int)
    stale = []
    for row in session.execute(sa.select(Proposal.id, Proposal.craftsman_id, Proposal.demand_id).where(
            Proposal.round_id == rnd.id, Proposal.locked, Proposal.craftsman_id.in_(sorted(left)))
            .order_by(Proposal.craftsman_id, Proposal.demand_id)).all():
        if row.demand_id in demands:
            continue  # released already: the demand was served
        held[row.craftsman_id] += 1
        if held[row.craftsman_id] > left[row.craftsman_id]:
            stale.append(row)
    _release_locks(session, rnd, stale, "booked by another round: no capacity left", actor=actor, now=now)


def _active_loads(session: Session, craftsman_ids: list[int]) -> dict[int, int]:
    """Engagements each craftsman is already committed to (scheduled or in service)."""
    rows = session.execute(
        sa.select(EngagementMember.craftsman_id, sa.func.count())
        .join(Engagement, Engagement.id == EngagementMember.engagement_id)
        .where(Engagement.status.in_(eligibility.LIVE_ENGAGEMENT_STATUSES),
               EngagementMember.status.in_(eligibility.BOOKED_MEMBER_STATUSES))
        .group_by(EngagementMember.craftsman_id)).all()
    wanted = set(craftsman_ids)
    return {c: n for c, n in rows if c in wanted}


def _flagged(session: Session, rnd: MatchingRound) -> dict[tuple[int, int], int]:
    """(craftsman id, demand id) → proposal id of the round's locked or excluded rows."""
    return {(row.craftsman_id, row.demand_id): row.id for row in session.execute(
        sa.select(Proposal.id, Proposal.craftsman_id, Proposal.demand_id)
        .where(Proposal.round_id == rnd.id, sa.or_(Proposal.locked, Proposal.excluded)))}


def _store_result(session: Session, rnd: MatchingRound, proposed: list[ProposedPair], ready: _SaveInputs,
                  role_skills: dict[int, int] | None = None, while_checked: Callable[[], Any] | None = None) -> None:
    """Proposals = the round outcome's assigned pairs and alternates, with breakdown, warnings and facts (skills
    and industries by id: ``explain.fact_identifier``); locked/excluded rows are kept. ``role_skills``: skill
    column → skill id, to record the role each member of a team fills and each of its alternates stands by for.
    ``while_checked``: called when a first solve's rows are all sent, as the server checks them. ``ready``: the
    rows and ids it reads (:func:`_save_inputs`), read already while the matching ran."""
    flagged = dict(ready.flagged)
    vocabulary = ready.vocabulary if proposed else ((), ())
    identified = explain.fact_identifier(*vocabulary)

    def values(pair: ProposedPair, role_skill_id: int | None) -> dict[str, Any]:
        return {"score": max(0.0, pair.score), "breakdown": {**pair.breakdown, "facts": identified(pair.facts)},
                "assigned": pair.assigned, "alternate_rank": pair.alternate_rank, "warnings": list(pair.flags),
                "role_skill_id": role_skill_id}

    remember = _copies_proposals(session.connection())  # elsewhere every row is written anew from its dict
    written_before = _remembered_rows(rnd.id, vocabulary) if remember else {}
    written: dict[tuple[int, int], tuple[bytes, Copied]] = {}
    updates = []

    def unflagged_rows() -> Iterator[dict[str, Any] | Copied]:
        """Made as they are written: a first solve's COPY sends each row while the next ones are made and
        encoded, and the server stores the rows meanwhile."""
        for pair in proposed:
            cid, did = int(pair.craftsman), int(pair.demand)
            role_skill_id = (role_skills or {}).get(pair.role)  # filled, or (an alternate) stood by for
            if (cid, did) in flagged:
                updates.append({"id": flagged.pop((cid, did)), **values(pair, role_skill_id)})
                continue
            row = {"round_id": rnd.id, "craftsman_id": cid, "demand_id": did, "locked": False, "excluded": False}
            if not remember:
                yield {**row, **values(pair, role_skill_id)}
                continue
            # a digest of everything the row is made of, as exact bytes (1 and 1.0 differ): made of the same, the
            # same row
            made_of = hashlib.blake2b(orjson.dumps((pair.score, pair.assigned, pair.alternate_rank, pair.flags,
                                                    role_skill_id, pair.breakdown, pair.facts)),
                                      digest_size=16).digest()
            before = written_before.get((cid, did))
            encoded = before[1] if before is not None and before[0] == made_of \
                else _copied({**row, **values(pair, role_skill_id)})
            written[(cid, did)] = (made_of, encoded)
            yield encoded

    _replace_unflagged_proposals(session, rnd, unflagged_rows(), ready.stored, while_checked=while_checked)
    for proposal_id in flagged.values():  # locked/excluded pairs the solver did not use this time
        updates.append({"id": proposal_id, "assigned": False, "alternate_rank": None, "role_skill_id": None})
    if remember:
        _written_rows.keep(rnd.id, (vocabulary, written))
    if updates:
        session.execute(sa.update(Proposal), updates)


PROPOSAL_COLUMNS = ("round_id", "craftsman_id", "demand_id", "locked", "excluded", "score", "breakdown", "assigned",
                    "alternate_rank", "warnings", "role_skill_id")
JSON_COLUMNS = ("breakdown", "warnings")
# What identifies a stored proposal's content, beside its pair: its scalar columns and its JSON texts.
_CONTENT = ("score", "assigned", "alternate_rank", "role_skill_id")
_CONTENT_AT = tuple(PROPOSAL_COLUMNS.index(name) for name in (*_CONTENT, *JSON_COLUMNS))
_PAIR_AT = (PROPOSAL_COLUMNS.index("craftsman_id"), PROPOSAL_COLUMNS.index("demand_id"))
# A row as COPY writes it, ``PROPOSAL_COLUMNS`` in order (the JSON columns as their texts): a tuple of strings,
# numbers, booleans and None, which the cyclic collector stops tracking the first time it sees it, so the rows
# a round remembers (``_written_rows``) are not walked again by every later collection.
Copied = tuple


def _copies_proposals(connection: sa.Connection) -> bool:
    return connection.dialect.name == "postgresql" and connection.dialect.driver == "psycopg"


# round id → (the vocabulary's ids, the unflagged rows its last solve in this process wrote (PostgreSQL), by pair,
# each in its COPY form with a digest of what it was made of): a re-solve writes mostly the rows of the last one,
# which need not be made and encoded again while the ids stay the same (~15 MB at 8,530 rows). What
# the database holds is read again every time (``_replace_unflagged_proposals``).
_written_rows = LastFew(SCORED_ROUNDS_KEPT)


def _remembered_rows(round_id: int, vocabulary: Any) -> dict[tuple[int, int], tuple[bytes, Copied]]:
    """The rows the round's last solve in this process wrote, if it made them with these vocabulary ids."""
    entry = _written_rows.get(round_id)
    return entry[1] if entry is not None and entry[0] == vocabulary else {}


def _copied(row: dict[str, Any]) -> Copied:
    """A row dict in its COPY form (orjson: the same JSON values as json.dumps, several times faster on 10k
    breakdowns)."""
    return tuple([orjson.dumps(row[name]).decode() if name in JSON_COLUMNS else row.get(name)
                  for name in PROPOSAL_COLUMNS])


# What ``_replace_unflagged_proposals`` compares of a row with a stored row (``_stored_unflagged``), and its pair.
_content = operator.itemgetter(*_CONTENT_AT)
_pair = operator.itemgetter(*_PAIR_AT)


def _as_copied(row: dict[str, Any] | Copied) -> Copied:
    return row if isinstance(row, tuple) else _copied(row)


def _copy_rows(rows: list[dict[str, Any] | Copied]) -> list[Copied]:
    """The rows as COPY writes them."""
    return [_as_copied(row) for row in rows]


def _insert_proposals(session: Session, rows: list[dict[str, Any]]) -> None:
    """Thousands of proposal rows at once: one COPY on PostgreSQL (psycopg 3), a Core executemany elsewhere."""
    connection = session.connection()
    if _copies_proposals(connection):
        _copy_proposals(connection, _copy_rows(rows))
    else:
        connection.execute(sa.insert(Proposal.__table__), rows)


def _copy_proposals(connection: sa.Connection, copy_rows: Iterable[Copied]) -> None:
    copy_sql = f"COPY {Proposal.__tablename__} ({', '.join(PROPOSAL_COLUMNS)}) FROM STDIN"
    with connection.connection.driver_connection.cursor() as cursor, cursor.copy(copy_sql) as copy:
        for row in copy_rows:
            copy.write_row(row)


def _copy_first_rows(connection: sa.Connection, rows: Iterable[dict[str, Any] | Copied],
                     while_checked: Callable[[], Any] | None = None) -> None:
    """COPY a round's first rows; ``while_checked`` is called once they are all sent, as the server checks their
    foreign keys (~80-150 ms with the GIL free), to start work elsewhere. Not earlier: a thread busy while this one
    streams the rows would take the GIL from it at every 32 KB sent."""
    def sent() -> Iterator[Copied]:
        yield from map(_as_copied, rows)
        if while_checked is not None:
            while_checked()

    _copy_proposals(connection, sent())


def _stored_unflagged(session: Session, rnd: MatchingRound) -> dict[tuple[int, int], tuple[int, tuple]]:
    """(craftsman id, demand id) → (proposal id, content as ``_content`` gives a row's) of the round's stored rows
    that are neither locked nor excluded (PostgreSQL: the JSON columns as the texts COPY wrote; read beside the
    matching, they spare the save a digest of every row it compares)."""
    return {(row[1], row[2]): (row[0], row[3:]) for row in session.execute(sa.select(
        Proposal.id, Proposal.craftsman_id, Proposal.demand_id, *(getattr(Proposal, name) for name in _CONTENT),
        *(sa.cast(getattr(Proposal, name), sa.Text) for name in JSON_COLUMNS)).where(
        Proposal.round_id == rnd.id, Proposal.locked.is_(False), Proposal.excluded.is_(False)))}


def _replace_unflagged_proposals(session: Session, rnd: MatchingRound, rows: Iterable[dict[str, Any] | Copied],
                                 stored: dict[tuple[int, int], tuple[int, tuple]] | None,
                                 while_checked: Callable[[], Any] | None = None) -> None:
    """Make the round's proposals that are neither locked nor excluded exactly ``rows`` (on PostgreSQL some may be
    in their COPY form already).

    On PostgreSQL only the difference is written: the stored rows whose pair and content (``_CONTENT`` and the
    JSON texts COPY wrote) equal a new row's stay, the others are deleted and the new ones the stored
    rows lack are copied in. A re-solve after a lock changes a handful of the ~8,500 rows of a province round,
    so it no longer deletes and rewrites them all (0.4-0.5 s); what is stored is the same as after a full
    rewrite, only the ids of the rows kept are older. Elsewhere (SQLite) they are all replaced. ``rows`` is read
    once, after the stored rows (a first solve's are encoded as the COPY sends them); ``while_checked`` as in
    :func:`_copy_first_rows`, for a first solve on PostgreSQL only; ``stored``: on PostgreSQL the stored rows
    (:func:`_stored_unflagged`) as the caller read them, with nothing written to the round's proposals since (None
    elsewhere).
    """
    connection = session.connection()
    unflagged = (Proposal.round_id == rnd.id, Proposal.locked.is_(False), Proposal.excluded.is_(False))
    if not _copies_proposals(connection):
        session.execute(sa.delete(Proposal).where(*unflagged))
        rows = list(rows)
        if rows:
            _insert_proposals(session, rows)
        return
    stored = dict(stored)  # read by the caller; pairs are taken out below
    if not stored:  # nothing stored yet (the first solve): no difference to look for
        rows = iter(rows)
        first = next(rows, None)
        if first is not None:
            _copy_first_rows(connection, itertools.chain([first], rows), while_checked)
        return
    new_rows = []
    for row in map(_as_copied, rows):
        pair = _pair(row)
        kept = stored.get(pair)
        if kept is not None and tuple(kept[1]) == _content(row):
            del stored[pair]
        else:
            new_rows.append(row)
    if stored:  # what is left stored matches no new row
        session.execute(sa.delete(Proposal).where(
            eligibility.id_in(session, Proposal.id, [proposal_id for proposal_id, _ in stored.values()])))
    if new_rows:
        _copy_proposals(connection, new_rows)


# ---------------------------------------------------------------- adjust
def _proposal(session: Session, rnd: MatchingRound, craftsman_id: int, demand_id: int) -> Proposal:
    in_round = session.scalar(sa.select(sa.func.count()).select_from(RoundDemand).where(
        RoundDemand.round_id == rnd.id, RoundDemand.demand_id == demand_id)) and session.scalar(
        sa.select(sa.func.count()).select_from(RoundCraftsman).where(
            RoundCraftsman.round_id == rnd.id, RoundCraftsman.craftsman_id == craftsman_id))
    if not in_round:
        raise ServiceError(_l("This craftsman or demand is not part of the round."), field="pair")
    proposal = session.scalar(sa.select(Proposal).where(Proposal.round_id == rnd.id, Proposal.craftsman_id ==
                                                        craftsman_id, Proposal.demand_id == demand_id))
    if proposal is None:
        proposal = Proposal(round_id=rnd.id, craftsman_id=craftsman_id, demand_id=demand_id, score=0.0,
                            breakdown={}, warnings=[], assigned=False)
        session.add(proposal)
    return proposal


def set_pair(session: Session, rnd: MatchingRound, craftsman_id: int, demand_id: int, mode: str, *,
             actor: User | str | None, now: dt.datetime, expected_version: int | None = None,
             role_skill_id: int | None = None, alternate_role: bool = False) -> Proposal:
    """``mode``: "lock" (keep it in every re-solve), "exclude" (never propose it) or "clear". A lock may name the
    team role he must fill (``role_skill_id``; with ``alternate_role``, the review's Lock on a team's alternate, the
    role he stands by for); any other change drops it."""
    _require_editor(actor)
    _require_editable(rnd, expected_version)
    if mode not in ("lock", "exclude", "clear"):
        raise ServiceError(_l("Unknown change."), field="mode")
    proposal = _proposal(session, rnd, craftsman_id, demand_id)
    before = {"locked": proposal.locked, "excluded": proposal.excluded, "role_skill_id": proposal.locked_role_skill_id}
    proposal.locked = mode == "lock"
    proposal.excluded = mode == "exclude"
    if mode == "lock" and alternate_role and role_skill_id is None and not proposal.assigned:
        role_skill_id = proposal.role_skill_id
    proposal.locked_role_skill_id = role_skill_id if mode == "lock" else None
    _touch(session, rnd)
    audit.record(session, actor=actor, action=f"round.{mode}", entity=rnd, now=now, before=before,
                 after={"craftsman_id": craftsman_id, "demand_id": demand_id, "locked": proposal.locked,
                        "excluded": proposal.excluded, "role_skill_id": proposal.locked_role_skill_id})
    return proposal


def set_capacity(session: Session, rnd: MatchingRound, craftsman_id: int, capacity: int, *,
                 actor: User | str | None, now: dt.datetime, expected_version: int | None = None) -> RoundCraftsman:
    _require_editor(actor)
    _require_editable(rnd, expected_version)
    if not isinstance(capacity, int) or not 0 <= capacity <= 50:
        raise ServiceError(_l("The capacity per round must be between 0 and 50."), field="capacity")
    row = session.scalar(sa.select(RoundCraftsman).where(RoundCraftsman.round_id == rnd.id,
                                                         RoundCraftsman.craftsman_id == craftsman_id))
    if row is None:
        raise ServiceError(_l("This craftsman or demand is not part of the round."), field="craftsman_id")
    before = {"capacity": row.capacity}
    row.capacity = capacity
    row.capacity_chosen = True  # his profile's later edits no longer change it
    _touch(session, rnd)
    audit.record(session, actor=actor, action="round.capacity", entity=rnd, now=now, before=before,
                 after={"craftsman_id": craftsman_id, "capacity": capacity})
    return row


def pending_changes(session: Session, rnd: MatchingRound,
                    flagged: list[eligibility.FlaggedPair] | None = None) -> bool:
    """Whether locks, exclusions or capacities changed since the last solve (then publish waits for a re-solve).
    A lock moved onto another role of the same team counts: the solve placed him in the role it was locked to.
    ``flagged``: the round's ``eligibility.flagged_pairs``, when the caller read them already."""
    if rnd.solve_inputs is None:
        return False
    flagged = eligibility.flagged_pairs(session, rnd) if flagged is None else flagged
    if any((row.locked and not row.assigned) or (row.excluded and row.assigned)
           or (row.locked and row.locked_role_skill_id is not None and row.role_skill_id != row.locked_role_skill_id)
           for row in flagged):
        return True
    locks = sorted((str(row.craftsman_id), str(row.demand_id)) for row in flagged if row.locked)
    if sorted(map(tuple, rnd.solve_inputs["locks"])) != locks:
        return True
    capacities = dict(session.connection().execute(sa.select(RoundCraftsman.craftsman_id, RoundCraftsman.capacity)
                                                   .where(RoundCraftsman.round_id == rnd.id)).all())
    booked = (rnd.metrics or {}).get("booked_elsewhere", {})  # what the solve took off for other rounds
    snap = rnd.snapshot["craftsmen"]
    if not booked:  # the usual case, compared in C (a capacity is never negative: a check constraint)
        return list(map(capacities.get, map(int, snap["ids"]), itertools.repeat(0))) != list(snap["capacity"])
    return any(max(0, capacities.get(int(c), 0) - int(booked.get(c, 0))) != k
               for c, k in zip(snap["ids"], snap["capacity"], strict=True))


# ---------------------------------------------------------------- publish and decline
@dataclasses.dataclass(frozen=True)
class Publication:
    """What a publish did: engagements made now, or when and by whom the round had been published already."""

    created: int
    already_published: bool = False
    published_at: dt.datetime | None = None
    published_by: str | None = None


class RoundOutdated(ServiceError):
    """The pools moved under the proposals since the solve: nothing is published; re-solve first."""

    status_code = 409

    def __init__(self, changes: list[eligibility.PoolChange]) -> None:
        super().__init__(_l("The pools changed since the last solve, so nothing was published. Re-solve the round "
                            "(locks and unaffected pairs are kept), check it, then publish."),
                         field="status", code="round_outdated")
        self.changes = changes

    def as_errors(self) -> dict[str, list[str]]:
        return {"changes": [f"{c.name}: {c.label}{' (' + c.detail + ')' if c.detail else ''}" for c in self.changes]}


def publish_round(session: Session, rnd: MatchingRound, *, actor: User | str | None, now: dt.datetime,
                  expected_version: int | None = None) -> Publication:
    """Atomically: proposals → engagements (+ members), demands → matched, the outbox.

    The round's row and its demands' rows are locked inside the transaction, and the pools are checked again
    under those locks, so two publishes at once serialise: a round published twice creates one set of
    engagements (the second call answers when and by whom), and of two rounds over the same demands one wins
    whole while the other publishes nothing and raises :class:`RoundOutdated` naming the demands taken. The
    partial unique index ``uq_engagement_live_demand`` is the last guard. Any failure leaves nothing half-done.
    """
    _require_editor(actor)
    rnd = _lock_round(session, rnd)
    if rnd.status == "published":
        return _already_published(session, rnd)
    _check_version(rnd, expected_version)
    if rnd.status != "solved":
        raise ServiceError(_l("Solve the round before publishing it."), field="status")
    if pending_changes(session, rnd):
        raise ServiceError(_l("Locks, exclusions or capacities changed: re-solve before publishing."),
                           field="status")
    actor_id = actor.id if isinstance(actor, User) else None
    assigned = session.execute(
        sa.select(Proposal.id, Proposal.craftsman_id, Proposal.demand_id, Proposal.role_skill_id)
        .where(Proposal.round_id == rnd.id, Proposal.assigned, Proposal.excluded.is_(False))
        .order_by(Proposal.demand_id, Proposal.craftsman_id)).all()
    by_demand: dict[int, list] = defaultdict(list)
    for row in assigned:
        by_demand[row.demand_id].append(row)
    demand_ids = list(by_demand)
    eligibility.lock_rows(session, Demand, demand_ids)
    # exclusively: two publishes booking the same craftsman wait for each other, so the second counts the
    # first's bookings against his capacity (share locks let both pass unseen)
    eligibility.lock_rows(session, Craftsman, list({row.craftsman_id for row in assigned}))
    changes = eligibility.changes_since_solve(session, rnd, local_today(now))
    if changes:
        raise RoundOutdated(changes)
    engagement_ids: list[int] = []
    try:
        with session.begin_nested():  # all or nothing
            if demand_ids:
                engagement_ids = list(session.scalars(
                    sa.insert(Engagement).returning(Engagement.id, sort_by_parameter_order=True),
                    [{"demand_id": d, "round_id": rnd.id, "status": "scheduled", "coordinator_id": actor_id,
                      "created_at": now, "updated_at": now} for d in demand_ids]))
                session.execute(sa.insert(EngagementMember), [
                    {"engagement_id": e, "craftsman_id": row.craftsman_id, "proposal_id": row.id,
                     "status": "assigned"}
                    for e, d in zip(engagement_ids, demand_ids, strict=True) for row in by_demand[d]])
                session.execute(sa.update(Demand).where(Demand.id.in_(demand_ids))
                                .values(status="matched", matched_at=now, updated_at=now))
                session.execute(sa.insert(DemandStatusEvent), [
                    {"demand_id": d, "from_status": "open", "to_status": "matched", "at": now,
                     "actor_id": actor_id, "note": None, "public": True} for d in demand_ids])
                notifications.write_outbox(session, rnd, by_demand, now=now)
            rnd.status = "published"
            rnd.published_at = now
            rnd.published_by_id = actor_id
            _touch(session, rnd)
            audit.record(session, actor=actor, action="round.publish", entity=rnd, now=now,
                         after={"engagements": len(engagement_ids), "demands": demand_ids[:2000]})
    except IntegrityError:
        # Only reachable where the row locks do not serialise (the index is the last guard): same answer.
        raise Conflict(_l("Another round served some of these demands at the same moment; nothing was published. "
                          "Re-solve the round and publish again.")) from None
    session.expire_all()
    return Publication(created=len(engagement_ids))


def _lock_round(session: Session, rnd: MatchingRound) -> MatchingRound:
    """The round's row, locked for this transaction and read afresh (another publish may have just committed)."""
    return session.scalars(sa.select(MatchingRound).where(MatchingRound.id == rnd.id).with_for_update()
                           .execution_options(populate_existing=True)).one()


def _already_published(session: Session, rnd: MatchingRound) -> Publication:
    by = session.get(User, rnd.published_by_id) if rnd.published_by_id else None
    return Publication(created=0, already_published=True, published_at=rnd.published_at,
                       published_by=by.display_name if by else None)


def decline_member(session: Session, member: EngagementMember, *, reason: str, actor: User | str | None,
                   now: dt.datetime) -> EngagementMember:
    """A craftsman declines after publish: recorded, the engagement cancelled, the demand back in the queue.

    The declined pair is excluded from every later round of that demand (``features.declined_pairs``).
    """
    _require_editor(actor)
    reason = (reason or "").strip()
    if not reason:
        raise ServiceError(_l("Give the reason for declining."), field="reason")
    if member.status not in eligibility.BOOKED_MEMBER_STATUSES:
        raise ServiceError(_l("Only an assigned craftsman can decline."), field="status")
    engagement = member.engagement
    if engagement.status != "scheduled":
        raise ServiceError(_l("Only a scheduled engagement can be declined."), field="status")
    before = {"status": member.status}
    member.status = "declined"
    member.status_reason = reason[:300]
    session.flush()
    audit.record(session, actor=actor, action="engagement.decline", entity=engagement, now=now, before=before,
                 after={"craftsman_id": member.craftsman_id, "status": "declined", "reason": reason})
    from web.services.engagements import cancel_engagement

    # why he declined is about him (his health, his family): the enterprise is told only that it is matched anew
    cancel_engagement(session, engagement, {"reason": reason}, actor=actor, now=now, public_note=str(_l(
        "A craftsman could not take on the service; the demand is open again and will be matched anew.")))
    return member


# ---------------------------------------------------------------- review
def review_rows(session: Session, rnd: MatchingRound, *, only_warnings: bool = False, page: int = 1,
                per_page: int = 50) -> Page:
    """Per demand: its assigned craftsmen (with breakdown and warnings), alternates, locks and exclusions."""
    demand_query_ = (sa.select(RoundDemand.demand_id, RoundDemand.slots).where(RoundDemand.round_id == rnd.id))
    if only_warnings:
        demand_query_ = demand_query_.where(RoundDemand.demand_id.in_(
            sa.select(Proposal.demand_id).where(Proposal.round_id == rnd.id, Proposal.assigned,
                                                sa.cast(Proposal.warnings, sa.String) != "[]")))
    window = paginate(session, demand_query_.order_by(RoundDemand.demand_id), page=page, per_page=per_page,
                      rows=True)
    chosen = window.items
    ids = [row.demand_id for row in chosen]
    # the page names each demand's region and each role's skill: loaded here, not one query per row
    demands = {d.id: d for d in session.scalars(sa.select(Demand).where(Demand.id.in_(ids)).options(
        selectinload(Demand.roles).selectinload(DemandRole.skill), selectinload(Demand.region)))}
    proposals = session.scalars(sa.select(Proposal).where(Proposal.round_id == rnd.id, Proposal.demand_id.in_(ids))
                                .order_by(Proposal.demand_id, Proposal.assigned.desc(), Proposal.alternate_rank,
                                          Proposal.craftsman_id)).all()
    names = dict(session.execute(sa.select(Craftsman.id, Craftsman.name).where(
        Craftsman.id.in_({p.craftsman_id for p in proposals}))).all())
    grouped: dict[int, list[Proposal]] = defaultdict(list)
    for proposal in proposals:
        grouped[proposal.demand_id].append(proposal)
    gaps = role_gaps(rnd)
    rows = []
    for demand_id, slots in chosen:
        group = grouped[demand_id]
        role_order = {role.skill_id: i for i, role in enumerate(demands[demand_id].roles)}
        rows.append({"demand": demands[demand_id], "slots": slots, "names": names,
                     "roles": team_roles(demands[demand_id], group, names, gaps.get(demand_id, {})),
                     "assigned": [p for p in group if p.assigned],
                     # a team's alternates role by role, each role's best first
                     "alternates": sorted((p for p in group if not p.assigned and p.alternate_rank and not p.excluded),
                                          key=lambda p: (role_order.get(p.role_skill_id, -1), p.alternate_rank)),
                     "excluded": [p for p in group if p.excluded],
                     "locked_unassigned": [p for p in group if p.locked and not p.assigned]})
    return dataclasses.replace(window, items=rows)


def role_gaps(rnd: MatchingRound) -> dict[int, dict[int, dict[str, Any]]]:
    """demand id → skill id → the open role's gap ({"missing", "reason"}) of the round's last solve."""
    gaps: dict[int, dict[int, dict[str, Any]]] = defaultdict(dict)
    for gap in (rnd.metrics or {}).get("unfilled_roles") or []:
        gaps[gap["demand"]][gap["skill_id"]] = gap
    return gaps


def team_roles(demand: Demand, proposals: list[Proposal], names: dict[int, str],
               gaps: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    """A team demand's roles as the review shows them: who fills each, and why a place stays open."""
    rows = []
    for role in demand.roles:
        filled = [names.get(p.craftsman_id, p.craftsman_id) for p in proposals
                  if p.assigned and p.role_skill_id == role.skill_id]
        gap = gaps.get(role.skill_id)
        rows.append({"skill": role.skill, "count": role.count, "filled": filled,
                     "missing": gap["missing"] if gap else max(0, role.count - len(filled)),
                     "reason": ROLE_GAP_LABELS.get(gap["reason"]) if gap else None})
    return rows


class LoadRow(NamedTuple):
    id: int
    name: str
    capacity: int
    load: int


def craftsman_loads(session: Session, rnd: MatchingRound, *, q: str = "", page: int = 1,
                    per_page: int = 50, flagged: list[eligibility.FlaggedPair] | None = None) -> Page:
    """One page of the round's craftsmen (every one, most loaded first) with capacity and load; ``q`` searches
    names. ``flagged``: the round's ``eligibility.flagged_pairs``, when the caller read them already."""
    # Counted and ordered here: a round's few thousand craftsmen sort in milliseconds, while any join or correlated
    # count over the proposals just bulk-written (planner statistics lagging, hint bits unset) took seconds.
    connection = session.connection()  # plain rows: the ORM's per-row work on thousands of them cost more than the rest
    load = Counter(row.craftsman_id for row in (eligibility.flagged_pairs(session, rnd) if flagged is None else flagged)
                   if row.assigned)
    query = (sa.select(Craftsman.id, Craftsman.name, RoundCraftsman.capacity)
             .join(RoundCraftsman, RoundCraftsman.craftsman_id == Craftsman.id)
             .where(RoundCraftsman.round_id == rnd.id))
    if q.strip():
        query = query.where(Craftsman.name.contains(q.strip(), autoescape=True))
    rows = connection.execute(query).all()
    rows.sort(key=lambda row: (-load.get(row[0], 0), row[0]))
    shown = page_of(rows, page=page, per_page=per_page)
    return dataclasses.replace(shown, items=[LoadRow(c, name, capacity, load.get(c, 0))
                                             for c, name, capacity in shown.items])


def change_names(session: Session, rnd: MatchingRound, *, limit: int = 20) -> dict[str, dict[int, str]]:
    """Names of the craftsmen and titles of the demands in the first ``limit`` changes of the last re-solve."""
    changes = (rnd.metrics or {}).get("changes") or {}
    pairs = [pair for kind in ("added", "removed") for pair in changes.get(kind, [])[:limit]]
    craftsmen = {c for c, _ in pairs}
    demands = {d for _, d in pairs}
    return {
        "craftsmen": dict(session.execute(sa.select(Craftsman.id, Craftsman.name)
                                          .where(Craftsman.id.in_(craftsmen))).all()) if craftsmen else {},
        "demands": dict(session.execute(sa.select(Demand.id, Demand.title)
                                        .where(Demand.id.in_(demands))).all()) if demands else {},
    }


def round_counts(session: Session, rnd: MatchingRound,
                 flagged: list[eligibility.FlaggedPair] | None = None) -> dict[str, int]:
    """``flagged``: the round's ``eligibility.flagged_pairs``, when the caller read them already (its proposals are
    then counted from them, not by three scans)."""
    def count(model, *where):
        return sa.select(sa.func.count()).select_from(model).where(*where).scalar_subquery()

    proposals = {flag: count(Proposal, Proposal.round_id == rnd.id, getattr(Proposal, flag)).label(flag)
                 for flag in ("assigned", "locked", "excluded")} if flagged is None else {}
    row = session.execute(sa.select(
        count(RoundDemand, RoundDemand.round_id == rnd.id).label("demands"),
        count(RoundCraftsman, RoundCraftsman.round_id == rnd.id).label("craftsmen"),
        *proposals.values(),
        count(Engagement, Engagement.round_id == rnd.id).label("engagements"),
    )).one()
    counts = dict(row._mapping)
    if flagged is not None:
        counts.update({flag: sum(getattr(pair, flag) for pair in flagged) for flag in ("assigned", "locked", "excluded")})
    return counts
