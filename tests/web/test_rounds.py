"""Matching rounds through the services: snapshot optimality, locks across re-solves, atomic publish."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from matching.solve import solve
from tests.conftest import NOW
from tests.factories import make_craftsman, make_demand, make_enterprise
from web.models import (
    AuditLog,
    Demand,
    Engagement,
    EngagementMember,
    MatchingRound,
    Notification,
    Proposal,
)
from web.services import features, notifications, rounds
from web.services.errors import Conflict, ServiceError


def _pool(session, n_craftsmen=6, n_demands=4):
    craftsmen = [make_craftsman(session, skills={"weld": 2 + i % 4}, region_code="510100", round_capacity=1)
                 for i in range(n_craftsmen)]
    enterprise = make_enterprise(session)
    demands = [make_demand(session, enterprise if i % 2 else None, skills={"weld": 3}, team_size=1 + (i == 0))
               for i in range(n_demands)]
    return craftsmen, demands


def _solved_round(session, **kwargs):
    craftsmen, demands = _pool(session, **kwargs)
    rnd = rounds.create_round(session, name="十一月轮次", actor="test", now=NOW)
    rounds.solve_round(session, rnd, actor="test", now=NOW)
    return rnd, craftsmen, demands


def test_proposals_equal_the_optimum_of_the_snapshot(session):
    rnd, _, demands = _solved_round(session)
    assert rnd.status == "solved"
    assert rnd.snapshot_digest == features.digest(rnd.snapshot)
    replay = solve(features.problem_from_snapshot(rnd.snapshot))
    assert replay.objective == pytest.approx(rnd.objective, abs=1e-9)
    stored = {(str(c), str(d)) for c, d in session.execute(
        sa.select(Proposal.craftsman_id, Proposal.demand_id).where(Proposal.round_id == rnd.id, Proposal.assigned))}
    assert stored == replay.pairs
    proposal = session.scalar(sa.select(Proposal).where(Proposal.round_id == rnd.id, Proposal.assigned))
    assert {"skill", "distance"} <= set(proposal.breakdown)


def test_a_sparse_round_is_solved_by_the_min_cost_flow_and_replays_to_the_same_proposals(session):
    """A campaign too large for dense scores (here forced by its budget) takes sparse candidates, and its flow is
    the min-cost flow; locks hold through its re-solve, and the snapshot's replay finds the stored proposals."""
    _pool(session, n_craftsmen=8, n_demands=5)
    rnd = rounds.create_round(session, name="全国轮次", config={"dense_budget_cells": 0}, actor="test", now=NOW)
    rounds.solve_round(session, rnd, actor="test", now=NOW)
    assert rnd.status == "solved" and rnd.metrics["solver"].startswith("mincostflow")
    alternate = session.scalar(sa.select(Proposal).where(Proposal.round_id == rnd.id, Proposal.assigned.is_(False),
                                                         Proposal.alternate_rank.is_not(None)))
    rounds.set_pair(session, rnd, alternate.craftsman_id, alternate.demand_id, "lock", actor="test", now=NOW)
    rounds.solve_round(session, rnd, actor="test", now=NOW)
    assert rnd.metrics["solver"].startswith("mincostflow")
    replay = solve(features.problem_from_snapshot(rnd.snapshot))
    assert replay.objective == pytest.approx(rnd.objective, abs=1e-9)
    stored = {(str(c), str(d)) for c, d in session.execute(
        sa.select(Proposal.craftsman_id, Proposal.demand_id).where(Proposal.round_id == rnd.id, Proposal.assigned))}
    assert stored == replay.pairs and (str(alternate.craftsman_id), str(alternate.demand_id)) in stored


def test_re_solve_keeps_locks_and_exclusions(session):
    rnd, craftsmen, demands = _solved_round(session)
    alternate = session.scalar(sa.select(Proposal).where(Proposal.round_id == rnd.id, Proposal.assigned.is_(False),
                                                         Proposal.alternate_rank.is_not(None)))
    assigned = session.scalar(sa.select(Proposal).where(Proposal.round_id == rnd.id, Proposal.assigned,
                                                        Proposal.demand_id != alternate.demand_id))
    rounds.set_pair(session, rnd, alternate.craftsman_id, alternate.demand_id, "lock", actor="test", now=NOW)
    rounds.set_pair(session, rnd, assigned.craftsman_id, assigned.demand_id, "exclude", actor="test", now=NOW)
    assert rounds.pending_changes(session, rnd)
    with pytest.raises(ServiceError):
        rounds.publish_round(session, rnd, actor="test", now=NOW)
    rounds.solve_round(session, rnd, actor="test", now=NOW)
    pairs = set(session.execute(sa.select(Proposal.craftsman_id, Proposal.demand_id)
                                .where(Proposal.round_id == rnd.id, Proposal.assigned)).all())
    assert (alternate.craftsman_id, alternate.demand_id) in pairs
    assert (assigned.craftsman_id, assigned.demand_id) not in pairs
    assert rnd.metrics["incremental"] and rnd.metrics["changes"]["added"]
    rounds.solve_round(session, rnd, actor="test", now=NOW)  # still locked the next time
    assert (alternate.craftsman_id, alternate.demand_id) in set(session.execute(
        sa.select(Proposal.craftsman_id, Proposal.demand_id).where(Proposal.round_id == rnd.id,
                                                                   Proposal.assigned)).all())
    replay = solve(features.problem_from_snapshot(rnd.snapshot))
    assert replay.objective == pytest.approx(rnd.objective, abs=1e-9)


