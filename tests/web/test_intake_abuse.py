"""Rate limits per IP on the public submission and lookup: a friendly 429 that keeps what was typed.

The shared test app runs without limits; this module builds its own app with limits on (and
puts Flask-Limiter's process-wide ``enabled`` flag back afterwards, so other tests are unaffected).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask import Flask
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.browser import Browser
from tests.conftest import make_test_app
from tests.web.test_intake_service import valid_demand_data
from web.errors import CONTROL_CHARACTERS
from web.extensions import db, limiter
from web.models import Demand


@pytest.fixture()
def limited_app(database_url: str, connection: sa.Connection) -> Iterator[Flask]:
    previous = limiter.enabled
    app = make_test_app(database_url, RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI="memory://",
                        PUBLIC_SUBMIT_LIMIT="2 per minute", PUBLIC_LOOKUP_LIMIT="3 per minute")
    db.bind_to(app, connection)
    limiter.reset()
    try:
        yield app
    finally:
        limiter.reset()
        limiter.enabled = previous
        db.bind_to(app, None)


def count(app: Flask, title: str) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(Demand).where(Demand.title == title))


def test_submission_limit_gives_a_friendly_429_that_keeps_the_input(limited_app):
    browser = Browser(limited_app.test_client())
    for n in range(2):
        assert browser.submit("/demand/new", valid_demand_data(title=f"限流测试需求{n}")).status_code == 303
    blocked = browser.submit("/demand/new?lang=en", valid_demand_data(title="被限流时填写的标题"),
                             form_url="/demand/new?lang=en")
    page = blocked.get_data(as_text=True)
    assert blocked.status_code == 429
    assert "Too many requests" in page and "被限流时填写的标题" in page and 'name="csrf_token"' in page
    assert count(limited_app, "被限流时填写的标题") == 0
    assert browser.get("/demand/new").status_code == 200  # reading the form is never limited


def test_limited_answer_keeps_what_was_typed(limited_app):
    from web.services import demands as service

    browser = Browser(limited_app.test_client())
    created = browser.submit("/demand/new", valid_demand_data(title="限流答复测试"))
    code = created.headers["Location"].rsplit("/", 1)[-1]
    with limited_app.test_request_context("/"):
        demand = db.session.scalar(sa.select(Demand).where(Demand.tracking_code == code))
        service.request_info(db.session, demand, {"text": "请补充设备型号。"}, actor="test", now=demand.submitted_at)
        db.session.commit()
    status_url = f"/demand/status/{code}"
    for _ in range(2):
        assert browser.submit(f"{status_url}/answer", {"answer": ""}, form_url=status_url).status_code == 422
    blocked = browser.submit(f"{status_url}/answer", {"answer": "设备型号是 XK-2026。"}, form_url=status_url)
    assert blocked.status_code == 429 and "设备型号是 XK-2026。" in blocked.get_data(as_text=True)


def test_lookup_limit(limited_app):
    browser = Browser(limited_app.test_client())
    for _ in range(3):
        response = browser.submit("/demand/track", {"tracking_code": "SC-2026-ZZZZZZ", "last4": "1234"})
        assert response.status_code == 200
    blocked = browser.submit("/demand/track", {"tracking_code": "SC-2026-ZZZZZZ", "last4": "1234"})
    assert blocked.status_code == 429
    assert 'name="tracking_code"' in blocked.get_data(as_text=True)


def test_the_shared_test_app_is_not_limited(browser):
    for _ in range(4):
        assert browser.submit("/demand/track", {"tracking_code": "SC-2026-ZZZZZZ", "last4": "1234"}).status_code == 200


# --- bad input of every kind: a message, never a 500 --------------------------------------------

NASTY = st.sampled_from([
    "", " ", "\x00", "a\x00b", "<script>alert(1)</script>", "' OR 1=1 --", "%", "_", "\\", "²", "１２", "🙂" * 50,
    "长" * 5000, "510104\x00", "weld.argon_arc<", "9" * 40, "-1", "1e309", "true", "null", "\u202e", "\r\n",
])
TEXT = st.one_of(NASTY, st.text(max_size=60))
FORM_FIELDS = ["enterprise_name", "credit_code", "enterprise_type", "region_code", "industry_code", "contact_name",
               "contact_phone", "category_code", "title", "description", "skills", "other_skills", "team_size",
               "mode", "address", "window_start", "window_end", "urgency", "consent", "submission_key"]
FUZZ = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(changes=st.dictionaries(st.sampled_from(FORM_FIELDS), st.one_of(TEXT, st.lists(TEXT, max_size=3)),
                               min_size=1, max_size=5))
def test_form_never_fails_with_a_500(app, browser, changes):
    token = browser.csrf_token("/demand/new")
    response = browser.client.post("/demand/new", data={**valid_demand_data(), **changes, "csrf_token": token})
    assert response.status_code in (303, 400, 413, 422), (changes, response.status_code)


@FUZZ
@given(body=st.dictionaries(st.sampled_from([*FORM_FIELDS, "unknown"]),
                            st.one_of(TEXT, st.integers(), st.floats(), st.booleans(), st.none(),
                                      st.lists(TEXT, max_size=2), st.dictionaries(TEXT, TEXT, max_size=2)),
                            max_size=6))
@example(body={"region_code": "_"})  # once answered 400 (unknown region), not 422
def test_api_never_fails_with_a_500(app, connection, body):
    response = app.test_client().post("/api/v1/demands", json={**valid_demand_data(consent=True), **body})
    assert response.status_code in (201, 422), (body, response.status_code, response.get_json())


@FUZZ
@given(query=st.dictionaries(st.sampled_from(["q", "status", "category", "region", "industry", "urgency", "from",
                                              "to", "page", "ageing"]), TEXT, max_size=5))
def test_inbox_filters_never_fail_with_a_500(coordinator_browser, query):
    response = coordinator_browser.get("/workspace/demands/", query_string=query)
    # unusable filter values are ignored; only control characters (e.g. NUL) refuse the request, with a 400
    expected = 400 if any(CONTROL_CHARACTERS.search(key + value) for key, value in query.items()) else 200
    assert response.status_code == expected, (query, response.status_code)


@FUZZ
@given(code=TEXT, digits=TEXT)
def test_lookup_never_fails_with_a_500(browser, code, digits):
    response = browser.submit("/demand/track", {"tracking_code": code, "last4": digits})
    assert response.status_code == (400 if CONTROL_CHARACTERS.search(code + digits) else 200)


def test_reading_pages_costs_the_limiter_no_storage_trip(limited_app, monkeypatch):
    trips: list[str] = []
    storage = limiter.storage
    for name in ("incr", "get", "get_expiry", "get_moving_window", "acquire_entry", "get_sliding_window",
                 "acquire_sliding_window_entry", "check"):
        if hasattr(storage, name):
            original = getattr(storage, name)
            monkeypatch.setattr(storage, name, lambda *a, _name=name, _original=original, **k: (
                trips.append(_name), _original(*a, **k))[1])
    browser = Browser(limited_app.test_client())
    for path in ("/demand/new", "/demand/track", "/"):
        assert browser.get(path).status_code == 200
    assert trips == []
    assert browser.submit("/demand/new", valid_demand_data(title="计数的提交")).status_code == 303
    assert trips  # a submission is counted
