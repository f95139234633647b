"""Is a round still true to its pools? Checked when it solves and again when it publishes.

A round takes only active craftsmen with capacity left and demands still open. Between a solve and its
publish the pools move: a craftsman pauses, exits or is booked by another round; a demand is withdrawn,
merged, edited or served by another round. :func:`changes_since_solve` lists what moved under the round's
proposals, so the review page can mark them, publish can refuse with the list, and a re-solve can drop them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session, aliased

from web.models import (
    Craftsman,
    Demand,
    DemandRole,
    DemandSkill,
    DemandStatus,
    Engagement,
    EngagementMember,
    MatchingRound,
    Proposal,
    RoundCraftsman,
    RoundDemand,
    demand_industry,
)

LIVE_ENGAGEMENT_STATUSES = ("scheduled", "in_service")
BOOKED_MEMBER_STATUSES = ("assigned", "accepted")
SERVED_STATUSES = (DemandStatus.matched, DemandStatus.in_service, DemandStatus.completed, DemandStatus.evaluated)

REASON_LABELS = {
    "paused": _l("paused"),
    "exited": _l("left the pool"),
    "out_of_capacity": _l("booked by another round: no capacity left"),
    "served": _l("already served by another round"),
    "edited": _l("edited since the solve"),
    "declined": _l("a proposed craftsman declined it after another round's publish"),
    **{status.value: status.label for status in DemandStatus if status not in SERVED_STATUSES},
}


@dataclasses.dataclass(frozen=True)
class PoolChange:
    """One craftsman or demand under a round's proposals that is no longer as the solve saw it."""

    kind: str  # "craftsman" or "demand"
    id: int
    name: str
    reason: str
    detail: str = ""  # e.g. the round that took the demand

    @property
    def label(self) -> str:
        return str(REASON_LABELS.get(self.reason, self.reason))

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.id, "name": self.name, "reason": self.reason, "detail": self.detail}


# ---------------------------------------------------------------- craftsmen
def is_active(status: str, paused_until: dt.date | None, today: dt.date) -> bool:
    """Active, or paused until a day that has passed (the same rule as the features' ``active``)."""
    return status == "active" or (status == "paused" and paused_until is not None and paused_until < today)


def inactive_craftsmen(session: Session, rnd: MatchingRound, today: dt.date) -> dict[int, str]:
    """The round's craftsmen who may not serve now, with their status."""
    rows = session.execute(
        sa.select(Craftsman.id, Craftsman.status, Craftsman.paused_until)
        .join(RoundCraftsman, RoundCraftsman.craftsman_id == Craftsman.id)
        .where(RoundCraftsman.round_id == rnd.id, Craftsman.status != "active")).all()
    return {row.id: row.status for row in rows if not is_active(row.status, row.paused_until, today)}


def edited_craftsmen(session: Session, rnd: MatchingRound) -> set[int]:
    """The round's craftsmen whose profile was saved (the edit form, an import) after the round's last solve: what
    the solve read of them may have changed (pausing and exiting save it too; they have reasons of their own)."""
    if rnd.solved_at is None:
        return set()
    return set(session.scalars(
        sa.select(Craftsman.id).join(RoundCraftsman, RoundCraftsman.craftsman_id == Craftsman.id)
        .where(RoundCraftsman.round_id == rnd.id, Craftsman.updated_at > rnd.solved_at)))


