"""Shared fixtures: one migrated database per backend per run, each test inside a rolled-back transaction."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest
import sqlalchemy as sa
from flask import Flask
from hypothesis import settings
from sqlalchemy.orm import Session

from tests.browser import Browser
from tests.databases import backends, postgres_url, throwaway_postgres_database
from web import create_app, migrate
from web.db import make_engine
from web.extensions import db
from web.services import seeding

NOW = dt.datetime(2026, 11, 23, 9, 0, 0)
T = TypeVar("T")
TEST_PASSWORD = "correct-horse-battery"

# Property tests (hypothesis, schemathesis) explore new examples on a developer's machine and replay the ones
# that failed there (the example database in .hypothesis/); CI runs them derandomized, so a run is reproducible
# and fails only on a real change. A failure found anywhere is printed with its @reproduce_failure blob and
# is then kept in the test as an explicit @example. HYPOTHESIS_PROFILE picks a profile by name.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True, deadline=None)
settings.register_profile("dev", print_blob=True, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))


@pytest.fixture(scope="session", params=backends())
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite'}"
        return
    with throwaway_postgres_database(postgres_url()) as url:
        yield url


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[sa.Engine]:
    migrate.upgrade(database_url)
    engine = make_engine(database_url)
    with Session(bind=engine) as session:  # reference data is shared by every test; never rolled back
        seeding.load_reference(session)
        session.commit()
    yield engine
    engine.dispose()


def make_test_app(database_url: str, **overrides) -> Flask:
    config = {"DATABASE_URL": database_url, "TESTING": True, "RATELIMIT_ENABLED": False,
              "SECRET_KEY": "test-secret-key-that-is-long-enough-0123456789",
              "PASSWORD_HASH_PROFILE": "CHEAPEST"}  # a login costs 0.2 ms, not 0.2 s (test_password_hashing.py)
    config.update(overrides)
    if config.get("ENV") == "production" and "PASSWORD_HASH_PROFILE" not in overrides:
        del config["PASSWORD_HASH_PROFILE"]  # production refuses the cheap one: its own default
    return create_app(config)


@pytest.fixture(scope="session")
def app(database_url: str, engine: sa.Engine) -> Flask:
    """The app the browser talks to: each request gets its own app context, as in production."""
    return make_test_app(database_url)


@pytest.fixture(scope="session")
def service_app(database_url: str, engine: sa.Engine) -> Flask:
    """A second instance for the test's own ``session``: its app context (``g``) never leaks into requests."""
    return make_test_app(database_url)


@contextlib.contextmanager
def _rolled_back(engine: sa.Engine, *apps: Flask) -> Iterator[sa.Connection]:
    with engine.connect() as connection:
        transaction = connection.begin()
        for app in apps:
            db.bind_to(app, connection)
        try:
            yield connection
        finally:
            for app in apps:
                db.bind_to(app, None)
            transaction.rollback()


@pytest.fixture()
def connection(app: Flask, service_app: Flask, engine: sa.Engine) -> Iterator[sa.Connection]:
    """A connection in an outer transaction; every session of the test joins it and it is rolled back."""
    with _rolled_back(engine, app, service_app) as connection:
        yield connection


def seeded_once(prepare: Callable[[Session], T]) -> tuple[Callable, Callable]:
    """For a module whose tests all start from one large data set: ``prepare(session)`` runs once per backend, in
    an outer transaction kept for the module, and each test runs in a savepoint of it, rolled back afterwards.
    In the module: ``seeded_transaction, seeded_data, connection = seeded_once(prepare)``: ``seeded_data`` is what
    ``prepare`` returned, and ``connection`` replaces the per-test one, so ``session`` and ``browser`` see the
    data."""

    @pytest.fixture(scope="module")
    def seeded_transaction(app: Flask, service_app: Flask, engine: sa.Engine) -> Iterator[tuple[sa.Connection, T]]:
        with _rolled_back(engine, app, service_app) as connection, service_app.test_request_context():
            result = prepare(db.session)
            db.session.commit()  # the session's savepoint; the outer transaction stays open for the module
            yield connection, result

    @pytest.fixture()
    def connection(seeded_transaction: tuple[sa.Connection, T]) -> Iterator[sa.Connection]:
        shared = seeded_transaction[0]
        savepoint = shared.begin_nested()
        try:
            yield shared
        finally:
            savepoint.rollback()

    @pytest.fixture()
    def seeded_data(seeded_transaction: tuple[sa.Connection, T]) -> T:
        return seeded_transaction[1]

    return seeded_transaction, seeded_data, connection


@pytest.fixture()
def session(service_app: Flask, connection: sa.Connection) -> Iterator[Session]:
    """The test's session (same transaction as the requests). After a request changed rows this session
    already holds, call ``session.expire_all()`` before reading them again."""
    with service_app.test_request_context():
        session = db.session
        yield session
        session.close()


@pytest.fixture()
def browser(app: Flask, connection: sa.Connection) -> Browser:
    return Browser(app.test_client())


@pytest.fixture()
def make_user(service_app: Flask, connection: sa.Connection):
    """Create a staff user (committed to the test transaction's savepoint)."""
    from web.services.users import create_user

    def make(username: str = "coordinator1", role: str = "coordinator", region_code: str | None = None):
        with service_app.app_context():
            user = create_user(db.session, username=username, password=TEST_PASSWORD, role=role, actor="test",
                               now=NOW, region_code=region_code)
            db.session.commit()
            return user.id

    return make


@pytest.fixture()
def api_token(service_app: Flask, make_user) -> str:
    """The clear bearer token, with the solve scope, of a fresh coordinator account (for the JSON API)."""
    from web.clock import utcnow
    from web.models import User
    from web.services.tokens import issue_token

    user_id = make_user("api-tool", "coordinator")
    with service_app.app_context():
        _token, clear = issue_token(db.session, user=db.session.get(User, user_id), name="tool", scopes=["solve"],
                                    days=None, actor="test", now=utcnow())  # the API checks the wall clock
        db.session.commit()
    return clear


@pytest.fixture()
def coordinator_browser(browser: Browser, make_user) -> Browser:
    make_user("coordinator1", "coordinator")
    response = browser.login("coordinator1", TEST_PASSWORD)
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return browser


@pytest.fixture(params=backends())
def fresh_database_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """An empty database of each backend, for tests that migrate it themselves."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.sqlite'}"
        return
    with throwaway_postgres_database(postgres_url()) as url:
        yield url
