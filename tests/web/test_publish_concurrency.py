"""Publishing at the same moment, on PostgreSQL with real concurrent connections (one per thread).

Two rounds over the same demands published at once: one wins whole, the other publishes nothing and names
the demands taken. The same round published from two sessions at once: one set of engagements, and the
other caller is told it was already published, without an error.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from tests.conftest import NOW, make_test_app
from tests.databases import postgres_url, throwaway_postgres_database
from tests.factories import make_craftsman, make_demand, make_engagement, make_enterprise
from web import migrate
from web.db import make_engine
from web.extensions import db
from web.models import Craftsman, Demand, Engagement, EngagementMember, MatchingRound, Notification
from web.services import craftsmen as craftsman_service
from web.services import demands as demand_service
from web.services import rounds, seeding
from web.services.errors import ServiceError

pytestmark = pytest.mark.skipif(postgres_url() is None, reason="needs a PostgreSQL server")

TRIALS = 5
DEMANDS_PER_TRIAL = 12


@pytest.fixture(scope="module")
def app():
    with throwaway_postgres_database(postgres_url()) as url:
        migrate.upgrade(url)
        engine = make_engine(url)
        with Session(bind=engine) as session:
            seeding.load_reference(session)
            session.commit()
        engine.dispose()
        app = make_test_app(url)
        yield app
        with app.app_context():
            db.engine.dispose()  # before the database is dropped: no pooled connection outlives it


def _solved_rounds(app, trial: int, count: int) -> list[int]:
    """``count`` solved rounds over the same fresh demands of this trial; committed."""
    with app.app_context():
        session = db.new_session()
        for _ in range(DEMANDS_PER_TRIAL + 4):
            make_craftsman(session, skills={"weld": 4}, region_code="510100", round_capacity=3)
        enterprise = make_enterprise(session)
        for i in range(DEMANDS_PER_TRIAL):
            make_demand(session, enterprise, skills={"weld": 3}, title=f"并发试验{trial}号需求{i}")
        ids = []
        for n in range(count):
            rnd = rounds.create_round(session, name=f"试验{trial}-{n}", demand_filters={"q": f"并发试验{trial}号"},
                                      actor="test", now=NOW)
            rounds.solve_round(session, rnd, actor="test", now=NOW)
            ids.append(rnd.id)
        session.commit()
        session.close()
        return ids


def _publish_at_once(app, round_ids: list[int]) -> list[object]:
    """Each round id published by its own thread and connection, all released at the same moment."""
    start = threading.Barrier(len(round_ids))
    outcomes: list[object] = [None] * len(round_ids)

    def publish(slot: int, round_id: int) -> None:
        with app.app_context():
            session = db.new_session()
            try:
                rnd = session.get(MatchingRound, round_id)
                start.wait(timeout=30)
                outcomes[slot] = rounds.publish_round(session, rnd, actor="test", now=NOW + dt.timedelta(hours=1))
                session.commit()
            except ServiceError as error:
                session.rollback()
                outcomes[slot] = error
            finally:
                session.close()

    threads = [threading.Thread(target=publish, args=(slot, round_id)) for slot, round_id in enumerate(round_ids)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return outcomes


def _live_per_demand(app, trial: int) -> Counter:
    with app.app_context():
        session = db.new_session()
        rows = session.scalars(sa.select(Engagement.demand_id).join(Engagement.demand).where(
            Engagement.status != "cancelled", sa.literal_column("demand.title").like(f"并发试验{trial}号%"))).all()
        session.close()
    return Counter(rows)


@pytest.mark.parametrize("trial", range(TRIALS))
def test_two_rounds_over_the_same_demands_published_at_once(app, trial):
    first, second = _solved_rounds(app, trial, 2)
    outcomes = _publish_at_once(app, [first, second])
    won = [o for o in outcomes if isinstance(o, rounds.Publication)]
    lost = [o for o in outcomes if isinstance(o, ServiceError)]
    assert len(won) == 1 and len(lost) == 1, outcomes
    assert won[0].created == DEMANDS_PER_TRIAL
    assert isinstance(lost[0], rounds.RoundOutdated)
    taken = {c.id for c in lost[0].changes if c.kind == "demand" and c.reason == "served"}
    assert len(taken) == DEMANDS_PER_TRIAL
    per_demand = _live_per_demand(app, trial)
    assert len(per_demand) == DEMANDS_PER_TRIAL and set(per_demand.values()) == {1}
    with app.app_context():
        session = db.new_session()
        loser = first if outcomes[1] is won[0] else second
        assert session.get(MatchingRound, loser).status == "solved"
        assert session.scalar(sa.select(sa.func.count()).select_from(Notification)
                              .where(Notification.round_id == loser)) == 0
        bookings = session.execute(sa.select(EngagementMember.craftsman_id, Engagement.demand_id).join(Engagement)
                                   .where(Engagement.round_id.in_([first, second]))).all()
        assert len(bookings) == len(set(bookings)) == DEMANDS_PER_TRIAL
        session.close()


@pytest.mark.parametrize("trial", range(TRIALS, TRIALS + 3))
def test_the_same_round_published_from_two_sessions_at_once(app, trial):
    (only,) = _solved_rounds(app, trial, 1)
    outcomes = _publish_at_once(app, [only, only])
    assert all(isinstance(o, rounds.Publication) for o in outcomes), outcomes
    assert sorted(o.created for o in outcomes) == [0, DEMANDS_PER_TRIAL]
    assert [o.already_published for o in outcomes].count(True) == 1
    assert set(_live_per_demand(app, trial).values()) == {1}
    with app.app_context():
        session = db.new_session()
        kinds = Counter(session.scalars(sa.select(Notification.recipient_kind)
                                        .where(Notification.round_id == only)).all())
        members = session.scalar(sa.select(sa.func.count()).select_from(EngagementMember).join(Engagement)
                                 .where(Engagement.round_id == only))
        session.close()
    assert kinds["enterprise"] == 1 and members == DEMANDS_PER_TRIAL


@pytest.mark.parametrize("trial", range(TRIALS + 3, TRIALS + 3 + TRIALS))
def test_two_rounds_sharing_craftsmen_published_at_once_book_each_within_his_capacity(app, trial):
    """Two rounds over different demands but the same craftsmen (capacity 1 each): published one after the other,
    the second is refused (every craftsman booked by the first). At once, both used to pass: the craftsmen's rows
    were only share-locked, so neither saw the other's uncommitted bookings."""
    people = DEMANDS_PER_TRIAL // 2
    with app.app_context():
        session = db.new_session()
        craftsmen = [make_craftsman(session, skills={"quality.cmm": 4}, region_code="510100", round_capacity=1).id
                     for _ in range(people)]
        enterprise = make_enterprise(session)
        ids = []
        for side in "AB":
            for i in range(people):
                make_demand(session, enterprise, skills={"quality.cmm": 3}, title=f"容量试验{trial}{side}号需求{i}")
            rnd = rounds.create_round(session, name=f"容量{trial}{side}", actor="test", now=NOW,
                                      demand_filters={"q": f"容量试验{trial}{side}号"},
                                      craftsman_filters={"skill": "quality.cmm"})
            rounds.solve_round(session, rnd, actor="test", now=NOW)
            ids.append(rnd.id)
        session.commit()
        session.close()
    try:
        outcomes = _publish_at_once(app, ids)
    finally:  # the next trial's rounds take in only its own craftsmen
        with app.app_context():
            session = db.new_session()
            session.execute(sa.update(Craftsman).where(Craftsman.id.in_(craftsmen)).values(status="paused"))
            bookings = Counter(session.scalars(
                sa.select(EngagementMember.craftsman_id).join(Engagement)
                .where(Engagement.round_id.in_(ids), Engagement.status != "cancelled")).all())
            session.commit()
            session.close()
    assert bookings and max(bookings.values()) == 1, (outcomes, bookings)
    assert [isinstance(o, rounds.RoundOutdated) for o in outcomes].count(True) == 1, outcomes


