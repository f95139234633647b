"""Staff passwords: argon2id with RFC 9106's parameters unless configured otherwise; the test suite's cheap profile
(``PASSWORD_HASH_PROFILE=CHEAPEST``, set in tests/conftest.py) is refused in production, and a hash made with other
parameters is made again with the app's at the next login."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.conftest import NOW, TEST_PASSWORD, make_test_app
from web.config import ConfigError, load_config
from web.models import User
from web.services import users

STRONG_PREFIX = "$argon2id$v=19$m=65536,t=3,p=4$"


def test_passwords_are_hashed_with_rfc_9106_parameters_by_default(database_url, monkeypatch):
    monkeypatch.delenv("CRAFTMATCH_PASSWORD_HASH_PROFILE", raising=False)
    app = make_test_app(database_url, PASSWORD_HASH_PROFILE=load_config()["PASSWORD_HASH_PROFILE"])
    with app.app_context():
        assert users.hash_password(TEST_PASSWORD).startswith(STRONG_PREFIX)
    assert users.hash_password(TEST_PASSWORD).startswith(STRONG_PREFIX)  # outside an app (CLI seeding)


def test_production_refuses_the_test_profile_and_any_unknown_one(monkeypatch):
    monkeypatch.setenv("CRAFTMATCH_ENV", "production")
    monkeypatch.setenv("CRAFTMATCH_SECRET_KEY", "x" * 48)
    assert load_config()["PASSWORD_HASH_PROFILE"] == "RFC_9106_LOW_MEMORY"
    monkeypatch.setenv("CRAFTMATCH_PASSWORD_HASH_PROFILE", "CHEAPEST")
    with pytest.raises(ConfigError, match="tests only"):
        load_config()
    monkeypatch.setenv("CRAFTMATCH_PASSWORD_HASH_PROFILE", "MD5")
    with pytest.raises(ConfigError, match="not a profile"):
        load_config()


def test_a_hash_with_other_parameters_verifies_and_is_made_again_at_login(service_app, session, browser):
    user = users.create_user(session, username="old_hash", password=TEST_PASSWORD, role="coordinator", actor="test",
                             now=NOW)
    user.password_hash = users._hasher_of("RFC_9106_LOW_MEMORY").hash(TEST_PASSWORD)  # made before a change
    session.commit()
    assert browser.login("old_hash", TEST_PASSWORD).status_code == 302
    session.expire_all()
    stored = session.scalar(sa.select(User.password_hash).where(User.username == "old_hash"))
    assert stored.startswith("$argon2id$v=19$m=8,t=1,p=1$")  # the app's (the suite's) parameters now
    assert browser.get("/workspace/").status_code == 200
