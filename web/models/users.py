"""Staff accounts (coordinators, admins, viewers) and API tokens."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

from web.db import Base
from web.models._types import one_of
from web.models.taxonomy import Region

ROLES = ("admin", "coordinator", "viewer")


class User(UserMixin, Base):
    __tablename__ = "user_account"
    __table_args__ = (one_of("role", ROLES), sa.UniqueConstraint("username"))

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(60))
    display_name: Mapped[str] = mapped_column(sa.String(60))
    role: Mapped[str] = mapped_column(sa.String(12))
    # A city's coordinator sees its own region only; NULL = the whole province/platform.
    region_id: Mapped[int | None] = mapped_column(sa.ForeignKey("region.id"), index=True)
    password_hash: Mapped[str] = mapped_column(sa.String(200))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime]
    last_login_at: Mapped[dt.datetime | None]
    # Printed in the outbox messages as the liaison's number ("whom to call"); optional.
    contact_phone: Mapped[str] = mapped_column(sa.String(20), server_default="")
    # Part of every login session's identity: bumping it (logout, password change, deactivation) ends
    # every session issued before, even a copied cookie, because the cookie no longer matches.
    session_version: Mapped[int] = mapped_column(default=1, server_default="1")

    region: Mapped[Region | None] = relationship()

    @property
    def is_active(self) -> bool:  # Flask-Login asks this
        return self.active

    def get_id(self) -> str:  # what Flask-Login stores in the session cookie
        return f"{self.id}:{self.session_version}"

    def can_edit(self) -> bool:
        return self.role in ("admin", "coordinator")


class ApiToken(Base):
    """A bearer token for tools calling the JSON API; only its hash is stored (its prefix identifies it)."""

    __tablename__ = "api_token"
    __table_args__ = (
        sa.UniqueConstraint("token_hash"),
        sa.CheckConstraint("expires_at > created_at", name="expires_after_creation"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(60))
    token_hash: Mapped[str] = mapped_column(sa.String(64))
    # The first characters of the clear token, shown in lists so that an operator can tell tokens apart.
    prefix: Mapped[str] = mapped_column(sa.String(16), server_default="")
    # Space-separated scope names (as OAuth writes them), e.g. "solve".
    scopes: Mapped[str] = mapped_column(sa.String(200), server_default="")
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    last_used_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]

    user: Mapped[User] = relationship()

    @property
    def scope_names(self) -> list[str]:
        return self.scopes.split()
