"""The overdue count in every page's header (``followups.overdue_count``: summed from ``open_follow_up_day``, kept
by triggers) equals counting the open follow-ups themselves, for each coordinator, the unassigned and the whole
province, before and after today, after every kind of write that moves it: the services (start, record,
complete, rate, cancel, a slot created), the ORM (each column it reads: a follow-up's date, record, engagement;
an engagement's status and coordinator), inserts, deletes and cascades, and bulk SQL, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import random

import pytest
import sqlalchemy as sa

from tests.conftest import NOW, TEST_PASSWORD, seeded_once
from tests.factories import make_craftsman, make_demand, make_engagement
from tests.web.test_report_exactness import seed
from tests.web.test_report_summaries import _deletable_engagements
from web.models import Engagement, FollowUp, User
from web.services import engagements, feedback, followups
from web.services.users import create_user

TODAY = NOW.date()
DAYS = tuple(TODAY + dt.timedelta(days=d) for d in (-400, -30, 0, 1, 60, 800))


def _counted(session, today, coordinator_id):
    """The definition: the open follow-ups the due list shows (``_open_follow_ups``) due before ``today``."""
    open_ids = followups._open_follow_ups(coordinator_id).where(FollowUp.due_on < today).subquery()
    return session.scalar(sa.select(sa.func.count()).select_from(open_ids))


def _office(session) -> list[int]:
    """The report tests' two years of engagements, a third each assigned to two coordinators, a third unassigned;
    a third coordinator has none of their own."""
    seed(session, random.Random(3))
    users = [create_user(session, username=f"coordinator{n}", password=TEST_PASSWORD, role="coordinator",
                         actor="test", now=NOW) for n in range(3)]
    for engagement in session.scalars(sa.select(Engagement).order_by(Engagement.id)):
        engagement.coordinator_id = (users[0].id, users[1].id, None)[engagement.id % 3]
    session.flush()
    assert all(followups.overdue_count(session, TODAY, user.id) for user in users), "each sees some overdue"
    assert followups.overdue_count(session, TODAY, users[0].id) != followups.overdue_count(session, TODAY,
                                                                                            users[2].id)
    _same(session, users)
    return [user.id for user in users]


seeded_transaction, seeded_data, connection = seeded_once(_office)


@pytest.fixture()
def office(session, seeded_data):
    return session, [session.get(User, user_id) for user_id in seeded_data]


def _same(session, users):
    session.flush()
    for today in DAYS:
        for coordinator_id in (*(user.id for user in users), None):
            assert followups.overdue_count(session, today, coordinator_id) == \
                _counted(session, today, coordinator_id), (today, coordinator_id)


def test_the_services_keep_the_count_exact(office):
    session, (ann, bob, _carol) = office
    demand = make_demand(session, status="matched", window_end=TODAY + dt.timedelta(days=40))
    engagement = make_engagement(session, demand, [make_craftsman(session)])
    assert engagement.coordinator_id is None
    engagements.start_engagement(session, engagement, {"started_on": (TODAY - dt.timedelta(days=200)).isoformat()},
                                 actor=bob, now=NOW)  # its follow-ups scheduled, past due, and bob its coordinator
    assert engagement.coordinator_id == bob.id
    _same(session, office[1])
    kinds = {f.kind: f for f in engagement.follow_ups}
    followups.record_follow_up(session, kinds["check_2w"], {"done_on": (TODAY - dt.timedelta(days=150)).isoformat()},
                               actor=ann, now=NOW)
    _same(session, office[1])
    session.delete(kinds["review_6m"])
    session.flush()
    followups.slot(session, engagement, "review_6m", now=NOW)  # a slot missing from the schedule: due today
    _same(session, office[1])
    engagements.record_acceptance(session, engagement, {"confirmed_by": "王经理"}, actor=bob, now=NOW)
    engagements.complete_engagement(session, engagement, {"completed_on": TODAY.isoformat(),
                                                          "override_reason": "企业已书面确认"}, actor=bob, now=NOW)
    _same(session, office[1])
    feedback.rate_demand(session, demand, {"rating": 5, "comment": ""}, now=NOW)  # evaluated: still counted
    assert engagement.status == "evaluated"
    _same(session, office[1])
    other = make_engagement(session, make_demand(session, status="matched"), [make_craftsman(session)],
                            coordinator_id=ann.id)
    engagements.start_engagement(session, other, {"started_on": (TODAY - dt.timedelta(days=100)).isoformat()},
                                 actor=bob, now=NOW)
    _same(session, office[1])
    engagements.cancel_engagement(session, other, {"reason": "企业停产检修"}, actor=ann, now=NOW)
    _same(session, office[1])


def test_every_column_the_count_reads_moves_it(office):
    session, users = office
    rng = random.Random(17)
    live = session.scalars(sa.select(Engagement).where(Engagement.status != "cancelled")
                           .order_by(Engagement.id)).all()
    for engagement in rng.sample(live, 12):  # another coordinator, none, or one where there was none
        engagement.coordinator_id = rng.choice([None, *(user.id for user in users)])
    _same(session, users)
    for engagement in rng.sample(live, 12):  # into and out of the statuses whose follow-ups are due
        engagement.status = rng.choice(("scheduled", "in_service", "completed", "evaluated"))
    _same(session, users)
    follow_ups = session.scalars(sa.select(FollowUp).order_by(FollowUp.id)).all()
    for follow_up in rng.sample(follow_ups, 15):
        follow_up.done_on = None if follow_up.done_on else follow_up.due_on
        follow_up.due_on = rng.choice(DAYS) + dt.timedelta(days=rng.choice((-1, 0, 1)))
    _same(session, users)
    moved, target = next((f, e) for f in follow_ups for e in live
                         if f.done_on is None and f.due_on < TODAY and e.status == "in_service"
                         and e.coordinator_id != f.engagement.coordinator_id)
    assert all(other.kind != "review_6m" for other in target.follow_ups)
    moved.engagement_id, moved.kind = target.id, "review_6m"  # to another engagement (another coordinator)
    _same(session, users)


def test_inserts_deletes_and_cascades_keep_the_count_exact(office):
    session, users = office
    engagement, *_others, doomed = _deletable_engagements(session)
    for kind in ("check_2w", "review_6m"):
        if all(f.kind != kind for f in engagement.follow_ups):
            session.add(FollowUp(engagement_id=engagement.id, kind=kind, due_on=TODAY - dt.timedelta(days=9)))
    _same(session, users)
    session.delete(session.scalars(sa.select(FollowUp).where(FollowUp.done_on.is_(None))
                                   .order_by(FollowUp.id)).first())
    _same(session, users)
    session.delete(engagement)  # the ORM deletes its follow-ups first
    _same(session, users)
    session.execute(sa.delete(Engagement).where(Engagement.id == doomed.id))  # the database cascades
    _same(session, users)


def test_bulk_sql_keeps_the_count_exact(office):
    session, (ann, bob, carol) = office
    session.execute(sa.update(Engagement).where(Engagement.coordinator_id == ann.id).values(coordinator_id=carol.id))
    session.execute(sa.update(Engagement).where(Engagement.coordinator_id.is_(None), Engagement.id % 2 == 0)
                    .values(coordinator_id=bob.id))
    _same(session, office[1])
    session.execute(sa.update(Engagement).where(Engagement.id % 5 == 0, Engagement.status == "in_service")
                    .values(status="completed"))
    session.execute(sa.update(Engagement).where(Engagement.id % 7 == 0, Engagement.status == "completed")
                    .values(status="cancelled", cancel_reason="停产"))
    _same(session, office[1])
    session.execute(sa.update(FollowUp).where(FollowUp.id % 4 == 0).values(done_on=None))
    session.execute(sa.update(FollowUp).where(FollowUp.id % 3 == 0).values(due_on=TODAY - dt.timedelta(days=1)))
    _same(session, office[1])
