"""Demand revisions (migration 0013): the database moves a demand's revision with every write to what its matching
fingerprint is made of, and a round hashes again only the demands whose revision moved since it stored theirs."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from tests.conftest import NOW
from tests.factories import make_craftsman, make_demand
from web.models import Demand, DemandRole, DemandSkill, Industry, RoundDemand, Skill, demand_industry
from web.services import eligibility, rounds

LINKED = ("demand_skill", "demand_industry", "demand_role")


def _revision(session, demand: Demand) -> int:
    return session.scalar(sa.select(Demand.revision).where(Demand.id == demand.id))


def _skill(session, code: str) -> int:
    return session.scalar(sa.select(Skill.id).where(Skill.code == code))


def _other_industry(session, demand: Demand) -> int:
    return session.scalar(sa.select(Industry.id).where(Industry.id.not_in([i.id for i in demand.industries]))
                          .order_by(Industry.id).limit(1))


WRITES = {
    "title": lambda s, d: s.execute(sa.update(Demand).where(Demand.id == d.id).values(title="数控机床联网改造")),
    "window": lambda s, d: s.execute(sa.update(Demand).where(Demand.id == d.id).values(window_end=None)),
    "enterprise": lambda s, d: s.execute(sa.update(Demand).where(Demand.id == d.id).values(
        enterprise_id=make_demand(s).enterprise_id)),
    "skill added": lambda s, d: s.execute(sa.insert(DemandSkill).values(demand_id=d.id, skill_id=_skill(s, "electrical"),
                                                                        importance=1)),
    "skill importance": lambda s, d: s.execute(sa.update(DemandSkill).where(DemandSkill.demand_id == d.id)
                                               .values(importance=1)),
    "skill removed": lambda s, d: s.execute(sa.delete(DemandSkill).where(DemandSkill.demand_id == d.id)),
    "industry added": lambda s, d: s.execute(sa.insert(demand_industry).values(
        demand_id=d.id, industry_id=_other_industry(s, d))),
    "industry changed": lambda s, d: s.execute(sa.update(demand_industry).where(
        demand_industry.c.demand_id == d.id).values(industry_id=_other_industry(s, d))),
    "industry removed": lambda s, d: s.execute(sa.delete(demand_industry).where(demand_industry.c.demand_id == d.id)),
    "role added": lambda s, d: s.execute(sa.insert(DemandRole).values(demand_id=d.id, skill_id=_skill(s, "weld"),
                                                                      count=2)),
}


@pytest.mark.parametrize("write", list(WRITES))
def test_every_write_to_what_a_fingerprint_reads_moves_the_demand_revision(session, write):
    demand = make_demand(session, skills={"weld": 3})
    before = _revision(session, demand)
    fingerprint = eligibility.demand_fingerprints(session, [demand.id])[demand.id]
    WRITES[write](session, demand)
    session.expire_all()
    assert eligibility.demand_fingerprints(session, [demand.id])[demand.id] != fingerprint  # it matters
    assert _revision(session, demand) > before


def test_a_role_changed_or_removed_moves_the_revision_and_other_writes_do_not(session):
    demand = make_demand(session, skills={"weld": 3})
    session.execute(sa.insert(DemandRole).values(demand_id=demand.id, skill_id=_skill(session, "weld"), count=2))
    moved = [_revision(session, demand)]
    session.execute(sa.update(DemandRole).where(DemandRole.demand_id == demand.id).values(count=3))
    moved.append(_revision(session, demand))
    session.execute(sa.delete(DemandRole).where(DemandRole.demand_id == demand.id))
    moved.append(_revision(session, demand))
    assert moved[0] < moved[1] < moved[2]

    # what the matching does not read, and a write that leaves a fingerprinted column as it was
    session.execute(sa.update(Demand).where(Demand.id == demand.id).values(
        status="withdrawn", review_note="待核实", updated_at=NOW, contact_name="李经理", title=demand.title))
    assert _revision(session, demand) == moved[2]


def test_the_demand_trigger_watches_exactly_the_fingerprinted_columns(session):
    if session.get_bind().dialect.name == "sqlite":
        rows = session.execute(sa.text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                                       "AND name LIKE 'demand_revision_%'")).all()
    else:
        rows = session.execute(sa.text("SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger "
                                       "WHERE tgname LIKE 'demand_revision_%'")).all()
    definitions = dict(rows)
    own = next(sql for name, sql in definitions.items() if name.startswith("demand_revision_demand_") and
               not any(name.startswith(f"demand_revision_{table}") for table in LINKED))
    watched = re.search(r"UPDATE OF (.*?) ON", own).group(1)
    assert {column.strip() for column in watched.split(",")} == {c.name for c in eligibility._FINGERPRINTED}
    linked = {name for name in definitions if any(name.startswith(f"demand_revision_{t}_") for t in LINKED)}
    assert len(linked) == 3 * len(LINKED)  # insert, update and delete of each


def _solved_round(session):
    for level in (3, 4):
        make_craftsman(session, skills={"weld": level}, region_code="510100", round_capacity=2)
    needs = [make_demand(session, skills={"weld": 3}) for _ in range(3)]
    rnd = rounds.create_round(session, name="修订号", actor="test", now=NOW)
    rounds.solve_round(session, rnd, actor="test", now=NOW)
    return rnd, needs


def _count_reads(monkeypatch) -> list[int]:
    """How many demands each read of fingerprinted content picked (by id or through the round)."""
    picked: list[int] = []
    real = eligibility._read_fingerprints

    def counted(session, demands_in):
        found = real(session, demands_in)
        picked.append(len(found))
        return found

    monkeypatch.setattr(eligibility, "_read_fingerprints", counted)
    return picked


def test_a_round_hashes_again_only_the_demands_whose_revision_moved(session, monkeypatch):
    rnd, needs = _solved_round(session)
    stored = dict(session.execute(sa.select(RoundDemand.demand_id, RoundDemand.revision)
                                  .where(RoundDemand.round_id == rnd.id)).all())
    assert stored == {d.id: _revision(session, d) for d in needs}
    picked = _count_reads(monkeypatch)
    assert eligibility.changes_since_solve(session, rnd, NOW.date()) == []
    assert picked == []

    session.execute(sa.insert(DemandSkill).values(demand_id=needs[1].id, skill_id=_skill(session, "electrical"),
                                                  importance=2))
    changes = eligibility.changes_since_solve(session, rnd, NOW.date())
    assert [(c.kind, c.id, c.reason) for c in changes] == [("demand", needs[1].id, "edited")]
    assert sum(picked) == 1


def test_an_edit_between_reading_and_storing_a_fingerprint_is_still_seen(session):
    """A solve reads the fingerprints before it solves and stores them after; an edit committed meanwhile must not
    hide behind the revision stored with the older fingerprint."""
    rnd, needs = _solved_round(session)
    read_early = eligibility.demand_fingerprints(session, [d.id for d in needs], round_id=rnd.id)
    session.execute(sa.update(Demand).where(Demand.id == needs[0].id).values(urgency="high"))
    eligibility.store_fingerprints(session, rnd, [d.id for d in needs], read_early)
    assert eligibility.edited_demands(session, rnd, [d.id for d in needs]) == {needs[0].id}


def test_fingerprints_without_revisions_are_stored_to_be_hashed_again(session, monkeypatch):
    rnd, needs = _solved_round(session)
    plain = dict(eligibility.demand_fingerprints(session, [d.id for d in needs]))
    eligibility.store_fingerprints(session, rnd, [d.id for d in needs], plain)
    assert set(session.scalars(sa.select(RoundDemand.revision).where(RoundDemand.round_id == rnd.id))) == {None}
    picked = _count_reads(monkeypatch)
    assert eligibility.demand_fingerprints(session, [d.id for d in needs], round_id=rnd.id) == plain
    assert sum(picked) == len(needs)