@pytest.mark.parametrize("action", ["withdraw", "reject", "edit"])
def test_a_demand_withdrawn_while_its_round_publishes_is_not_both(app, action):
    """A coordinator withdraws (rejects, edits) a demand while a round publishes it: his request read the demand
    as open before the publish committed, and its update, which waited for the publish's row lock, then wrote over
    "matched": a withdrawn demand with a live engagement and its craftsman texted. The status is now checked on
    the row locked and read afresh, so the late action is refused."""
    (round_id,) = _solved_rounds(app, f"撤回{action}", 1)
    with app.app_context():
        late = db.new_session()
        demand = late.scalars(sa.select(Demand).where(Demand.title.like(f"并发试验撤回{action}号%"))
                              .order_by(Demand.id).limit(1)).one()
        assert demand.status == "open"  # read before the publish commits
        demand_id = demand.id
        publisher = db.new_session()
        rounds.publish_round(publisher, publisher.get(MatchingRound, round_id), actor="test", now=NOW)
        publisher.commit()
        publisher.close()
        with pytest.raises(ServiceError):
            if action == "edit":
                demand_service.edit(late, demand, {
                    "title": demand.title + "（改）", "description": demand.description,
                    "category_code": demand.category.code, "skills": [link.skill.code for link in demand.skills],
                    "team_size": demand.team_size, "urgency": demand.urgency, "mode": demand.mode},
                    actor="test", now=NOW)
            else:
                getattr(demand_service, action)(late, demand, {"text": "企业已自行解决"}, actor="test", now=NOW)
            late.commit()
        late.rollback()
        late.close()
        session = db.new_session()
        assert session.get(Demand, demand_id).status == "matched"
        session.close()


