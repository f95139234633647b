"""The demo seeds load into the database with the stated counts, and a second load adds nothing."""

from __future__ import annotations

import sqlalchemy as sa

from tests.conftest import NOW
from web.models import (
    Craftsman,
    Demand,
    Engagement,
    Enterprise,
    Feedback,
    FollowUp,
    Outcome,
    Region,
    Skill,
    Studio,
    User,
)
from web.services import seeding


def _count(session, model, *where) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def test_reference_data_covers_sichuan_and_chongqing(session):
    prefectures = _count(session, Region, Region.level == "prefecture", Region.province_code == "51")
    chongqing_units = _count(session, Region, Region.level == "county", Region.province_code == "50")
    leaf_skills = _count(session, Skill, ~sa.exists().where(sa.orm.aliased(Skill).parent_id == Skill.id))
    assert prefectures == 21
    assert chongqing_units == 38
    assert leaf_skills >= 150


def test_demo_loads_with_stated_counts_and_twice_adds_nothing(session):
    first = seeding.load_demo(session, now=NOW)
    counts = {model.__name__: _count(session, model)
              for model in (Craftsman, Studio, Enterprise, Demand, Outcome, Engagement, FollowUp, Feedback)}
    second = seeding.load_demo(session, now=NOW)

    assert counts["Craftsman"] >= 300
    assert counts["Enterprise"] == 60
    assert counts["Demand"] == 100
    assert counts["Outcome"] == 50
    assert counts["Engagement"] >= 6 and counts["FollowUp"] > 0
    assert first.created["craftsmen"] == counts["Craftsman"]
    assert all(value == 0 for value in second.created.values()), second.created
    assert {model.__name__: _count(session, model)
            for model in (Craftsman, Studio, Enterprise, Demand, Outcome, Engagement, FollowUp, Feedback)} == counts


def test_demo_covers_every_status_category_and_team_demands(session):
    seeding.load_demo(session, now=NOW)
    statuses = set(session.scalars(sa.select(Demand.status).distinct()))
    categories = session.scalar(sa.select(sa.func.count(sa.distinct(Demand.category_id))))
    assert {"submitted", "open", "matched", "in_service", "completed", "evaluated", "rejected"} <= statuses
    assert categories == 9
    assert _count(session, Demand, Demand.team_size >= 2) > 0
    assert _count(session, Craftsman, Craftsman.name == "刘源") == 1


def test_demo_users_are_created_once_and_never_in_production(session):
    created = seeding.ensure_demo_users(session, now=NOW, production=False)
    again = seeding.ensure_demo_users(session, now=NOW, production=False)
    assert [username for username, _password, _role in created] == ["demo", "viewer"]
    assert again == []
    assert seeding.ensure_demo_users(session, now=NOW, production=True) == []
    assert _count(session, User) == 2


def test_synthetic_pool_loads(session):
    report = seeding.load_synthetic(session, n_craftsmen=200, n_demands=80, seed=3, now=NOW)
    assert report.created["craftsmen"] == 200
    assert report.created["demands"] == 80
    assert _count(session, Demand, Demand.status == "open") >= 80
