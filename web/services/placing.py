"""Put a named craftsman on a demand of a round: what stands in the way, in words, and the lock itself.

The coordinator may lock anyone the rules allow, whether the round took him in or not. No rule is written again
here: the pools' rules come from ``eligibility`` (serving or not, capacity booked by other rounds, demand still
open), the pair rules from ``matching.rules`` (conflict of interest, service mode, travel radius, province,
availability) evaluated on the features a solve reads. The lock is the round's ordinary lock (``rounds.set_pair``),
so the next solve honours it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from collections.abc import Collection
from typing import Any

import numpy as np
import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from matching import rules
from matching.config import RoundConfig
from matching.kernels import great_circle_km, relevance_tiers
from matching.pipeline import lock_violations
from matching.prepared import prepare
from web.clock import local_today
from web.models import (
    Craftsman,
    CraftsmanSkill,
    Demand,
    DemandRole,
    MatchingRound,
    Proposal,
    RoundCraftsman,
    RoundDemand,
    Skill,
    User,
)
from web.policy import covers
from web.services import audit, eligibility, features, rounds
from web.services.errors import NotFound, ServiceError

# matching's hard rules, in the coordinator's words (the codes and their order are matching's)
PAIR_RULES = {
    rules.INACTIVE: ("inactive", _l("he is not serving now")),
    rules.EXCLUDED: ("excluded", _l("a coordinator excluded him from this demand")),
    rules.CONFLICT: ("conflict_of_interest", _l("conflict of interest: he works for this enterprise or is linked "
                                                "to it")),
    rules.MODE: ("service_mode", _l("he cannot serve in this demand's mode (on site or remote)")),
    rules.TOO_FAR: ("outside_radius", _l("the demand is outside his service radius")),
    rules.CROSS_PROVINCE: ("other_province", _l("the demand is in another province and this round keeps matches "
                                                "inside a province")),
    rules.UNAVAILABLE: ("unavailable", _l("he is not available in the demand's time window")),
}


@dataclasses.dataclass(frozen=True)
class Obstacle:
    """The first rule that keeps a craftsman off a demand: ``rule`` a stable code, ``message`` in words."""

    rule: str
    message: Any  # a lazy string: rendered in the reader's language

    def __str__(self) -> str:
        return str(self.message)


def demand_of_round(session: Session, rnd: MatchingRound, demand_id: int) -> tuple[Demand, int]:
    """The round's demand and its places (team size in the round); NotFound when the round does not hold it."""
    row = session.execute(sa.select(Demand, RoundDemand.slots).join(RoundDemand, RoundDemand.demand_id == Demand.id)
                          .where(RoundDemand.round_id == rnd.id, RoundDemand.demand_id == demand_id)).first()
    if row is None:
        raise NotFound(_l("This demand is not part of the round."))
    return row[0], row[1]


