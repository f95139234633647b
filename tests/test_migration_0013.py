"""Migration 0013 on a database with rounds: proposals and their pairs kept both ways, demands at revision 0, and a
proposal whose pair is not in its round stops the upgrade (on every backend)."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from tests.factories import make_craftsman, make_demand
from web import migrate
from web.db import make_engine
from web.services import seeding

NOW = dt.datetime(2026, 11, 23, 9, 0)


def _round_with_proposals(url: str, *, outsider: bool = False) -> dict[str, int]:
    """At 0012: a round of two craftsmen and a demand, a proposal for each craftsman (the second craftsman outside
    the round when ``outsider``)."""
    migrate.upgrade(url, "0012")
    engine = make_engine(url)
    with Session(bind=engine) as session:
        seeding.load_reference(session)
        people = [make_craftsman(session, skills={"weld": 3}) for _ in range(2)]
        need = make_demand(session, skills={"weld": 3})
        ids = {"first": people[0].id, "second": people[1].id, "demand": need.id}
        session.commit()
    people = [ids["first"], ids["second"]]
    members = people[:1] if outsider else people
    with engine.begin() as connection:
        round_id = connection.execute(sa.text(
            "INSERT INTO matching_round (name, status, config, filters, version, created_at) "
            "VALUES ('迁移', 'solved', '{}', '{}', 1, :now) RETURNING id"), {"now": NOW}).scalar_one()
        for person in members:
            connection.execute(sa.text("INSERT INTO round_craftsman (round_id, craftsman_id, capacity) "
                                       "VALUES (:r, :c, 1)"), {"r": round_id, "c": person})
        connection.execute(sa.text("INSERT INTO round_demand (round_id, demand_id, slots, priority, fingerprint) "
                                   "VALUES (:r, :d, 1, 1.0, 'f')"), {"r": round_id, "d": ids["demand"]})
        for person in people:
            connection.execute(sa.text(
                "INSERT INTO proposal (round_id, craftsman_id, demand_id, score, breakdown, assigned, locked, "
                "excluded, warnings) VALUES (:r, :c, :d, 0.5, '{}', :a, false, false, '[]')"),
                {"r": round_id, "c": person, "d": ids["demand"], "a": person == people[0]})
    engine.dispose()
    return {**ids, "round": round_id}


def _proposals(url: str) -> list[tuple]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(sa.text(
                "SELECT round_id, craftsman_id, demand_id, assigned FROM proposal ORDER BY craftsman_id"))]
    finally:
        engine.dispose()


def test_proposals_keep_their_pairs_through_upgrade_and_downgrade(fresh_database_url):
    ids = _round_with_proposals(fresh_database_url)
    before = _proposals(fresh_database_url)
    assert len(before) == 2

    migrate.upgrade(fresh_database_url)
    assert _proposals(fresh_database_url) == before
    engine = make_engine(fresh_database_url)
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT revision FROM demand WHERE id = :d"),
                                  {"d": ids["demand"]}).scalar_one() == 0
        assert connection.execute(sa.text("SELECT revision FROM round_demand")).scalar_one() is None
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:  # a pair outside the round
        connection.execute(sa.text("DELETE FROM proposal WHERE craftsman_id = :c"), {"c": ids["second"]})
        connection.execute(sa.text("DELETE FROM round_craftsman WHERE craftsman_id = :c"), {"c": ids["second"]})
        connection.execute(sa.text(
            "INSERT INTO proposal (round_id, craftsman_id, demand_id, score, breakdown, assigned, locked, excluded, "
            "warnings) VALUES (:r, :c, :d, 0.5, '{}', false, false, false, '[]')"),
            {"r": ids["round"], "c": ids["second"], "d": ids["demand"]})
    engine.dispose()

    migrate.downgrade(fresh_database_url, "0012")
    assert _proposals(fresh_database_url) == before


def test_a_proposal_outside_its_round_stops_the_upgrade(fresh_database_url):
    ids = _round_with_proposals(fresh_database_url, outsider=True)
    with pytest.raises(RuntimeError, match=rf"\({ids['round']}, {ids['second']}, {ids['demand']}\)"):
        migrate.upgrade(fresh_database_url)
