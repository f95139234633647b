"""No round waits forever: a background solve whose worker died, whose job vanished or failed, or that outlived its
time limit is shown as failed with the reason and a "solve again" button, and the page stops polling."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from tests.browser import Browser
from tests.conftest import NOW, TEST_PASSWORD, make_test_app
from tests.databases import postgres_url, throwaway_postgres_database
from tests.factories import make_craftsman, make_demand
from tests.web.conftest import needs_redis
from web import migrate
from web.db import make_engine
from web.extensions import db
from web.models import AuditLog
from web.services import jobs, rounds, seeding
from web.services.users import create_user

pytestmark = needs_redis
REPOSITORY = Path(__file__).resolve().parents[2]
CRAFTMATCH = Path(sys.executable).with_name("craftmatch")


def _prepared(database_url: str) -> int:
    """A migrated database with a small pool, a coordinator and a draft round; returns the round's id."""
    migrate.upgrade(database_url)
    engine = make_engine(database_url)
    with Session(bind=engine) as session:
        seeding.load_reference(session)
        for i in range(6):
            make_craftsman(session, skills={"weld": 2 + i % 3}, region_code="510100")
        for _ in range(4):
            make_demand(session, skills={"weld": 3})
        user = create_user(session, username="queue", password=TEST_PASSWORD, role="coordinator", actor="test",
                           now=NOW)
        round_id = rounds.create_round(session, name="后台轮次", actor=user, now=NOW).id
        session.commit()
    engine.dispose()
    return round_id


def _queue_solve(browser: Browser, round_id: int) -> str:
    url = f"/workspace/rounds/{round_id}"
    assert browser.login("queue", TEST_PASSWORD).status_code == 302
    version = re.search(r'name="version" value="(\d+)"', browser.text(url)).group(1)
    assert browser.submit(f"{url}/solve", {"version": version}, form_url=url).status_code == 302
    assert browser.get(f"{url}/status.json").get_json()["status"] == "queued"
    return url


def _wait_for(predicate, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _waiting_on_a_lock(engine) -> int:
    # a fresh transaction each time: pg_stat_activity is a snapshot taken once per transaction
    with engine.connect() as watcher:
        return watcher.execute(sa.text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                       "AND wait_event_type = 'Lock'")).scalar_one()


def _assert_offers_to_solve_again(browser: Browser, url: str, says: str) -> None:
    status = browser.get(f"{url}/status.json?lang=en").get_json()
    assert status["status"] == "failed" and says in status["message"], status
    page = browser.text(f"{url}?lang=en")
    assert 'http-equiv="refresh"' not in page and 'id="interrupted"' in page and ">Solve again<" in page


@pytest.mark.skipif(postgres_url() is None, reason="needs a PostgreSQL server")
def test_a_worker_killed_mid_solve_leaves_a_failed_round_that_can_be_solved_again(redis_url):
    with throwaway_postgres_database(postgres_url()) as database_url:
        round_id = _prepared(database_url)
        app = make_test_app(database_url, REDIS_URL=redis_url, SOLVE_HEARTBEAT_GRACE_SECONDS=3)
        browser = Browser(app.test_client())
        url = _queue_solve(browser, round_id)

        engine = make_engine(database_url)
        blocker = engine.connect()
        # The solve computes, then blocks on writing its proposals: it is caught in the middle of the solve.
        blocker.execute(sa.text("LOCK TABLE proposal IN SHARE ROW EXCLUSIVE MODE"))
        worker = subprocess.Popen([str(CRAFTMATCH), "worker", "--job-monitoring-interval", "1"], cwd=REPOSITORY,
                                  env={**os.environ, "CRAFTMATCH_REDIS_URL": redis_url,
                                       "CRAFTMATCH_DATABASE_URL": database_url},
                                  start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait_for(lambda: _waiting_on_a_lock(engine), 60, "the solve to block on its write")
            with engine.connect() as watcher:
                assert watcher.execute(sa.text("SELECT status FROM matching_round WHERE id = :r"),
                                       {"r": round_id}).scalar_one() == "solving"
            time.sleep(3.5)  # longer than the grace: only the worker's heartbeats show that it lives
            assert browser.get(f"{url}/status.json").get_json()["status"] == "solving"  # alive: keep waiting
            os.kill(worker.pid, signal.SIGKILL)  # as an OOM kill would; the worker solves in its own process
            worker.wait(timeout=10)
        finally:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait(timeout=10)
            blocker.rollback()
            blocker.close()

        _wait_for(lambda: browser.get(f"{url}/status.json?lang=en").get_json()["status"] == "failed", 30,
                  "the dead worker to be noticed")
        _assert_offers_to_solve_again(browser, url, "stopped answering")
        with engine.connect() as connection:
            assert connection.execute(sa.select(sa.func.count()).select_from(AuditLog).where(
                AuditLog.action == "round.solve_interrupted")).scalar_one() == 1

        version = re.search(r'name="version" value="(\d+)"', browser.text(url)).group(1)
        assert browser.submit(f"{url}/solve", {"version": version}, form_url=url).status_code == 302
        from rq import SimpleWorker

        queue = jobs.queue(redis_url)
        assert SimpleWorker([queue], connection=queue.connection).work(burst=True)
        assert browser.get(f"{url}/status.json").get_json()["status"] == "solved"
        queue.connection.close()
        engine.dispose()
        with app.app_context():
            db.engine.dispose()


def test_a_vanished_job_is_reported_not_awaited(tmp_path, redis_url):
    database_url = f"sqlite:///{tmp_path / 'vanished.sqlite'}"
    round_id = _prepared(database_url)
    app = make_test_app(database_url, REDIS_URL=redis_url)
    browser = Browser(app.test_client())
    url = _queue_solve(browser, round_id)
    queue = jobs.queue(redis_url)
    queue.connection.flushall()  # Redis restarted without persistence
    _assert_offers_to_solve_again(browser, url, "no longer in the task queue")
    queue.connection.close()


def test_a_solve_that_outlives_its_time_limit_is_reported(tmp_path, redis_url):
    database_url = f"sqlite:///{tmp_path / 'late.sqlite'}"
    round_id = _prepared(database_url)
    app = make_test_app(database_url, REDIS_URL=redis_url, SOLVE_TIMEOUT_SECONDS=1, SOLVE_HEARTBEAT_GRACE_SECONDS=1)
    browser = Browser(app.test_client())
    url = _queue_solve(browser, round_id)  # no worker is running: the job stays queued
    assert browser.get(f"{url}/status.json").get_json()["status"] == "queued"
    time.sleep(2.2)
    _assert_offers_to_solve_again(browser, url, "time limit")
    jobs.queue(redis_url).connection.close()
