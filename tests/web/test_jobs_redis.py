"""The queued path: a real redis-server on 127.0.0.1 and an RQ worker (SimpleWorker, burst mode, in-process)."""

from __future__ import annotations

import re

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

def test_solve_runs_on_the_queue(tmp_path, redis_url):
    from rq import SimpleWorker

    database_url = f"sqlite:///{tmp_path / 'queued.sqlite'}"
    migrate.upgrade(database_url)
    engine = make_engine(database_url)
    with Session(bind=engine) as session:
        seeding.load_demo(session, now=NOW)
        user = create_user(session, username="queue", password=TEST_PASSWORD, role="coordinator", actor="test",
                           now=NOW)
        rnd = rounds.create_round(session, name="排队轮次", actor=user, now=NOW)
        session.commit()
        round_id = rnd.id
    app = make_test_app(database_url, REDIS_URL=redis_url)
    browser = Browser(app.test_client())
    assert browser.login("queue", TEST_PASSWORD).status_code == 302
    url = f"/workspace/rounds/{round_id}"
    version = re.search(r'name="version" value="(\d+)"', browser.text(url)).group(1)
    assert browser.submit(f"{url}/solve", {"version": version}, form_url=url).status_code == 302
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
