"""Report summaries: the dashboard's heavy joins pre-aggregated per demand region × calendar month (and the
page header's overdue count per coordinator × day).

Derived data, kept exact by database triggers (``web.services.summaries``) in the same transaction as every
write of the rows they sum, whoever writes them (services, imports, bulk SQL, cascades); ``flask
rebuild-summaries`` recomputes them from scratch. No foreign keys: a row of zeros may outlive its region,
enterprise or industry (the reports skip rows whose counts are zero).
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from web.db import Base


class RegionMonth:
    """The key most summaries start with: the demand's region and a calendar month (its first day)."""

    region_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    month: Mapped[dt.date] = mapped_column(primary_key=True)


class ServiceMonth(RegionMonth, Base):
    """Follow-up records per (their demand's region, month of ``done_on``): counts and figure sums."""

    __tablename__ = "report_service_month"

    records: Mapped[int] = mapped_column(default=0)
    problems: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    # 万元 in hundredths: integer sums stay exact on SQLite too (its NUMERIC is a float).
    value_cents: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    trained: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    apprentices: Mapped[int] = mapped_column(sa.BigInteger, default=0)


class EngagementMonth(Base):
    """Engagements started per (demand region, enterprise, month of ``started_on``) and their serving members."""

    __tablename__ = "report_engagement_month"

    region_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    enterprise_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    month: Mapped[dt.date] = mapped_column(primary_key=True)
    engagements: Mapped[int] = mapped_column(default=0)
    visits: Mapped[int] = mapped_column(default=0)


class IndustryMonth(RegionMonth, Base):
    """Demands per (region, month submitted, status, top-level industry): a demand with two industries under
    one parent counts once there."""

    __tablename__ = "report_industry_month"

    status: Mapped[str] = mapped_column(sa.String(12), primary_key=True)
    industry_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    demands: Mapped[int] = mapped_column(default=0)


class DemandMonth(RegionMonth, Base):
    """Demands per (region, month submitted, category, status)."""

    __tablename__ = "report_demand_month"

    category_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    status: Mapped[str] = mapped_column(sa.String(12), primary_key=True)
    demands: Mapped[int] = mapped_column(default=0)


class CompletionMonth(RegionMonth, Base):
    """Engagements per (demand region, month of ``completed_on``)."""

    __tablename__ = "report_completion_month"

    engagements: Mapped[int] = mapped_column(default=0)


class OpenMonth(RegionMonth, Base):
    """Open follow-ups of engagements in service (or completed, evaluated) per (demand region, month due)."""

    __tablename__ = "report_open_month"

    follow_ups: Mapped[int] = mapped_column(default=0)


class OpenFollowUpDay(Base):
    """Open follow-ups of engagements in service (or completed, evaluated) per (the engagement's coordinator, day
    due): the header's overdue count on every page sums a coordinator's and the unassigned rows before today."""

    __tablename__ = "open_follow_up_day"

    # 0 for the unassigned engagements: a NULL key would never meet its row in the triggers' ON CONFLICT
    coordinator_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    due_on: Mapped[dt.date] = mapped_column(primary_key=True)
    follow_ups: Mapped[int] = mapped_column(default=0)


class RatingMonth(RegionMonth, Base):
    """Enterprises' ratings per (demand region, month given, rating)."""

    __tablename__ = "report_rating_month"

    rating: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    ratings: Mapped[int] = mapped_column(default=0)


class MatchDays(RegionMonth, Base):
    """Matched demands per (region, month submitted, whole days from submission to match): the median's
    histogram (the median itself reads only the one or two days around the middle)."""

    __tablename__ = "report_match_days"

    days: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    demands: Mapped[int] = mapped_column(default=0)


class CompletionDays(RegionMonth, Base):
    """Completed engagements per (demand region, month submitted, whole days from submission to completion)."""

    __tablename__ = "report_completion_days"

    days: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    engagements: Mapped[int] = mapped_column(default=0)


class DayValues(RegionMonth):
    """The medians' values keyed by their whole days first (an index range reads one day's values)."""

    days: Mapped[int] = mapped_column(primary_key=True, autoincrement=False, sort_order=-1)
    value: Mapped[float] = mapped_column(sa.Numeric(asdecimal=False), primary_key=True)


class MatchValue(DayValues, Base):
    """Matched demands per (whole days to match, region, month submitted, exact days to match)."""

    __tablename__ = "report_match_values"

    demands: Mapped[int] = mapped_column(default=0)


class CompletionValue(DayValues, Base):
    """Completed engagements per (whole days to completion, region, month submitted, exact days)."""

    __tablename__ = "report_completion_values"

    engagements: Mapped[int] = mapped_column(default=0)
