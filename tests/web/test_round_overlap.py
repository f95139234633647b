"""A solve runs the matching on a thread of its own while the request's thread prepares the save (features, the
demands' fingerprints in a savepoint, the rows the save compares with), and on PostgreSQL reads the craftsmen on a
second connection meanwhile when that sees what the request sees. Stored the same, failures and errors as before."""

from __future__ import annotations

import datetime as dt
import re
import threading

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from tests.conftest import NOW
from tests.factories import make_craftsman, make_demand, make_solved_weld_round
from web import migrate
from web.cpu import idle_core
from web.db import make_engine
from web.models import Demand, MatchingRound, Proposal, RoundCraftsman, RoundDemand, RoundFeatures
from web.services import demands as demand_service
from web.services import eligibility, features, rounds, seeding
from web.services.errors import ServiceError

LATER = NOW + dt.timedelta(hours=2)


def _fingerprints(session, rnd) -> dict[int, str | None]:
    return dict(session.execute(sa.select(RoundDemand.demand_id, RoundDemand.fingerprint)
                                .where(RoundDemand.round_id == rnd.id)).all())


def _proposals(session, rnd) -> set[tuple]:
    """Every stored column of the round's proposals but the id and the round, the JSON as its text."""
    columns = [c for c in Proposal.__table__.c if c.name not in ("id", "round_id")]
    return set(session.execute(sa.select(*(sa.cast(c, sa.Text) if isinstance(c.type, sa.JSON) else c
                                           for c in columns)).where(Proposal.round_id == rnd.id)).all())


def test_the_matching_runs_while_the_save_is_prepared(session, monkeypatch):
    rnd = make_solved_weld_round(session, "同时进行", demands=3)
    rounds.set_pair(session, rnd, *session.execute(sa.select(Proposal.craftsman_id, Proposal.demand_id).where(
        Proposal.round_id == rnd.id, Proposal.assigned)).first(), "lock", actor="test", now=NOW)
    prepared, seen = threading.Event(), {}
    store_fingerprints, run_round = eligibility.store_fingerprints, rounds.run_round

    def storing(*args, **kw):
        store_fingerprints(*args, **kw)
        prepared.set()

    def matching(*args, **kw):  # waits for the save's preparation: they must run at once
        seen["prepared meanwhile"] = prepared.wait(timeout=20)
        seen["thread"] = threading.current_thread()
        seen["beside the solver"] = kw.get("beside_solver")
        return run_round(*args, **kw)

    monkeypatch.setattr(eligibility, "store_fingerprints", storing)
    monkeypatch.setattr(rounds, "run_round", matching)
    assert rounds.solve_round(session, rnd, actor="test", now=LATER).status == "optimal"
    assert seen == {"prepared meanwhile": True, "thread": seen["thread"], "beside the solver": idle_core}
    assert seen["thread"] is not threading.current_thread()


def _edited(session, demand) -> None:
    demand_service.edit(session, demand, {
        "title": "改为数控机床联网", "description": demand.description, "category_code": demand.category.code,
        "skills": [link.skill.code for link in demand.skills], "team_size": demand.team_size,
        "urgency": demand.urgency, "mode": demand.mode}, actor="test", now=LATER)


def test_a_failed_solve_stores_its_features_but_not_the_fingerprints(session):
    rnd = make_solved_weld_round(session, "无解", demands=3)
    fingerprints, features_before = _fingerprints(session, rnd), rnd.features_digest
    craftsman_id, demand_id = session.execute(sa.select(Proposal.craftsman_id, Proposal.demand_id).where(
        Proposal.round_id == rnd.id, Proposal.assigned).order_by(Proposal.demand_id)).first()
    rounds.set_pair(session, rnd, craftsman_id, demand_id, "lock", actor="test", now=NOW)
    rounds.set_capacity(session, rnd, craftsman_id, 0, actor="test", now=NOW)  # a lock he has no room for
    edited = session.get(RoundDemand, session.scalar(sa.select(RoundDemand.id).where(
        RoundDemand.round_id == rnd.id, RoundDemand.demand_id != demand_id))).demand
    _edited(session, edited)  # the features are read anew
    proposals = _proposals(session, rnd)

    result = rounds.solve_round(session, rnd, actor="test", now=LATER)
    session.expire_all()
    rnd = session.get(MatchingRound, rnd.id)
    assert result.status == "infeasible" and rnd.status == "failed" and "capacity 0" in rnd.solver_message
    assert _fingerprints(session, rnd) == fingerprints  # as the last optimal solve left them: the edit still shows
    assert eligibility.edited_demands(session, rnd, [edited.id]) == {edited.id}
    assert _proposals(session, rnd) == proposals
    assert rnd.features_digest != features_before  # the features this solve took are stored and pointed at
    snapshot = rnd.snapshot
    assert "改为数控机床联网" in snapshot["demands"]["description"][snapshot["demands"]["ids"].index(str(edited.id))]
    assert session.get(RoundFeatures, features_before) is None  # the earlier ones, used by no round, dropped
    assert rnd.snapshot_digest == features.digest(snapshot)

    rounds.set_capacity(session, rnd, craftsman_id, 2, actor="test", now=LATER)
    assert rounds.solve_round(session, rnd, actor="test", now=LATER).status == "optimal"
    assert _fingerprints(session, rnd)[edited.id] == eligibility.demand_fingerprints(session, [edited.id])[edited.id]


