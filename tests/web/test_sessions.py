"""Sessions end server-side (logout, password change, deactivation), and every staff login is audited."""

from __future__ import annotations

import json

import sqlalchemy as sa

from tests.browser import Browser
from tests.conftest import NOW, TEST_PASSWORD
from web.models import AuditLog, User
from web.services.users import set_active

NEW_PASSWORD = "another-long-passphrase"


def _browser(app) -> Browser:
    return Browser(app.test_client())


def _is_logged_out(browser: Browser) -> bool:
    response = browser.get("/workspace/")
    return response.status_code == 302 and "/auth/login" in response.headers["Location"]


def _logged_in(app, username: str, password: str = TEST_PASSWORD) -> Browser:
    browser = _browser(app)
    assert browser.login(username, password).status_code == 302
    assert browser.get("/workspace/").status_code == 200
    return browser


def test_a_cookie_copied_before_logout_is_refused_after_it(app, browser, make_user):
    make_user("coordinator1")
    assert browser.login("coordinator1", TEST_PASSWORD).status_code == 302
    thief = _browser(app)
    thief.client.set_cookie("session", browser.client.get_cookie("session").value)
    assert thief.get("/workspace/").status_code == 200  # the copy works while the session lives

    response = browser.submit("/auth/logout", form_url="/workspace/")
    assert response.status_code == 302
    assert _is_logged_out(browser)
    assert _is_logged_out(thief)


def test_logging_in_again_after_logout_works(app, make_user):
    make_user("coordinator1")
    browser = _logged_in(app, "coordinator1")
    browser.submit("/auth/logout", form_url="/workspace/")
    _logged_in(app, "coordinator1")


def test_a_password_change_logs_out_every_other_browser(app, session, make_user):
    make_user("viewer1", "viewer")
    office, home = _logged_in(app, "viewer1"), _logged_in(app, "viewer1")

    response = office.submit("/auth/password", {"current_password": TEST_PASSWORD, "new_password": NEW_PASSWORD,
                                                "new_password_again": NEW_PASSWORD})
    assert response.status_code == 302
    assert office.get("/workspace/").status_code == 200  # the browser that changed it stays logged in
    assert _is_logged_out(home)
    assert _browser(app).login("viewer1", TEST_PASSWORD).status_code == 200  # the old password is refused
    _logged_in(app, "viewer1", NEW_PASSWORD)
    actions = session.scalars(sa.select(AuditLog.action).where(AuditLog.actor_label == "viewer1")).all()
    assert "user.password_change" in actions


def test_a_refused_password_change_says_why_and_changes_nothing(app, session, make_user):
    user_id = make_user("coordinator1")
    office, home = _logged_in(app, "coordinator1"), _logged_in(app, "coordinator1")
    old_hash = session.get(User, user_id).password_hash
    attempts = [
        ({"current_password": "not-my-password", "new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD},
         "current password is not correct"),
        ({"current_password": TEST_PASSWORD, "new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD + "x"},
         "two new passwords differ"),
        ({"current_password": TEST_PASSWORD, "new_password": "short", "new_password_again": "short"},
         "at least 10 characters"),
        ({"current_password": TEST_PASSWORD, "new_password": TEST_PASSWORD, "new_password_again": TEST_PASSWORD},
         "must differ from the current one"),
    ]
    for data, message in attempts:
        response = office.submit("/auth/password?lang=en", data)
        assert response.status_code == 200
        assert message in response.get_data(as_text=True)
    session.expire_all()
    assert session.get(User, user_id).password_hash == old_hash
    assert home.get("/workspace/").status_code == 200


def test_the_password_page_needs_a_login(browser):
    assert _is_logged_out(browser) and browser.get("/auth/password").status_code == 302


def test_deactivating_an_account_ends_its_sessions(app, session, make_user):
    user_id = make_user("coordinator1")
    browser = _logged_in(app, "coordinator1")
    set_active(session, session.get(User, user_id), active=False, actor="test", now=NOW)
    session.commit()
    assert _is_logged_out(browser)
    assert _browser(app).login("coordinator1", TEST_PASSWORD).status_code == 200  # refused: inactive


def test_an_account_deactivated_by_other_means_is_logged_out_too(app, session, make_user):
    user_id = make_user("coordinator1")
    browser = _logged_in(app, "coordinator1")
    session.get(User, user_id).active = False  # e.g. in the database by hand: no session_version bump
    session.commit()
    assert _is_logged_out(browser)


def test_logins_are_audited_with_name_and_address_never_the_password(app, session, make_user):
    user_id = make_user("coordinator1")
    client = _browser(app)
    client.submit("/auth/login", {"username": "coordinator1", "password": "wrong-password-123"},
                  environ_base={"REMOTE_ADDR": "203.0.113.7"})
    client.submit("/auth/login", {"username": "nobody", "password": "guess-password-1"},
                  environ_base={"REMOTE_ADDR": "203.0.113.8"})
    assert client.submit("/auth/login", {"username": "coordinator1", "password": TEST_PASSWORD},
                         environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code == 302

    entries = session.scalars(sa.select(AuditLog).where(AuditLog.action.like("auth.login%"))
                              .order_by(AuditLog.id)).all()
    assert [(e.action, e.entity_type, e.entity_id, e.after["username"], e.after["address"]) for e in entries] == [
        ("auth.login_failed", "user_account", user_id, "coordinator1", "203.0.113.7"),
        ("auth.login_failed", "user_account", None, "nobody", "203.0.113.8"),
        ("auth.login", "user_account", user_id, "coordinator1", "203.0.113.9"),
    ]
    assert [e.after.get("reason") for e in entries] == ["wrong_password", "unknown_user", None]
    assert entries[2].actor_id == user_id and entries[0].actor_id is None
    written = json.dumps([e.after for e in entries])
    assert "wrong-password-123" not in written and "guess-password-1" not in written and TEST_PASSWORD not in written


def test_a_logged_in_session_used_from_another_browser_is_dropped(app, make_user):
    make_user("coordinator1")
    browser = _logged_in(app, "coordinator1")
    response = browser.get("/workspace/", headers={"User-Agent": "another browser"})
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


def test_a_visitors_session_is_not_sent_again_on_every_page(browser):
    first = browser.get("/demand/new")
    assert [c.split("=")[0] for c in first.headers.getlist("Set-Cookie")] == ["session"]  # the CSRF token
    for path in ("/demand/new", "/", "/demand/track"):
        assert browser.get(path).headers.getlist("Set-Cookie") == [], path  # nor a remember-cookie deletion