def booked_elsewhere(session: Session, rnd: MatchingRound,
                     craftsman_ids: Iterable[int] | None = None) -> dict[int, int]:
    """Live bookings of the round's craftsmen that other rounds made after this round was created.

    They use up the capacity this round counted on; bookings older than the round were known when its
    capacities were set. ``craftsman_ids``: these craftsmen instead, in the round or about to join it.
    """
    members = sa.and_(RoundCraftsman.craftsman_id == EngagementMember.craftsman_id, RoundCraftsman.round_id == rnd.id)
    query = sa.select(EngagementMember.craftsman_id, sa.func.count()).join(
        Engagement, Engagement.id == EngagementMember.engagement_id)
    query = query.join(RoundCraftsman, members) if craftsman_ids is None \
        else query.where(EngagementMember.craftsman_id.in_(sorted(craftsman_ids)))
    rows = session.execute(
        query
        .where(Engagement.status.in_(LIVE_ENGAGEMENT_STATUSES),
               EngagementMember.status.in_(BOOKED_MEMBER_STATUSES),
               sa.or_(Engagement.round_id.is_(None), Engagement.round_id != rnd.id),
               Engagement.created_at > rnd.created_at)
        .group_by(EngagementMember.craftsman_id)).all()
    return {craftsman_id: count for craftsman_id, count in rows}


def declined(session: Session, demand_id: int, craftsman_ids: Iterable[int]) -> set[int]:
    """Which of these craftsmen declined the demand after an earlier publish (no round proposes them again)."""
    return set(session.scalars(
        sa.select(EngagementMember.craftsman_id).join(Engagement, Engagement.id == EngagementMember.engagement_id)
        .where(EngagementMember.status == "declined", Engagement.demand_id == demand_id,
               EngagementMember.craftsman_id.in_(sorted(craftsman_ids)))))


def declined_pairs(session: Session, round_id: int) -> set[tuple[int, int]]:
    """(craftsman id, demand id) of the round's craftsmen and demands that he declined after a publish."""
    return set(session.connection().execute(
        sa.select(EngagementMember.craftsman_id, Engagement.demand_id)
        .join(Engagement, Engagement.id == EngagementMember.engagement_id)
        .where(EngagementMember.status == "declined",
               Engagement.demand_id.in_(sa.select(RoundDemand.demand_id).where(RoundDemand.round_id == round_id)),
               EngagementMember.craftsman_id.in_(
                   sa.select(RoundCraftsman.craftsman_id).where(RoundCraftsman.round_id == round_id)))).all())


# ---------------------------------------------------------------- demands
def closed_demands(session: Session, rnd: MatchingRound) -> dict[int, tuple[str, str]]:
    """The round's demands that are no longer open: id → (reason, detail naming the round that served it)."""
    rows = session.execute(
        sa.select(Demand.id, Demand.status)
        .join(RoundDemand, RoundDemand.demand_id == Demand.id)
        .where(RoundDemand.round_id == rnd.id, Demand.status != DemandStatus.open.value)).all()
    served = [row.id for row in rows if row.status in SERVED_STATUSES]
    by_round: dict[int, str] = {}
    if served:
        other = aliased(MatchingRound)
        by_round = dict(session.execute(
            sa.select(Engagement.demand_id, sa.func.coalesce(other.name, ""))
            .outerjoin(other, other.id == Engagement.round_id)
            .where(Engagement.demand_id.in_(served), Engagement.status != "cancelled")).all())
    return {row.id: ("served", by_round.get(row.id, "")) if row.status in SERVED_STATUSES else (row.status, "")
            for row in rows}


def id_in(session: Session, column: Any, ids: list[int]) -> Any:
    """``column IN ids``; on PostgreSQL ``column = ANY(:array)``, one parameter instead of thousands to send."""
    if session.get_bind().dialect.name == "postgresql":
        return column == sa.any_(sa.bindparam(None, list(ids), type_=postgresql.ARRAY(sa.Integer)))
    return column.in_(ids)


_FINGERPRINT_JSON = json.JSONEncoder(ensure_ascii=False)  # json.dumps(…, ensure_ascii=False), built once


class Fingerprints(dict[int, str]):
    """demand id → fingerprint, with ``revisions``: demand id → the demand's ``revision`` its fingerprint was read at
    (the revision was read with or before what it is made of, so an edit since makes them differ)."""

    def __init__(self) -> None:
        super().__init__()
        self.revisions: dict[int, int] = {}

    def only(self, demand_ids: Iterable[int]) -> Fingerprints:
        """These demands' fingerprints and revisions."""
        kept = Fingerprints()
        for demand_id in demand_ids:
            if demand_id in self:
                kept[demand_id] = self[demand_id]
                if demand_id in self.revisions:
                    kept.revisions[demand_id] = self.revisions[demand_id]
        return kept