def test_an_error_of_the_matching_is_shown_as_before_and_nothing_is_stored(coordinator_browser, session,
                                                                          monkeypatch):
    for i in range(3):
        make_craftsman(session, skills={"weld": 2 + i}, region_code="510100")
    make_demand(session, skills={"weld": 2}, region_code="510100")
    rnd = rounds.create_round(session, name="出错", actor="test", now=NOW)
    session.commit()
    stored_features = session.scalar(sa.select(sa.func.count()).select_from(RoundFeatures))

    def matching(*args, **kw):
        raise rounds.ProblemError("config.weights", "made up for this test")

    monkeypatch.setattr(rounds, "run_round", matching)
    url = f"/workspace/rounds/{rnd.id}"
    version = re.search(r'name="version" value="(\d+)"', coordinator_browser.text(url)).group(1)
    page = coordinator_browser.submit(f"{url}/solve?lang=en", {"version": version}, form_url=url,
                                      follow_redirects=True).get_data(as_text=True)
    assert "The round cannot be built: config.weights: made up for this test" in page
    session.expire_all()
    rnd = session.get(MatchingRound, rnd.id)
    assert (rnd.status, rnd.features_digest, rnd.solve_inputs) == ("draft", None, None)
    assert set(_fingerprints(session, rnd).values()) == {None}
    assert session.scalar(sa.select(sa.func.count()).select_from(RoundFeatures)) == stored_features


def test_an_unexpected_error_of_the_matching_is_raised_as_it_was(session, monkeypatch):
    rnd = make_solved_weld_round(session, "意外", demands=2)
    failure = RuntimeError("the solver broke")

    def broken_matching(*args, **kw):
        raise failure

    monkeypatch.setattr(rounds, "run_round", broken_matching)
    with pytest.raises(RuntimeError) as raised:
        rounds.solve_round(session, rnd, actor="test", now=LATER)
    assert raised.value is failure
    assert "broken_matching" in [entry.name for entry in raised.traceback]


def _failing_preparation(*args, **kw):
    raise sa.exc.OperationalError("UPDATE round_demand", {}, Exception("connection lost"))


def _slow_matching(ended: threading.Event, error: Exception | None = None):
    """A matching still running when the save's preparation fails; ``ended`` is set as it ends."""
    def matching(*args, **kw):
        try:
            threading.Event().wait(timeout=0.2)
            if error is not None:
                raise error
        finally:
            ended.set()

    return matching


def test_the_matching_error_comes_before_an_error_of_the_preparation(session, monkeypatch):
    rnd = make_solved_weld_round(session, "两处出错", demands=2)
    ended = threading.Event()
    monkeypatch.setattr(rounds, "run_round", _slow_matching(ended, rounds.ProblemError("config", "the matching's")))
    monkeypatch.setattr(eligibility, "store_fingerprints", _failing_preparation)
    with pytest.raises(ServiceError, match="the matching's"):
        rounds.solve_round(session, rnd, actor="test", now=LATER)
    assert ended.is_set()


def test_an_error_of_the_preparation_is_raised_once_the_matching_ended(session, monkeypatch):
    rnd = make_solved_weld_round(session, "准备出错", demands=2)
    ended = threading.Event()
    monkeypatch.setattr(rounds, "run_round", _slow_matching(ended))
    monkeypatch.setattr(eligibility, "store_fingerprints", _failing_preparation)
    with pytest.raises(sa.exc.OperationalError, match="connection lost"):
        rounds.solve_round(session, rnd, actor="test", now=LATER)
    assert ended.is_set()


# ---------------------------------------------------------------- the craftsmen read on a second connection
@pytest.fixture
def committed_pools(fresh_database_url):
    """An engine on a fresh PostgreSQL database with committed pools (a second connection sees them)."""
    if not fresh_database_url.startswith("postgresql"):
        pytest.skip("a second connection is only used on PostgreSQL")
    migrate.upgrade(fresh_database_url)
    engine = make_engine(fresh_database_url)
    with Session(engine) as session:
        seeding.load_reference(session)
        for i in range(6):
            make_craftsman(session, skills={"weld": 1 + i % 4}, region_code="510100", round_capacity=1 + i % 2)
        for _ in range(4):
            make_demand(session, skills={"weld": 3}, region_code="510100")
        session.commit()
    yield engine
    engine.dispose()


def _loads_of_craftsmen(monkeypatch) -> list[bool]:
    """Whether each load of the round's craftsmen ran on the solve's own thread."""
    calls, load = [], features.load_craftsmen
    main = threading.current_thread()
    monkeypatch.setattr(features, "load_craftsmen",
                        lambda *args, **kw: (calls.append(threading.current_thread() is main), load(*args, **kw))[1])
    return calls


