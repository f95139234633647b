"""The public form is light: reference data cached per process, the region list sent once (the cascading
picker is built from the plain <select>'s options)."""

from __future__ import annotations

import html
import json
import re

import pytest
import sqlalchemy as sa

from tests import factories
from tests.web.test_intake_service import valid_demand_data
from web.models import Skill
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
