"""API tokens: issued with scopes and an expiry (service, admin page, CLI), checked on every API call, revoked."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa
from flask_babel import force_locale

from tests.browser import Browser
from tests.conftest import TEST_PASSWORD
from tests.web.test_api_solve import PROBLEM
from web.cli import token_group
from web.clock import utcnow
from web.models import ApiToken, AuditLog, User
from web.services import tokens
from web.services.errors import ValidationFailed
from web.services.users import set_active

TOKENS_PAGE = "/workspace/admin/tokens/"


def _issue(session, user_id: int, scopes=("solve",), days: int | None = None, now: dt.datetime | None = None):
    token, clear = tokens.issue_token(session, user=session.get(User, user_id), name="tool", scopes=scopes,
                                      days=days, actor="test", now=now or utcnow())
    session.commit()
    return token, clear


def _solve(browser: Browser, clear: str | None):
    headers = {"Authorization": f"Bearer {clear}"} if clear else {}
    return browser.client.post("/api/v1/solve", json=PROBLEM, headers=headers)


def _admin(browser: Browser, make_user) -> Browser:
    make_user("admin1", "admin")
    assert browser.login("admin1", TEST_PASSWORD).status_code == 302
    return browser


def test_a_token_lasts_90_days_by_default_and_stores_only_a_digest(session, make_user):
    now = utcnow()
    token, clear = _issue(session, make_user("coordinator1"), now=now)
    assert token.expires_at == now + dt.timedelta(days=90)
    assert token.token_hash == tokens.token_digest(clear) and clear not in token.token_hash
    assert clear.startswith(token.prefix) and len(token.prefix) == 11 and token.scope_names == ["solve"]


@pytest.mark.parametrize(("role", "scopes", "days", "field", "message"), [
    ("viewer", ["solve"], 30, "scopes", "A viewer account cannot hold the scope solve."),
    ("coordinator", ["pools:delete"], 30, "scopes", "Unknown scope pools:delete"),
    ("coordinator", [], 30, "scopes", "Choose at least one scope."),
    ("coordinator", ["solve"], 366, "days", "A token lasts from 1 to 365 days."),
    ("coordinator", ["solve"], 0, "days", "A token lasts from 1 to 365 days."),
])
def test_the_service_refuses_bad_tokens(session, make_user, role, scopes, days, field, message):
    user_id = make_user("someone", role)
    with force_locale("en"), pytest.raises(ValidationFailed) as refused:
        tokens.issue_token(session, user=session.get(User, user_id), name="tool", scopes=scopes, days=days,
                           actor="test", now=utcnow())
    assert message in refused.value.as_errors()[field][0]
    assert session.scalar(sa.select(sa.func.count()).select_from(ApiToken)) == 0


def test_the_api_checks_validity_and_scope(browser, session, make_user):
    user_id = make_user("coordinator1")
    _token, valid = _issue(session, user_id)
    expired_row, expired = _issue(session, user_id, days=1, now=utcnow() - dt.timedelta(days=2))
    revoked_row, revoked = _issue(session, user_id)
    tokens.revoke_token(session, revoked_row, actor="test", now=utcnow())
    session.commit()

    assert _solve(browser, valid).status_code == 200
    for clear, words in ((None, "valid API token is required"), ("cm_unknown", "valid API token is required"),
                         (expired, "expired on"), (revoked, "was revoked")):
        response = _solve(browser, clear)
        assert response.status_code == 401, clear
        body = response.get_json()
        assert set(body) == {"code", "status", "message", "errors"} and body["status"] == "unauthorized"
        assert words in browser.client.post("/api/v1/solve?lang=en", json=PROBLEM, headers=(
            {"Authorization": f"Bearer {clear}"} if clear else {})).get_json()["message"]
        assert response.headers["WWW-Authenticate"].startswith('Bearer realm="craftmatch"')

    # A coordinator made a viewer keeps the token, but no longer the right to solve with it.
    session.get(User, user_id).role = "viewer"
    session.commit()
    response = _solve(browser, valid)
    assert response.status_code == 403 and response.get_json()["status"] == "insufficient_scope"
    assert 'error="insufficient_scope", scope="solve"' in response.headers["WWW-Authenticate"]

    set_active(session, session.get(User, user_id), active=False, actor="test", now=utcnow())
    session.commit()
    assert _solve(browser, valid).status_code == 401


def test_a_token_without_the_scope_gets_403(browser, session, make_user):
    _token, clear = _issue(session, make_user("coordinator1"))
    session.execute(sa.update(ApiToken).values(scopes=""))  # as a legacy viewer token is migrated
    session.commit()
    assert _solve(browser, clear).status_code == 403


def test_each_call_records_last_use(browser, session, make_user):
    token, clear = _issue(session, make_user("coordinator1"))
    assert token.last_used_at is None
    before = utcnow()
    assert _solve(browser, clear).status_code == 200
    session.expire_all()
    assert session.get(ApiToken, token.id).last_used_at >= before


def test_the_openapi_document_declares_the_bearer_scheme(browser):
    spec = browser.get("/api/v1/openapi.json").get_json()
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "description": spec["components"]["securitySchemes"]["bearerAuth"][
            "description"]}
    solve = spec["paths"]["/api/v1/solve"]["post"]
    assert solve["security"] == [{"bearerAuth": []}] and solve["x-required-scopes"] == ["solve"]
    assert {"401", "403"} <= set(solve["responses"])
    assert "security" not in spec["paths"]["/api/v1/pools"]["get"]  # public


def test_an_admin_issues_sees_once_and_revokes_a_token(browser, session, make_user):
    coordinator_id = make_user("coordinator1")
    _admin(browser, make_user)
    response = browser.submit(TOKENS_PAGE, {"user_id": coordinator_id, "name": "nightly solver",
                                            "scopes": ["solve"], "days": 30})
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    clear = re.search(r'<code id="clear-token">(cm_[\w-]+)</code>', response.get_data(as_text=True)).group(1)
    token = session.scalar(sa.select(ApiToken).where(ApiToken.name == "nightly solver"))
    assert token.user_id == coordinator_id and token.scopes == "solve"
    assert token.expires_at - token.created_at == dt.timedelta(days=30)
    assert _solve(browser, clear).status_code == 200

    listing = browser.text(TOKENS_PAGE)
    assert clear not in listing and f"{token.prefix}…" in listing and "nightly solver" in listing

    revoke_url = f"{TOKENS_PAGE}{token.id}/revoke"
    assert browser.client.post(revoke_url).status_code == 400  # no CSRF token
    assert browser.submit(revoke_url, form_url=TOKENS_PAGE).status_code == 302
    assert _solve(browser, clear).status_code == 401
    assert 'data-state="revoked"' in browser.text(TOKENS_PAGE)
    entries = session.scalars(sa.select(AuditLog).where(AuditLog.entity_type == "api_token")
                              .order_by(AuditLog.id)).all()
    assert [(e.action, e.actor_label, e.entity_id) for e in entries] == [
        ("api_token.issue", "admin1", token.id), ("api_token.revoke", "admin1", token.id)]
    assert clear not in str([e.after for e in entries])


def test_the_admin_page_refuses_a_write_scope_for_a_viewer(browser, session, make_user):
    viewer_id = make_user("viewer1", "viewer")
    _admin(browser, make_user)
    response = browser.submit(f"{TOKENS_PAGE}?lang=en", {"user_id": viewer_id, "name": "x", "scopes": ["solve"],
                                                         "days": 30})
    assert response.status_code == 200
    assert "A viewer account cannot hold the scope solve." in response.get_data(as_text=True)
    assert session.scalar(sa.select(sa.func.count()).select_from(ApiToken)) == 0


def test_only_admins_manage_tokens(coordinator_browser):
    assert coordinator_browser.get(TOKENS_PAGE).status_code == 403
    assert coordinator_browser.get("/workspace/admin/tokens/1/revoke").status_code == 405


def test_the_cli_issues_lists_and_revokes(app, browser, session, make_user):
    make_user("coordinator1")
    runner = app.test_cli_runner()
    issued = runner.invoke(token_group, ["issue", "coordinator1", "--scope", "solve", "--days", "30",
                                         "--name", "nightly"])
    assert issued.exit_code == 0, issued.output
    clear = issued.output.strip().splitlines()[-1]
    assert clear.startswith("cm_") and _solve(browser, clear).status_code == 200

    listed = runner.invoke(token_group, ["list"])
    token = session.scalar(sa.select(ApiToken))
    assert listed.exit_code == 0 and f"{token.prefix}…" in listed.output and clear not in listed.output
    assert "coordinator1" in listed.output and "active" in listed.output and "tokens: 1" in listed.output

    assert runner.invoke(token_group, ["revoke", str(token.id)]).exit_code == 0
    assert _solve(browser, clear).status_code == 401
    assert "revoked" in runner.invoke(token_group, ["list"]).output


# The CLI speaks the default locale (Chinese); the names in each message are the same in both languages.
@pytest.mark.parametrize(("args", "message"), [
    (["issue", "nobody", "--scope", "solve", "--name", "x"], "nobody"),
    (["issue", "viewer1", "--scope", "solve", "--name", "x"], "viewer"),
    (["issue", "viewer1", "--scope", "everything", "--name", "x"], "everything"),
    (["issue", "coordinator1", "--scope", "solve", "--name", "x", "--days", "400"], "365"),
    (["revoke", "999"], "999"),
])
def test_the_cli_answers_bad_input_with_one_line_and_exit_2(app, session, make_user, args, message):
    make_user("viewer1", "viewer")
    make_user("coordinator1")
    result = app.test_cli_runner().invoke(token_group, args)
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1 and message in result.output
    assert session.scalar(sa.select(sa.func.count()).select_from(ApiToken)) == 0


def test_the_migration_limits_tokens_issued_before_scopes(fresh_database_url):
    from web import migrate
    from web.db import make_engine

    migrate.upgrade(fresh_database_url, "0001")
    engine = make_engine(fresh_database_url)
    created = dt.datetime(2026, 1, 5, 8, 0)
    try:
        with engine.begin() as connection:
            for user_id, role in ((1, "coordinator"), (2, "viewer")):
                connection.execute(sa.text(
                    "INSERT INTO user_account (id, username, display_name, role, password_hash, active, created_at)"
                    " VALUES (:id, :name, :name, :role, 'x', :active, :at)"),
                    {"id": user_id, "name": f"user{user_id}", "role": role, "active": True, "at": created})
                connection.execute(sa.text(
                    "INSERT INTO api_token (user_id, name, token_hash, created_at) VALUES (:id, 'old', :hash, :at)"),
                    {"id": user_id, "hash": f"{user_id:064d}", "at": created})
        migrate.upgrade(fresh_database_url)
        with engine.connect() as connection:
            rows = connection.execute(sa.text(
                "SELECT user_id, scopes, prefix, expires_at FROM api_token ORDER BY user_id")
                .columns(expires_at=sa.DateTime())).all()
            versions = connection.execute(sa.text("SELECT session_version FROM user_account")).scalars().all()
    finally:
        engine.dispose()
    assert [(row.user_id, row.scopes, row.prefix) for row in rows] == [(1, "solve", ""), (2, "", "")]
    for row in rows:
        assert dt.timedelta(days=89) < row.expires_at - utcnow() <= dt.timedelta(days=90)
    assert versions == [1, 1]