def _stored_fingerprints(session, rnd) -> dict[int, tuple[str | None, int | None]]:
    return {demand_id: (fingerprint, revision) for demand_id, fingerprint, revision in session.execute(
        sa.select(RoundDemand.demand_id, RoundDemand.fingerprint, RoundDemand.revision)
        .where(RoundDemand.round_id == rnd.id)).all()}


def test_craftsmen_and_fingerprints_read_aside_are_those_the_solve_reads_itself(committed_pools, monkeypatch):
    with Session(committed_pools) as session:
        aside, own = (rounds.create_round(session, name=name, actor="test", now=NOW).id for name in ("旁读", "自读"))
        session.commit()
    loads = _loads_of_craftsmen(monkeypatch)
    hashed, fingerprints = [], eligibility.demand_fingerprints
    main = threading.current_thread()
    monkeypatch.setattr(eligibility, "demand_fingerprints", lambda *args, **kw: (
        hashed.append(threading.current_thread() is main), fingerprints(*args, **kw))[1])
    with Session(committed_pools) as session:  # nothing written yet in its transaction: read aside
        rounds.solve_round(session, session.get(MatchingRound, aside), actor="test", now=NOW)
        session.commit()
    with Session(committed_pools) as session:  # its transaction has an id (as after a write): read by itself
        session.execute(sa.text("SELECT txid_current()"))
        rounds.solve_round(session, session.get(MatchingRound, own), actor="test", now=NOW)
        session.commit()
    assert loads == [False, True] and hashed == [False, True]
    with Session(committed_pools) as session:
        aside, own = session.get(MatchingRound, aside), session.get(MatchingRound, own)
        assert _proposals(session, aside) == _proposals(session, own) != set()
        assert aside.snapshot_digest == own.snapshot_digest
        stored = _stored_fingerprints(session, aside)
        assert stored == _stored_fingerprints(session, own)
        assert stored and all(None not in value for value in stored.values())


def test_a_solve_after_an_uncommitted_change_reads_the_craftsmen_itself(committed_pools, monkeypatch):
    with Session(committed_pools) as session:
        round_id = rounds.create_round(session, name="未提交", actor="test", now=NOW).id
        session.commit()
    loads = _loads_of_craftsmen(monkeypatch)
    with Session(committed_pools) as session:  # a craftsman joins the round in the solve's own transaction
        newcomer = make_craftsman(session, skills={"weld": 4}, region_code="510100")
        session.add(RoundCraftsman(round_id=round_id, craftsman_id=newcomer.id, capacity=1))
        session.flush()
        rnd = session.get(MatchingRound, round_id)
        rounds.solve_round(session, rnd, actor="test", now=NOW)
        assert loads == [True]
        assert str(newcomer.id) in rnd.snapshot["craftsmen"]["ids"]
        session.rollback()


def test_a_solve_that_fails_waits_for_its_reads_aside_before_the_error_goes_on(committed_pools, monkeypatch):
    """Every demand of the round was closed since its creation: the solve refuses. The craftsmen's read aside was
    left running, its connection still out of the pool when the caller went on; a caller that then disposed of
    the engine (a test's teardown, a job's work horse) left that connection open until garbage collection."""
    with Session(committed_pools) as session:
        round_id = rounds.create_round(session, name="全部关闭", actor="test", now=NOW).id
        session.execute(sa.update(Demand).values(status="withdrawn"))
        session.commit()
    ended, load = threading.Event(), features.load_craftsmen

    def slow_load(*args, **kw):
        try:
            threading.Event().wait(timeout=0.3)
            return load(*args, **kw)
        finally:
            ended.set()

    monkeypatch.setattr(features, "load_craftsmen", slow_load)
    with Session(committed_pools) as session, pytest.raises(ServiceError):
        rounds.solve_round(session, session.get(MatchingRound, round_id), actor="test", now=NOW)
    assert ended.is_set()
    assert committed_pools.pool.checkedout() == 0


def test_a_first_solve_on_postgresql_collects_what_it_held_back_while_the_server_checks_its_rows(session,
                                                                                                  monkeypatch):
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("only a COPY leaves such a wait")
    events, collect, serialise = [], rounds.gc.collect, rounds._serialised_and_digested
    monkeypatch.setattr(rounds.gc, "collect", lambda generation=2: (
        events.append(("collect", generation, rounds.gc.isenabled(), threading.current_thread().ident)),
        collect(generation))[1])
    monkeypatch.setattr(rounds, "_serialised_and_digested", lambda *args: (
        events.append(("serialise", threading.current_thread().ident)), serialise(*args))[1])
    make_solved_weld_round(session, "回收", demands=3)
    (_, serialised_on), (*collection, collected_on) = events  # the features first, then the collection
    assert collection == ["collect", 2, False]  # a full one, the collector still paused
    assert serialised_on == collected_on != threading.get_ident()  # one thread, on the wait
