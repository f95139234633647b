"""A round stays true to its pools: who left is never published, no demand is served twice, publish is honest."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from tests.conftest import NOW
from tests.factories import make_craftsman, make_demand, make_engagement, make_enterprise
from web.models import (
    AuditLog,
    Demand,
    DemandStatusEvent,
    Engagement,
    EngagementMember,
    Notification,
    Proposal,
    RoundCraftsman,
    RoundDemand,
)
from web.services import craftsmen as craftsman_service
from web.services import demands as demand_service
from web.services import eligibility, rounds
from web.services.errors import ServiceError

LATER = NOW + dt.timedelta(hours=2)
LATEST = NOW + dt.timedelta(hours=4)


def _pool(session, n_craftsmen=6, n_demands=4):
    people = [make_craftsman(session, skills={"weld": 2 + i % 4}, region_code="510100", round_capacity=1)
              for i in range(n_craftsmen)]
    enterprise = make_enterprise(session)
    needs = [make_demand(session, enterprise if i % 2 else None, skills={"weld": 3}) for i in range(n_demands)]
    return people, needs


def _round(session, name="轮次", now=NOW):
    rnd = rounds.create_round(session, name=name, actor="test", now=now)
    rounds.solve_round(session, rnd, actor="test", now=now)
    assert rnd.status == "solved"
    return rnd


def _assigned(session, rnd) -> set[tuple[int, int]]:
    return set(session.execute(sa.select(Proposal.craftsman_id, Proposal.demand_id)
                               .where(Proposal.round_id == rnd.id, Proposal.assigned)).all())


def _count(session, model, *where) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def _craftsman(session, craftsman_id):
    return session.get(craftsman_service.Craftsman, craftsman_id)


@pytest.mark.parametrize("leave", ["pause", "exit"])
def test_a_craftsman_who_leaves_after_the_solve_is_never_published(session, leave):
    _pool(session)
    rnd = _round(session)
    gone_id, demand_id = sorted(_assigned(session, rnd))[0]
    gone = _craftsman(session, gone_id)
    if leave == "pause":
        craftsman_service.pause_craftsman(session, gone, until=None, reason="生病", actor="test", now=LATER)
    else:
        craftsman_service.exit_craftsman(session, gone, reason="退休", on=LATER.date(), actor="test", now=LATER)

    changes = eligibility.changes_since_solve(session, rnd, LATER.date())
    assert [(c.kind, c.id, c.reason) for c in changes] == [
        ("craftsman", gone_id, "paused" if leave == "pause" else "exited")]
    with pytest.raises(rounds.RoundOutdated) as refused:
        rounds.publish_round(session, rnd, actor="test", now=LATER)
    assert refused.value.changes == changes and gone.name in refused.value.as_errors()["changes"][0]
    assert _count(session, Engagement) == 0 and _count(session, Notification) == 0
    assert rnd.status == "solved"

    kept = _assigned(session, rnd) - {(gone_id, demand_id)}
    rounds.solve_round(session, rnd, actor="test", now=LATER, keep_unaffected=True)
    after = _assigned(session, rnd)
    assert all(c != gone_id for c, _ in after)
    assert kept <= after and len(after) == len(kept) + 1  # only the place he left is filled anew
    assert rnd.snapshot["kept"] and rnd.snapshot["locks"] == []  # held for that solve, not locked for good
    assert rnd.metrics["inactive_craftsmen"] == 1
    assert eligibility.changes_since_solve(session, rnd, LATER.date()) == []
    assert rounds.publish_round(session, rnd, actor="test", now=LATER).created > 0
    assert _count(session, EngagementMember, EngagementMember.craftsman_id == gone_id) == 0
    assert _count(session, Notification, Notification.recipient_kind == "craftsman",
                  Notification.recipient_id == gone_id) == 0


def test_a_lock_on_a_craftsman_who_left_is_released_on_the_record(session):
    people, _ = _pool(session)
    rnd = _round(session)
    craftsman_id, demand_id = sorted(_assigned(session, rnd))[0]
    rounds.set_pair(session, rnd, craftsman_id, demand_id, "lock", actor="test", now=NOW)
    craftsman_service.exit_craftsman(session, _craftsman(session, craftsman_id), reason="调离", on=LATER.date(),
                                     actor="test", now=LATER)
    rounds.solve_round(session, rnd, actor="test", now=LATER)
    proposal = session.scalar(sa.select(Proposal).where(Proposal.round_id == rnd.id,
                                                        Proposal.craftsman_id == craftsman_id,
                                                        Proposal.demand_id == demand_id))
    assert proposal is None or not (proposal.locked or proposal.assigned)
    from web.models import AuditLog

    released = session.scalar(sa.select(AuditLog).where(AuditLog.action == "round.release_locks"))
    assert released is not None and released.after["pairs"] == [[craftsman_id, demand_id]]
    assert not rounds.pending_changes(session, rnd)


@pytest.mark.parametrize("change", ["withdraw", "merge", "edit"])
def test_a_demand_that_changes_after_the_solve_blocks_publish_until_a_re_solve(session, change):
    _, needs = _pool(session)
    rnd = _round(session)
    target = next(d for d in needs if any(d.id == pair[1] for pair in _assigned(session, rnd)))
    other = next(d for d in needs if d.id != target.id)
    if change == "withdraw":
        demand_service.withdraw(session, target, {"text": "已自行解决"}, actor="test", now=LATER)
    elif change == "merge":
        demand_service.merge(session, target, other.tracking_code, actor="test", now=LATER)
    else:
        demand_service.edit(session, target, {
            "title": "改为数控机床联网", "description": target.description, "category_code": target.category.code,
            "skills": [link.skill.code for link in target.skills], "team_size": target.team_size,
            "urgency": target.urgency, "mode": target.mode}, actor="test", now=LATER)
    reasons = {(c.kind, c.id): c.reason for c in eligibility.changes_since_solve(session, rnd, LATER.date())}
    assert reasons == {("demand", target.id): {"withdraw": "withdrawn", "merge": "merged", "edit": "edited"}[change]}
    with pytest.raises(rounds.RoundOutdated):
        rounds.publish_round(session, rnd, actor="test", now=LATER)

    rounds.solve_round(session, rnd, actor="test", now=LATER)
    assert eligibility.changes_since_solve(session, rnd, LATER.date()) == []
    served = {d for _, d in _assigned(session, rnd)}
    assert (target.id in served) == (change == "edit")  # an edited demand stays, re-scored from its new text
    if change == "edit":
        assert "数控机床" in " ".join(rnd.snapshot["demands"]["description"])
    rounds.publish_round(session, rnd, actor="test", now=LATER)
    session.expire_all()
    assert session.get(Demand, target.id).status == {"withdraw": "withdrawn", "merge": "merged",
                                                     "edit": "matched"}[change]


def test_overlapping_rounds_serve_each_demand_once_and_the_second_is_told_which_were_taken(session):
    people, needs = _pool(session, n_craftsmen=8, n_demands=3)
    first = _round(session, "第一轮")
    extra = make_demand(session, skills={"weld": 3})
    second = _round(session, "第二轮")
    assert rounds.publish_round(session, first, actor="test", now=LATER).created == 3

    with pytest.raises(rounds.RoundOutdated) as refused:
        rounds.publish_round(session, second, actor="test", now=LATEST)
    taken = {c.id: (c.reason, c.detail) for c in refused.value.changes if c.kind == "demand"}
    assert taken == {d.id: ("served", "第一轮") for d in needs if d.id in {p[1] for p in _assigned(session, second)}}
    assert _count(session, Engagement, Engagement.round_id == second.id) == 0

    rounds.solve_round(session, second, actor="test", now=LATEST)
    assert {d for _, d in _assigned(session, second)} == {extra.id}
    assert second.metrics["demands_left_out"] == {"served": 3}
    assert rounds.publish_round(session, second, actor="test", now=LATEST).created == 1
    live = session.execute(sa.select(Engagement.demand_id, sa.func.count()).where(Engagement.status != "cancelled")
                           .group_by(Engagement.demand_id)).all()
    assert sorted(live) == sorted((d.id, 1) for d in [*needs, extra])


def test_a_craftsman_booked_by_another_round_has_no_capacity_left(session):
    craftsman = make_craftsman(session, skills={"weld": 5}, region_code="510100", round_capacity=1)
    first_need, second_need = (make_demand(session, skills={"weld": 3}) for _ in range(2))
    first = rounds.create_round(session, name="甲", demand_filters={"q": first_need.title}, actor="test", now=NOW)
    second = rounds.create_round(session, name="乙", demand_filters={"q": second_need.title}, actor="test", now=NOW)
    for rnd in (first, second):
        rounds.solve_round(session, rnd, actor="test", now=NOW)
        assert _assigned(session, rnd) == {(craftsman.id, rnd.demands[0].demand_id)}
    rounds.publish_round(session, first, actor="test", now=LATER)

    changes = eligibility.changes_since_solve(session, second, LATER.date())
    assert [(c.kind, c.id, c.reason) for c in changes] == [("craftsman", craftsman.id, "out_of_capacity")]
    rounds.solve_round(session, second, actor="test", now=LATER)
    assert _assigned(session, second) == set()
    assert second.metrics["booked_elsewhere"] == {str(craftsman.id): 1}
    assert not rounds.pending_changes(session, second)  # the booking is not a pending capacity edit


def test_a_round_whose_demands_were_all_served_elsewhere_says_so(session):
    _pool(session)
    first = _round(session, "第一轮")
    second = _round(session, "第二轮")
    rounds.publish_round(session, first, actor="test", now=LATER)
    with pytest.raises(ServiceError) as refused:
        rounds.solve_round(session, second, actor="test", now=LATEST)
    assert refused.value.field == "demands"


def test_publish_makes_every_record_exactly_once(session):
    people, needs = _pool(session, n_craftsmen=7, n_demands=4)
    needs[0].team_size = 2
    rnd = rounds.create_round(session, name="发布", actor="test", now=NOW)
    rounds.solve_round(session, rnd, actor="test", now=NOW)
    pairs = _assigned(session, rnd)
    assert len(pairs) == 5
    done = rounds.publish_round(session, rnd, actor="test", now=LATER)
    session.expire_all()
    served = {d for _, d in pairs}
    assert done.created == len(served) == _count(session, Engagement)
    members = set(session.execute(sa.select(EngagementMember.craftsman_id, Engagement.demand_id)
                                  .join(Engagement).where(EngagementMember.status == "assigned")).all())
    assert members == pairs and _count(session, EngagementMember) == len(pairs)
    for demand in needs:
        assert session.get(Demand, demand.id).status == "matched"
        assert session.get(Demand, demand.id).matched_at == LATER
        assert _count(session, DemandStatusEvent, DemandStatusEvent.demand_id == demand.id,
                      DemandStatusEvent.to_status == "matched") == 1
    outbox = session.execute(sa.select(Notification.recipient_kind, Notification.recipient_id)).all()
    assert sorted(outbox) == sorted({("craftsman", c) for c, _ in pairs}
                                    | {("enterprise", session.get(Demand, d).enterprise_id) for d in served})
    again = rounds.publish_round(session, rnd, actor="test", now=LATEST)
    assert again.already_published and again.created == 0 and again.published_at == LATER
    assert _count(session, Engagement) == len(served) and _count(session, Notification) == len(outbox)


def test_the_database_refuses_a_second_live_engagement_for_a_demand(session):
    people, needs = _pool(session, n_craftsmen=2, n_demands=1)
    first = make_engagement(session, needs[0], [people[0]])
    with pytest.raises(IntegrityError), session.begin_nested():
        make_engagement(session, needs[0], [people[1]])
    first.status, first.cancel_reason = "cancelled", "工匠临时出差"
    session.flush()
    assert make_engagement(session, needs[0], [people[1]]).id  # a cancelled one frees the demand


def _version(page: str) -> str:
    import re

    return re.search(r'name="version" value="(\d+)"', page).group(1)


def test_the_round_page_marks_what_changed_and_publish_refuses_with_a_re_solve(coordinator_browser, session):
    _pool(session)
    rnd = _round(session)
    gone_id, _ = sorted(_assigned(session, rnd))[0]
    craftsman_service.pause_craftsman(session, _craftsman(session, gone_id), until=None, reason="住院",
                                      actor="test", now=LATER)
    session.commit()
    url = f"/workspace/rounds/{rnd.id}?lang=en"
    page = coordinator_browser.text(url)
    assert 'id="pool-changes"' in page and f'data-id="{gone_id}" data-reason="paused"' in page
    assert 'data-pool-change="paused"' in page and "Re-solve now" in page
    assert f'action="/workspace/rounds/{rnd.id}/publish' not in page  # no publish button on outdated proposals
    refused = coordinator_browser.submit(f"/workspace/rounds/{rnd.id}/publish", {"version": _version(page)},
                                         form_url=url, follow_redirects=True)
    assert refused.status_code == 200 and "nothing was published" in refused.get_data(as_text=True)
    assert _count(session, Engagement) == 0

    assert 'name="keep" value="1"' in page  # the repair keeps what the change did not touch
    kept = _assigned(session, rnd) - {p for p in _assigned(session, rnd) if p[0] == gone_id}
    coordinator_browser.submit(f"/workspace/rounds/{rnd.id}/solve", {"version": _version(page), "keep": "1"},
                               form_url=url)
    page = coordinator_browser.text(url)
    assert 'id="pool-changes"' not in page
    session.expire_all()
    assert kept <= _assigned(session, rnd)
    done = coordinator_browser.submit(f"/workspace/rounds/{rnd.id}/publish", {"version": _version(page)},
                                      form_url=url, follow_redirects=True).get_data(as_text=True)
    assert "The round is published" in done
    again = coordinator_browser.submit(f"/workspace/rounds/{rnd.id}/publish", {"version": _version(page)},
                                       form_url=url, follow_redirects=True)
    assert again.status_code == 200 and "already published on" in again.get_data(as_text=True)
    session.expire_all()
    assert _count(session, EngagementMember, EngagementMember.craftsman_id == gone_id) == 0
    assert _count(session, Engagement) == len({d for _, d in _assigned(session, rnd)}) > 0


@pytest.mark.parametrize("team_size", [1, 3])
def test_a_team_size_edited_after_the_round_was_created_is_what_the_re_solve_fills(session, team_size):
    """The round copied the team size when it was created: shrunk from 2 to 1, the re-solve proposed (and publish
    booked and texted) 2 craftsmen; grown to 3, it still filled 2."""
    _, needs = _pool(session, n_craftsmen=6, n_demands=1)
    needs[0].team_size = 2
    rnd = _round(session)
    assert len(_assigned(session, rnd)) == 2
    target = needs[0]
    demand_service.edit(session, target, {
        "title": target.title, "description": target.description, "category_code": target.category.code,
        "skills": [link.skill.code for link in target.skills], "team_size": team_size,
        "urgency": "high", "mode": target.mode}, actor="test", now=LATER)
    assert [c.reason for c in eligibility.changes_since_solve(session, rnd, LATER.date())] == ["edited"]
    assert session.execute(sa.select(RoundDemand.slots, RoundDemand.priority)).one() == (
        team_size, rounds.PRIORITY_BY_URGENCY["high"])  # as a round created now would hold them

    rounds.solve_round(session, rnd, actor="test", now=LATER, keep_unaffected=True)
    assert len(_assigned(session, rnd)) == team_size
    rounds.publish_round(session, rnd, actor="test", now=LATER)
    assert _count(session, EngagementMember) == team_size


def test_a_pair_declined_after_another_rounds_publish_is_not_published_again(session):
    """Two rounds solved over the same demand propose the same craftsman; the first is published and he declines
    (the demand is open again). Publishing the second used to book him onto the demand he declined, and text him."""
    craftsman = make_craftsman(session, skills={"weld": 5}, region_code="510100", round_capacity=1)
    make_craftsman(session, skills={"weld": 2}, region_code="510100", round_capacity=1)
    need = make_demand(session, skills={"weld": 3})
    first, second = (_round(session, name) for name in ("甲", "乙"))
    assert _assigned(session, first) == _assigned(session, second) == {(craftsman.id, need.id)}
    rounds.publish_round(session, first, actor="test", now=LATER)
    member = session.scalars(sa.select(EngagementMember)).one()
    rounds.decline_member(session, member, reason="已另有安排", actor="test", now=LATER)
    assert session.get(Demand, need.id).status == "open"

    changes = eligibility.changes_since_solve(session, second, LATER.date())
    assert [(c.kind, c.id, c.reason) for c in changes] == [("demand", need.id, "declined")]
    with pytest.raises(rounds.RoundOutdated):
        rounds.publish_round(session, second, actor="test", now=LATEST)
    assert _count(session, EngagementMember) == 1

    rounds.solve_round(session, second, actor="test", now=LATEST, keep_unaffected=True)
    assert (craftsman.id, need.id) not in _assigned(session, second) and _assigned(session, second)
    rounds.publish_round(session, second, actor="test", now=LATEST)
    assert _count(session, EngagementMember, EngagementMember.craftsman_id == craftsman.id) == 1


def test_a_craftsman_edited_after_the_solve_is_read_again_before_publish(session):
    """His profile changed after the solve (the edit form or an import): he now serves remotely only, and the
    round's demands are on site. The re-solve used to replay the craftsmen of the last solve's snapshot (read again
    only when a demand was edited), so he stayed proposed, unmarked, and publish booked him on site."""
    _pool(session)
    rnd = _round(session)
    moved_id, demand_id = sorted(_assigned(session, rnd))[0]
    moved = _craftsman(session, moved_id)
    data = craftsman_service.form_data(moved) | {"can_onsite": False, "can_remote": True}
    craftsman_service.update_craftsman(session, moved, data, actor="test", now=LATER)

    assert [(c.kind, c.id, c.reason) for c in eligibility.changes_since_solve(session, rnd, LATER.date())] == [
        ("craftsman", moved_id, "edited")]
    with pytest.raises(rounds.RoundOutdated):
        rounds.publish_round(session, rnd, actor="test", now=LATER)
    rounds.solve_round(session, rnd, actor="test", now=LATER, keep_unaffected=True)
    assert moved_id not in {c for c, _ in _assigned(session, rnd)}
    assert eligibility.changes_since_solve(session, rnd, LATER.date()) == []
    rounds.publish_round(session, rnd, actor="test", now=LATER)
    assert _count(session, EngagementMember, EngagementMember.craftsman_id == moved_id) == 0


def test_a_lock_on_a_craftsman_another_round_booked_is_released_by_the_re_solve(session):
    """Locked onto a demand of the second round, he is booked to capacity by the first round's publish. Publish
    refuses and offers the re-solve; that re-solve used to fail ("craftsman 1 has 1 locked demands but capacity 0"),
    leaving the round failed until someone found and removed the lock."""
    craftsman = make_craftsman(session, skills={"weld": 5}, region_code="510100", round_capacity=1)
    stand_in = make_craftsman(session, skills={"weld": 2}, region_code="510100", round_capacity=1)
    first_need, second_need = (make_demand(session, skills={"weld": 3}) for _ in range(2))
    first = rounds.create_round(session, name="甲", demand_filters={"q": first_need.title}, actor="test", now=NOW)
    second = rounds.create_round(session, name="乙", demand_filters={"q": second_need.title}, actor="test", now=NOW)
    rounds.solve_round(session, first, actor="test", now=NOW)
    rounds.set_pair(session, second, craftsman.id, second_need.id, "lock", actor="test", now=NOW)
    rounds.solve_round(session, second, actor="test", now=NOW)
    rounds.publish_round(session, first, actor="test", now=LATER)
    with pytest.raises(rounds.RoundOutdated):
        rounds.publish_round(session, second, actor="test", now=LATER)

    rounds.solve_round(session, second, actor="test", now=LATER, keep_unaffected=True)
    assert second.status == "solved", second.solver_message
    assert _assigned(session, second) == {(stand_in.id, second_need.id)}
    from web.models import AuditLog

    released = session.scalars(sa.select(AuditLog.after).where(AuditLog.action == "round.release_locks")).all()
    assert released == [{"pairs": [[craftsman.id, second_need.id]],
                         "reason": "booked by another round: no capacity left"}]
    assert rounds.publish_round(session, second, actor="test", now=LATEST).created == 1


def test_locks_beyond_a_team_cut_smaller_are_released_and_the_round_re_solves(session):
    """Both members of a team of two locked, then the team cut to one: the re-solve failed ("demand 1 has 2 locked
    craftsmen but 1 slots") until someone removed a lock. The edit releases the second, on the record."""
    from web.models import AuditLog

    _, needs = _pool(session, n_craftsmen=6, n_demands=1)
    needs[0].team_size = 2
    rnd = _round(session)
    team = sorted(_assigned(session, rnd))
    for craftsman_id, demand_id in team:
        rounds.set_pair(session, rnd, craftsman_id, demand_id, "lock", actor="test", now=NOW)
    rounds.solve_round(session, rnd, actor="test", now=NOW)
    target = needs[0]
    demand_service.edit(session, target, {
        "title": target.title, "description": target.description, "category_code": target.category.code,
        "skills": [link.skill.code for link in target.skills], "team_size": 1,
        "urgency": target.urgency, "mode": target.mode}, actor="test", now=LATER)
    released = session.scalars(sa.select(AuditLog.after).where(AuditLog.action == "round.release_locks")).all()
    assert released == [{"pairs": [list(team[1])], "reason": "the demand's team was made smaller"}]

    rounds.solve_round(session, rnd, actor="test", now=LATER, keep_unaffected=True)
    assert rnd.status == "solved", rnd.solver_message
    assert _assigned(session, rnd) == {team[0]}
    assert rounds.publish_round(session, rnd, actor="test", now=LATER).created == 1


def test_fewer_demands_per_round_on_his_profile_reach_the_rounds_not_yet_published(session):
    """He now takes one demand per round instead of two. A round created before kept two for him (copied at its
    creation): its re-solve still placed him twice and publish booked him on both. A number the coordinator set
    for him in a round stays."""
    busy = make_craftsman(session, skills={"weld": 5}, region_code="510100", round_capacity=2)
    make_craftsman(session, skills={"weld": 3}, region_code="510100", round_capacity=2)
    needs = sorted(make_demand(session, skills={"weld": 3}).id for _ in range(2))
    rnd, overridden = _round(session, "甲"), _round(session, "乙")
    for demand_id in needs:
        rounds.set_pair(session, rnd, busy.id, demand_id, "lock", actor="test", now=NOW)
    rounds.set_capacity(session, overridden, busy.id, 3, actor="test", now=NOW)
    rounds.solve_round(session, rnd, actor="test", now=NOW, keep_unaffected=True)
    assert {(busy.id, d) for d in needs} <= _assigned(session, rnd)

    data = craftsman_service.form_data(busy) | {"round_capacity": 1}
    craftsman_service.update_craftsman(session, busy, data, actor="test", now=LATER)
    capacity = {rnd_id: session.scalar(sa.select(RoundCraftsman.capacity).where(
        RoundCraftsman.round_id == rnd_id, RoundCraftsman.craftsman_id == busy.id)) for rnd_id in (rnd.id, overridden.id)}
    assert capacity == {rnd.id: 1, overridden.id: 3}
    locked = session.scalars(sa.select(Proposal.demand_id).where(Proposal.round_id == rnd.id, Proposal.locked)).all()
    assert locked == [needs[0]]  # the first kept, the other released on the record
    released = session.scalars(sa.select(AuditLog).where(AuditLog.action == "round.release_locks")).one()
    assert released.after["pairs"] == [[busy.id, needs[1]]]
    with pytest.raises(ServiceError):  # a capacity and a lock changed since the solve: re-solve first
        rounds.publish_round(session, rnd, actor="test", now=LATER)

    rounds.solve_round(session, rnd, actor="test", now=LATER, keep_unaffected=True)
    assert [d for c, d in _assigned(session, rnd) if c == busy.id] == [needs[0]]
    rounds.publish_round(session, rnd, actor="test", now=LATER)
    assert _count(session, EngagementMember, EngagementMember.craftsman_id == busy.id) == 1


def test_fewer_demands_per_round_in_an_imported_sheet_reach_the_rounds_not_yet_published(session):
    from web.services import importing

    busy = make_craftsman(session, skills={"weld": 5}, region_code="510100", round_capacity=2, phone="13600000077")
    make_demand(session, skills={"weld": 3})
    rnd = _round(session)
    sheet = ("name,gender,phone,employer,region,skills,service modes,capacity per round\n"
             f"{busy.name},男,13600000077,{busy.employer},510100,焊接:5,线下,1\n").encode("utf-8-sig")
    report = importing.apply_import(session, sheet, "pool.csv", skip_invalid=False, actor="test", now=LATER)
    assert report.written and busy.round_capacity == 1
    assert session.scalar(sa.select(RoundCraftsman.capacity).where(RoundCraftsman.round_id == rnd.id,
                                                                   RoundCraftsman.craftsman_id == busy.id)) == 1


def _round_capacity(session, rnd, craftsman) -> int:
    return session.scalar(sa.select(RoundCraftsman.capacity).where(RoundCraftsman.round_id == rnd.id,
                                                                   RoundCraftsman.craftsman_id == craftsman.id))


def test_a_capacity_the_coordinator_chose_stays_whatever_the_profile_says(session):
    """The number was told apart by its value alone: a round created with one demand per craftsman for all, or a
    number set for him equal to his profile's, followed his profile's edits."""
    busy = make_craftsman(session, skills={"weld": 5}, region_code="510100", round_capacity=1)
    make_demand(session, skills={"weld": 3})
    for_all = rounds.create_round(session, name="统一", default_capacity=1, actor="test", now=NOW)
    for_him = rounds.create_round(session, name="单独", actor="test", now=NOW)
    rounds.set_capacity(session, for_him, busy.id, 1, actor="test", now=NOW)
    copied = rounds.create_round(session, name="抄录", actor="test", now=NOW)
    craftsman_service.update_craftsman(session, busy, craftsman_service.form_data(busy) | {"round_capacity": 2},
                                       actor="test", now=LATER)
    assert [_round_capacity(session, rnd, busy) for rnd in (for_all, for_him, copied)] == [1, 1, 2]


def test_a_lower_capacity_keeps_his_lock_on_a_demand_still_open(session):
    busy = make_craftsman(session, skills={"weld": 5}, region_code="510100", round_capacity=2)
    first, second = (make_demand(session, skills={"weld": 3}) for _ in range(2))
    rnd = _round(session)
    for demand in (first, second):
        rounds.set_pair(session, rnd, busy.id, demand.id, "lock", actor="test", now=NOW)
    demand_service.withdraw(session, first, {"text": "已自行解决"}, actor="test", now=LATER)
    craftsman_service.update_craftsman(session, busy, craftsman_service.form_data(busy) | {"round_capacity": 1},
                                       actor="test", now=LATER)
    locked = session.scalars(sa.select(Proposal.demand_id).where(Proposal.round_id == rnd.id, Proposal.locked)).all()
    assert second.id in locked  # the lock he can still fill; the withdrawn demand's goes at the next solve
