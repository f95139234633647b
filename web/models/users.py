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

    region: Mapped[Region | None] = relationship()

    @property
    def is_active(self) -> bool:  # Flask-Login asks this
        return self.active

    def can_edit(self) -> bool:
        return self.role in ("admin", "coordinator")


class ApiToken(Base):
    """A bearer token for tools calling the JSON API; only its hash is stored."""

    __tablename__ = "api_token"
    __table_args__ = (sa.UniqueConstraint("token_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(60))
    token_hash: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None]

    user: Mapped[User] = relationship()
