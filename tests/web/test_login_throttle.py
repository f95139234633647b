"""Login throttling that stops guessing without locking the office out; counters every worker shares.

Failed logins only count, per account and per client address; the client address is the proxy's
``X-Forwarded-For`` entry only with ``CRAFTMATCH_TRUSTED_PROXIES``. The shared test app runs without
limits, so each test builds its own and puts Flask-Limiter's process-wide state back afterwards.
"""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa
from flask import Flask

from tests.browser import Browser
from tests.conftest import TEST_PASSWORD, make_test_app
from tests.web.conftest import needs_redis
from web.config import ConfigError, load_config
from web.extensions import db, limiter

SMALL = {"LOGIN_ACCOUNT_LIMIT": "3 per 10 minutes", "LOGIN_ADDRESS_LIMIT": "5 per 10 minutes"}  # fewer argon2 runs
OFFICE = "198.51.100.7"
ATTACKER = "203.0.113.5"
PROXY = "10.0.0.2"


@pytest.fixture()
def limited(database_url: str, connection: sa.Connection):
    """make(**config) → an app with rate limits on, joined to the test's transaction."""
    previous = limiter.enabled
    apps: list[Flask] = []

    def make(**overrides) -> Flask:
        config = {"RATELIMIT_ENABLED": True, "RATELIMIT_STORAGE_URI": "memory://"} | overrides
        app = make_test_app(database_url, **config)
        db.bind_to(app, connection)
        apps.append(app)
        return app

    try:
        yield make
    finally:
        make_test_app(database_url, RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI="memory://")  # off Redis again
        limiter.reset()
        limiter.enabled = previous
        for app in apps:
            db.bind_to(app, None)


def client(app: Flask, address: str, forwarded_for: str | None = None) -> Browser:
    test_client = app.test_client()
    test_client.environ_base["REMOTE_ADDR"] = address
    if forwarded_for:
        test_client.environ_base["HTTP_X_FORWARDED_FOR"] = forwarded_for
    return Browser(test_client)


def status(browser: Browser, username: str, password: str = "wrong-password") -> int:
    return browser.login(username, password).status_code


def test_failures_lock_only_the_account_attacked(limited, make_user):
    app = limited()
    make_user("alice", "coordinator")
    make_user("bob", "coordinator")
    attacker = client(app, ATTACKER)
    outcomes = [status(attacker, "alice") for _ in range(20)]
    assert outcomes[:10] == [200] * 10 and set(outcomes[10:]) == {429}
    office = client(app, OFFICE)
    assert status(office, "alice", TEST_PASSWORD) == 429  # the account waits, whoever asks
    assert status(office, "bob", TEST_PASSWORD) == 302  # every other colleague logs in


def test_successful_logins_never_count(limited, make_user):
    app = limited(**SMALL)
    make_user("alice", "coordinator")
    for _ in range(8):  # each a fresh browser in the same office
        assert status(client(app, OFFICE), "alice", TEST_PASSWORD) == 302
    assert status(client(app, OFFICE), "alice", "typo") == 200


def test_failures_from_one_address_are_limited_across_accounts(limited, make_user):
    app = limited(**SMALL)
    make_user("bob", "coordinator")
    attacker = client(app, ATTACKER)
    assert [status(attacker, f"guess{n}") for n in range(5)] == [200] * 5
    assert status(attacker, "bob", TEST_PASSWORD) == 429
    assert status(client(app, OFFICE), "bob", TEST_PASSWORD) == 302


@pytest.mark.parametrize("trusted", [1, 0])
def test_the_forwarded_address_counts_only_behind_a_trusted_proxy(limited, make_user, trusted):
    app = limited(TRUSTED_PROXIES=trusted, **SMALL)
    make_user("bob", "coordinator")
    attacker = client(app, PROXY, forwarded_for=ATTACKER)
    assert [status(attacker, f"guess{n}") for n in range(5)] == [200] * 5
    office = client(app, PROXY, forwarded_for=OFFICE)
    # behind one trusted proxy the office is its own client; with none, everyone is the proxy's address
    assert status(office, "bob", TEST_PASSWORD) == (302 if trusted else 429)


def test_a_client_cannot_pick_its_address_without_a_proxy(limited):
    app = limited(TRUSTED_PROXIES=0, **SMALL)
    rotating = [client(app, ATTACKER, forwarded_for=f"192.0.2.{n}") for n in range(6)]
    assert [status(browser, f"guess{n}") for n, browser in enumerate(rotating)] == [200] * 5 + [429]


def test_rate_limit_storage_follows_redis_and_warns_in_production(caplog):
    assert load_config({"REDIS_URL": None})["RATELIMIT_STORAGE_URI"] == "memory://"
    assert load_config({"REDIS_URL": "redis://cache:6379/1"})["RATELIMIT_STORAGE_URI"] == "redis://cache:6379/1"
    explicit = load_config({"REDIS_URL": "redis://cache:6379/1", "RATELIMIT_STORAGE_URI": "redis://other/2"})
    assert explicit["RATELIMIT_STORAGE_URI"] == "redis://other/2"
    production = {"ENV": "production", "SECRET_KEY": "s" * 40}
    with caplog.at_level(logging.WARNING, logger="craftmatch.config"):
        load_config(production | {"REDIS_URL": "redis://cache:6379/1"})
        assert not caplog.records
        load_config(production | {"REDIS_URL": None})
    assert "separately by each worker" in caplog.text and "CRAFTMATCH_REDIS_URL" in caplog.text
    assert load_config({"TRUSTED_PROXIES": "2"})["TRUSTED_PROXIES"] == 2
    for wrong in ("-1", "one"):
        with pytest.raises(ConfigError):
            load_config({"TRUSTED_PROXIES": wrong})


@needs_redis
def test_redis_counts_for_every_worker(limited, make_user, redis_url):
    from redis import Redis

    worker = limited(REDIS_URL=redis_url, RATELIMIT_STORAGE_URI=None, **SMALL)
    assert worker.config["RATELIMIT_STORAGE_URI"] == redis_url
    make_user("alice", "coordinator")
    attacker = client(worker, ATTACKER)
    assert [status(attacker, "alice") for _ in range(3)] == [200] * 3
    assert Redis.from_url(redis_url).keys("LIMITS*")
    another_worker = limited(REDIS_URL=redis_url, RATELIMIT_STORAGE_URI=None, **SMALL)  # new storage, same Redis
    assert status(client(another_worker, OFFICE), "alice", TEST_PASSWORD) == 429


def test_an_unreachable_redis_neither_stops_the_app_nor_the_limits(limited, make_user):
    app = limited(REDIS_URL="redis://127.0.0.1:1/0", RATELIMIT_STORAGE_URI=None, **SMALL)  # nothing listens there
    assert app.config["RATELIMIT_STORAGE_URI"] == "redis://127.0.0.1:1/0"  # and create_app did not connect
    make_user("alice", "coordinator")
    make_user("bob", "coordinator")
    attacker = client(app, ATTACKER)
    assert [status(attacker, "alice") for _ in range(4)] == [200] * 3 + [429]  # counted in memory meanwhile
    assert status(client(app, OFFICE), "bob", TEST_PASSWORD) == 302
