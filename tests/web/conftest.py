"""Fixtures of the web tests: a redis-server of their own on a free loopback port for those that need a real
Redis, a scheduled engagement for the engagement pages, and the demo pool with a round of each state."""

from __future__ import annotations

import datetime as dt
import shutil
import socket
import subprocess
import time

import pytest

from tests.conftest import NOW
from tests.factories import make_craftsman, make_demand, make_engagement
from web.extensions import db
from web.services import rounds, seeding

REDIS_SERVER = shutil.which("redis-server")
needs_redis = pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server is not installed (apt install redis-server)")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture()
def redis_url(tmp_path):
    port = free_port()
    process = subprocess.Popen([REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no", "--dir", str(tmp_path)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        from redis import Redis

        client = Redis(host="127.0.0.1", port=port)
        for _ in range(100):
            try:
                client.ping()
                break
            except Exception:  # noqa: BLE001 - not listening yet
                time.sleep(0.05)
        client.close()
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture()
def engagement_id(app, connection) -> int:
    """A scheduled engagement of one craftsman (孔建伟) on a matched demand whose window ends in 30 days; committed."""
    today = dt.datetime.now(dt.UTC).date()  # the views use the wall clock
    with app.app_context():
        session = db.session
        demand = make_demand(session, status="matched", window_end=today + dt.timedelta(days=30))
        engagement = make_engagement(session, demand, [make_craftsman(session, name="孔建伟")])
        session.commit()
        return engagement.id


def demo_with_rounds(session) -> None:
    """The demo pool and one round of each state the pages know: draft, solved, published."""
    seeding.load_demo(session, now=NOW)
    for name in ("crawl-draft", "crawl-solved", "crawl-published"):
        rnd = rounds.create_round(session, name=name, demand_filters={"region": "510000"},
                                  craftsman_filters={"region": "510000"}, config={}, default_capacity=None,
                                  actor="test", now=NOW)
        if name != "crawl-draft":
            rounds.solve_round(session, rnd, actor="test", now=NOW)
        if name == "crawl-published":
            rounds.publish_round(session, rnd, actor="test", now=NOW)


@pytest.fixture()
def demo_session(session):
    """The test's session after ``demo_with_rounds`` (committed into the test's transaction, rolled back after)."""
    demo_with_rounds(session)
    session.commit()
    return session
