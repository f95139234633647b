"""Many enterprises submit at once: every demand is stored with its own tracking code, none is lost.

Unlike the other tests this one COMMITS for real: a threaded werkzeug server on 127.0.0.1
serves an app on the test database (not the rolled-back fixture), and client threads fill in
the form as browsers do (GET the page for the CSRF token and the one-time key, then POST).
Some clients double-click (post the same form twice at once), several share one new
enterprise (it must be registered once). Everything created is deleted at the end.
PostgreSQL: 120 clients (8 inside the app at once, as production runs); SQLite (writes serialised by its lock): 30 clients.
"""

from __future__ import annotations

import http.cookiejar
import json
import random
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa
from werkzeug.serving import make_server

from tests import factories
from tests.conftest import make_test_app
from web.extensions import db
from web.models import AuditLog, Demand, DemandStatusEvent, Enterprise

CLIENTS = {"postgresql": 120, "sqlite": 30}
DOUBLE_CLICKERS = 10
PER_ENTERPRISE = 4
_TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
_KEY = re.compile(r'name="submission_key"[^>]*value="([^"]+)"')
_CODE = re.compile(r"/demand/submitted/([A-Z]{2}-\d{4}-[0-9A-Z]{6})")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_args, **_kwargs):
        return None


# Requests inside the app at once, as production's gunicorn allows (2 workers x 2 threads); the others wait their
# turn in the server, not for one of the pool's 15 connections, which gives up after 30 s (503) on a loaded machine.
IN_APP_AT_ONCE = 4


def _at_most(count: int, app):
    turns = threading.BoundedSemaphore(count)

    def bounded(environ, start_response):
        with turns:
            return list(app(environ, start_response))  # the body too, before the next request's turn

    return bounded


@pytest.fixture()
def live_url(database_url: str, engine: sa.Engine) -> Iterator[str]:
    app = make_test_app(database_url)
    server = make_server("127.0.0.1", 0, _at_most(IN_APP_AT_ONCE, app), threaded=True)
    server.request_queue_size = 256
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        with app.app_context():
            db.engine.dispose()  # close the pool's connections now, not at garbage collection


