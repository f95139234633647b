"""The public form is light: reference data cached per process, the region list sent once (the cascading
picker is built from the plain <select>'s options)."""

from __future__ import annotations

import gzip
import html
import json
import re

import pytest
import sqlalchemy as sa
from flask import template_rendered

from tests import factories
from tests.browser import Browser
from tests.web.test_intake_service import valid_demand_data
from web.models import Demand, Skill
from web.services import reference, seeding

NEW = "/demand/new"


@pytest.fixture()
def cached_app(app):
    """The app with the production cache (the tests' default reads reference data on every request)."""
    app.config["REFERENCE_CACHE_SECONDS"] = 3600
    reference.invalidate()
    yield app
    reference.invalidate()  # the next test's rolled-back data must not meet this one's cache
    del app.config["REFERENCE_CACHE_SECONDS"]


def _statements(connection: sa.Connection, action) -> list[str]:
    """The SQL sent while ``action`` runs (the app's session is bound to the test's connection)."""
    seen: list[str] = []

    def record(_connection, _cursor, statement, *_args) -> None:
        seen.append(statement)

    sa.event.listen(connection, "before_cursor_execute", record)
    try:
        action()
    finally:
        sa.event.remove(connection, "before_cursor_execute", record)
    return seen


def test_the_region_list_is_sent_once_and_carries_what_the_cascade_needs(browser):
    page = browser.text(NEW)
    assert page.count('value="510104"') == 1 and "/demand/regions/" not in page  # no second copy, no JSON
    assert '<option value="510104" data-p="510100">' in page  # a Chengdu district names its prefecture
    # the prefecture's option reads "(whole city)" and names itself for the cascade; the provinces come along
    assert re.search(r'<option value="510100" data-p="510000" data-n="成都市">', page)
    provinces = json.loads(html.unescape(re.search(r"data-provinces='([^']+)'", page).group(1)))
    assert ["510000", "四川省"] in provinces and ["500000", "重庆市"] in provinces


def test_the_form_is_small_and_sent_compressed(browser):
    # the no-JS region <select> (each option naming its parent) and the skill checkboxes
    assert len(browser.get(NEW).data) < 70_000
    for encoding in ("gzip", "br"):
        response = browser.get(NEW, headers={"Accept-Encoding": encoding})
        assert response.headers["Content-Encoding"] == encoding and "Accept-Encoding" in response.headers["Vary"]
        assert len(response.data) < 14_000, encoding


def test_a_warm_form_page_reads_no_reference_table(cached_app, browser, connection):
    cold = _statements(connection, lambda: browser.get(NEW))
    assert any(re.search(r"\bFROM skill\b", s) for s in cold)  # the first request fills the cache
    warm = _statements(connection, lambda: browser.get(NEW))
    assert [s for s in warm if s.lstrip().upper().startswith("SELECT")] == [], warm


def test_the_cache_notices_new_reference_rows_and_seeding_invalidates_it(cached_app, browser, session):
    browser.get(NEW)
    session.add(Skill(code="speedtest.new_skill", name_zh="新增技能测速", name_en="A new skill"))
    session.flush()
    assert "speedtest.new_skill" not in browser.text(NEW)  # trusted for REFERENCE_CACHE_SECONDS
    cached_app.config["REFERENCE_CACHE_SECONDS"] = 0  # checked on every request: the fingerprint changed
    assert "speedtest.new_skill" in browser.text(NEW)

    cached_app.config["REFERENCE_CACHE_SECONDS"] = 3600
    session.add(Skill(code="speedtest.seeded_skill", name_zh="播种技能测速", name_en="A seeded skill"))
    session.flush()
    assert "speedtest.seeded_skill" not in browser.text(NEW)
    seeding.load_reference(session)  # adds nothing here, but a seeding run always drops the cache
    assert "speedtest.seeded_skill" in browser.text(NEW)