def demand_fingerprints(session: Session, demand_ids: Iterable[int], *, round_id: int | None = None) -> Fingerprints:
    """A short hash of everything the matching reads from each demand; an edit that matters changes it.

    ``round_id``: the demands are (mostly) that round's. A demand whose ``revision`` (kept by the database's triggers
    in the transaction of every write to what the hash is made of) is still the one the round stored with its
    fingerprint has that fingerprint: only the others are read and hashed. Many of them (a first solve) are read
    through the round's membership instead of a list of thousands of ids sent four times (psycopg dumps an id array
    element by element: ~10 ms for a province round's 2,000), and any not in it by their ids.
    """
    return _fingerprints(session, demand_ids, round_id, _members(session, round_id) if round_id is not None else [])


def _members(session: Session, round_id: int) -> list[sa.Row]:
    """The round's demands: (demand id, stored fingerprint, the revision stored with it, the demand's revision)."""
    return session.connection().execute(
        sa.select(RoundDemand.demand_id, RoundDemand.fingerprint, RoundDemand.revision, Demand.revision)
        .join(Demand, Demand.id == RoundDemand.demand_id).where(RoundDemand.round_id == round_id)).all()


def _fingerprints(session: Session, demand_ids: Iterable[int], round_id: int | None,
                  members: list[sa.Row]) -> Fingerprints:
    """:func:`demand_fingerprints`, with the round's ``members`` read already."""
    ids = sorted(set(demand_ids))
    found = Fingerprints()
    if not ids:
        return found
    hashed: dict[int, tuple[int, str]] = {}  # demand id → (revision, fingerprint)
    if round_id is not None:
        wanted = set(ids)
        for demand_id, fingerprint, stored_revision, revision in members:
            if demand_id in wanted and fingerprint is not None and stored_revision == revision:
                found[demand_id] = fingerprint
                found.revisions[demand_id] = revision
        ids = [demand_id for demand_id in ids if demand_id not in found]
        if members and len(ids) > len(members) // 2:
            member_ids = sa.select(RoundDemand.demand_id).where(RoundDemand.round_id == round_id)
            hashed = {demand_id: value for demand_id, value in
                      _read_fingerprints(session, lambda column: column.in_(member_ids)).items()
                      if demand_id in wanted}
            ids = [demand_id for demand_id in ids if demand_id not in hashed]
    for chunk in chunks(ids):
        hashed.update(_read_fingerprints(session, lambda column, chunk=chunk: id_in(session, column, chunk)))
    for demand_id, (revision, fingerprint) in hashed.items():
        found[demand_id] = fingerprint
        found.revisions[demand_id] = revision
    return found


def hashes_on_server(session: Session) -> bool:
    """Whether the database hashes the demands' fingerprints itself: PostgreSQL with its texts in UTF-8 (md5 there
    hashes the bytes of the database's encoding, here those of UTF-8)."""
    connection = session.connection()
    return connection.dialect.name == "postgresql" \
        and connection.connection.driver_connection.info.parameter_status("server_encoding") == "UTF8"


