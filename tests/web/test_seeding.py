"""The demo seeds load into the database with the stated counts, and a second load adds nothing."""

from __future__ import annotations

import datetime as dt

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


def test_demo_engagements_have_times_a_coordinator_and_explained_points(session):
    from web.models import PointsEntry
    from web.services import engagements, points

    seeding.ensure_demo_users(session, now=NOW, production=False)
    seeding.load_demo(session, now=NOW)
    coordinator = session.scalar(sa.select(User.id).where(User.username == "demo"))
    rows = session.scalars(sa.select(Engagement)).all()
    assert rows and {e.coordinator_id for e in rows} == {coordinator}
    for engagement in rows:
        assert engagement.created_at.date() < engagement.started_on  # matched days before the service began
        assert engagement.started_on - engagement.created_at.date() <= dt.timedelta(days=13)
        if engagement.completed_on:
            assert engagement.acceptance_at.date() == engagement.completed_on  # office hours in Beijing
        assert engagement.updated_at >= engagement.created_at and engagement.updated_at < NOW
    assert points.mismatches(session) == []
    assert engagements.pending_feedback_count(session) == 0
    completed = [e for e in rows if e.completed_on]
    awarded = session.scalar(sa.select(sa.func.count()).select_from(PointsEntry)
                             .where(PointsEntry.rule == "engagement_completed"))
    assert awarded == sum(len(e.members) for e in completed) > 0
    assert _count(session, PointsEntry, PointsEntry.rule == "rating_high") > 0
    assert _count(session, PointsEntry, PointsEntry.rule == "opening_balance") > 0


def test_seed_demo_then_check_points_lists_nobody(tmp_path):
    from tests.conftest import make_test_app
    from web.cli import db_group, followup_group, seed_group

    app = make_test_app(f"sqlite:///{tmp_path / 'seeded.sqlite'}")
    runner = app.test_cli_runner()
    assert runner.invoke(db_group, ["upgrade"]).exit_code == 0
    seeded = runner.invoke(seed_group, ["demo"])
    assert seeded.exit_code == 0, seeded.output
    checked = runner.invoke(followup_group, ["check-points"])
    assert checked.exit_code == 0 and checked.output.strip() == "mismatches: 0", checked.output
    synced = runner.invoke(followup_group, ["sync-feedback"])
    assert synced.output.strip() == "ratings applied: 0"
    with app.app_context():
        from web.extensions import db

        assert db.session.scalar(sa.select(sa.func.count()).select_from(Engagement)
                                 .where(Engagement.coordinator_id.is_(None))) == 0
        db.engine.dispose()


def test_demo_demands_carry_their_matching_dates(session):
    from web.services import reports

    seeding.load_demo(session, now=NOW)
    matched = session.execute(sa.select(Demand.status, Demand.submitted_at, Demand.matched_at)).all()
    later = [row for row in matched if row.status in reports.MATCHED_OR_LATER]
    assert later and all(row.matched_at is not None and row.matched_at > row.submitted_at for row in later)
    assert all(row.matched_at is None for row in matched if row.status not in reports.MATCHED_OR_LATER)
    figures = reports.build(session, reports.Period(), NOW.date())
    assert 4 <= figures.headline["median_days_to_match"] <= 24
