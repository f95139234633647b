"""Migration 0015 on a database with rounds: the capacities a coordinator chose are told from those copied from
the craftsmen's profiles (on every backend)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from tests.conftest import NOW
from tests.factories import make_craftsman, make_demand
from web import migrate
from web.db import make_engine
from web.models import RoundCraftsman
from web.services import rounds, seeding


def test_chosen_capacities_are_told_from_copied_ones(fresh_database_url):
    migrate.upgrade(fresh_database_url)
    engine = make_engine(fresh_database_url)
    with Session(bind=engine) as session:
        seeding.load_reference(session)
        people = [make_craftsman(session, skills={"weld": 4}, region_code="510100", round_capacity=n) for n in (1, 2, 2)]
        make_demand(session, skills={"weld": 3})
        copied = rounds.create_round(session, name="抄录", actor="test", now=NOW)
        for_all = rounds.create_round(session, name="统一", default_capacity=3, actor="test", now=NOW)
        rounds.set_capacity(session, copied, people[1].id, 4, actor="test", now=NOW)
        session.commit()
        ids = [person.id for person in people]
        round_ids = copied.id, for_all.id
    migrate.downgrade(fresh_database_url, "0014")
    migrate.upgrade(fresh_database_url)
    with Session(bind=engine) as session:
        chosen = {(row.round_id, row.craftsman_id): row.capacity_chosen
                  for row in session.scalars(sa.select(RoundCraftsman))}
    assert chosen == {(round_ids[0], ids[0]): False, (round_ids[0], ids[1]): True, (round_ids[0], ids[2]): False,
                      **{(round_ids[1], c): True for c in ids}}
    engine.dispose()
