"""Enterprises that submit demands."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from web.db import Base, postgresql_only
from web.models._types import one_of
from web.models.taxonomy import Industry, Region

# zjtx = 专精特新 (specialised, refined, distinctive, novel); smme = 中小微.
ENTERPRISE_TYPES = ("zjtx", "smme", "large", "other")

enterprise_industry = sa.Table(
    "enterprise_industry",
    Base.metadata,
    sa.Column("enterprise_id", sa.ForeignKey("enterprise.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("industry_id", sa.ForeignKey("industry.id"), primary_key=True),
)


class Enterprise(Base):
    __tablename__ = "enterprise"
    __table_args__ = (
        one_of("type", ENTERPRISE_TYPES),
        sa.UniqueConstraint("credit_code"),
        sa.CheckConstraint("length(credit_code) = 18", name="credit_code_length"),
        sa.CheckConstraint("employees IS NULL OR employees >= 0", name="employees_nonnegative"),
        # The inbox's text search on the enterprise's name (see Demand's): on PostgreSQL only.
        postgresql_only(sa.Index("ix_enterprise_name_trgm", "name", postgresql_using="gin",
                                 postgresql_ops={"name": "gin_trgm_ops"})),
    )
    # The e-mail field's server default is read when used, not RETURNed by every INSERT: rows written by code
    # that predates the column (the migration tests seed old schemas with these models) still insert.
    __mapper_args__ = {"eager_defaults": False}

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    credit_code: Mapped[str] = mapped_column(sa.String(18))
    type: Mapped[str] = mapped_column(sa.String(10), default="smme")
    region_id: Mapped[int] = mapped_column(sa.ForeignKey("region.id"), index=True)
    employees: Mapped[int | None]
    address: Mapped[str] = mapped_column(sa.String(200), default="")
    contact_name: Mapped[str] = mapped_column(sa.String(40), default="")
    contact_phone: Mapped[str] = mapped_column(sa.String(20), default="")
    # Optional ("" = none): where the outbox e-mails the matching results, else an SMS to contact_phone.
    # A server default only, so inserts that do not name the column (older code, migration tests) still work.
    contact_email: Mapped[str] = mapped_column(sa.String(120), server_default="")
    created_at: Mapped[dt.datetime]

    region: Mapped[Region] = relationship()
    industries: Mapped[list[Industry]] = relationship(secondary=enterprise_industry)
