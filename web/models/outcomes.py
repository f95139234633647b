"""The outcome pool (创新成果库): innovation outcomes of craftsmen and studios."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from web.db import Base
from web.models._types import Money, one_of
from web.models.craftsmen import Craftsman, Studio
from web.models.taxonomy import Industry

# 专利, 工法 (work method), 五小 small innovation, 标准, 课程.
OUTCOME_KINDS = ("patent", "method", "small_innovation", "standard", "course")

outcome_industry = sa.Table(
    "outcome_industry",
    Base.metadata,
    sa.Column("outcome_id", sa.ForeignKey("outcome.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("industry_id", sa.ForeignKey("industry.id"), primary_key=True),
)


class Outcome(Base):
    __tablename__ = "outcome"
    __table_args__ = (
        one_of("kind", OUTCOME_KINDS),
        sa.CheckConstraint("value_wan IS NULL OR value_wan >= 0", name="value_nonnegative"),
        sa.CheckConstraint("year IS NULL OR year BETWEEN 1950 AND 2100", name="year_range"),
        sa.UniqueConstraint("seed_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    seed_key: Mapped[str | None] = mapped_column(sa.String(40))
    kind: Mapped[str] = mapped_column(sa.String(20))
    title: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    craftsman_id: Mapped[int | None] = mapped_column(sa.ForeignKey("craftsman.id"), index=True)
    studio_id: Mapped[int | None] = mapped_column(sa.ForeignKey("studio.id"), index=True)
    value_wan: Mapped[float | None] = mapped_column(Money)
    year: Mapped[int | None]
    reference: Mapped[str | None] = mapped_column(sa.String(80))
    # Set when the outcome came out of an engagement's follow-up (links back to the service).
    follow_up_id: Mapped[int | None] = mapped_column(sa.ForeignKey("follow_up.id"), index=True)
    created_at: Mapped[dt.datetime]

    craftsman: Mapped[Craftsman | None] = relationship()
    studio: Mapped[Studio | None] = relationship()
    industries: Mapped[list[Industry]] = relationship(secondary=outcome_industry)
