"""The craftsman resource pool (劳模工匠资源库)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from web.db import Base
from web.models._types import one_of
from web.models.taxonomy import HonourLevel, Industry, Region, Skill

CRAFTSMAN_STATUSES = ("active", "paused", "exited")
GENDERS = ("M", "F")
STUDIO_LEVELS = ("national", "provincial", "municipal")
CONFLICT_KINDS = ("employer", "relative", "shareholder", "other")

craftsman_industry = sa.Table(
    "craftsman_industry",
    Base.metadata,
    sa.Column("craftsman_id", sa.ForeignKey("craftsman.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("industry_id", sa.ForeignKey("industry.id"), primary_key=True),
)


class Studio(Base):
    """创新工作室: a craftsman's innovation studio."""

    __tablename__ = "studio"
    __table_args__ = (one_of("level", STUDIO_LEVELS), sa.UniqueConstraint("name"))

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    level: Mapped[str] = mapped_column(sa.String(20))
    region_id: Mapped[int | None] = mapped_column(sa.ForeignKey("region.id"), index=True)

    region: Mapped[Region | None] = relationship()


class Craftsman(Base):
    __tablename__ = "craftsman"
    __table_args__ = (
        one_of("status", CRAFTSMAN_STATUSES),
        one_of("gender", GENDERS),
        sa.CheckConstraint("yearly_capacity >= 0", name="yearly_capacity_nonnegative"),
        sa.CheckConstraint("round_capacity >= 0", name="round_capacity_nonnegative"),
        sa.CheckConstraint("travel_radius_km >= 0", name="travel_radius_nonnegative"),
        sa.CheckConstraint("can_onsite OR can_remote", name="has_service_mode"),
        sa.CheckConstraint("status <> 'exited' OR exited_on IS NOT NULL", name="exit_has_date"),
        sa.UniqueConstraint("phone"),
    )
    # The e-mail field's server default is read when used, not RETURNed by every INSERT: rows written by code
    # that predates the column (the migration tests seed old schemas with these models) still insert.
    __mapper_args__ = {"eager_defaults": False}

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(40))
    gender: Mapped[str] = mapped_column(sa.String(1))
    phone: Mapped[str] = mapped_column(sa.String(20))
    # Optional ("" = none): where the outbox e-mails the service tasks, else an SMS to phone (server default only).
    email: Mapped[str] = mapped_column(sa.String(120), server_default="")
    employer: Mapped[str] = mapped_column(sa.String(120))
    employer_enterprise_id: Mapped[int | None] = mapped_column(sa.ForeignKey("enterprise.id"), index=True)
    region_id: Mapped[int] = mapped_column(sa.ForeignKey("region.id"), index=True)
    studio_id: Mapped[int | None] = mapped_column(sa.ForeignKey("studio.id"), index=True)
    bio: Mapped[str] = mapped_column(sa.Text, default="")
    can_onsite: Mapped[bool] = mapped_column(default=True)
    can_remote: Mapped[bool] = mapped_column(default=False)
    travel_radius_km: Mapped[int] = mapped_column(default=200)
    yearly_capacity: Mapped[int] = mapped_column(default=6)
    round_capacity: Mapped[int] = mapped_column(default=1)
    status: Mapped[str] = mapped_column(sa.String(10), default="active", index=True)
    paused_until: Mapped[dt.date | None]
    exit_reason: Mapped[str | None] = mapped_column(sa.String(200))
    exited_on: Mapped[dt.date | None]
    points_balance: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]

    region: Mapped[Region] = relationship()
    studio: Mapped[Studio | None] = relationship()
    honours: Mapped[list[CraftsmanHonour]] = relationship(back_populates="craftsman", cascade="all, delete-orphan")
    skills: Mapped[list[CraftsmanSkill]] = relationship(back_populates="craftsman", cascade="all, delete-orphan")
    industries: Mapped[list[Industry]] = relationship(secondary=craftsman_industry)
    availability: Mapped[list[Availability]] = relationship(
        back_populates="craftsman", cascade="all, delete-orphan", order_by="Availability.starts_on"
    )
    conflicts: Mapped[list[ConflictLink]] = relationship(back_populates="craftsman", cascade="all, delete-orphan")

    @property
    def top_honour(self) -> HonourLevel | None:
        ranked = sorted(self.honours, key=lambda h: (h.honour.kind != "craftsman", -h.honour.rank))
        return ranked[0].honour if ranked else None


class CraftsmanHonour(Base):
    __tablename__ = "craftsman_honour"
    __table_args__ = (
        sa.UniqueConstraint("craftsman_id", "honour_level_id"),
        sa.CheckConstraint("year IS NULL OR year BETWEEN 1950 AND 2100", name="year_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    craftsman_id: Mapped[int] = mapped_column(sa.ForeignKey("craftsman.id", ondelete="CASCADE"), index=True)
    honour_level_id: Mapped[int] = mapped_column(sa.ForeignKey("honour_level.id"), index=True)
    year: Mapped[int | None]

    craftsman: Mapped[Craftsman] = relationship(back_populates="honours")
    honour: Mapped[HonourLevel] = relationship()


class CraftsmanSkill(Base):
    __tablename__ = "craftsman_skill"
    __table_args__ = (
        sa.UniqueConstraint("craftsman_id", "skill_id"),
        sa.CheckConstraint("proficiency BETWEEN 1 AND 5", name="proficiency_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    craftsman_id: Mapped[int] = mapped_column(sa.ForeignKey("craftsman.id", ondelete="CASCADE"), index=True)
    skill_id: Mapped[int] = mapped_column(sa.ForeignKey("skill.id"), index=True)
    proficiency: Mapped[int]

    craftsman: Mapped[Craftsman] = relationship(back_populates="skills")
    skill: Mapped[Skill] = relationship()


class Availability(Base):
    """A window in which the craftsman can serve (inclusive dates)."""

    __tablename__ = "availability"
    __table_args__ = (sa.CheckConstraint("ends_on >= starts_on", name="window_ordered"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    craftsman_id: Mapped[int] = mapped_column(sa.ForeignKey("craftsman.id", ondelete="CASCADE"), index=True)
    starts_on: Mapped[dt.date]
    ends_on: Mapped[dt.date]

    craftsman: Mapped[Craftsman] = relationship(back_populates="availability")


class ConflictLink(Base):
    """A declared conflict of interest: the craftsman must not serve this enterprise."""

    __tablename__ = "conflict_link"
    __table_args__ = (one_of("kind", CONFLICT_KINDS), sa.UniqueConstraint("craftsman_id", "enterprise_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    craftsman_id: Mapped[int] = mapped_column(sa.ForeignKey("craftsman.id", ondelete="CASCADE"), index=True)
    enterprise_id: Mapped[int] = mapped_column(sa.ForeignKey("enterprise.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(20))
    note: Mapped[str] = mapped_column(sa.String(200), default="")

    craftsman: Mapped[Craftsman] = relationship(back_populates="conflicts")