def test_an_exit_declining_his_booking_while_a_stale_round_publishes_it_does_not_deadlock(app, monkeypatch):
    """Round A published him on a demand; round B, solved before that, still proposes him there. His exit (which
    declines that booking) and B's publish ran at once: the exit locked him, then the demand (through the
    decline), while the publish locked the demand, then him, and PostgreSQL killed one of them as a deadlock (the
    coordinator read "database unavailable"). The exit now locks in the publish's order: the publish waits for
    it and finds him gone."""
    with app.app_context():
        session = db.new_session()
        craftsman = make_craftsman(session, skills={"weld": 5}, region_code="510100", round_capacity=2)
        demand = make_demand(session, make_enterprise(session), skills={"weld": 3}, title="退出死锁试验需求")
        both = [rounds.create_round(session, name=f"退出{n}", demand_filters={"q": "退出死锁试验"}, actor="test",
                                    now=NOW) for n in "AB"]
        for rnd in both:
            rounds.set_pair(session, rnd, craftsman.id, demand.id, "lock", actor="test", now=NOW)
            rounds.solve_round(session, rnd, actor="test", now=NOW)
        rounds.publish_round(session, both[0], actor="test", now=NOW)
        session.commit()
        craftsman_id, stale_id = craftsman.id, both[1].id
        session.close()
    declining, decline = threading.Event(), rounds.decline_member

    def decline_once_the_publish_waits(*args, **kwargs):
        declining.set()
        threading.Event().wait(timeout=1.0)  # the publish meanwhile locks what it can
        return decline(*args, **kwargs)

    monkeypatch.setattr(rounds, "decline_member", decline_once_the_publish_waits)
    outcomes: dict[str, object] = {}

    def run(name: str, work) -> None:
        with app.app_context():
            session = db.new_session()
            try:
                outcomes[name] = work(session)
                session.commit()
            except Exception as error:  # noqa: BLE001 - whatever it is, the assertion shows it
                session.rollback()
                outcomes[name] = error
            finally:
                session.close()

    def leave(session):
        return craftsman_service.exit_craftsman(session, session.get(Craftsman, craftsman_id), reason="退休",
                                                on=NOW.date(), actor="test", now=NOW, decline_scheduled=True)

    def publish(session):
        declining.wait(timeout=30)
        return rounds.publish_round(session, session.get(MatchingRound, stale_id), actor="test", now=NOW)

    threads = [threading.Thread(target=run, args=("exit", leave)), threading.Thread(target=run, args=("publish",
                                                                                                       publish))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert isinstance(outcomes["exit"], Craftsman) and isinstance(outcomes["publish"], rounds.RoundOutdated), \
        outcomes


def test_an_exit_reads_his_engagements_afresh_under_their_locks(app):
    """The coordinator's session had read his engagement as scheduled; the service started meanwhile (committed by
    another request). The exit decided on the status it held in memory and cancelled a service in progress."""
    with app.app_context():
        session = db.new_session()
        craftsman = make_craftsman(session, skills={"weld": 5}, region_code="510100")
        engagement = make_engagement(session, make_demand(session, status="matched"), [craftsman])
        session.commit()
        assert engagement.status == "scheduled"  # held in this session from here on
        other = db.new_session()
        other.execute(sa.update(Engagement).where(Engagement.id == engagement.id)
                      .values(status="in_service", started_on=NOW.date()))
        other.commit()
        other.close()
        with pytest.raises(ServiceError) as refused:
            craftsman_service.exit_craftsman(session, craftsman, reason="退休", on=NOW.date(), actor="test", now=NOW,
                                             decline_scheduled=True)
        assert refused.value.field == "status"
        session.rollback()
        assert session.get(Engagement, engagement.id).status == "in_service"
        session.close()


def test_a_start_clicked_while_another_request_cancels_reads_that_the_other_came_first(app, monkeypatch):
    """A start and a cancel of one engagement at the same moment: both requests read it scheduled. The later write
    won, and the engagement ended in service while its demand was open again for the next round. Now the start's
    UPDATE finds a newer version, and the coordinator reads that another change was saved first (409)."""
    from tests.browser import Browser
    from tests.conftest import TEST_PASSWORD
    from web.models import AuditLog
    from web.services import engagements
    from web.services.users import create_user

    today = dt.datetime.now(dt.UTC).date()  # the views use the wall clock
    with app.app_context():
        session = db.new_session()
        create_user(session, username="race_coordinator", password=TEST_PASSWORD, role="coordinator", actor="test",
                    now=NOW)
        engagement = make_engagement(session, make_demand(session, status="matched"), [make_craftsman(session)])
        session.commit()
        engagement_id = engagement.id
        session.close()
    real_schedule = engagements.schedule_follow_ups

    def cancelled_meanwhile(*args, **kwargs):  # after the start view read the engagement, before it writes
        other = db.new_session()
        engagements.cancel_engagement(other, other.get(Engagement, engagement_id), {"reason": "企业取消"},
                                      actor="other", now=NOW)
        other.commit()
        other.close()
        return real_schedule(*args, **kwargs)

    browser = Browser(app.test_client())
    assert browser.login("race_coordinator", TEST_PASSWORD).status_code == 302
    url = f"/workspace/engagements/{engagement_id}"
    token = browser.csrf_token(url)
    monkeypatch.setattr(engagements, "schedule_follow_ups", cancelled_meanwhile)
    response = browser.submit(f"{url}/start?lang=en", {"started_on": today.isoformat(), "csrf_token": token})
    monkeypatch.undo()
    assert response.status_code == 409, response.status_code
    page = response.get_data(as_text=True)
    assert "saved at the same moment" in page and "race_coordinator" in page  # the layout, still logged in
    with app.app_context():
        session = db.new_session()
        engagement = session.get(Engagement, engagement_id)
        assert (engagement.status, engagement.demand.status, engagement.follow_ups) == ("cancelled", "open", [])
        actions = session.scalars(sa.select(AuditLog.action).where(AuditLog.entity_type == "engagement",
                                                                     AuditLog.entity_id == engagement_id)).all()
        assert actions == ["engagement.cancel"]  # nothing of the refused start was kept
        session.close()
