"""The enterprise demand pool (企业需求库)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from web.db import Base, postgresql_only
from web.models._types import TitledStrEnum, one_of
from web.models.enterprises import Enterprise
from web.models.taxonomy import DemandCategory, Industry, Region, Skill


class DemandStatus(TitledStrEnum):
    """The demand's life cycle, one set of words for the inbox, the status page, reports and exports.

    submitted → open (approved, ready for matching) → matched → in_service → completed → evaluated;
    needs_info while the coordinator waits for the enterprise; rejected, withdrawn and merged end it.
    """

    submitted = "submitted", _l("Submitted, waiting for review")
    needs_info = "needs_info", _l("More information needed")
    open = "open", _l("Approved, waiting for matching")
    matched = "matched", _l("Matched with craftsmen")
    in_service = "in_service", _l("In service")
    completed = "completed", _l("Completed")
    evaluated = "evaluated", _l("Completed and rated")
    rejected = "rejected", _l("Not accepted")
    withdrawn = "withdrawn", _l("Withdrawn")
    merged = "merged", _l("Merged into another demand")


DEMAND_STATUSES = DemandStatus.values()
# No transition leaves these: the demand's story is over.
FINAL_DEMAND_STATUSES = (DemandStatus.evaluated, DemandStatus.rejected, DemandStatus.withdrawn,
                         DemandStatus.merged)
SERVICE_MODES = ("onsite", "remote", "hybrid")
URGENCIES = ("low", "medium", "high")

demand_industry = sa.Table(
    "demand_industry",
    Base.metadata,
    sa.Column("demand_id", sa.ForeignKey("demand.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("industry_id", sa.ForeignKey("industry.id"), primary_key=True),
)


REPORT_COLUMNS = ["id", "region_id", "category_id", "status", "enterprise_id", "matched_at"]


class Demand(Base):
    __tablename__ = "demand"
    __table_args__ = (
        one_of("status", DEMAND_STATUSES),
        one_of("mode", SERVICE_MODES),
        one_of("urgency", URGENCIES),
        sa.UniqueConstraint("tracking_code"),
        sa.UniqueConstraint("submission_key"),
        sa.CheckConstraint("team_size >= 1", name="team_size_positive"),
        sa.CheckConstraint("window_end IS NULL OR window_start IS NULL OR window_end >= window_start",
                           name="window_ordered"),
        sa.CheckConstraint("status <> 'merged' OR merged_into_id IS NOT NULL", name="merge_has_target"),
        sa.CheckConstraint("merged_into_id IS NULL OR merged_into_id <> id", name="not_merged_into_self"),
        # The reports' columns beside the submission time: on PostgreSQL their aggregates and joins read this
        # narrow index alone (index-only scans) instead of the wide rows (descriptions, addresses).
        sa.Index("ix_demand_report", "submitted_at", postgresql_include=REPORT_COLUMNS),
        # The inbox's text search (ILIKE '%…%' on the title and the code) from trigrams: on PostgreSQL only.
        *(postgresql_only(sa.Index(f"ix_demand_{column}_trgm", column, postgresql_using="gin",
                                   postgresql_ops={column: "gin_trgm_ops"})) for column in ("title", "tracking_code")),
    )
    # ``revision`` is the database's to keep: not read back after an insert (nothing here reads it through the ORM)
    __mapper_args__ = {"eager_defaults": False}

    id: Mapped[int] = mapped_column(primary_key=True)
    tracking_code: Mapped[str] = mapped_column(sa.String(20))
    # A one-time key from the public form: a double-click posts the same key twice.
    submission_key: Mapped[str | None] = mapped_column(sa.String(64))
    enterprise_id: Mapped[int] = mapped_column(sa.ForeignKey("enterprise.id"), index=True)
    title: Mapped[str] = mapped_column(sa.String(120))
    description: Mapped[str] = mapped_column(sa.Text)
    # What the enterprise typed, kept when a coordinator edits title/description.
    original_title: Mapped[str] = mapped_column(sa.String(120))
    original_description: Mapped[str] = mapped_column(sa.Text)
    other_skills: Mapped[str] = mapped_column(sa.String(200), default="")
    category_id: Mapped[int] = mapped_column(sa.ForeignKey("demand_category.id"), index=True)
    team_size: Mapped[int] = mapped_column(default=1)
    mode: Mapped[str] = mapped_column(sa.String(10), default="onsite")
    region_id: Mapped[int] = mapped_column(sa.ForeignKey("region.id"), index=True)
    address: Mapped[str] = mapped_column(sa.String(200), default="")
    window_start: Mapped[dt.date | None]
    window_end: Mapped[dt.date | None]
    urgency: Mapped[str] = mapped_column(sa.String(10), default="medium")
    support_needed: Mapped[str] = mapped_column(sa.String(500), default="")
    contact_name: Mapped[str] = mapped_column(sa.String(40))
    contact_phone: Mapped[str] = mapped_column(sa.String(20))
    consent_given_at: Mapped[dt.datetime | None]
    status: Mapped[str] = mapped_column(sa.String(12), default="submitted", index=True)
    review_note: Mapped[str | None] = mapped_column(sa.Text)
    info_request: Mapped[str | None] = mapped_column(sa.Text)
    info_response: Mapped[str | None] = mapped_column(sa.Text)
    liaison_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"), index=True)
    merged_into_id: Mapped[int | None] = mapped_column(sa.ForeignKey("demand.id"), index=True)
    submitted_at: Mapped[dt.datetime] = mapped_column(index=True)
    updated_at: Mapped[dt.datetime]
    reviewed_at: Mapped[dt.datetime | None]
    matched_at: Mapped[dt.datetime | None]
    completed_at: Mapped[dt.datetime | None]
    # Moved on by database triggers (migration 0013) in the transaction of every write to what the demand's matching
    # fingerprint is made of (``eligibility.demand_fingerprints``): this row's fingerprinted columns, its skills,
    # industries and roles. The application never writes it, nor reads it through the ORM.
    revision: Mapped[int] = mapped_column(server_default="0", deferred=True)

    enterprise: Mapped[Enterprise] = relationship()
    category: Mapped[DemandCategory] = relationship()
    region: Mapped[Region] = relationship()
    industries: Mapped[list[Industry]] = relationship(secondary=demand_industry)
    skills: Mapped[list[DemandSkill]] = relationship(back_populates="demand", cascade="all, delete-orphan")
    # A team demand (跨界攻关小组) by speciality; when roles are given, team_size is their total.
    roles: Mapped[list[DemandRole]] = relationship(back_populates="demand", cascade="all, delete-orphan",
                                                   order_by="DemandRole.id")
    events: Mapped[list[DemandStatusEvent]] = relationship(
        back_populates="demand", cascade="all, delete-orphan", order_by="DemandStatusEvent.at"
    )
    merged_into: Mapped[Demand | None] = relationship(remote_side=[id])


class DemandSkill(Base):
    __tablename__ = "demand_skill"
    __table_args__ = (
        sa.UniqueConstraint("demand_id", "skill_id"),
        sa.CheckConstraint("importance BETWEEN 1 AND 3", name="importance_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    demand_id: Mapped[int] = mapped_column(sa.ForeignKey("demand.id", ondelete="CASCADE"), index=True)
    skill_id: Mapped[int] = mapped_column(sa.ForeignKey("skill.id"), index=True)
    importance: Mapped[int] = mapped_column(default=2)

    demand: Mapped[Demand] = relationship(back_populates="skills")
    skill: Mapped[Skill] = relationship()


class DemandRole(Base):
    """One role of a team demand: ``count`` distinct craftsmen holding ``skill`` (a child skill counts)."""

    __tablename__ = "demand_role"
    __table_args__ = (
        sa.UniqueConstraint("demand_id", "skill_id"),
        sa.CheckConstraint("count BETWEEN 1 AND 20", name="count_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    demand_id: Mapped[int] = mapped_column(sa.ForeignKey("demand.id", ondelete="CASCADE"), index=True)
    skill_id: Mapped[int] = mapped_column(sa.ForeignKey("skill.id"), index=True)
    count: Mapped[int] = mapped_column(default=1)

    demand: Mapped[Demand] = relationship(back_populates="roles")
    skill: Mapped[Skill] = relationship()


class DemandStatusEvent(Base):
    """One step of a demand's status history (shown to the enterprise on the status page)."""

    __tablename__ = "demand_status_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    demand_id: Mapped[int] = mapped_column(sa.ForeignKey("demand.id", ondelete="CASCADE"), index=True)
    from_status: Mapped[str | None] = mapped_column(sa.String(12))
    to_status: Mapped[str] = mapped_column(sa.String(12))
    at: Mapped[dt.datetime]
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    # Public notes are shown to the enterprise (a rejection reason, a question); others are internal.
    note: Mapped[str | None] = mapped_column(sa.Text)
    public: Mapped[bool] = mapped_column(default=True)

    demand: Mapped[Demand] = relationship(back_populates="events")
