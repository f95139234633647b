"""The queued path: a real redis-server on 127.0.0.1 and an RQ worker (SimpleWorker, burst mode, in-process)."""

from __future__ import annotations

import re
import time

from sqlalchemy.orm import Session

from tests.browser import Browser
from tests.conftest import NOW, TEST_PASSWORD, make_test_app
from tests.web.conftest import needs_redis
from web import migrate
from web.db import make_engine
from web.models import MatchingRound
from web.services import jobs, rounds, seeding
from web.services.users import create_user

pytestmark = needs_redis


def _queued_round(tmp_path, redis_url) -> tuple[str, int, Browser]:
    """A demo round on its own SQLite database, queued for solving through the round page."""
    database_url = f"sqlite:///{tmp_path / 'worker.sqlite'}"
    migrate.upgrade(database_url)
    engine = make_engine(database_url)
    with Session(bind=engine) as session:
        seeding.load_demo(session, now=NOW)
        user = create_user(session, username="queue", password=TEST_PASSWORD, role="coordinator", actor="test",
                           now=NOW)
        round_id = rounds.create_round(session, name="后台轮次", actor=user, now=NOW).id
        session.commit()
    engine.dispose()
    browser = Browser(make_test_app(database_url, REDIS_URL=redis_url).test_client())
    assert browser.login("queue", TEST_PASSWORD).status_code == 302
    return database_url, round_id, browser


def _click(browser: Browser, url: str, action: str) -> None:
    version = re.search(r'name="version" value="(\d+)"', browser.text(url)).group(1)
    assert browser.submit(f"{url}/{action}", {"version": version}, form_url=url).status_code == 302


def test_solve_runs_on_the_queue(tmp_path, redis_url):
    from rq import SimpleWorker

    database_url, round_id, browser = _queued_round(tmp_path, redis_url)
    engine = make_engine(database_url)
    url = f"/workspace/rounds/{round_id}"
    _click(browser, url, "solve")
    page = browser.text(url)
    assert 'id="progress"' in page and 'http-equiv="refresh"' in page  # progress while queued
    assert browser.get(f"{url}/status.json").get_json()["status"] == "queued"

    queue = jobs.queue(redis_url)
    assert queue.count == 1
    worker = SimpleWorker([queue], connection=queue.connection)
    assert worker.work(burst=True)
    status = browser.get(f"{url}/status.json").get_json()
    assert status["status"] == "solved" and status["job"] == "finished", status
    assert 'id="review"' in browser.text(url)
    with Session(bind=engine) as session:
        assert session.get(MatchingRound, round_id).objective is not None
    engine.dispose()
    queue.connection.close()


def test_craftmatch_worker_solves_the_queue_in_one_app(tmp_path, redis_url):
    database_url, round_id, browser = _queued_round(tmp_path, redis_url)
    url = f"/workspace/rounds/{round_id}"
    _click(browser, url, "solve")
    assert browser.get(f"{url}/status.json").get_json()["status"] == "queued"
    worker_app = make_test_app(database_url, REDIS_URL=redis_url)
    result = worker_app.test_cli_runner().invoke(args=["worker", "--burst"])
    assert result.exit_code == 0, result.output
    assert browser.get(f"{url}/status.json").get_json()["status"] == "solved"
    job_app = jobs.job_app(database_url)

    page = browser.text(url)  # a re-solve after a lock runs in the app the first job built
    pair = re.search(r'name="craftsman_id" value="(\d+)">\s*<input type="hidden" name="demand_id" value="(\d+)">\s*'
                     r'<input type="hidden" name="mode" value="lock">', page)
    version = re.search(r'name="version" value="(\d+)"', page).group(1)
    assert browser.submit(f"{url}/pair", {"version": version, "craftsman_id": pair.group(1),
                                          "demand_id": pair.group(2), "mode": "lock"}, form_url=url).status_code == 302
    _click(browser, url, "solve")
    assert worker_app.test_cli_runner().invoke(args=["worker", "--burst"]).exit_code == 0
    assert browser.get(f"{url}/status.json").get_json()["status"] == "solved"
    assert jobs.job_app(database_url) is job_app
    assert jobs.job_app(database_url, {"SOLVE_TIMEOUT_SECONDS": 5}) is not job_app


def test_craftmatch_worker_needs_the_queue(tmp_path):
    database_url = f"sqlite:///{tmp_path / 'none.sqlite'}"
    result = make_test_app(database_url).test_cli_runner().invoke(args=["worker", "--burst"])
    assert result.exit_code == 2 and "CRAFTMATCH_REDIS_URL" in result.output


def heartbeat_age_after(seconds: float) -> float:
    """A job: how old its heartbeat is after ``seconds`` of work (the queue's view of whether it still lives)."""
    from rq import get_current_job
    from rq.utils import now

    job = get_current_job()
    time.sleep(seconds)
    job.refresh()
    return (now() - job.last_heartbeat).total_seconds()


def test_the_solve_worker_keeps_a_long_job_alive(redis_url):
    """A job outlasting the monitoring interval gets fresh heartbeats while it runs, as under a forking worker (the
    round page would otherwise report a long solve as stuck)."""
    from web.worker import SolveWorker

    queue = jobs.queue(redis_url)
    job = queue.enqueue(heartbeat_age_after, 2.5)
    worker = SolveWorker([queue], connection=queue.connection, job_monitoring_interval=1)
    assert worker.work(burst=True)
    assert job.get_status().value == "finished"
    assert job.return_value() < 1.5
    queue.connection.close()
