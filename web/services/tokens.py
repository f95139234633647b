"""API tokens for tools calling the JSON API: issue (the clear text is shown once), list, revoke, check.

Only a SHA-256 digest of a token is stored, and its first characters (the prefix) to tell tokens apart.
A token has scopes, one per token-protected API operation, and an expiry (at most a year). Each scope
names the roles whose tokens may hold it, so a viewer never gets a scope that changes data or spends
the server's time; the check at each request asks again, in case the user's role changed since.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session, joinedload

from web.models import ApiToken, User
from web.schemas.common import has_control_characters
from web.services import audit
from web.services.errors import Conflict, NotFound, ServiceError, ValidationFailed

TOKEN_MARK = "cm_"
PREFIX_LENGTH = len(TOKEN_MARK) + 8
DEFAULT_DAYS = 90
MAX_DAYS = 365
# Writing last use at most this often: a busy tool does not turn every call into a write.
LAST_USE_PRECISION = dt.timedelta(minutes=1)
EDITOR_ROLES = ("admin", "coordinator")


@dataclass(frozen=True)
class Scope:
    name: str
    description: Any  # a lazy (translated) string
    roles: tuple[str, ...]  # the roles whose tokens may hold this scope


# One scope per token-protected operation of web/api/*.py. /pools (aggregate figures) and /demands
# (the enterprises' own form and status lookup) are public and need no token, so they have no scope.
SCOPES: dict[str, Scope] = {
    scope.name: scope
    for scope in (
        Scope("solve", _l("Run the solver (POST /api/v1/solve)"), EDITOR_ROLES),
    )
}


def token_digest(clear: str) -> str:
    # Tokens are long random strings, so a fast hash is enough (no dictionary to attack).
    return hashlib.sha256(clear.encode()).hexdigest()


def scopes_for_role(role: str) -> list[Scope]:
    return [scope for scope in SCOPES.values() if role in scope.roles]


def issue_token(session: Session, *, user: User, name: str, scopes: Iterable[str], days: int | None,
                actor: User | str | None, now: dt.datetime) -> tuple[ApiToken, str]:
    """Create a token for ``user``; return it with its clear text (shown once, never stored)."""
    name = (name or "").strip()
    wanted = sorted(set(scopes))
    days = DEFAULT_DAYS if days is None else days
    errors: dict[str, list[Any]] = {}
    if not name or len(name) > 60 or has_control_characters(name):
        errors["name"] = [_l("A name of 1 to 60 characters on one line is required (what the token is for).")]
    unknown = [scope for scope in wanted if scope not in SCOPES]
    if not wanted:
        errors["scopes"] = [_l("Choose at least one scope.")]
    elif unknown:
        errors["scopes"] = [_l("Unknown scope %(scope)s; the scopes are: %(scopes)s.", scope=unknown[0],
                               scopes=", ".join(SCOPES))]
    else:
        refused = [scope for scope in wanted if user.role not in SCOPES[scope].roles]
        if refused:
            errors["scopes"] = [_l("A %(role)s account cannot hold the scope %(scope)s.", role=user.role,
                                   scope=refused[0])]
    if not 1 <= days <= MAX_DAYS:
        errors["days"] = [_l("A token lasts from 1 to %(max)d days.", max=MAX_DAYS)]
    if not user.active:
        errors["user"] = [_l("The account %(name)s is deactivated.", name=user.username)]
    if errors:
        raise ValidationFailed(errors)

    clear = TOKEN_MARK + secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, name=name, token_hash=token_digest(clear), prefix=clear[:PREFIX_LENGTH],
                     scopes=" ".join(wanted), created_at=now, expires_at=now + dt.timedelta(days=days))
    session.add(token)
    session.flush()
    audit.record(session, actor=actor, action="api_token.issue", entity=token, now=now,
                 after={"user": user.username, "name": name, "scopes": wanted, "prefix": token.prefix,
                        "expires_at": token.expires_at.isoformat()})
    session.flush()
    return token, clear


def account_named(session: Session, username: str) -> User:
    user = session.scalar(sa.select(User).where(User.username == username))
    if user is None:
        raise NotFound(_l("There is no account named %(name)s.", name=username))
    return user


def get_token(session: Session, token_id: int) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None:
        raise NotFound(_l("There is no API token number %(id)d.", id=token_id))
    return token


def revoke_token(session: Session, token: ApiToken, *, actor: User | str | None, now: dt.datetime) -> None:
    if token.revoked_at is not None:
        raise Conflict(_l("This API token was already revoked."))
    token.revoked_at = now
    audit.record(session, actor=actor, action="api_token.revoke", entity=token, now=now,
                 after={"user": token.user.username, "name": token.name, "prefix": token.prefix})
    session.flush()


def list_tokens(session: Session) -> list[ApiToken]:
    """Every token, newest first, with its user."""
    query = sa.select(ApiToken).options(joinedload(ApiToken.user)).order_by(ApiToken.created_at.desc(),
                                                                             ApiToken.id.desc())
    return list(session.scalars(query))


def token_state(token: ApiToken, now: dt.datetime) -> str:
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at <= now:
        return "expired"
    return "active"


class TokenRejected(ServiceError):
    """A bearer token that is missing, unknown, revoked or expired (401), or lacks the scope (403)."""

    def __init__(self, message: Any, *, status_code: int, code: str) -> None:
        super().__init__(message, code=code)
        self.status_code = status_code


def check_token(session: Session, clear: str | None, *, scope: str, now: dt.datetime) -> ApiToken:
    """The token behind ``clear`` if it may call an operation that needs ``scope``; TokenRejected if not."""
    required = SCOPES[scope]
    token = None
    if clear and not has_control_characters(clear):
        token = session.scalar(sa.select(ApiToken).options(joinedload(ApiToken.user))
                               .where(ApiToken.token_hash == token_digest(clear)))
    if token is None or not token.user.active:
        raise TokenRejected(_l("A valid API token is required (Authorization: Bearer …)."), status_code=401,
                            code="unauthorized")
    if token.revoked_at is not None:
        raise TokenRejected(_l("This API token was revoked."), status_code=401, code="unauthorized")
    if token.expires_at <= now:
        raise TokenRejected(_l("This API token expired on %(date)s; ask an administrator for a new one.",
                               date=token.expires_at.date().isoformat()), status_code=401, code="unauthorized")
    if scope not in token.scope_names or token.user.role not in required.roles:
        raise TokenRejected(_l("This API token does not have the scope %(scope)s that this operation needs.",
                               scope=scope), status_code=403, code="insufficient_scope")
    return token


def record_use(session: Session, token: ApiToken, now: dt.datetime) -> None:
    if token.last_used_at is None or now - token.last_used_at >= LAST_USE_PRECISION:
        token.last_used_at = now
        session.flush()