def _read_fingerprints(session: Session, demands_in) -> dict[int, tuple[int, str]]:
    """demand id → (revision, fingerprint) of the demands ``demands_in(column)`` picks: hashed by the server on
    PostgreSQL (one row per demand instead of its columns, skills, industries and roles to hash here, ~30 ms of
    this process's CPU for a province round's 2,000), here elsewhere."""
    if hashes_on_server(session):
        return {demand_id: (revision, fingerprint) for demand_id, revision, fingerprint in
                session.connection().execute(_hashed_by_server(demands_in)).all()}
    parts: dict[int, list[Any]] = {}
    skills: dict[int, list[Any]] = defaultdict(list)
    industries: dict[int, list[Any]] = defaultdict(list)
    roles: dict[int, list[Any]] = defaultdict(list)
    _read_fingerprinted(session, demands_in, parts, skills, industries, roles)

    def fingerprint(demand_id: int, values: list[Any]) -> str:
        parts_ = [values, sorted(skills[demand_id]), sorted(industries[demand_id])]
        if roles[demand_id]:  # only then: the fingerprints of demands without roles stay as they were
            parts_.append(sorted(roles[demand_id]))
        return hashlib.md5(_FINGERPRINT_JSON.encode(parts_).encode(), usedforsecurity=False).hexdigest()

    return {demand_id: (revision, fingerprint(demand_id, values)) for demand_id, (revision, *values) in parts.items()}


_FINGERPRINTED = (Demand.title, Demand.description, Demand.support_needed, Demand.other_skills, Demand.category_id,
                  Demand.team_size, Demand.mode, Demand.region_id, Demand.window_start, Demand.window_end,
                  Demand.urgency, Demand.enterprise_id)


def _read_fingerprinted(session: Session, demands_in, parts: dict[int, list[Any]], skills: dict[int, list[Any]],
                        industries: dict[int, list[Any]], roles: dict[int, list[Any]]) -> None:
    """What the fingerprints of the demands ``demands_in(column)`` picks are made of, added to the four maps; each
    demand's ``parts`` start with its revision, read with its row, before its skills, industries and roles."""
    core = session.connection()  # plain rows, without the ORM's per-row result processing
    for row in core.execute(sa.select(Demand.id, Demand.revision, *_FINGERPRINTED).where(demands_in(Demand.id))).all():
        parts[row[0]] = [row[1], *(str(value) for value in row[2:])]
    for demand_id, skill_id, importance in core.execute(
            sa.select(DemandSkill.demand_id, DemandSkill.skill_id, DemandSkill.importance)
            .where(demands_in(DemandSkill.demand_id))).all():
        skills[demand_id].append((skill_id, importance))
    for demand_id, industry_id in core.execute(
            sa.select(demand_industry.c.demand_id, demand_industry.c.industry_id)
            .where(demands_in(demand_industry.c.demand_id))).all():
        industries[demand_id].append(industry_id)
    for demand_id, skill_id, count in core.execute(
            sa.select(DemandRole.demand_id, DemandRole.skill_id, DemandRole.count)
            .where(demands_in(DemandRole.demand_id))).all():
        roles[demand_id].append((skill_id, count))


def _listed(*items: Any) -> Any:
    """``", ".join`` of the items in the SQL's text, as the JSON encoder separates a list's items."""
    return sa.func.concat_ws(sa.literal_column("', '"), *items)


def _json_string(column: Any) -> Any:
    """The JSON text ``_FINGERPRINT_JSON`` writes for ``str(value)`` of the column's value (dates in ISO form, None
    as "None"): PostgreSQL's ``to_json`` escapes a text as Python's encoder does without ``ensure_ascii``."""
    text = sa.func.to_char(column, sa.literal_column("'YYYY-MM-DD'")) if isinstance(column.type, sa.Date) \
        else sa.cast(column, sa.Text)
    return sa.cast(sa.func.to_json(sa.func.coalesce(text, sa.literal_column("'None'"))), sa.Text)


def _sorted_items(demands_in, demand_column: Any, *values: Any) -> Any:
    """Per demand that ``demands_in`` picks and that has rows in the linked table: (demand_id, listed), its rows as
    the items of ``sorted()`` of their values in JSON (a pair as "[a, b]", a single value as itself, joined by ", ").
    Grouped once and joined, rather than a subquery per demand (whose cost estimate may set off the JIT compiler)."""
    texts = [sa.cast(value, sa.Text) for value in values]
    item = texts[0] if len(texts) == 1 else functools.reduce(
        lambda joined, text: joined + sa.literal_column("', '", sa.Text) + text, texts[1:],
        sa.literal_column("'['", sa.Text) + texts[0]) + sa.literal_column("']'", sa.Text)
    items = sa.func.string_agg(item, aggregate_order_by(sa.literal_column("', '"), *values))
    return (sa.select(demand_column.label("demand_id"), items.label("listed")).where(demands_in(demand_column))
            .group_by(demand_column).subquery())