def _submit(base: str, data: dict, times: int) -> list[str]:
    """One browser: GET the form, then POST it ``times`` times at once (a double click). Returns the codes."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), _NoRedirect())
    page = opener.open(base + "/demand/new", timeout=120).read().decode()
    body = urllib.parse.urlencode({**data, "csrf_token": _TOKEN.search(page).group(1),
                                   "submission_key": _KEY.search(page).group(1)}, doseq=True).encode()

    def post() -> str:
        for attempt in range(3):
            try:
                response = opener.open(base + "/demand/new", data=body, timeout=120)
                raise AssertionError(f"expected a redirect, got {response.status}: {response.read()[:300]!r}")
            except urllib.error.HTTPError as answer:
                if answer.code == 303:
                    return _CODE.search(answer.headers["Location"]).group(1)
                text = answer.read().decode()
                messages = re.findall(r'class="(?:error|flash flash-error)"[^>]*>([^<]+)<', text)
                raise AssertionError(f"HTTP {answer.code}: {messages}") from None
            except (ConnectionError, urllib.error.URLError):  # a full listen queue: retry like a browser
                time.sleep(0.2 * (attempt + 1))
        raise AssertionError("the server did not answer")

    if times == 1:
        return [post()]
    with ThreadPoolExecutor(times) as pool:
        return list(pool.map(lambda _i: post(), range(times)))


def test_concurrent_submissions_each_get_one_demand_and_a_unique_code(database_url, engine, live_url):
    backend = "postgresql" if database_url.startswith("postgresql") else "sqlite"
    clients = CLIENTS[backend]
    base_number = random.randrange(10**9, 2 * 10**9)  # credit codes no other test uses
    credit_codes = [factories.valid_credit_code(base_number + n) for n in range(clients // PER_ENTERPRISE + 1)]
    forms = []
    for n in range(clients):
        forms.append({
            "enterprise_name": f"并发测试企业{base_number}-{n // PER_ENTERPRISE}",
            "credit_code": credit_codes[n // PER_ENTERPRISE], "region_code": "500112" if n % 2 else "510104",
            "industry_code": "sc.equipment", "contact_name": "并发测试", "contact_phone": f"139{n:08d}",
            "category_code": "tech_service", "title": f"并发提交的需求 {base_number}-{n}",
            "description": "同时提交的大量需求都应完整保存，每个需求一个追踪码。", "skills": ["weld"],
            "team_size": "1", "mode": "onsite", "urgency": "medium", "consent": "y",
        })
    barrier = threading.Barrier(clients)

    def client(n: int) -> list[str]:
        barrier.wait(timeout=120)
        return _submit(live_url, forms[n], 2 if n < DOUBLE_CLICKERS else 1)

    started = time.perf_counter()
    try:
        with ThreadPoolExecutor(clients) as pool:
            results = list(pool.map(client, range(clients)))
        elapsed = time.perf_counter() - started

        for codes in results[:DOUBLE_CLICKERS]:
            assert len(set(codes)) == 1, codes  # the double click answered with the same demand
        codes = [result[0] for result in results]
        assert len(set(codes)) == clients
        with engine.connect() as connection:
            stored = connection.execute(sa.select(Demand.tracking_code, Demand.title)
                                        .where(Demand.tracking_code.in_(codes))).all()
            enterprises = connection.scalar(sa.select(sa.func.count()).select_from(Enterprise)
                                            .where(Enterprise.credit_code.in_(credit_codes)))
            submitted = connection.scalar(sa.select(sa.func.count()).select_from(Demand)
                                          .where(Demand.title.like(f"并发提交的需求 {base_number}-%")))
        assert len(stored) == clients and submitted == clients  # a demand each, nothing lost, nothing doubled
        assert {title for _code, title in stored} == {form["title"] for form in forms}
        assert enterprises == len({form["credit_code"] for form in forms})
        print(f"\n{backend}: {clients} concurrent submissions (+{DOUBLE_CLICKERS} double clicks) in {elapsed:.1f} s")
    finally:
        _delete(engine, base_number, credit_codes)


def _delete(engine: sa.Engine, base_number: int, credit_codes: list[str]) -> None:
    with engine.begin() as connection:
        demand_ids = connection.scalars(sa.select(Demand.id).where(
            Demand.title.like(f"并发提交的需求 {base_number}-%"))).all()
        enterprise_ids = connection.scalars(sa.select(Enterprise.id).where(
            Enterprise.credit_code.in_(credit_codes))).all()
        connection.execute(sa.delete(AuditLog).where(sa.or_(
            sa.and_(AuditLog.entity_type == "demand", AuditLog.entity_id.in_(demand_ids)),
            sa.and_(AuditLog.entity_type == "enterprise", AuditLog.entity_id.in_(enterprise_ids)))))
        connection.execute(sa.delete(Demand).where(Demand.id.in_(demand_ids)))  # events, skills cascade
        connection.execute(sa.delete(Enterprise).where(Enterprise.id.in_(enterprise_ids)))


SAME_KEY_SENDERS = 8


def test_the_same_api_submission_sent_at_once_stores_one_demand_one_enterprise_one_history(database_url, engine,
                                                                                          live_url):
    """A client retrying at once (same one-time key, an enterprise not yet registered): every answer names the
    one demand stored; the enterprise, the status event and each audit entry exist once."""
    number = random.randrange(10**9, 2 * 10**9)
    credit_code = factories.valid_credit_code(number)
    body = json.dumps({
        "enterprise_name": f"并发测试企业{number}", "credit_code": credit_code, "region_code": "510104",
        "industry_code": "sc.equipment", "contact_name": "并发测试", "contact_phone": "13900000001",
        "category_code": "tech_service", "title": f"并发提交的需求 {number}-0",
        "description": "同一个请求同时发出多次，只保存一次。", "skills": ["weld"], "consent": True,
        "submission_key": f"same-key-{number}",
    }).encode()
    barrier = threading.Barrier(SAME_KEY_SENDERS)

    def post(_n: int) -> str:
        request = urllib.request.Request(live_url + "/api/v1/demands", data=body,
                                         headers={"Content-Type": "application/json"})
        barrier.wait(timeout=60)
        with urllib.request.urlopen(request, timeout=120) as response:
            assert response.status == 201
            return json.loads(response.read())["tracking_code"]

    try:
        with ThreadPoolExecutor(SAME_KEY_SENDERS) as pool:
            codes = set(pool.map(post, range(SAME_KEY_SENDERS)))
        assert len(codes) == 1, codes
        with engine.connect() as connection:
            demand_ids = connection.scalars(sa.select(Demand.id).where(Demand.submission_key == f"same-key-{number}")
                                            ).all()
            enterprise_ids = connection.scalars(sa.select(Enterprise.id).where(Enterprise.credit_code == credit_code)
                                                ).all()
            assert len(demand_ids) == 1 and len(enterprise_ids) == 1
            events = connection.scalar(sa.select(sa.func.count()).select_from(DemandStatusEvent)
                                       .where(DemandStatusEvent.demand_id == demand_ids[0]))
            entries = connection.execute(sa.select(AuditLog.action).where(sa.or_(
                sa.and_(AuditLog.entity_type == "demand", AuditLog.entity_id == demand_ids[0]),
                sa.and_(AuditLog.entity_type == "enterprise", AuditLog.entity_id == enterprise_ids[0])))).scalars()
            assert events == 1 and sorted(entries) == ["demand.submit", "enterprise.create"]
    finally:
        _delete(engine, number, [credit_code])
