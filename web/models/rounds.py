"""Matching rounds, their proposals, and the notification outbox written on publish."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from web.caches import LastFew
from web.db import Base, json_loads
from web.models._types import one_of
from web.models.craftsmen import Craftsman
from web.models.demands import Demand

ROUND_STATUSES = ("draft", "queued", "solving", "solved", "failed", "published")
RECIPIENT_KINDS = ("enterprise", "craftsman")
NOTIFICATION_STATUSES = ("pending", "sent", "failed")
NOTIFICATION_CHANNELS = ("sms", "email")


class MatchingRound(Base):
    __tablename__ = "matching_round"
    __table_args__ = (one_of("status", ROUND_STATUSES),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    status: Mapped[str] = mapped_column(sa.String(12), default="draft", index=True)
    # Scope: a city's coordinator runs rounds for its own region; NULL = province-wide.
    region_id: Mapped[int | None] = mapped_column(sa.ForeignKey("region.id"), index=True)
    config: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    filters: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    # The frozen inputs of the last solve, so a re-run gives the same answer (``snapshot``), in two parts: the pools'
    # features (megabytes for a province round), stored once per content in ``round_features``, and what each
    # solve sets (config, locks, exclusions, previous and kept pairs), a few kB, here. A re-solve that reuses the
    # features writes only the latter. Loaded when read: only a solve, the page's pending check and a publish do.
    solve_inputs: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON, deferred=True)
    features_digest: Mapped[str | None] = mapped_column(sa.ForeignKey("round_features.digest"), index=True)
    # sha256 of the whole snapshot's canonical JSON (``features.digest``), recorded in the solve's audit entry.
    snapshot_digest: Mapped[str | None] = mapped_column(sa.String(64))
    metrics: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    objective: Mapped[float | None]
    solver_status: Mapped[str | None] = mapped_column(sa.String(20))
    solver_message: Mapped[str | None] = mapped_column(sa.Text)
    job_id: Mapped[str | None] = mapped_column(sa.String(64))
    # Optimistic lock: two coordinators editing one round are told, not overwritten.
    version: Mapped[int] = mapped_column(default=1)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    created_at: Mapped[dt.datetime]
    # When the last background solve was queued: a job that outlives its time limit is reported, not awaited.
    queued_at: Mapped[dt.datetime | None]
    solved_at: Mapped[dt.datetime | None]
    published_at: Mapped[dt.datetime | None]
    published_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))

    __mapper_args__ = {"version_id_col": version}

    demands: Mapped[list[RoundDemand]] = relationship(back_populates="round", cascade="all, delete-orphan")
    craftsmen: Mapped[list[RoundCraftsman]] = relationship(back_populates="round", cascade="all, delete-orphan")
    proposals: Mapped[list[Proposal]] = relationship(back_populates="round", cascade="all, delete-orphan",
                                                     primaryjoin="MatchingRound.id == foreign(Proposal.round_id)")
    features: Mapped[RoundFeatures | None] = relationship()

    @property
    def snapshot(self) -> dict[str, Any] | None:
        """The whole frozen input of the last solve, as one dict (features and solve inputs merged); read-only."""
        if self.solve_inputs is None:
            return None
        return {**(self.features.values if self.features_digest else {}), **self.solve_inputs}


class RoundFeatures(Base):
    """The features part of round snapshots (craftsmen, demands, history, roles, skill families, track record),
    stored once per content: ``data`` is its canonical JSON text (sorted keys, no spaces), ``digest`` that text's
    sha256. A row never changes, so its parsed value is kept per process by digest."""

    __tablename__ = "round_features"

    digest: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    data: Mapped[str] = mapped_column(sa.Text, deferred=True)
    created_at: Mapped[dt.datetime]

    @property
    def values(self) -> dict[str, Any]:
        value = parsed_features.get(self.digest)
        if value is None:  # parsed as the JSON columns are (the same values as the standard library's parse)
            value = json_loads(self.data)
            parsed_features.keep(self.digest, value)
        return value


# digest → the parsed features: content-addressed, so never stale; nobody changes a value taken from here (shared).
parsed_features = LastFew(4)


class RoundDemand(Base):
    __tablename__ = "round_demand"
    __table_args__ = (
        sa.UniqueConstraint("round_id", "demand_id"),
        sa.CheckConstraint("slots >= 1", name="slots_positive"),
        sa.CheckConstraint("priority > 0", name="priority_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(sa.ForeignKey("matching_round.id", ondelete="CASCADE"), index=True)
    demand_id: Mapped[int] = mapped_column(sa.ForeignKey("demand.id"), index=True)
    slots: Mapped[int]
    priority: Mapped[float] = mapped_column(default=1.0)
    # What the demand said when the round last solved (``eligibility.demand_fingerprints``): an edit since
    # then makes its proposals stale.
    fingerprint: Mapped[str | None] = mapped_column(sa.String(32))
    # The demand's ``revision`` that fingerprint was read at: while the demand still has it, the fingerprint holds.
    revision: Mapped[int | None]

    round: Mapped[MatchingRound] = relationship(back_populates="demands")
    demand: Mapped[Demand] = relationship()


class RoundCraftsman(Base):
    __tablename__ = "round_craftsman"
    __table_args__ = (
        sa.UniqueConstraint("round_id", "craftsman_id"),
        sa.CheckConstraint("capacity >= 0", name="capacity_nonnegative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(sa.ForeignKey("matching_round.id", ondelete="CASCADE"), index=True)
    craftsman_id: Mapped[int] = mapped_column(sa.ForeignKey("craftsman.id"), index=True)
    capacity: Mapped[int]
    # set by the coordinator (for him, or for all at the round's creation); otherwise copied from his profile,
    # whose later edits it follows until the round is published
    capacity_chosen: Mapped[bool] = mapped_column(default=False, server_default=sa.false())

    round: Mapped[MatchingRound] = relationship(back_populates="craftsmen")
    craftsman: Mapped[Craftsman] = relationship()


class Proposal(Base):
    """A (craftsman, demand) pair of a round: proposed, an alternate, locked or excluded."""

    __tablename__ = "proposal"
    __table_args__ = (
        sa.UniqueConstraint("round_id", "craftsman_id", "demand_id"),
        # A pair is always the round's: its craftsman and its demand are members. Two keys to the round's own
        # tables check less per written row (a province round writes ~8,500 at once) than one each to the round,
        # the craftsman and the demand, and guard more.
        sa.ForeignKeyConstraint(["round_id", "craftsman_id"],
                                ["round_craftsman.round_id", "round_craftsman.craftsman_id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["round_id", "demand_id"], ["round_demand.round_id", "round_demand.demand_id"],
                                ondelete="CASCADE"),
        # a round's proposals by demand (the review's page, the demand key's cascade); by round or by craftsman
        # the unique index serves
        sa.Index("ix_proposal_round_id_demand_id", "round_id", "demand_id"),
        sa.CheckConstraint("NOT (locked AND excluded)", name="not_locked_and_excluded"),
        sa.CheckConstraint("locked_role_skill_id IS NULL OR locked", name="role_lock_is_a_lock"),
        sa.CheckConstraint("score >= 0", name="score_nonnegative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int]
    craftsman_id: Mapped[int]
    demand_id: Mapped[int]
    score: Mapped[float] = mapped_column(default=0.0)
    breakdown: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    assigned: Mapped[bool] = mapped_column(default=False)
    alternate_rank: Mapped[int | None]
    locked: Mapped[bool] = mapped_column(default=False)
    excluded: Mapped[bool] = mapped_column(default=False)
    warnings: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    # The role of a team demand this craftsman fills (its speciality); NULL for a demand without roles.
    # Engagement members reach it through their proposal_id.
    role_skill_id: Mapped[int | None] = mapped_column(sa.ForeignKey("skill.id"))
    # The role the coordinator locked this craftsman onto (a lock may also leave the role to the solver).
    locked_role_skill_id: Mapped[int | None] = mapped_column(sa.ForeignKey("skill.id"))

    # through the membership keys above, which name no table of these three
    round: Mapped[MatchingRound] = relationship(back_populates="proposals",
                                                primaryjoin="MatchingRound.id == foreign(Proposal.round_id)")
    craftsman: Mapped[Craftsman] = relationship(primaryjoin="Craftsman.id == foreign(Proposal.craftsman_id)")
    demand: Mapped[Demand] = relationship(primaryjoin="Demand.id == foreign(Proposal.demand_id)")


class Notification(Base):
    """The outbox: one message per recipient (enterprise or craftsman) per round, written when it is published.

    A failed send is retried with exponential backoff (``attempts``, ``next_attempt_at``) until the maximum
    number of attempts, then it is marked failed; ``last_error`` says why."""

    __tablename__ = "notification"
    __table_args__ = (
        one_of("recipient_kind", RECIPIENT_KINDS),
        one_of("status", NOTIFICATION_STATUSES),
        one_of("channel", NOTIFICATION_CHANNELS),
        sa.UniqueConstraint("round_id", "recipient_kind", "recipient_id"),  # one message per recipient per round
        sa.CheckConstraint("attempts >= 0", name="attempts_nonnegative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int | None] = mapped_column(sa.ForeignKey("matching_round.id"), index=True)
    recipient_kind: Mapped[str] = mapped_column(sa.String(12))
    recipient_id: Mapped[int]
    channel: Mapped[str] = mapped_column(sa.String(12), default="sms")
    address: Mapped[str] = mapped_column(sa.String(120), default="")
    subject: Mapped[str] = mapped_column(sa.String(200))
    body: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(10), default="pending", index=True)
    created_at: Mapped[dt.datetime]
    sent_at: Mapped[dt.datetime | None]
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    next_attempt_at: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(sa.String(500))
