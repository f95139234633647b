"""Engagements created by published rounds, their follow-ups, feedback, points and targets."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from web.db import Base
from web.models._types import Money, one_of
from web.models.craftsmen import Craftsman
from web.models.demands import Demand

ENGAGEMENT_STATUSES = ("scheduled", "in_service", "completed", "evaluated", "cancelled")
MEMBER_STATUSES = ("assigned", "accepted", "declined", "no_show", "served")
LIVE_ENGAGEMENT = "status <> 'cancelled'"
OPEN_FOLLOW_UP = "done_on IS NULL"
# One schedule: two weeks, the result, three months, six months (0005 merged the old "impact_6m" into "review_6m").
FOLLOW_UP_KINDS = ("check_2w", "result", "review_3m", "review_6m")


class Engagement(Base):
    __tablename__ = "engagement"
    __table_args__ = (
        one_of("status", ENGAGEMENT_STATUSES),
        sa.CheckConstraint("status <> 'cancelled' OR cancel_reason IS NOT NULL", name="cancel_has_reason"),
        sa.CheckConstraint("completed_on IS NULL OR started_on IS NULL OR completed_on >= started_on",
                           name="dates_ordered"),
        # Publishing a round twice must not create a second engagement for the same demand.
        sa.UniqueConstraint("round_id", "demand_id"),
        # One demand, one live service: two rounds published at once cannot both serve it (a cancelled
        # engagement frees the demand for a later round).
        sa.Index("uq_engagement_live_demand", "demand_id", unique=True,
                 sqlite_where=sa.text(LIVE_ENGAGEMENT), postgresql_where=sa.text(LIVE_ENGAGEMENT)),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    demand_id: Mapped[int] = mapped_column(sa.ForeignKey("demand.id"), index=True)
    round_id: Mapped[int | None] = mapped_column(sa.ForeignKey("matching_round.id"), index=True)
    status: Mapped[str] = mapped_column(sa.String(12), default="scheduled", index=True)
    started_on: Mapped[dt.date | None]
    completed_on: Mapped[dt.date | None] = mapped_column(index=True)  # the trend's current month
    cancel_reason: Mapped[str | None] = mapped_column(sa.String(300))
    acceptance_confirmed_by: Mapped[str | None] = mapped_column(sa.String(80))
    acceptance_at: Mapped[dt.datetime | None]
    completion_override_reason: Mapped[str | None] = mapped_column(sa.String(300))
    coordinator_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"), index=True)
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
    # Optimistic lock: two requests acting on one engagement at once (a start and a cancel) cannot both win; the
    # later flush finds the row changed and its request answers 409 (web.errors.is_concurrent_conflict).
    version: Mapped[int] = mapped_column(default=1, server_default="1")

    __mapper_args__ = {"version_id_col": version}

    demand: Mapped[Demand] = relationship()
    members: Mapped[list[EngagementMember]] = relationship(back_populates="engagement", cascade="all, delete-orphan")
    follow_ups: Mapped[list[FollowUp]] = relationship(
        back_populates="engagement", cascade="all, delete-orphan", order_by="FollowUp.due_on"
    )
    visits: Mapped[list[VisitLog]] = relationship(
        back_populates="engagement", cascade="all, delete-orphan", order_by="VisitLog.visited_on"
    )


class EngagementMember(Base):
    """One craftsman of an engagement's team; a decline is recorded, not deleted."""

    __tablename__ = "engagement_member"
    __table_args__ = (one_of("status", MEMBER_STATUSES), sa.UniqueConstraint("engagement_id", "craftsman_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    engagement_id: Mapped[int] = mapped_column(sa.ForeignKey("engagement.id", ondelete="CASCADE"), index=True)
    craftsman_id: Mapped[int] = mapped_column(sa.ForeignKey("craftsman.id"), index=True)
    # indexed: a re-solve deletes thousands of proposals, each checked against this key (a scan per row without it)
    proposal_id: Mapped[int | None] = mapped_column(sa.ForeignKey("proposal.id"), index=True)
    status: Mapped[str] = mapped_column(sa.String(10), default="assigned")
    status_reason: Mapped[str | None] = mapped_column(sa.String(300))

    engagement: Mapped[Engagement] = relationship(back_populates="members")
    craftsman: Mapped[Craftsman] = relationship()


class VisitLog(Base):
    __tablename__ = "visit_log"
    __table_args__ = (sa.CheckConstraint("hours IS NULL OR hours >= 0", name="hours_nonnegative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    engagement_id: Mapped[int] = mapped_column(sa.ForeignKey("engagement.id", ondelete="CASCADE"), index=True)
    craftsman_id: Mapped[int | None] = mapped_column(sa.ForeignKey("craftsman.id"))
    visited_on: Mapped[dt.date]
    hours: Mapped[float | None]
    note: Mapped[str] = mapped_column(sa.Text, default="")
    recorded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    recorded_at: Mapped[dt.datetime]

    engagement: Mapped[Engagement] = relationship(back_populates="visits")


class FollowUp(Base):
    """A scheduled check of an engagement; recorded once (one row per engagement and kind)."""

    __tablename__ = "follow_up"
    __table_args__ = (
        one_of("kind", FOLLOW_UP_KINDS),
        sa.UniqueConstraint("engagement_id", "kind"),
        sa.CheckConstraint("problems_solved IS NULL OR problems_solved >= 0", name="problems_nonnegative"),
        sa.CheckConstraint("value_created_wan IS NULL OR value_created_wan >= 0", name="value_nonnegative"),
        sa.CheckConstraint("workers_trained IS NULL OR workers_trained >= 0", name="trained_nonnegative"),
        sa.CheckConstraint("apprentices IS NULL OR apprentices >= 0", name="apprentices_nonnegative"),
        # The open follow-ups by due date (overdue counts and lists): a small part of a table that only grows.
        sa.Index("ix_follow_up_open", "due_on", postgresql_include=["engagement_id"],
                 sqlite_where=sa.text(OPEN_FOLLOW_UP), postgresql_where=sa.text(OPEN_FOLLOW_UP)),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    engagement_id: Mapped[int] = mapped_column(sa.ForeignKey("engagement.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(12))
    mandatory: Mapped[bool] = mapped_column(default=True)
    due_on: Mapped[dt.date] = mapped_column(index=True)
    done_on: Mapped[dt.date | None]
    problems_solved: Mapped[int | None]
    value_created_wan: Mapped[float | None] = mapped_column(Money)
    workers_trained: Mapped[int | None]
    apprentices: Mapped[int | None]
    recorded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    recorded_at: Mapped[dt.datetime | None]

    engagement: Mapped[Engagement] = relationship(back_populates="follow_ups")
    notes: Mapped[list[FollowUpNote]] = relationship(
        back_populates="follow_up", cascade="all, delete-orphan", order_by="FollowUpNote.created_at"
    )
    attachments: Mapped[list[Attachment]] = relationship(back_populates="follow_up", cascade="all, delete-orphan")


class FollowUpNote(Base):
    """Append-only: a correction is a new note pointing at the one it corrects."""

    __tablename__ = "follow_up_note"

    id: Mapped[int] = mapped_column(primary_key=True)
    follow_up_id: Mapped[int] = mapped_column(sa.ForeignKey("follow_up.id", ondelete="CASCADE"), index=True)
    corrects_id: Mapped[int | None] = mapped_column(sa.ForeignKey("follow_up_note.id"))
    body: Mapped[str] = mapped_column(sa.Text)
    author_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    created_at: Mapped[dt.datetime]

    follow_up: Mapped[FollowUp] = relationship(back_populates="notes")


class Attachment(Base):
    __tablename__ = "attachment"
    __table_args__ = (sa.CheckConstraint("size_bytes >= 0", name="size_nonnegative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    follow_up_id: Mapped[int] = mapped_column(sa.ForeignKey("follow_up.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(sa.String(200))
    content_type: Mapped[str] = mapped_column(sa.String(100))
    size_bytes: Mapped[int]
    storage_key: Mapped[str] = mapped_column(sa.String(200), unique=True)
    uploaded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    uploaded_at: Mapped[dt.datetime]

    follow_up: Mapped[FollowUp] = relationship(back_populates="attachments")


class Feedback(Base):
    """The enterprise's rating of a completed demand (given once, on the status page)."""

    __tablename__ = "feedback"
    __table_args__ = (
        sa.UniqueConstraint("demand_id"),
        sa.CheckConstraint("rating BETWEEN 1 AND 5", name="rating_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    demand_id: Mapped[int] = mapped_column(sa.ForeignKey("demand.id"), index=True)
    engagement_id: Mapped[int | None] = mapped_column(sa.ForeignKey("engagement.id"), index=True)
    rating: Mapped[int]
    comment: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[dt.datetime]


class PointsEntry(Base):
    """The points ledger (积分): every change of a craftsman's balance, explained."""

    __tablename__ = "points_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    craftsman_id: Mapped[int] = mapped_column(sa.ForeignKey("craftsman.id"), index=True)
    delta: Mapped[int]
    rule: Mapped[str] = mapped_column(sa.String(40))
    explanation: Mapped[str] = mapped_column(sa.String(300))
    engagement_id: Mapped[int | None] = mapped_column(sa.ForeignKey("engagement.id"), index=True)
    outcome_id: Mapped[int | None] = mapped_column(sa.ForeignKey("outcome.id"), index=True)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    created_at: Mapped[dt.datetime]


class RegionTarget(Base):
    """Yearly targets per region (visits, enterprises served, problems solved, skill upgrades)."""

    __tablename__ = "region_target"
    __table_args__ = (
        sa.UniqueConstraint("region_id", "year"),
        sa.CheckConstraint("visits >= 0 AND enterprises >= 0 AND problems >= 0 AND skill_upgrades >= 0",
                           name="targets_nonnegative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    region_id: Mapped[int] = mapped_column(sa.ForeignKey("region.id"), index=True)
    year: Mapped[int]
    visits: Mapped[int] = mapped_column(default=0)
    enterprises: Mapped[int] = mapped_column(default=0)
    problems: Mapped[int] = mapped_column(default=0)
    skill_upgrades: Mapped[int] = mapped_column(default=0)
