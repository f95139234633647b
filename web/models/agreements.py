"""Long-term cooperation agreements (长期合作协议, "临时助企" → "长期惠企"): records of their own."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from web.db import Base
from web.models.craftsmen import Craftsman, Studio
from web.models.engagements import Engagement
from web.models.enterprises import Enterprise


class Agreement(Base):
    """An agreement signed out of an engagement: the enterprise, a craftsman and/or studio, and the union."""

    __tablename__ = "agreement"
    __table_args__ = (
        sa.CheckConstraint("ends_on >= starts_on", name="dates_ordered"),
        sa.CheckConstraint("document_key IS NULL OR document_size >= 0", name="document_size_nonnegative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    engagement_id: Mapped[int] = mapped_column(sa.ForeignKey("engagement.id"), index=True)
    enterprise_id: Mapped[int] = mapped_column(sa.ForeignKey("enterprise.id"), index=True)
    craftsman_id: Mapped[int | None] = mapped_column(sa.ForeignKey("craftsman.id"), index=True)
    studio_id: Mapped[int | None] = mapped_column(sa.ForeignKey("studio.id"), index=True)
    union_name: Mapped[str] = mapped_column(sa.String(120))
    starts_on: Mapped[dt.date]
    ends_on: Mapped[dt.date] = mapped_column(index=True)
    scope: Mapped[str] = mapped_column(sa.Text, default="")
    document_name: Mapped[str | None] = mapped_column(sa.String(200))
    document_type: Mapped[str | None] = mapped_column(sa.String(100))
    document_size: Mapped[int | None]
    document_key: Mapped[str | None] = mapped_column(sa.String(200), unique=True)
    # The follow-up whose "agreement signed" tick this record replaced (rows migrated by 0005).
    follow_up_id: Mapped[int | None] = mapped_column(sa.ForeignKey("follow_up.id", ondelete="SET NULL"))
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    created_at: Mapped[dt.datetime]

    engagement: Mapped[Engagement] = relationship()
    enterprise: Mapped[Enterprise] = relationship()
    craftsman: Mapped[Craftsman | None] = relationship()
    studio: Mapped[Studio | None] = relationship()
