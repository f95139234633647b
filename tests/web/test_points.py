"""Points ledger, review flags and the continuity history the scorer uses."""

from __future__ import annotations

import datetime as dt
import math

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import NOW
from tests.factories import make_craftsman, make_demand, make_engagement, make_enterprise
from web.models import AuditLog, Craftsman, Feedback, PointsEntry
from web.services import engagements, flags, history, points
from web.services.errors import ServiceError

TODAY = NOW.date()


def _completed(session, craftsmen, *, enterprise=None, rating=None, completed_on=TODAY):
    demand = make_demand(session, enterprise, status="completed")
    engagement = make_engagement(session, demand, craftsmen, status="completed", started_on=completed_on,
                                 completed_on=completed_on)
    for member in engagement.members:
        member.status = "served"
    session.flush()
    if rating is not None:
        session.add(Feedback(demand_id=demand.id, engagement_id=engagement.id, rating=rating, created_at=NOW))
        demand.status = "evaluated"
        session.flush()
    return engagement


def test_every_entry_is_explained_and_audited_and_the_balance_follows(session):
    craftsman = make_craftsman(session)
    engagement = _completed(session, [craftsman])
    points.award_completion(session, engagement, actor="test", now=NOW)
    points.award_completion(session, engagement, actor="test", now=NOW)  # idempotent
    entries = session.scalars(sa.select(PointsEntry).where(PointsEntry.craftsman_id == craftsman.id)).all()
    assert [(e.delta, e.rule) for e in entries] == [(20, "engagement_completed")]
    assert engagement.demand.tracking_code in entries[0].explanation
    assert session.scalar(sa.select(AuditLog.after).where(AuditLog.action == "points.add",
                                                          AuditLog.entity_id == entries[0].id))["delta"] == 20
    session.refresh(craftsman)
    assert craftsman.points_balance == 20


def test_rules_come_from_config(service_app, session):
    craftsman = make_craftsman(session)
    service_app.config["POINTS_RULES"] = {"engagement_completed": 7}
    try:
        points.award_completion(session, _completed(session, [craftsman]), actor="test", now=NOW)
    finally:
        del service_app.config["POINTS_RULES"]
    session.refresh(craftsman)
    assert craftsman.points_balance == 7


def test_feedback_sync_marks_evaluated_and_awards_high_ratings_once(session):
    good, poor = make_craftsman(session), make_craftsman(session)
    high = _completed(session, [good], rating=5)
    low = _completed(session, [poor], rating=2)
    assert engagements.sync_feedback(session, actor="system", now=NOW) == 2
    assert engagements.sync_feedback(session, actor="system", now=NOW) == 0
    assert (high.status, low.status) == ("evaluated", "evaluated")
    session.refresh(good)
    session.refresh(poor)
    assert (good.points_balance, poor.points_balance) == (5, 0)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.sampled_from(["complete", "no_show", "rating", "outcome_rule"]), min_size=1, max_size=6))
def test_balance_always_equals_the_ledger_sum(session, steps):
    craftsman = make_craftsman(session)
    for step in steps:
        if step == "complete":
            points.award_completion(session, _completed(session, [craftsman]), actor="test", now=NOW)
        elif step == "rating":
            engagement = _completed(session, [craftsman], rating=4)
            points.award_rating(session, session.scalar(sa.select(Feedback).where(
                Feedback.engagement_id == engagement.id)), actor="test", now=NOW)
        elif step == "no_show":
            demand = make_demand(session, status="matched")
            engagement = make_engagement(session, demand, [craftsman])
            engagements.mark_no_show(session, engagement, craftsman.id, {"reason": "未到场"}, actor="test", now=NOW)
        else:
            points.add_entry(session, craftsman_id=craftsman.id, delta=3, rule="adjustment", explanation="test",
                             actor="test", now=NOW)
    session.refresh(craftsman)
    total = session.scalar(sa.select(sa.func.sum(PointsEntry.delta)).where(PointsEntry.craftsman_id == craftsman.id))
    assert craftsman.points_balance == total
    assert craftsman.id not in [row[0] for row in points.mismatches(session)]


def test_opening_ledgers_explain_imported_balances(session):
    craftsman = make_craftsman(session, points_balance=120)
    assert craftsman.id in [row[0] for row in points.mismatches(session)]
    assert points.open_ledgers(session, actor="test", now=NOW) >= 1
    session.refresh(craftsman)
    assert craftsman.points_balance == 120
    assert points.mismatches(session) == []


def _flag(session, craftsman_id):
    return next((row for row in flags.flagged(session, TODAY) if row.id == craftsman_id), None)


