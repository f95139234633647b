"""Staff accounts: create, authenticate (argon2 hashes), API tokens."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from web.models import ApiToken, Region, User
from web.models.users import ROLES
from web.schemas.common import has_control_characters
from web.services import audit
from web.services.errors import Conflict, ServiceError

MIN_PASSWORD_LENGTH = 10
_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: str,
    actor: User | str | None,
    now: dt.datetime,
    display_name: str | None = None,
    region_code: str | None = None,
) -> User:
    username = username.strip()
    if not username or len(username) > 60:
        raise ServiceError(_l("A user name of 1 to 60 characters is required."), field="username")
    if role not in ROLES:
        raise ServiceError(_l("Role must be one of: %(roles)s.", roles=", ".join(ROLES)), field="role")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ServiceError(
            _l("The password must have at least %(count)d characters.", count=MIN_PASSWORD_LENGTH), field="password"
        )
    if session.scalar(sa.select(User.id).where(User.username == username)) is not None:
        raise Conflict(_l("The user name %(name)s is taken.", name=username), field="username")
    region_id = None
    if region_code:
        region_id = session.scalar(sa.select(Region.id).where(Region.code == region_code))
        if region_id is None:
            raise ServiceError(_l("Unknown region code %(code)s.", code=region_code), field="region")
    user = User(
        username=username,
        display_name=display_name or username,
        role=role,
        region_id=region_id,
        password_hash=hash_password(password),
        created_at=now,
    )
    session.add(user)
    session.flush()
    audit.record(session, actor=actor, action="user.create", entity=user, now=now,
                 after={"username": username, "role": role, "region": region_code})
    return user


def authenticate(session: Session, *, username: str, password: str, now: dt.datetime) -> User | None:
    """The active user with this name and password, or None (same answer for both failures)."""
    username = username.strip()
    # A control character (a NUL byte…) is in no user name; PostgreSQL would refuse it in the query.
    user = None if has_control_characters(username) else session.scalar(
        sa.select(User).where(User.username == username))
    if user is None or not user.active:
        # Spend the same time as a real check so that timing does not reveal user names.
        _verify(hash_password("x" * MIN_PASSWORD_LENGTH), password)
        return None
    if not _verify(user.password_hash, password):
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = now
    session.flush()
    return user


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, InvalidHashError):
        return False


def issue_api_token(session: Session, *, user: User, name: str, actor: User | str | None, now: dt.datetime) -> str:
    """Create a token and return its clear text (shown once; only the hash is stored)."""
    clear = "cm_" + secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, name=name, token_hash=token_digest(clear), created_at=now)
    session.add(token)
    session.flush()
    audit.record(session, actor=actor, action="api_token.issue", entity=token, now=now,
                 after={"user": user.username, "name": name})
    return clear


def token_digest(clear: str) -> str:
    # Tokens are long random strings, so a fast hash is enough (no dictionary to attack).
    return hashlib.sha256(clear.encode()).hexdigest()


def user_for_token(session: Session, clear: str) -> User | None:
    token = session.scalar(
        sa.select(ApiToken).where(ApiToken.token_hash == token_digest(clear), ApiToken.revoked_at.is_(None))
    )
    if token is None or not token.user.active:
        return None
    return token.user
