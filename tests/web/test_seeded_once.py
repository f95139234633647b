"""The harness's ``seeded_once``: the module's data set is made once, every test sees it, and what a test changes
(committed or not, in its session or through a request) is gone for the next test."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.conftest import seeded_once
from tests.factories import make_craftsman
from web.models import Craftsman

made: list[int] = []


def _one_craftsman(session) -> int:
    made.append(1)
    return make_craftsman(session, name="种子工匠").id


seeded_transaction, seeded_data, connection = seeded_once(_one_craftsman)


@pytest.mark.parametrize("turn", [1, 2])
def test_each_test_starts_from_the_seed_alone(session, seeded_data, turn):
    names = session.scalars(sa.select(Craftsman.name).where(Craftsman.name.like("%工匠"))).all()
    assert names == ["种子工匠"] and session.get(Craftsman, seeded_data) is not None
    make_craftsman(session, name=f"第{turn}个测试的工匠")
    session.commit()
    session.get(Craftsman, seeded_data).name = "改过的工匠"
    session.commit()


def test_the_seed_was_made_once_per_backend():
    assert len(made) <= 2
