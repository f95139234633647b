"""Staff accounts: create, authenticate (argon2 hashes, every attempt audited), sessions, passwords."""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass

import sqlalchemy as sa
from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from flask import current_app, has_app_context
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from web.config import DEFAULT_PASSWORD_HASH_PROFILE
from web.models import Region, User
from web.models.users import ROLES
from web.schemas.common import has_control_characters
from web.services import audit
from web.services.errors import Conflict, ServiceError, ValidationFailed

MIN_PASSWORD_LENGTH = 10


def _profile() -> str:
    """The app's argon2 parameters: ``PASSWORD_HASH_PROFILE``, a name in ``argon2.profiles``. A hash made with
    other parameters still verifies, and is made again with these at the next login."""
    if has_app_context():
        return current_app.config.get("PASSWORD_HASH_PROFILE", DEFAULT_PASSWORD_HASH_PROFILE)
    return DEFAULT_PASSWORD_HASH_PROFILE


def _hasher() -> PasswordHasher:
    return _hasher_of(_profile())


@functools.cache
def _hasher_of(profile: str) -> PasswordHasher:
    return PasswordHasher.from_parameters(getattr(profiles, profile))


@functools.cache
def _decoy_hash(profile: str) -> str:
    """Verified against when the account does not exist, so that the answer takes as long as for one that does."""
    return _hasher_of(profile).hash("x" * MIN_PASSWORD_LENGTH)


def hash_password(password: str) -> str:
    return _hasher().hash(password)


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
    _check_password_length(password, field="password")
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


def _check_password_length(password: str, *, field: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ServiceError(
            _l("The password must have at least %(count)d characters.", count=MIN_PASSWORD_LENGTH), field=field
        )


@dataclass(frozen=True)
class _UnknownAccount:
    """The audit entity of a login attempt under a name that no account has."""

    __tablename__ = User.__tablename__
    id: None = None


def authenticate(session: Session, *, username: str, password: str, now: dt.datetime,
                 address: str | None = None) -> User | None:
    """The active user with this name and password, or None (same answer for every failure).

    Every attempt is audited with the name typed and the client ``address`` (never the password).
    """
    username = username.strip()
    # A control character (a NUL byte…) is in no user name; PostgreSQL would refuse it in the query.
    user = None if has_control_characters(username) else session.scalar(
        sa.select(User).where(User.username == username))
    if user is None or not user.active:
        # Spend the same time as a real check so that timing does not reveal user names.
        _verify(_decoy_hash(_profile()), password)
        _audit_login_failure(session, user, username, address, "unknown_user" if user is None else "inactive", now)
        return None
    if not _verify(user.password_hash, password):
        _audit_login_failure(session, user, username, address, "wrong_password", now)
        return None
    if _hasher().check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = now
    audit.record(session, actor=user, action="auth.login", entity=user, now=now,
                 after={"username": user.username, "address": address})
    session.flush()
    return user


def _audit_login_failure(session: Session, user: User | None, username: str, address: str | None, reason: str,
                         now: dt.datetime) -> None:
    # The name as typed (cut to the column's size; it may be garbage), never the password.
    audit.record(session, actor="anonymous", action="auth.login_failed", entity=user or _UnknownAccount(), now=now,
                 after={"username": username[:60], "address": address, "reason": reason})
    session.flush()


def end_sessions(session: Session, user: User, *, actor: User | str | None, now: dt.datetime,
                 action: str = "auth.logout") -> None:
    """End every login session of ``user`` (each browser, and any copy of its cookie)."""
    user.session_version += 1
    audit.record(session, actor=actor, action=action, entity=user, now=now,
                 after={"username": user.username})
    session.flush()


def change_password(session: Session, user: User, *, current_password: str, new_password: str,
                    now: dt.datetime) -> None:
    """The user's own password change: the current one proves it is them; every other session ends."""
    if not _verify(user.password_hash, current_password):
        raise ValidationFailed({"current_password": [_l("The current password is not correct.")]})
    _check_password_length(new_password, field="new_password")
    if new_password == current_password:
        raise ValidationFailed({"new_password": [_l("The new password must differ from the current one.")]})
    user.password_hash = hash_password(new_password)
    end_sessions(session, user, actor=user, now=now, action="user.password_change")


def set_active(session: Session, user: User, *, active: bool, actor: User | str | None, now: dt.datetime) -> None:
    """Activate or deactivate an account; deactivating ends its sessions at once."""
    before = {"active": user.active}
    user.active = active
    if not active:
        user.session_version += 1
    audit.record(session, actor=actor, action="user.activate" if active else "user.deactivate", entity=user,
                 now=now, before=before, after={"active": active})
    session.flush()


CONTACT_PHONE = re.compile(r"^\+?[0-9][0-9 -]{4,18}[0-9]$")


def set_contact_phone(session: Session, user: User, *, phone: str, actor: User | str | None,
                      now: dt.datetime) -> None:
    """The number printed as the liaison's in the outbox messages (a mobile or an office line; "" for none)."""
    phone = phone.strip()
    if phone and not CONTACT_PHONE.match(phone):
        raise ServiceError(_l("Enter a phone number of 6 to 20 digits (spaces, hyphens and a leading + allowed), "
                              "or nothing."), field="contact_phone")
    before = {"contact_phone": user.contact_phone}
    user.contact_phone = phone
    audit.record(session, actor=actor, action="user.contact_phone", entity=user, now=now, before=before,
                 after={"contact_phone": phone})
    session.flush()


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher().verify(password_hash, password)
    except (VerifyMismatchError, InvalidHashError):
        return False