def test_a_new_region_appears_in_the_list(cached_app, browser, session):
    cached_app.config["REFERENCE_CACHE_SECONDS"] = 0
    parent = factories.region(session, "510100")
    session.add(type(parent)(code="510199", name="测速新区", level="county", parent_id=parent.id, province_code="51"))
    session.flush()
    assert '<option value="510199" data-p="510100">' in browser.text(NEW)


def _without_tokens(page: str) -> str:
    return re.sub(r'value="[^"]{20,}"', 'value="…"', page)


def test_the_cached_fresh_form_is_the_form_rendered_live(app, browser):
    for query in ("", "?lang=en", "?lang=zh_CN"):
        live = _without_tokens(browser.text(NEW + query))  # the tests' default: nothing cached
        app.config["REFERENCE_CACHE_SECONDS"] = 3600
        try:
            browser.text(NEW + query)
            assert _without_tokens(browser.text(NEW + query)) == live
        finally:
            del app.config["REFERENCE_CACHE_SECONDS"]
            reference.invalidate()


def test_a_form_sent_back_with_an_error_keeps_what_was_typed_and_chosen(cached_app, browser):
    browser.get(NEW)  # the fresh form is cached now
    data = valid_demand_data(region_code="510104", skills=["weld.argon_arc"], title="")
    response = browser.submit(NEW, data)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert '<option value="510104" data-p="510100" selected>' in page
    assert re.search(r'value="weld\.argon_arc" checked', page)
    assert data["description"] in page


_TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
_KEY = re.compile(r'name="submission_key" type="hidden" value="([^"]+)"')


def test_a_warm_form_page_renders_no_template_and_gives_each_visitor_its_own_token_and_key(cached_app, browser):
    browser.get(NEW)  # the first visitor's page fills the cache
    rendered: list[str] = []
    with template_rendered.connected_to(lambda _app, template, context: rendered.append(template.name), cached_app):
        pages = [browser.text(NEW), Browser(cached_app.test_client()).text(NEW)]
    assert rendered == []
    assert len({_TOKEN.search(page).group(1) for page in pages}) == 2
    assert len({_KEY.search(page).group(1) for page in pages}) == 2
    assert _without_tokens(pages[0]) == _without_tokens(pages[1])


def test_a_form_from_the_warm_page_is_accepted_and_stored_once(cached_app, browser, session):
    browser.get(NEW)
    page = browser.text(NEW)
    data = valid_demand_data(title="从缓存页面提交的需求", csrf_token=html.unescape(_TOKEN.search(page).group(1)),
                             submission_key=_KEY.search(page).group(1))
    assert browser.client.post(NEW, data=data).status_code == 303
    assert browser.client.post(NEW, data=data).status_code == 303  # sent twice: the one-time key holds
    assert session.scalar(sa.select(sa.func.count()).select_from(Demand)
                          .where(Demand.title == "从缓存页面提交的需求")) == 1


def test_the_warm_page_is_served_gzip_compressed_once(cached_app, browser):
    browser.get(NEW)
    plain = browser.text(NEW)
    response = browser.get(NEW, headers={"Accept-Encoding": "gzip, deflate, br, zstd"})
    assert response.headers["Content-Encoding"] == "gzip" and "Accept-Encoding" in response.headers["Vary"]
    assert len(response.data) < 14_000 and int(response.headers["Content-Length"]) == len(response.data)
    assert response.headers["Cache-Control"] == "no-store" and "Content-Security-Policy" in response.headers
    assert _without_tokens(gzip.decompress(response.data).decode()) == _without_tokens(plain)
    for encoding in ("br", "identity"):  # a client that takes no gzip gets what Flask-Compress gives it
        other = browser.get(NEW, headers={"Accept-Encoding": encoding})
        assert other.headers.get("Content-Encoding") == (None if encoding == "identity" else encoding)


