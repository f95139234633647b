"""Security headers: a CSP without inline code, no framing, nosniff, a referrer policy, HSTS in production only,
``no-store`` on everything dynamic (personal data, CSRF tokens), and no inline script or style in any page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.browser import Browser
from tests.conftest import NOW, TEST_PASSWORD, make_test_app
from tests.factories import make_craftsman
from tests.web import test_page_crawl as crawl
from web.extensions import db
from web.services import rounds

TEMPLATES = Path(__file__).resolve().parents[2] / "web" / "templates"
# what a CSP without 'unsafe-inline' blocks: a <script> with code, <style>, style="", onclick=""…, javascript: URLs
INLINE_CODE = re.compile(r"<script(?![^>]*\b(?:src=|type=\"application/json\"))[^>]*>|<style\b|\sstyle=|"
                         r"[\s(,]on[a-z]+\s*=|javascript:", re.IGNORECASE)


def _csp(response) -> dict[str, str]:
    policy = response.headers["Content-Security-Policy"]
    return dict(part.strip().partition(" ")[::2] for part in policy.split(";") if part.strip())


def _assert_common_headers(response) -> None:
    csp = _csp(response)
    for directive in ("default-src", "script-src", "style-src"):
        assert csp[directive] == "'self'", (directive, csp)
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
    assert csp["frame-ancestors"] == "'none'" and csp["object-src"] == "'none'"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert "Strict-Transport-Security" not in response.headers  # development: no HSTS


def test_public_page_headers(browser):
    response = browser.get("/")
    assert response.status_code == 200
    _assert_common_headers(response)
    assert response.headers["Cache-Control"] == "no-store"


def test_static_files_stay_cacheable(browser):
    response = browser.get("/static/css/app.css")
    response.close()  # a file response: close it, as a server does
    assert response.status_code == 200
    assert "no-store" not in response.headers.get("Cache-Control", "")
    _assert_common_headers(response)


def test_the_public_demand_form_refuses_to_be_framed(browser):
    response = browser.get("/demand/new")
    assert response.status_code == 200
    _assert_common_headers(response)
    assert response.headers["Cache-Control"] == "no-store"  # it carries a session-bound CSRF token


def test_workspace_pages_and_login_are_not_stored(browser, make_user):
    login = browser.get("/auth/login")
    assert login.status_code == 200 and login.headers["Cache-Control"] == "no-store"
    make_user("headers_user", "coordinator")
    assert browser.login("headers_user", TEST_PASSWORD).status_code == 302
    for url in ("/workspace/", "/workspace/craftsmen/", "/workspace/demands/", "/workspace/reports/"):
        response = browser.get(url)
        assert response.status_code == 200, url
        _assert_common_headers(response)
        assert response.headers["Cache-Control"] == "no-store", url


def test_exports_with_personal_data_are_not_stored(coordinator_browser, session):
    make_craftsman(session, name="导出测试")
    session.commit()
    for url in ("/workspace/craftsmen/export.xlsx", "/workspace/outcomes/export.xlsx", "/workspace/rounds/outbox.xlsx"):
        response = coordinator_browser.get(url)
        assert response.status_code == 200, url
        assert response.mimetype.endswith("spreadsheetml.sheet"), url
        assert response.headers["Cache-Control"] == "no-store", url
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_the_public_status_page_of_a_demand_is_not_stored(browser, session):
    from tests.factories import make_demand

    demand = make_demand(session)
    session.commit()
    found = browser.submit("/demand/track", {"tracking_code": demand.tracking_code,
                                             "last4": demand.contact_phone[-4:]}, follow_redirects=True)
    assert found.status_code == 200 and demand.tracking_code in found.get_data(as_text=True)
    assert found.headers["Cache-Control"] == "no-store"
    api = browser.client.post("/api/v1/demands/status", json={"tracking_code": demand.tracking_code,
                                                              "last4": demand.contact_phone[-4:]})
    assert api.status_code == 200 and api.headers["Cache-Control"] == "no-store"


@pytest.fixture()
def production_app(database_url, connection):
    app = make_test_app(database_url, ENV="production", HSTS_ENABLED=None)
    db.bind_to(app, connection)
    return app


def test_hsts_in_production_over_https_only(production_app):
    client = production_app.test_client()
    behind_proxy = client.get("/healthz", headers={"X-Forwarded-Proto": "https"})
    assert behind_proxy.status_code == 200
    max_age = behind_proxy.headers["Strict-Transport-Security"].removeprefix("max-age=")
    assert int(max_age) >= 365 * 24 * 3600
    direct = client.get("/healthz", base_url="https://craftmatch.example")
    assert "Strict-Transport-Security" in direct.headers
    plain = client.get("/healthz")  # plain http (the proxy's health check): no redirect, no HSTS
    assert plain.status_code == 200 and "Strict-Transport-Security" not in plain.headers


def test_no_hsts_outside_production(app, connection):
    response = app.test_client().get("/healthz", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in response.headers


def test_production_keeps_secure_cookies(production_app):
    assert production_app.config["SESSION_COOKIE_SECURE"] is True
    assert production_app.config["SESSION_COOKIE_HTTPONLY"] is True


def test_no_template_holds_inline_script_style_or_handlers():
    offenders = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if INLINE_CODE.search(line):
                offenders.append(f"{path.relative_to(TEMPLATES)}:{number}: {line.strip()[:100]}")
    assert offenders == []


@pytest.mark.parametrize("role", ["admin"])
def test_no_rendered_page_holds_inline_script_or_style(app, connection, demo_session, make_user, session, role):
    # charts, the progress bar of a solving round and every other page as rendered, with the demo data
    solving = rounds.create_round(session, name="crawl-solving", demand_filters={"region": "500000"},
                                  craftsman_filters={"region": "500000"}, config={}, default_capacity=None,
                                  actor="test", now=NOW)
    solving.status = "solving"
    session.commit()
    browser = Browser(app.test_client())
    make_user("inline_checker", role)
    assert browser.login("inline_checker", TEST_PASSWORD).status_code == 302
    offenders, pages = [], 0
    for url in dict.fromkeys(crawl._urls(app, demo_session)):
        if "?" in url:
            continue
        response = browser.get(url)
        if response.mimetype != "text/html":
            continue
        pages += 1
        for match in INLINE_CODE.finditer(response.get_data(as_text=True)):
            offenders.append(f"{url}: {match.group(0)}")
    assert pages > 40
    assert offenders == []