def _hashed_by_server(demands_in) -> sa.Select:
    """(demand id, revision, fingerprint) as :func:`_read_fingerprints` hashes them elsewhere: md5 of the same JSON
    text ``[[values], [skills], [industries]]`` (``, [roles]`` before the last bracket when it has roles), all read
    in one statement (its snapshot: the revision cannot be newer than what it is read with)."""
    skills = _sorted_items(demands_in, DemandSkill.demand_id, DemandSkill.skill_id, DemandSkill.importance)
    industries = _sorted_items(demands_in, demand_industry.c.demand_id, demand_industry.c.industry_id)
    roles = _sorted_items(demands_in, DemandRole.demand_id, DemandRole.skill_id, DemandRole.count)
    text = sa.func.concat(  # concat() takes a NULL (no rows) as ""; "||" makes the roles' part NULL then
        sa.literal_column("'[['"), _listed(*map(_json_string, _FINGERPRINTED)), sa.literal_column("'], ['"),
        skills.c.listed, sa.literal_column("'], ['"), industries.c.listed, sa.literal_column("']'"),
        sa.literal_column("', ['", sa.Text) + roles.c.listed + sa.literal_column("']'", sa.Text),
        sa.literal_column("']'"))
    return (sa.select(Demand.id, Demand.revision, sa.func.md5(text))
            .outerjoin(skills, skills.c.demand_id == Demand.id)
            .outerjoin(industries, industries.c.demand_id == Demand.id)
            .outerjoin(roles, roles.c.demand_id == Demand.id)
            .where(demands_in(Demand.id)))


def edited_demands(session: Session, rnd: MatchingRound, demand_ids: Iterable[int],
                   current: dict[int, str] | None = None) -> set[int]:
    """Which of ``demand_ids`` changed (for the matching) since the round's last solve stored their fingerprint.

    ``current``: the demands' fingerprints when the caller computed them already.
    """
    members = _members(session, rnd.id)
    stored = {demand_id: fingerprint for demand_id, fingerprint, *_revisions in members}
    if current is None:
        current = _fingerprints(session, demand_ids, rnd.id, members)
    else:
        wanted = set(demand_ids)
        current = {demand_id: value for demand_id, value in current.items() if demand_id in wanted}
    return {demand_id for demand_id, value in current.items() if stored.get(demand_id) != value}


def store_fingerprints(session: Session, rnd: MatchingRound, open_ids: Iterable[int],
                       current: dict[int, str] | None = None) -> None:
    """Remember what the solved demands said; the demands the solve left out get none.

    Only the rows whose fingerprint changes are written (a re-solve usually writes none); ``current`` as in
    :func:`edited_demands`.
    """
    open_ids = set(open_ids)
    values = demand_fingerprints(session, open_ids, round_id=rnd.id) if current is None else current
    revisions = getattr(values, "revisions", {})  # unknown for fingerprints from elsewhere: hashed again next time

    def stored_now(demand_id: int) -> tuple[str | None, int | None]:
        return (values.get(demand_id), revisions.get(demand_id)) if demand_id in open_ids else (None, None)

    changed = [{"id": row_id, "fingerprint": now[0], "revision": now[1]}
               for row_id, demand_id, *stored in session.execute(
                   sa.select(RoundDemand.id, RoundDemand.demand_id, RoundDemand.fingerprint, RoundDemand.revision)
                   .where(RoundDemand.round_id == rnd.id)).all()
               if tuple(stored) != (now := stored_now(demand_id))]
    if not changed:
        return
    if session.get_bind().dialect.name == "postgresql":  # one statement, not one per row
        session.execute(sa.text("UPDATE round_demand SET fingerprint = v.fingerprint, revision = v.revision "
                                "FROM unnest(CAST(:ids AS integer[]), CAST(:values AS varchar[]), "
                                "CAST(:revisions AS integer[])) AS v(id, fingerprint, revision) "
                                "WHERE round_demand.id = v.id"),
                        {"ids": [row["id"] for row in changed], "values": [row["fingerprint"] for row in changed],
                         "revisions": [row["revision"] for row in changed]})
    else:
        session.execute(sa.update(RoundDemand), changed)