def test_a_logged_in_user_a_message_or_a_query_gets_the_page_rendered_live(cached_app, browser, coordinator_browser):
    Browser(cached_app.test_client()).get(NEW)  # a visitor's page is cached
    assert "/auth/logout" in coordinator_browser.text(NEW)  # the header of a logged-in coordinator
    with browser.client.session_transaction() as visitor_session:
        visitor_session["_flashes"] = [("info", "A message for this visitor only")]
    assert "A message for this visitor only" in browser.text(NEW)
    assert "A message for this visitor only" not in browser.text(NEW)  # shown once
    assert "Submit a demand" in browser.text(NEW + "?lang=en")
    assert "Submit a demand" in browser.text(NEW)  # the English page, remembered, comes from the cache too


_REFERENCE_TABLE = re.compile(r"\bFROM (region|industry|skill|demand_category)\b")


def _writes_and_reads(statements: list[str]) -> list[str]:
    """The statements' verbs and tables, e.g. ``INSERT demand``, ``SELECT enterprise`` (savepoints left out)."""
    found = []
    for statement in statements:
        words = statement.split()
        verb = words[0].upper()
        if verb in ("INSERT", "UPDATE", "DELETE"):
            found.append(f"{verb} {words[2] if verb != 'UPDATE' else words[1]}")
        elif verb == "SELECT":
            found.append("SELECT " + re.search(r"\bFROM (\w+)", statement).group(1))
    return found


def test_a_warm_api_submission_reads_no_reference_table_and_writes_each_row_once(cached_app, connection):
    client = cached_app.test_client()
    enterprise = valid_demand_data(skills=["weld"])
    enterprise["consent"] = True
    assert client.post("/api/v1/demands", json=enterprise).status_code == 201  # fills the cache; registers
    data = {**valid_demand_data(skills=["weld"], submission_key="api-speed-0123456789abcdef"),
            "credit_code": enterprise["credit_code"], "consent": True}
    statements = _statements(connection, lambda: client.post("/api/v1/demands", json=data))
    assert not any(_REFERENCE_TABLE.search(s) for s in statements), statements
    sqlite_lock = ["UPDATE demand"] if connection.dialect.name == "sqlite" else []  # demands._take_write_lock
    assert _writes_and_reads(statements) == sqlite_lock + [  # the known enterprise by its credit code, the rows
        "SELECT enterprise", "INSERT demand", "INSERT demand_industry", "INSERT demand_skill",
        "INSERT demand_status_event", "INSERT audit_log"]
    again = _statements(connection, lambda: client.post("/api/v1/demands", json=data))  # the same key: the same demand
    # the insert meets the key (its savepoint is rolled back) and the first demand is read (then its roles)
    assert _writes_and_reads(again)[len(sqlite_lock):][:3] == ["SELECT enterprise", "INSERT demand", "SELECT demand"]


def test_a_warm_form_submission_reads_no_reference_table(cached_app, browser, connection, session):
    browser.get(NEW)
    data = valid_demand_data(title="缓存参照数据的表单提交")
    statements = _statements(connection, lambda: browser.submit(NEW, data))
    assert not any(_REFERENCE_TABLE.search(s) for s in statements), statements
    assert "INSERT enterprise" in _writes_and_reads(statements)
    demand = session.scalar(sa.select(Demand).where(Demand.title == "缓存参照数据的表单提交"))
    assert demand.region.code == data["region_code"] and demand.category.code == data["category_code"]


def test_a_code_added_after_the_cache_was_filled_is_accepted(cached_app, browser, session):
    browser.get(NEW)  # the cache is filled, and trusted for an hour
    parent = factories.region(session, "510100")
    session.add(type(parent)(code="510198", name="测速新区二", level="county", parent_id=parent.id,
                             province_code="51"))
    session.flush()
    client = cached_app.test_client()
    data = {**valid_demand_data(region_code="510198", title="新区的需求"), "consent": True}
    created = client.post("/api/v1/demands", json=data)
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["tracking_code"].startswith("SC-2026-")
    demand = session.scalar(sa.select(Demand).where(Demand.title == "新区的需求"))
    assert demand.region.code == "510198"
