"""Shared e2e fixtures: a live server on 127.0.0.1 and Debian's Chromium driven by Playwright.

- ``live_server`` (session): a fresh migrated SQLite file with the reference and demo seeds
  and the demo logins (``demo`` / ``gongjiang-2026`` coordinator, ``viewer`` / same password),
  served by werkzeug's ``make_server`` (threaded) on a free port in a background thread.
  ``live_server.url`` is the base URL, ``live_server.app`` the Flask app (use
  ``live_server.session()`` to read or prepare data; commit what the server must see).
- ``page`` (function): a fresh Playwright page (its own browser context: no cookies shared
  between tests) in a headless Chromium launched once per session with a fresh user-data dir.
- ``staff_page`` (function): a ``page`` already logged in as the demo coordinator.

Every test here is skipped with a clear reason when /usr/bin/chromium is missing.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session
from werkzeug.serving import BaseWSGIServer, make_server

from tests.conftest import NOW, make_test_app
from web import migrate
from web.db import make_engine
from web.extensions import db
from web.services import seeding

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
DEMO_USER = "demo"
DEMO_PASSWORD = seeding.DEMO_PASSWORD
DESKTOP_VIEWPORT = {"width": 1280, "height": 900}
PHONE_VIEWPORT = {"width": 375, "height": 812}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.e2e)
            if not CHROMIUM.exists():
                item.add_marker(pytest.mark.skip(
                    reason="e2e: /usr/bin/chromium is missing (install Debian's chromium package, as .ci/run does)"))


@dataclass
class LiveServer:
    url: str
    app: Flask
    database_url: str
    engine: sa.Engine

    def session(self) -> Session:
        """A new session on the live database (the caller commits and closes it; ``with`` does both)."""
        return Session(bind=self.engine, expire_on_commit=False)

    def get_url(self, path: str) -> str:
        return self.url + path


def _seed(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        with Session(bind=engine) as session:
            seeding.ensure_demo_users(session, now=NOW, production=False)
            seeding.load_demo(session, now=NOW)
            session.commit()
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    database_url = f"sqlite:///{tmp_path_factory.mktemp('live') / 'live.sqlite'}"
    migrate.upgrade(database_url)
    _seed(database_url)
    overrides = {}
    if os.environ.get("CRAFTMATCH_E2E_TRANSLATIONS"):  # e.g. a freshly built catalog for screenshots
        overrides["BABEL_TRANSLATION_DIRECTORIES"] = os.environ["CRAFTMATCH_E2E_TRANSLATIONS"]
    app = make_test_app(database_url, **overrides)
    server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    engine = make_engine(database_url)
    try:
        yield LiveServer(url=f"http://127.0.0.1:{server.server_port}", app=app, database_url=database_url,
                         engine=engine)
    finally:
        engine.dispose()
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        with app.app_context():
            db.engine.dispose()  # close the pool's connections now, not at garbage collection


@pytest.fixture(scope="session")
def chromium() -> Iterator:
    """One headless Chromium per test session (Playwright gives each launch a fresh temporary profile)."""
    if not CHROMIUM.exists():
        pytest.skip("e2e: /usr/bin/chromium is missing (install Debian's chromium package, as .ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture()
def page(chromium, live_server: LiveServer) -> Iterator:
    """A fresh page in its own context (no shared cookies), Chinese locale, desktop viewport."""
    context = chromium.new_context(base_url=live_server.url, locale="zh-CN", viewport=DESKTOP_VIEWPORT)
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        yield page
    finally:
        with contextlib.suppress(Exception):
            context.close()


def login(page, username: str = DEMO_USER, password: str = DEMO_PASSWORD) -> None:
    """Log in through the real login form."""
    page.goto("/auth/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("form [type=submit]")
    page.wait_for_load_state()


@pytest.fixture()
def staff_page(page) -> object:
    login(page)
    return page


def screenshots_target(environ: Mapping[str, str], scratch: Callable[[], Path]) -> Path:
    """``CRAFTMATCH_SCREENSHOTS_DIR`` (relative to the repository, or absolute) when set, else ``scratch()``."""
    configured = environ.get("CRAFTMATCH_SCREENSHOTS_DIR", "").strip()
    target = REPO_ROOT / configured if configured else scratch()
    target.mkdir(parents=True, exist_ok=True)
    return target


@pytest.fixture(scope="session")
def screenshots_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A temporary folder, so that a test run leaves the git tree clean.

    To refresh the documentation's screenshots: ``CRAFTMATCH_SCREENSHOTS_DIR=docs/screenshots make test-e2e``.
    """
    return screenshots_target(os.environ, lambda: tmp_path_factory.mktemp("screenshots"))


def create_round(page, name: str, demand_region: str, craftsman_region: str) -> int:
    """Create a round through the new-round form; its id."""
    page.goto("/workspace/rounds/new")
    page.fill("input[name=name]", name)
    page.select_option("select[name=demand_region]", demand_region)
    page.select_option("select[name=craftsman_region]", craftsman_region)
    with page.expect_navigation():
        page.click("#round-form [type=submit]")
    match = re.search(r"/workspace/rounds/(\d+)$", page.url)
    assert match, page.url
    return int(match.group(1))


def fill_staff_demand(page, *, enterprise: str, category: str, title: str, description: str, contact: str,
                      regions: tuple[str, ...]) -> None:
    """Open the staff intake form and type the enterprise, the need and its place (the cascading picker)."""
    from tests.factories import valid_credit_code, valid_mobile

    page.goto("/workspace/intake/new")
    page.fill("input[name=enterprise_name]", enterprise)
    page.fill("input[name=credit_code]", valid_credit_code())
    page.select_option("select[name=industry_code]", "sc.equipment")
    page.select_option("select[name=category_code]", category)
    page.fill("input[name=title]", title)
    page.fill("textarea[name=description]", description)
    page.fill("input[name=contact_name]", contact)
    page.fill("input[name=contact_phone]", valid_mobile())
    for level, code in enumerate(regions):
        page.select_option(f"#region_level_{level}", code)