# ---------------------------------------------------------------- what moved under the proposals
@dataclasses.dataclass(frozen=True)
class PoolState:
    """What the pools say now about a round's craftsmen and demands, read once by a solve and shared with
    :func:`changes_since_solve` (a repair re-solve needs both)."""

    inactive: dict[int, str]  # inactive_craftsmen
    booked: dict[int, int]  # booked_elsewhere
    closed: dict[int, tuple[str, str]]  # closed_demands
    edited: set[int]  # edited_craftsmen
    read_fingerprints: Callable[[], dict[int, str]]  # gives ``fingerprints`` (maybe still read on another connection)

    @functools.cached_property
    def fingerprints(self) -> dict[int, str]:
        """demand_fingerprints of the demands still open."""
        return self.read_fingerprints()

    @classmethod
    def read(cls, session: Session, rnd: MatchingRound, today: dt.date, demand_ids: Iterable[int],
             fingerprints: Callable[[], Fingerprints] | None = None, edited: set[int] | None = None) -> PoolState:
        """``fingerprints``: gives :func:`demand_fingerprints` of these demands (or more of the round's) as read
        meanwhile elsewhere (on another connection), asked for only when the state's fingerprints are;
        ``edited``: :func:`edited_craftsmen`, when the caller read them already."""
        closed = closed_demands(session, rnd)
        inactive, booked = inactive_craftsmen(session, rnd, today), booked_elsewhere(session, rnd)
        edited = edited_craftsmen(session, rnd) if edited is None else edited
        still_open = [d for d in demand_ids if d not in closed]
        if fingerprints is None:
            found = demand_fingerprints(session, still_open, round_id=rnd.id)
            return cls(inactive=inactive, booked=booked, closed=closed, edited=edited, read_fingerprints=lambda: found)
        return cls(inactive=inactive, booked=booked, closed=closed, edited=edited,
                   read_fingerprints=lambda: fingerprints().only(still_open))


class FlaggedPair(NamedTuple):
    craftsman_id: int
    demand_id: int
    assigned: bool
    locked: bool
    excluded: bool
    role_skill_id: int | None
    locked_role_skill_id: int | None


def flagged_pairs(session: Session, rnd: MatchingRound) -> list[FlaggedPair]:
    """The round's proposals that are assigned, locked or excluded, with those flags and roles: what the round page's
    checks and its load table read, in one scan of the round's proposals (a seq scan of ~9 MB for a province round,
    its breakdowns inline) instead of one each."""
    rows = session.connection().execute(
        sa.select(Proposal.craftsman_id, Proposal.demand_id, Proposal.assigned, Proposal.locked, Proposal.excluded,
                  Proposal.role_skill_id, Proposal.locked_role_skill_id)
        .where(Proposal.round_id == rnd.id, sa.or_(Proposal.assigned, Proposal.locked, Proposal.excluded))).all()
    return [FlaggedPair(*row) for row in rows]