def obstacles(session: Session, rnd: MatchingRound, demand_id: int, craftsman_ids: Collection[int], *,
              today: dt.date, role: str | None = None) -> dict[int, Obstacle | None]:
    """For each craftsman: what stands in the way of locking him onto the round's demand, or None.

    ``role``: the team role to lock him onto; checking a role's speciality belongs here once demands have roles.
    """
    _, slots = demand_of_round(session, rnd, demand_id)
    found: dict[int, Obstacle | None] = dict.fromkeys(craftsman_ids)
    if not found:
        return found
    closed = eligibility.closed_demands(session, rnd).get(demand_id)
    if closed is not None:
        reason, detail = closed
        words = str(eligibility.REASON_LABELS.get(reason, reason)) + (f" ({detail})" if detail else "")
        return dict.fromkeys(found, Obstacle("demand_closed", _l("the demand is no longer open: %(reason)s",
                                                                 reason=words)))
    ids = sorted(found)
    people = session.execute(
        sa.select(Craftsman.id, Craftsman.status, Craftsman.paused_until, Craftsman.round_capacity,
                  RoundCraftsman.capacity)
        .outerjoin(RoundCraftsman, sa.and_(RoundCraftsman.craftsman_id == Craftsman.id,
                                           RoundCraftsman.round_id == rnd.id))
        .where(Craftsman.id.in_(ids))).all()
    pairs = {row.craftsman_id: row for row in session.execute(
        sa.select(Proposal.craftsman_id, Proposal.locked, Proposal.excluded)
        .where(Proposal.round_id == rnd.id, Proposal.demand_id == demand_id, Proposal.craftsman_id.in_(ids)))}
    locked_here = session.scalar(sa.select(sa.func.count()).select_from(Proposal).where(
        Proposal.round_id == rnd.id, Proposal.demand_id == demand_id, Proposal.locked)) or 0
    locked_elsewhere = Counter(session.scalars(sa.select(Proposal.craftsman_id).where(
        Proposal.round_id == rnd.id, Proposal.locked, Proposal.demand_id != demand_id,
        Proposal.craftsman_id.in_(ids))))
    booked = eligibility.booked_elsewhere(session, rnd, ids)
    declined = eligibility.declined(session, demand_id, ids)
    if len(people) < len(ids):
        raise NotFound(_l("This craftsman does not exist."))
    default_capacity = (rnd.filters or {}).get("default_capacity")
    for person in people:
        pair = pairs.get(person.id)
        capacity = person.capacity if person.capacity is not None else (
            rounds.capacity_in_round(person, default_capacity)["capacity"])
        if not eligibility.is_active(person.status, person.paused_until, today):
            found[person.id] = _inactive(person.status, person.paused_until)
        elif pair is not None and pair.locked:
            found[person.id] = Obstacle("already_locked", _l("he is already locked onto this demand"))
        elif pair is not None and pair.excluded:
            found[person.id] = Obstacle("excluded", _l("a coordinator excluded him from this demand; undo the "
                                                       "exclusion first"))
        elif person.id in declined:
            found[person.id] = Obstacle("declined", _l("he declined this demand after an earlier publish"))
        elif locked_here >= slots:
            found[person.id] = Obstacle("team_full", _l("every place of this demand (%(n)d) is already locked",
                                                        n=slots))
        elif capacity - booked.get(person.id, 0) - locked_elsewhere[person.id] <= 0:
            found[person.id] = Obstacle("no_capacity", _l(
                "no capacity left in this round: capacity %(capacity)d, locked onto %(locked)d other demands, "
                "%(booked)d booked by other rounds", capacity=capacity, locked=locked_elsewhere[person.id],
                booked=booked.get(person.id, 0)))
    found.update(_pair_rules(session, rnd, demand_id, [c for c in ids if found[c] is None], today))
    return found


def _inactive(status: str, paused_until: dt.date | None) -> Obstacle:
    label = str(eligibility.REASON_LABELS.get(status, status))
    if status == "paused" and paused_until is not None:
        return Obstacle("paused", _l("not serving now: %(status)s until %(date)s", status=label,
                                     date=paused_until.isoformat()))
    return Obstacle(status, _l("not serving now: %(status)s", status=label))


def _pair_rules(session: Session, rnd: MatchingRound, demand_id: int, craftsman_ids: list[int],
                today: dt.date) -> dict[int, Obstacle]:
    """matching's hard rules (and, in a "relevant only" round, relevance) on the same features a solve reads."""
    if not craftsman_ids:
        return {}
    config = RoundConfig.from_dict(rnd.config)
    craftsmen = features.load_craftsmen(session, rnd.id, today=today, only=craftsman_ids)
    demands = features.load_demands(session, rnd.id, today=today, only=[demand_id])
    prepared = prepare(craftsmen, demands, config, skill_parent=features.load_skill_parent(session))
    found: dict[int, Obstacle] = {}
    index = {c: i for i, c in enumerate(craftsmen.ids)}
    for violation in lock_violations(prepared, [(str(c), str(demand_id)) for c in craftsman_ids]):
        rule, words = PAIR_RULES.get(violation.reason, (str(violation.reason), violation.label))
        if violation.reason == rules.TOO_FAR:
            i = np.array([index[violation.craftsman]])
            km = float(great_circle_km(prepared, i, np.array([0]))[0])
            words = _l("the demand is %(km)d km away, outside his service radius of %(radius)d km", km=round(km),
                       radius=round(float(prepared.radius_c[i[0]])))
        found[int(violation.craftsman)] = Obstacle(rule, words)
    if config.relevance == "only":
        left = [c for c in craftsman_ids if c not in found]
        tiers = relevance_tiers(prepared, np.array([index[str(c)] for c in left], dtype=np.int64),
                                np.zeros(len(left), dtype=np.int64))
        for craftsman_id, tier in zip(left, np.asarray(tiers).tolist(), strict=True):
            if tier == 0:
                found[craftsman_id] = Obstacle("no_required_skill", _l(
                    "he holds none of the required skills, and this round fills places with relevant craftsmen only"))
    return found


