"""Engagement lifecycle through the services: start → follow-ups → acceptance → completion, cancel, no-show."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from tests.conftest import NOW
from tests.factories import make_craftsman, make_demand, make_engagement
from web.models import AuditLog, DemandStatusEvent, FollowUp, Outcome, PointsEntry
from web.services import engagements, followups, points
from web.services.errors import Conflict, ServiceError

TODAY = NOW.date()


@pytest.fixture()
def engagement(session):
    demand = make_demand(session, status="matched", window_end=TODAY + dt.timedelta(days=40))
    return make_engagement(session, demand, [make_craftsman(session), make_craftsman(session)])


def _start(session, engagement, on=TODAY - dt.timedelta(days=30)):
    return engagements.start_engagement(session, engagement, {"started_on": on.isoformat()}, actor="test", now=NOW)


def _kinds(engagement):
    return {f.kind: f for f in engagement.follow_ups}


def test_start_schedules_follow_ups_by_rule_and_moves_the_demand(session, engagement):
    start = TODAY - dt.timedelta(days=30)
    _start(session, engagement, start)
    due = {kind: f.due_on for kind, f in _kinds(engagement).items()}
    assert due == {"check_2w": start + dt.timedelta(days=14), "result": TODAY + dt.timedelta(days=40),
                   "review_3m": start + dt.timedelta(days=91), "review_6m": start + dt.timedelta(days=182)}
    assert engagement.status == "in_service" and engagement.demand.status == "in_service"
    assert session.scalar(sa.select(DemandStatusEvent.to_status).where(
        DemandStatusEvent.demand_id == engagement.demand_id).order_by(DemandStatusEvent.id.desc()).limit(1)) \
        == "in_service"
    with pytest.raises(ServiceError):  # a second start is refused
        _start(session, engagement)


def test_schedule_is_configurable(service_app, session, engagement):
    service_app.config["FOLLOW_UP_SCHEDULE"] = ({"kind": "check_2w", "anchor": "start", "days": 7, "mandatory": True},)
    try:
        _start(session, engagement, TODAY)
    finally:
        del service_app.config["FOLLOW_UP_SCHEDULE"]
    assert {f.kind: f.due_on for f in engagement.follow_ups} == {"check_2w": TODAY + dt.timedelta(days=7)}


def test_follow_up_is_recorded_once_and_outcomes_join_the_pool(session, engagement):
    _start(session, engagement)
    check = _kinds(engagement)["check_2w"]
    data = {"done_on": TODAY.isoformat(), "problems_solved": 2, "value_created_wan": 12.5, "workers_trained": 8,
            "apprentices": 1, "note": "工匠已进场。",
            "outcomes": [{"kind": "method", "title": "真空发生器国产替代维修工法"}]}
    followups.record_follow_up(session, check, data, actor="test", now=NOW)
    outcome = session.scalar(sa.select(Outcome).where(Outcome.follow_up_id == check.id))
    assert outcome.title == "真空发生器国产替代维修工法" and outcome.craftsman_id is not None
    assert [n.body for n in check.notes] == ["工匠已进场。"]
    assert check.value_created_wan == 12.5 and check.apprentices == 1
    with pytest.raises(Conflict):
        followups.record_follow_up(session, check, data, actor="test", now=NOW)
    assert session.scalar(sa.select(sa.func.count()).select_from(Outcome)
                          .where(Outcome.follow_up_id == check.id)) == 1
    # the outcome earned points for each serving member, the ledger and balances agree
    assert session.scalar(sa.select(sa.func.count()).select_from(PointsEntry)
                          .where(PointsEntry.rule == "outcome", PointsEntry.engagement_id == engagement.id)) == 2
    assert points.mismatches(session) == []


def test_follow_up_validation_writes_nothing(session, engagement):
    _start(session, engagement)
    check = _kinds(engagement)["check_2w"]
    with pytest.raises(ServiceError) as error:
        followups.record_follow_up(session, check, {"done_on": TODAY.isoformat(), "problems_solved": -1},
                                   actor="test", now=NOW)
    assert "problems_solved" in error.value.as_errors()
    with pytest.raises(ServiceError):
        followups.record_follow_up(session, check, {"done_on": (TODAY + dt.timedelta(days=1)).isoformat()},
                                   actor="test", now=NOW)
    session.refresh(check)
    assert check.done_on is None


def test_completion_needs_acceptance_and_mandatory_follow_ups_unless_overridden(session, engagement):
    _start(session, engagement)
    done = {"completed_on": TODAY.isoformat()}
    with pytest.raises(ServiceError) as error:
        engagements.complete_engagement(session, engagement, done, actor="test", now=NOW)
    assert error.value.code == "not_accepted"
    engagements.record_acceptance(session, engagement, {"confirmed_by": "王经理"}, actor="test", now=NOW)
    with pytest.raises(ServiceError) as error:
        engagements.complete_engagement(session, engagement, done, actor="test", now=NOW)
    assert error.value.code == "open_follow_ups" and error.value.field == "override_reason"
    assert engagements.completion_blockers(session, engagement, TODAY) == ["check_2w", "result"]
    engagements.complete_engagement(session, engagement, {**done, "override_reason": "企业已书面确认，回访改线上"},
                                    actor="test", now=NOW)
    assert engagement.status == "completed" and engagement.demand.status == "completed"
    assert engagement.demand.completed_at == NOW
    assert engagement.completion_override_reason == "企业已书面确认，回访改线上"
    override = session.scalar(sa.select(AuditLog).where(AuditLog.action == "engagement.complete_override",
                                                        AuditLog.entity_id == engagement.id))
    assert override.after["open_follow_ups"] == ["check_2w", "result"]
    # one six-month review, moved to six months after the completion (no second six-month item)
    six_months = session.scalars(sa.select(FollowUp).where(FollowUp.engagement_id == engagement.id,
                                                           FollowUp.kind.like("%6m"))).all()
    assert [(f.kind, f.due_on) for f in six_months] == [("review_6m", TODAY + dt.timedelta(days=182))]
    assert {m.status for m in engagement.members} == {"served"}
    assert sorted(e.delta for e in session.scalars(sa.select(PointsEntry).where(
        PointsEntry.engagement_id == engagement.id))) == [20, 20]


def test_a_start_visit_or_completion_on_a_day_still_to_come_is_refused(session, engagement):
    tomorrow = (TODAY + dt.timedelta(days=1)).isoformat()  # NOW is 17:00 in Beijing: TODAY is the office's today
    with pytest.raises(ServiceError) as error:
        _start(session, engagement, on=TODAY + dt.timedelta(days=1))
    assert error.value.field == "started_on" and engagement.status == "scheduled"
    _start(session, engagement, on=TODAY)
    with pytest.raises(ServiceError) as error:
        engagements.record_visit(session, engagement, {"visited_on": tomorrow, "hours": 2}, actor="test", now=NOW)
    assert error.value.field == "visited_on"
    engagements.record_acceptance(session, engagement, {"confirmed_by": "王经理"}, actor="test", now=NOW)
    with pytest.raises(ServiceError) as error:
        engagements.complete_engagement(session, engagement, {"completed_on": tomorrow, "override_reason": "电话回访"},
                                        actor="test", now=NOW)
    assert error.value.field == "completed_on" and engagement.status == "in_service"
    engagements.complete_engagement(session, engagement, {"completed_on": TODAY.isoformat(),
                                                          "override_reason": "电话回访"}, actor="test", now=NOW)
    assert engagement.status == "completed"


def test_completion_without_override_once_follow_ups_are_recorded(session, engagement):
    _start(session, engagement)
    for kind in ("check_2w", "result"):
        followups.record_follow_up(session, _kinds(engagement)[kind], {"done_on": TODAY.isoformat()},
                                   actor="test", now=NOW)
    engagements.record_acceptance(session, engagement, {"confirmed_by": "王经理"}, actor="test", now=NOW)
    engagements.complete_engagement(session, engagement, {"completed_on": TODAY.isoformat()}, actor="test", now=NOW)
    assert engagement.status == "completed" and engagement.completion_override_reason is None


def test_cancel_returns_the_demand_to_the_pool(session, engagement):
    with pytest.raises(ServiceError):
        engagements.cancel_engagement(session, engagement, {"reason": "  "}, actor="test", now=NOW)
    engagements.cancel_engagement(session, engagement, {"reason": "企业停产检修"}, actor="test", now=NOW)
    assert engagement.status == "cancelled" and engagement.cancel_reason == "企业停产检修"
    assert engagement.demand.status == "open"


def test_no_show_deducts_points_once(session, engagement):
    craftsman = engagement.members[0].craftsman
    engagements.mark_no_show(session, engagement, craftsman.id, {"reason": "未到场"}, actor="test", now=NOW)
    with pytest.raises(ServiceError):
        engagements.mark_no_show(session, engagement, craftsman.id, {"reason": "未到场"}, actor="test", now=NOW)
    session.refresh(craftsman)
    assert craftsman.points_balance == -15
    assert points.mismatches(session) == []


def test_a_coordinators_overdue_badge_counts_his_engagements_and_the_unassigned_ones(session, make_user):
    mine, theirs = make_user("badge-mine"), make_user("badge-theirs")
    before = {who: followups.overdue_count(session, TODAY, coordinator_id=who) for who in (mine, theirs, None)}
    for coordinator in (mine, theirs, None):  # each started 100 days ago: two follow-ups overdue
        demand = make_demand(session, status="matched", window_end=TODAY + dt.timedelta(days=40))
        _start(session, make_engagement(session, demand, [make_craftsman(session)], coordinator_id=coordinator),
               TODAY - dt.timedelta(days=100))
    after = {who: followups.overdue_count(session, TODAY, coordinator_id=who) for who in (mine, theirs, None)}
    assert {who: after[who] - before[who] for who in after} == {mine: 4, theirs: 4, None: 6}


def test_due_list_is_oldest_first_and_counts_overdue(session, engagement):
    _start(session, engagement, TODAY - dt.timedelta(days=100))
    rows = followups.due_list(session, TODAY, horizon_days=60)
    mine = [r for r in rows if r.engagement_id == engagement.id]
    assert [r.kind for r in mine] == ["check_2w", "review_3m", "result"]
    assert [r.overdue for r in mine] == [True, True, False]
    assert followups.overdue_count(session, TODAY) >= 2
    before = followups.overdue_count(session, TODAY)
    followups.record_follow_up(session, _kinds(engagement)["check_2w"], {"done_on": TODAY.isoformat()},
                               actor="test", now=NOW)
    assert followups.overdue_count(session, TODAY) == before - 1