def test_flags_low_ratings_no_shows_and_idle(session):
    old = NOW - dt.timedelta(days=800)
    low = make_craftsman(session, created_at=old)
    _completed(session, [low], rating=2)
    assert _flag(session, low.id) is None  # one low rating is not "repeated"
    _completed(session, [low], rating=1)
    assert _flag(session, low.id).low_ratings == 2 and not _flag(session, low.id).idle
    absent = make_craftsman(session)
    engagement = make_engagement(session, make_demand(session, status="matched"), [absent])
    engagements.mark_no_show(session, engagement, absent.id, {"reason": "未到场"}, actor="test", now=NOW)
    assert _flag(session, absent.id).no_shows == 1
    idle = make_craftsman(session, created_at=old)
    _completed(session, [idle], completed_on=TODAY - dt.timedelta(days=400))
    assert _flag(session, idle.id).idle
    busy = make_craftsman(session, created_at=old)
    make_engagement(session, make_demand(session, status="matched"), [busy])  # scheduled: not idle
    assert _flag(session, busy.id) is None
    newcomer = make_craftsman(session)
    assert _flag(session, newcomer.id) is None


def test_flag_decisions_reuse_the_pool_services(session):
    craftsman = make_craftsman(session)
    with pytest.raises(ServiceError):
        flags.decide(session, craftsman, "pause", {"reason": ""}, actor="test", now=NOW)
    flags.decide(session, craftsman, "pause", {"reason": "两次未到场"}, actor="test", now=NOW)
    assert craftsman.status == "paused"
    flags.decide(session, craftsman, "exit", {"reason": "连续差评"}, actor="test", now=NOW)
    assert (craftsman.status, craftsman.exit_reason, craftsman.exited_on) == ("exited", "连续差评", TODAY)
    assert _flag(session, craftsman.id) is None
    actions = session.scalars(sa.select(AuditLog.action).where(AuditLog.entity_type == "craftsman",
                                                               AuditLog.entity_id == craftsman.id)).all()
    assert {"craftsman.pause", "craftsman.exit", "flags.pause", "flags.exit"} <= set(actions)


def test_flag_list_page_pauses(coordinator_browser, app):
    from web.extensions import db

    with app.app_context():
        craftsman = make_craftsman(db.session)
        engagement = make_engagement(db.session, make_demand(db.session, status="matched"), [craftsman])
        engagements.mark_no_show(db.session, engagement, craftsman.id, {"reason": "未到场"}, actor="test", now=NOW)
        db.session.commit()
        craftsman_id = craftsman.id
    page = coordinator_browser.text("/workspace/engagements/flags")
    assert f'id="flag-{craftsman_id}"' in page
    response = coordinator_browser.submit(f"/workspace/engagements/flags/{craftsman_id}/pause",
                                          {"reason": "未到场，暂停"}, form_url="/workspace/engagements/flags")
    assert response.status_code == 302
    with app.app_context():
        assert db.session.get(Craftsman, craftsman_id).status == "paused"
    ledger = coordinator_browser.text(f"/workspace/engagements/craftsmen/{craftsman_id}/points")
    assert "-15" in ledger


def test_history_for_the_scorer(session):
    enterprise = make_enterprise(session)
    a, b = make_craftsman(session), make_craftsman(session)
    _completed(session, [a], enterprise=enterprise, rating=5)
    _completed(session, [a, b], enterprise=enterprise)
    cancelled = make_engagement(session, make_demand(session, enterprise), [b], status="cancelled",
                                cancel_reason="x")
    assert cancelled.id
    rows = history.past_services(session, enterprise_ids=[enterprise.id])
    assert rows == [(a.id, enterprise.id, 5), (a.id, enterprise.id, None), (b.id, enterprise.id, None)]
    built = history.build_history(session, enterprise_ids=[enterprise.id])
    assert built.craftsman_id == (str(a.id), str(a.id), str(b.id))
    assert built.rating[0] == 5 and math.isnan(built.rating[1])
    assert len(history.build_history(session, craftsman_ids=[-1]).craftsman_id) == 0


def test_the_loop_closes_rating_to_points_and_history(session):
    """Complete → the enterprise rates on its status page → sync → points and the scorer's history."""
    from web.services import feedback as feedback_service
    from web.services import followups

    craftsman = make_craftsman(session)
    demand = make_demand(session, status="matched")
    engagement = make_engagement(session, demand, [craftsman])
    engagements.start_engagement(session, engagement, {"started_on": TODAY.isoformat()}, actor="test", now=NOW)
    result = next(f for f in engagement.follow_ups if f.kind == "result")
    followups.record_follow_up(session, result, {"done_on": TODAY.isoformat(), "problems_solved": 1},
                               actor="test", now=NOW)
    engagements.record_acceptance(session, engagement, {"confirmed_by": "王经理"}, actor="test", now=NOW)
    engagements.complete_engagement(session, engagement, {"completed_on": TODAY.isoformat()}, actor="test", now=NOW)
    feedback_service.rate_demand(session, demand, {"rating": 5, "comment": "很满意"}, now=NOW)
    assert demand.status == "evaluated"
    engagements.sync_feedback(session, actor="system", now=NOW)
    session.refresh(craftsman)
    assert engagement.status == "evaluated"
    assert craftsman.points_balance == 20 + 5
    assert history.past_services(session, craftsman_ids=[craftsman.id]) == [(craftsman.id, demand.enterprise_id, 5)]