def place_craftsman(session: Session, rnd: MatchingRound, demand_id: int, craftsman_id: int, *,
                    role: str | None = None, actor: User | str | None, now: dt.datetime,
                    expected_version: int | None = None) -> Proposal:
    """Lock a named craftsman onto a demand of the round (taking him into the round if he is not in it yet).

    Refused with the first rule that stands in the way (:func:`obstacles`); nothing changes then. ``role``: the
    skill code of the team role he must fill (None: the solver chooses among the roles he can fill).
    """
    rounds.require_editable(rnd, actor, expected_version)
    craftsman = session.get(Craftsman, craftsman_id)
    if craftsman is None or not covers(actor, craftsman.region_id, session):
        raise NotFound(_l("This craftsman does not exist."))
    role_skill_id = None if role is None else _role_of(session, demand_id, craftsman, role)
    obstacle = obstacles(session, rnd, demand_id, [craftsman_id], today=local_today(now), role=role)[craftsman_id]
    if obstacle is not None:
        raise ServiceError(_l("%(name)s cannot be locked onto this demand: %(rule)s.", name=craftsman.name,
                              rule=obstacle.message), field="craftsman_id", code=f"lock_refused.{obstacle.rule}")
    with session.begin_nested():  # joining the round and the lock: both or neither
        if not in_round(session, rnd, [craftsman_id]):
            _join_round(session, rnd, craftsman, actor=actor, now=now)
        return rounds.set_pair(session, rnd, craftsman_id, demand_id, "lock", actor=actor, now=now,
                               expected_version=expected_version, role_skill_id=role_skill_id)


def _role_of(session: Session, demand_id: int, craftsman: Craftsman, role: str) -> int:
    """The skill id of the demand's team role ``role`` (a skill code), refused unless the craftsman holds its
    speciality (the skill or one below it), as the solver's role eligibility reads it."""
    role_row = session.scalar(sa.select(DemandRole).join(Skill, Skill.id == DemandRole.skill_id)
                              .where(DemandRole.demand_id == demand_id, Skill.code == role))
    if role_row is None:
        raise ServiceError(_l("This demand has no such team role."), field="role")
    holds = session.scalar(sa.select(sa.func.count()).select_from(CraftsmanSkill)
                           .join(Skill, Skill.id == CraftsmanSkill.skill_id)
                           .where(CraftsmanSkill.craftsman_id == craftsman.id,
                                  sa.or_(Skill.id == role_row.skill_id, Skill.parent_id == role_row.skill_id)))
    if not holds:
        raise ServiceError(_l("%(name)s cannot be locked onto this role: he does not hold its speciality, %(skill)s.",
                              name=craftsman.name, skill=role_row.skill.name_zh), field="role",
                           code="lock_refused.role_speciality")
    return role_row.skill_id


def _join_round(session: Session, rnd: MatchingRound, craftsman: Craftsman, *, actor: User | str | None,
                now: dt.datetime) -> None:
    """The round takes in a craftsman its filters left out, with the capacity a new round would give him."""
    held = rounds.capacity_in_round(craftsman, (rnd.filters or {}).get("default_capacity"))
    session.add(RoundCraftsman(round_id=rnd.id, craftsman_id=craftsman.id, **held))
    session.flush()
    audit.record(session, actor=actor, action="round.add_craftsman", entity=rnd, now=now,
                 after={"craftsman_id": craftsman.id, "capacity": held["capacity"]})


def in_round(session: Session, rnd: MatchingRound, craftsman_ids: Collection[int]) -> set[int]:
    """Which of these craftsmen the round has taken in."""
    if not craftsman_ids:
        return set()
    return set(session.scalars(sa.select(RoundCraftsman.craftsman_id).where(
        RoundCraftsman.round_id == rnd.id, RoundCraftsman.craftsman_id.in_(sorted(craftsman_ids)))))