def test_publish_is_atomic_idempotent_and_writes_the_outbox(session, monkeypatch):
    rnd, _, demands = _solved_round(session)
    assert session.scalar(sa.select(sa.func.count()).select_from(Notification)
                          .where(Notification.round_id == rnd.id)) == 0  # nothing while a draft

    def broken(*_args, **_kwargs):
        raise RuntimeError("SMS gateway down")

    monkeypatch.setattr(notifications, "write_outbox", broken)
    with pytest.raises(RuntimeError):
        rounds.publish_round(session, rnd, actor="test", now=NOW)
    assert rnd.status == "solved"
    assert session.scalar(sa.select(sa.func.count()).select_from(Engagement).where(Engagement.round_id == rnd.id)) == 0
    assert {d.status for d in session.scalars(sa.select(Demand).where(Demand.id.in_([d.id for d in demands])))} \
        == {"open"}
    monkeypatch.undo()

    made = rounds.publish_round(session, rnd, actor="test", now=NOW).created
    assigned_demands = set(session.scalars(sa.select(Proposal.demand_id).where(Proposal.round_id == rnd.id,
                                                                               Proposal.assigned)))
    assert made == len(assigned_demands) > 0
    assert rnd.status == "published" and rnd.published_at == NOW
    again = rounds.publish_round(session, rnd, actor="test", now=NOW)  # twice: nothing more, and says so
    assert again.created == 0 and again.already_published and again.published_at == NOW
    assert session.scalar(sa.select(sa.func.count()).select_from(Engagement)
                          .where(Engagement.round_id == rnd.id)) == made
    members = session.scalar(sa.select(sa.func.count()).select_from(EngagementMember).join(Engagement)
                             .where(Engagement.round_id == rnd.id))
    assert members == session.scalar(sa.select(sa.func.count()).select_from(Proposal)
                                     .where(Proposal.round_id == rnd.id, Proposal.assigned))
    kinds = session.execute(sa.select(Notification.recipient_kind, sa.func.count()).where(
        Notification.round_id == rnd.id).group_by(Notification.recipient_kind)).all()
    craftsmen_used = session.scalar(sa.select(sa.func.count(sa.distinct(Proposal.craftsman_id))).where(
        Proposal.round_id == rnd.id, Proposal.assigned))
    enterprises = session.scalar(sa.select(sa.func.count(sa.distinct(Demand.enterprise_id))).where(
        Demand.id.in_(assigned_demands)))
    assert dict(kinds) == {"craftsman": craftsmen_used, "enterprise": enterprises}
    assert session.scalar(sa.select(AuditLog).where(AuditLog.action == "round.publish",
                                                    AuditLog.entity_id == rnd.id)) is not None
    sent, failed = notifications.deliver_pending(session, backend=notifications.LogBackend(), now=NOW)
    assert sent == len(dict(kinds)) and sent > 0 or sent >= 2


def test_decline_reopens_the_demand_and_excludes_the_pair(session):
    rnd, _, _ = _solved_round(session)
    rounds.publish_round(session, rnd, actor="test", now=NOW)
    member = session.scalar(sa.select(EngagementMember).join(Engagement).where(Engagement.round_id == rnd.id))
    rounds.decline_member(session, member, reason="出差", actor="test", now=NOW)
    demand = session.get(Demand, member.engagement.demand_id)
    assert member.status == "declined" and member.engagement.status == "cancelled" and demand.status == "open"
    again = rounds.create_round(session, name="补充轮次", actor="test", now=NOW)
    rounds.solve_round(session, again, actor="test", now=NOW)
    assert [str(member.craftsman_id), str(demand.id)] in again.snapshot["exclusions"]
    assert session.scalar(sa.select(Proposal).where(
        Proposal.round_id == again.id, Proposal.assigned, Proposal.craftsman_id == member.craftsman_id,
        Proposal.demand_id == demand.id)) is None


def test_stale_version_is_a_conflict(session):
    rnd, craftsmen, demands = _solved_round(session)
    old = rnd.version
    rounds.set_capacity(session, rnd, craftsmen[0].id, 2, actor="test", now=NOW, expected_version=old)
    assert rnd.version == old + 1
    with pytest.raises(Conflict):
        rounds.set_capacity(session, rnd, craftsmen[0].id, 3, actor="test", now=NOW, expected_version=old)


def test_exited_craftsman_is_never_matched(session):
    craftsmen, _ = _pool(session)
    from web.services.craftsmen import exit_craftsman

    exit_craftsman(session, craftsmen[0], reason="退休", on=NOW.date(), actor="test", now=NOW)
    rnd = rounds.create_round(session, name="轮次", actor="test", now=NOW)
    rounds.solve_round(session, rnd, actor="test", now=NOW)
    assert str(craftsmen[0].id) not in rnd.snapshot["craftsmen"]["ids"]
    assert isinstance(session.get(MatchingRound, rnd.id), MatchingRound)