def changes_since_solve(session: Session, rnd: MatchingRound, today: dt.date,
                        state: PoolState | None = None, flagged: list[FlaggedPair] | None = None) -> list[PoolChange]:
    """Craftsmen and demands of the round's proposed (or locked) pairs that changed since the solve.

    ``state``: the pools as the caller read them already (its fingerprints cover every open demand of the round);
    ``flagged``: the round's :func:`flagged_pairs`, when the caller read them already.
    """
    if rnd.solved_at is None or rnd.status == "published":
        return []
    pairs = [(row.craftsman_id, row.demand_id)
             for row in (flagged_pairs(session, rnd) if flagged is None else flagged)
             if (row.assigned or row.locked) and not row.excluded]
    if not pairs:
        return []
    craftsman_ids = {c for c, _ in pairs}
    demand_ids = {d for _, d in pairs}
    load: dict[int, int] = defaultdict(int)
    for craftsman_id, _ in pairs:
        load[craftsman_id] += 1
    reasons: dict[tuple[str, int], tuple[str, str]] = {}
    inactive = state.inactive if state else inactive_craftsmen(session, rnd, today)
    for craftsman_id, status in inactive.items():
        if craftsman_id in craftsman_ids:
            reasons["craftsman", craftsman_id] = (status, "")
    for craftsman_id in (state.edited if state else edited_craftsmen(session, rnd)) & craftsman_ids:
        reasons.setdefault(("craftsman", craftsman_id), ("edited", ""))
    booked = state.booked if state else booked_elsewhere(session, rnd)
    if booked:
        solved_with = (rnd.metrics or {}).get("booked_elsewhere", {})
        capacity = dict(session.execute(sa.select(RoundCraftsman.craftsman_id, RoundCraftsman.capacity).where(
            RoundCraftsman.round_id == rnd.id, RoundCraftsman.craftsman_id.in_(list(booked)))).all())
        for craftsman_id, count in booked.items():
            newly = count - int(solved_with.get(str(craftsman_id), 0))
            if (craftsman_id in craftsman_ids and ("craftsman", craftsman_id) not in reasons and newly > 0
                    and load[craftsman_id] > capacity.get(craftsman_id, 0) - count):
                reasons["craftsman", craftsman_id] = ("out_of_capacity", "")
    closed = state.closed if state else closed_demands(session, rnd)
    for demand_id in demand_ids & set(closed):
        reasons["demand", demand_id] = closed[demand_id]
    for demand_id in edited_demands(session, rnd, demand_ids - set(closed), state.fingerprints if state else None):
        reasons["demand", demand_id] = ("edited", "")
    # a craftsman who declined a demand after another round's publish (the demand is open again) is never
    # proposed for it again: the demand is refilled by a re-solve, which excludes the pair
    for _, demand_id in declined_pairs(session, rnd.id) & set(pairs):
        reasons.setdefault(("demand", demand_id), ("declined", ""))
    return _named(session, reasons)


def _named(session: Session, reasons: dict[tuple[str, int], tuple[str, str]]) -> list[PoolChange]:
    craftsmen = [i for kind, i in reasons if kind == "craftsman"]
    demands = [i for kind, i in reasons if kind == "demand"]
    names = {("craftsman", i): n for i, n in session.execute(
        sa.select(Craftsman.id, Craftsman.name).where(Craftsman.id.in_(craftsmen)))} if craftsmen else {}
    names.update({("demand", i): t for i, t in session.execute(
        sa.select(Demand.id, Demand.title).where(Demand.id.in_(demands)))} if demands else {})
    return [PoolChange(kind=kind, id=i, name=names.get((kind, i), str(i)), reason=reason, detail=detail)
            for (kind, i), (reason, detail) in sorted(reasons.items())]


def chunks(ids: list[int], size: int = 5000) -> Iterable[list[int]]:
    """``ids`` in slices short enough for one statement's parameters."""
    for start in range(0, len(ids), size):
        yield ids[start:start + size]


def lock_rows(session: Session, model: Any, ids: list[int]) -> None:
    """Row locks in id order, as every writer that takes several takes them (demands before craftsmen): two such
    transactions wait for each other instead of deadlocking. SQLite's write lock already serialises."""
    for chunk in chunks(sorted(ids)):
        session.execute(sa.select(model.id).where(model.id.in_(chunk)).order_by(model.id).with_for_update()).all()
