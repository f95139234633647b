"""The report summaries (web.services.summaries) stay equal to a rebuild from scratch after every kind of write:
through the services (intake, review, engagements, follow-ups, ratings, seeding), through the ORM (every column
the summaries read, inserts, deletes and their cascades) and through bulk SQL, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import random

import pytest
import sqlalchemy as sa

from tests.conftest import NOW, seeded_once
from tests.factories import make_craftsman, make_demand, make_engagement, region
from tests.web.test_intake_service import valid_demand_data
from tests.web.test_report_exactness import seed
from web.models import (
    Agreement,
    Demand,
    Engagement,
    EngagementMember,
    Feedback,
    FollowUp,
    Industry,
    Outcome,
    demand_industry,
)
from web.services import demands, engagements, feedback, followups, summaries

TODAY = NOW.date()


def _seed_and_check(session) -> None:
    seed(session, random.Random(7))
    assert all(summaries.stored(session).values()), "every summary holds rows"
    assert summaries.stored(session) == summaries.recomputed(session)


# the data set once per module; the loads that start from an empty database: test_report_summaries_loads.py
seeded_transaction, seeded_data, connection = seeded_once(_seed_and_check)


@pytest.fixture()
def seeded(session, seeded_data):
    return session


def _same(session):
    session.flush()
    assert summaries.stored(session) == summaries.recomputed(session)


def test_service_writes_keep_the_summaries_exact(seeded):
    session = seeded
    submitted = demands.submit_demand(session, valid_demand_data(industry_code="sub.gears"), now=NOW)
    demands.approve(session, submitted, actor="test", now=NOW)
    _same(session)
    demand = make_demand(session, status="matched", window_end=TODAY + dt.timedelta(days=40))
    engagement = make_engagement(session, demand, [make_craftsman(session), make_craftsman(session)])
    engagements.start_engagement(session, engagement, {"started_on": (TODAY - dt.timedelta(days=40)).isoformat()},
                                 actor="test", now=NOW)
    _same(session)
    kinds = {f.kind: f for f in engagement.follow_ups}
    followups.record_follow_up(session, kinds["check_2w"], {
        "done_on": (TODAY - dt.timedelta(days=20)).isoformat(), "problems_solved": 2, "value_created_wan": 12.35,
        "workers_trained": 8, "apprentices": 1}, actor="test", now=NOW)
    _same(session)
    engagements.mark_no_show(session, engagement, engagement.members[0].craftsman_id, {"reason": "未到场"},
                             actor="test", now=NOW)
    engagements.record_acceptance(session, engagement, {"confirmed_by": "王经理"}, actor="test", now=NOW)
    engagements.complete_engagement(session, engagement, {"completed_on": TODAY.isoformat(),
                                                          "override_reason": "企业已书面确认"}, actor="test", now=NOW)
    _same(session)
    feedback.rate_demand(session, demand, {"rating": 5, "comment": ""}, now=NOW)
    _same(session)
    other = make_engagement(session, make_demand(session, status="matched"), [make_craftsman(session)])
    engagements.start_engagement(session, other, {"started_on": TODAY.isoformat()}, actor="test", now=NOW)
    engagements.cancel_engagement(session, other, {"reason": "企业停产检修"}, actor="test", now=NOW)
    _same(session)


def test_every_column_the_summaries_read_moves_its_sums(seeded):
    """Each watched column changed through the ORM (a key moving: another region, month, enterprise, status)."""
    session = seeded
    rng = random.Random(11)
    follow_ups = session.scalars(sa.select(FollowUp).order_by(FollowUp.id)).all()
    for follow_up in rng.sample(follow_ups, 12):
        follow_up.done_on = None if follow_up.done_on else follow_up.due_on
        follow_up.problems_solved, follow_up.value_created_wan = 3, 7.77
        follow_up.workers_trained, follow_up.apprentices = 4, None
        follow_up.due_on = follow_up.due_on + dt.timedelta(days=35)
    follow_ups[0].engagement_id, follow_ups[0].kind = follow_ups[-1].engagement_id, "review_6m"
    _same(session)
    members = session.scalars(sa.select(EngagementMember).order_by(EngagementMember.id)).all()
    for member in rng.sample(members, 10):
        member.status = "declined" if member.status in summaries.SERVING_MEMBERS else "served"
    _same(session)
    live = session.scalars(sa.select(Engagement).order_by(Engagement.id)).all()
    for engagement in rng.sample(live, 8):
        engagement.started_on = None if engagement.started_on else TODAY - dt.timedelta(days=50)
        engagement.completed_on = TODAY - dt.timedelta(days=3) if engagement.completed_on is None else None
        if engagement.status != "cancelled":  # a live engagement per demand at most
            engagement.status = rng.choice(("in_service", "completed", "evaluated"))
    _same(session)
    pool = session.scalars(sa.select(Demand).order_by(Demand.id)).all()
    for demand in rng.sample(pool, 12):
        demand.region_id = region(session, rng.choice(("510104", "500112", "510681"))).id
        demand.enterprise_id = rng.choice(pool).enterprise_id
        demand.submitted_at = demand.submitted_at - dt.timedelta(days=rng.choice((1, 33, 400)))
        demand.matched_at = demand.submitted_at + dt.timedelta(hours=rng.randrange(1, 500))
        demand.status = rng.choice(("open", "matched", "completed", "rejected"))
        demand.category_id = pool[0].category_id
    _same(session)
    rating = session.scalars(sa.select(Feedback)).first()
    rating.rating, rating.created_at, rating.demand_id = 1, rating.created_at - dt.timedelta(days=40), pool[1].id
    _same(session)
    # the industry tree: a top-level industry moved under another one changes the tops of its demands
    top, other_top = session.scalars(sa.select(Industry).where(Industry.parent_id.is_(None))
                                     .order_by(Industry.id).limit(2)).all()
    top.parent_id = other_top.id
    _same(session)


def _deletable_engagements(session):
    """Started engagements nothing else refers to (ratings, agreements, outcomes of their follow-ups)."""
    referred = sa.union(sa.select(Feedback.engagement_id), sa.select(Agreement.engagement_id),
                        sa.select(FollowUp.engagement_id).join(Outcome, Outcome.follow_up_id == FollowUp.id))
    return session.scalars(sa.select(Engagement).where(Engagement.started_on.is_not(None),
                                                       Engagement.follow_ups.any(FollowUp.done_on.is_not(None)),
                                                       Engagement.id.not_in(referred))
                           .order_by(Engagement.id)).all()


def test_inserts_deletes_and_cascades_keep_the_summaries_exact(seeded):
    session = seeded
    engagement, *_others, doomed = _deletable_engagements(session)
    session.add(FollowUp(engagement_id=engagement.id, kind="review_6m", due_on=TODAY, done_on=TODAY,
                         problems_solved=1, value_created_wan=0.01, workers_trained=2, apprentices=0))
    session.add(EngagementMember(engagement_id=engagement.id, craftsman_id=make_craftsman(session).id,
                                 status="accepted"))
    _same(session)
    session.delete(session.scalars(sa.select(FollowUp).where(
        FollowUp.done_on.is_not(None), FollowUp.id.not_in(sa.select(Outcome.follow_up_id).where(
            Outcome.follow_up_id.is_not(None))))).first())
    session.delete(session.scalars(sa.select(EngagementMember)).first())
    _same(session)
    session.delete(engagement)  # the ORM deletes its follow-ups and members first
    _same(session)
    session.execute(sa.delete(Engagement).where(Engagement.id == doomed.id))  # the database cascades
    _same(session)
    demand = session.scalars(sa.select(Demand).where(Demand.industries.any()).order_by(Demand.id)).first()
    link = session.execute(sa.select(demand_industry).where(demand_industry.c.demand_id == demand.id)).first()
    session.execute(sa.delete(demand_industry).where(demand_industry.c.demand_id == demand.id,
                                                     demand_industry.c.industry_id == link.industry_id))
    _same(session)
    unlinked = session.scalars(sa.select(Industry.id).where(
        Industry.parent_id.is_not(None), Industry.id.not_in(
            sa.select(demand_industry.c.industry_id).where(demand_industry.c.demand_id == demand.id)))
        .order_by(Industry.id).limit(3)).all()
    session.execute(sa.insert(demand_industry), [{"demand_id": demand.id, "industry_id": i} for i in unlinked])
    _same(session)
    lonely = session.scalars(sa.select(Demand).where(~Demand.id.in_(sa.select(Engagement.demand_id)),
                                                     ~Demand.id.in_(sa.select(Feedback.demand_id)))
                             .order_by(Demand.id)).first()
    session.execute(sa.delete(Demand).where(Demand.id == lonely.id))  # its industry links cascade
    _same(session)


def test_bulk_sql_keeps_the_summaries_exact(seeded):
    session = seeded
    session.execute(sa.update(Demand).where(Demand.id % 3 == 0).values(region_id=region(session, "500101").id))
    session.execute(sa.update(FollowUp).where(FollowUp.id % 4 == 0)
                    .values(done_on=FollowUp.due_on, value_created_wan=0.3, problems_solved=1))
    session.execute(sa.update(Engagement).where(Engagement.id % 5 == 0, Engagement.completed_on.is_(None))
                    .values(started_on=TODAY))
    _same(session)


def test_rebuild_recomputes_and_every_trigger_exists(seeded):
    session = seeded
    session.execute(sa.text("UPDATE report_service_month SET problems = problems + 5"))
    session.execute(sa.text("DELETE FROM report_industry_month"))
    assert summaries.stored(session) != summaries.recomputed(session)
    summaries.rebuild(session)
    _same(session)
    # a later migration that rebuilds a table (SQLite's batch mode) would drop its triggers silently
    assert summaries.installed_triggers(session) == summaries.trigger_names()
