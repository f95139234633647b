"""Dashboard and period-report figures, every one a SQL aggregate (GROUP BY; no row-by-row Python).

Definitions (the same on the dashboard, the period report and the XLSX export):
- a demand is counted in the period it was *submitted*; the match rate is the share of demands that
  reached "matched" or later among those that could be matched (approved or later, not rejected/withdrawn/merged);
- service figures (problems solved, value created 万元, workers trained 人次, apprentices, agreements) are the
  sums of the follow-up records *recorded* in the period — each record holds what is new since the previous one;
- enterprises served and craftsman visits (人次) count engagements *started* in the period;
- satisfaction is the enterprises' ratings *given* in the period;
- engagements active and follow-ups overdue are the state today.
Rolling regions up to cities and provinces happens on already-grouped rows (one per region, a few hundred).
"""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from web.models import (
    Agreement,
    CompletionDays,
    CompletionMonth,
    CompletionValue,
    Demand,
    DemandCategory,
    DemandMonth,
    Engagement,
    EngagementMember,
    EngagementMonth,
    Feedback,
    FollowUp,
    Industry,
    IndustryMonth,
    MatchDays,
    MatchValue,
    OpenMonth,
    Outcome,
    RatingMonth,
    Region,
    RegionTarget,
    ServiceMonth,
    VisitLog,
    demand_industry,
)
from web.models.demands import DEMAND_STATUSES
from web.schemas.common import load_or_raise
from web.schemas.engagements import TargetSchema
from web.services import agreements, audit, reference, summaries
from web.services.summaries import SERVED_ENGAGEMENTS, SERVING_MEMBERS

MATCHED_OR_LATER = ("matched", "in_service", "completed", "evaluated")
MATCHABLE = ("open", *MATCHED_OR_LATER)
HIGH_RATING = 4


@dataclass(frozen=True)
class Period:
    """Inclusive dates; None = open-ended. ``province`` ("51" Sichuan, "50" Chongqing) narrows to one province."""

    start: dt.date | None = None
    end: dt.date | None = None
    province: str | None = None

    def on(self, column: Any) -> list[Any]:
        """Conditions keeping ``column`` (a date or a naive datetime) inside the period."""
        conditions = []
        is_datetime = isinstance(column.type, sa.DateTime)
        if self.start is not None:
            start = dt.datetime.combine(self.start, dt.time()) if is_datetime else self.start
            conditions.append(column >= start)
        if self.end is not None:
            if is_datetime:
                conditions.append(column < dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time()))
            else:
                conditions.append(column <= self.end)
        return conditions

    def region(self, demand_region_id: Any) -> list[Any]:
        if not self.province:
            return []
        return [demand_region_id.in_(sa.select(Region.id).where(Region.province_code == self.province))]


# ---------------------------------------------------------------- dialect helpers
def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def month_bucket(session: Session, column: Any) -> Any:
    """The month of ``column`` to group by; ``month_label`` formats the grouped buckets (PostgreSQL's
    ``to_char`` on every row of a large table costs more than its ``date_trunc``)."""
    if _dialect(session) == "sqlite":
        return sa.func.strftime("%Y-%m", column)
    return sa.func.date_trunc("month", sa.cast(column, sa.DateTime))


def month_label(session: Session, bucket: Any) -> Any:
    """``YYYY-MM`` of a ``month_bucket`` (SQLite's bucket is that text already)."""
    return bucket if _dialect(session) == "sqlite" else sa.func.to_char(bucket, "YYYY-MM")


# ---------------------------------------------------------------- the figures
@dataclass(frozen=True)
class DemandGroup:
    region_id: int
    category_id: int
    status: str
    demands: int


class DemandCounts:
    """The period's demands per (region, category, status), from ``report_demand_month`` (the edge months
    from the rows): the figures by status, category and region and the match rate's counts."""

    def __init__(self, session: Session, period: Period) -> None:
        keys = (DemandMonth.region_id, DemandMonth.category_id, DemandMonth.status)
        totals: dict[tuple, int] = defaultdict(int)
        for *key, demands in _counted(
                session, period, sa.select(*keys, sa.func.sum(DemandMonth.demands)).group_by(*keys)
                .where(*period.region(DemandMonth.region_id)).having(sa.func.sum(DemandMonth.demands) > 0),
                DemandMonth.month,
                sa.select(Demand.region_id, Demand.category_id, Demand.status, sa.func.count())
                .where(*period.region(Demand.region_id))
                .group_by(Demand.region_id, Demand.category_id, Demand.status), Demand.submitted_at):
            totals[tuple(key)] += int(demands)
        self.rows = [DemandGroup(*key, demands) for key, demands in totals.items()]

    def by(self, key: str) -> dict[Any, tuple[int, int]]:
        """{region_id or category_id or status: (demands, matched or later)}."""
        totals: dict[Any, tuple[int, int]] = {}
        for row in self.rows:
            demands, matched = totals.get(getattr(row, key), (0, 0))
            totals[getattr(row, key)] = (demands + row.demands,
                                         matched + (row.demands if row.status in MATCHED_OR_LATER else 0))
        return totals


def _demand_counts(session: Session, period: Period, facts: Facts | None) -> DemandCounts:
    """The facts' counts when they were taken for this period (a report reuses them), else a fresh pass."""
    if facts is not None and facts.period == period:
        return facts.demand_counts(session)
    return DemandCounts(session, period)


@dataclass(frozen=True)
class FollowRow:
    """Follow-up sums of one demand region and month (``YYYY-MM``), inside the period (1) or not (0)."""

    region_id: int
    month: str
    in_period: int
    problems: int
    value_wan: float
    trained: int
    apprentices: int


@dataclass
class RegionMembers:
    """Per demand region: enterprises served (their ids: a city or a target region counts each once, however
    many of its regions the enterprise's demands lie in) and craftsman visits, in the period (p) and in the
    target year (y)."""

    enterprises_p: set[int] = field(default_factory=set)
    visits_p: int = 0
    enterprises_y: set[int] = field(default_factory=set)
    visits_y: int = 0


def _month_end(first: dt.date) -> dt.date:
    return agreements.add_months(first, 1) - dt.timedelta(days=1)


def edge_months(period: Period) -> list[dt.date]:
    """The months the period cuts (it starts after their first day or ends before their last): their figures
    come from the rows, every other month's from the summaries (``web.models.summaries``)."""
    edges = set()
    if period.start is not None and period.start.day != 1:
        edges.add(period.start.replace(day=1))
    if period.end is not None and period.end != _month_end(period.end.replace(day=1)):
        edges.add(period.end.replace(day=1))
    return sorted(edges)


def _months_inside(period: Period, month: Any) -> list[Any]:
    """Conditions keeping a summary's ``month`` inside the period (its edge months excluded separately)."""
    return [*([month >= period.start.replace(day=1)] if period.start else []),
            *([month <= period.end.replace(day=1)] if period.end else [])]


def _month_in_period(period: Period, month: Any) -> Any:
    """One condition: a summary's ``month`` inside the period (true for an open period)."""
    conditions = _months_inside(period, month)
    return sa.and_(*conditions) if conditions else sa.true()


def _summary_months(period: Period, month: Any) -> list[Any]:
    edges = edge_months(period)
    return [month.not_in(edges)] if edges else []


def _in_edges(period: Period, column: Any) -> Any:
    """``column`` inside one of the period's edge months (whole months: the flags split them)."""
    return sa.or_(*(sa.and_(*Period(first, _month_end(first)).on(column)) for first in edge_months(period)))


def _flag(period: Period, column: Any) -> Any:
    conditions = period.on(column)
    return sa.case((sa.and_(*conditions), 1), else_=0) if conditions else sa.literal(1)


def median_days(session: Session, period: Period, counts: tuple[Any, Any], ends: tuple[str, str], rows: Any,
                *where: Any) -> float | None:
    """The median of the days from ``ends[0]`` to ``ends[1]`` over the period's ``rows`` matching ``where``,
    exactly (the mean of the middle one or two values): the whole-day histogram (``counts[0]``'s summary, the
    edge months from the rows) finds the one or two days holding the middle, then the values of those days
    are read (``counts[1]``'s summary, keyed by the whole days first)."""
    dialect = _dialect(session)
    bucket = sa.literal_column(summaries.days_bucket(dialect, *ends))
    value = sa.literal_column(summaries.days(dialect, *ends))
    histogram = _count_by(session, period, counts[0], counts[0].class_.days, bucket, rows, *where)
    total = sum(histogram.values())
    if total == 0:
        return None
    low, high = (total - 1) // 2, total // 2  # the middle ranks (equal when the count is odd)
    before, first, middle_days = 0, 0, []
    for days in sorted(histogram):
        if before <= high and before + histogram[days] > low:
            first = first if middle_days else before
            middle_days.append(days)
        before += histogram[days]
    values = counts[1].class_
    ordered = [number for number, times in sorted(_count_by(
        session, period, counts[1], values.value, value, rows, *where, days=(values.days, bucket, middle_days))
        .items()) for _ in range(times)]
    middle = ordered[low - first:high - first + 1]
    # To a millionth of a day first: SQLite's julianday differences carry ~1e-9 of noise, which rounded a
    # median of exactly x.x5 days up there and down on PostgreSQL.
    return round(round(sum(middle) / len(middle), 6), 1)


def _count_by(session: Session, period: Period, count: Any, summary_key: Any, row_key: Any, rows: Any, *where: Any,
              days: tuple[Any, Any, list[int]] | None = None) -> dict[Any, int]:
    """{key: how many} over the period: ``count`` summed by ``summary_key`` in its summary's whole months, the
    rows counted by ``row_key`` in the edge months; ``days`` keeps the summary's and the rows' whole days."""
    summary = count.class_
    summary_days, row_days = ([days[0].in_(days[2])], [days[1].in_(days[2])]) if days else ([], [])
    counted: dict[Any, int] = defaultdict(int)
    for key, number in _counted(
            session, period, sa.select(summary_key, sa.func.sum(count))
            .where(*summary_days, *period.region(summary.region_id)).group_by(summary_key), summary.month,
            sa.select(row_key, sa.func.count()).select_from(rows)
            .where(*where, *row_days, *period.region(Demand.region_id)).group_by(row_key), Demand.submitted_at):
        counted[float(key) if days else int(key)] += int(number)
    return counted


def _counted(session: Session, period: Period, summed: Any, month: Any, counted: Any, column: Any) -> list[Any]:
    """Rows of ``summed`` (a summary's query) for the period's whole months, then rows of ``counted`` (the same
    figures from the rows, by ``column``) for its edge months."""
    rows = list(session.execute(summed.where(*_months_inside(period, month), *_summary_months(period, month))))
    if edge_months(period):
        rows += session.execute(counted.where(*period.on(column), _in_edges(period, column)))
    return rows


class Facts:
    """The heavy figures of a report, grouped small (per region × month or per region), read from the
    summaries for whole months and from the rows for the period's edge months.

    - ``follow``: follow-up sums per (demand region, month of the record, inside the period or not);
    - ``members``: per demand region, enterprises and craftsman visits of engagements started inside the
      period and inside the target year; ``enterprises_served`` and ``engagements_started`` in the period.
    Headline, by-region, trend and target figures are sums over these few hundred grouped rows.
    """

    def __init__(self, session: Session, period: Period, today: dt.date, year: int, months: int = 12, *,
                 regions: bool = True) -> None:
        """``regions=False`` (the dashboard) leaves the service figures out of ``by_region``."""
        self.period, self.today, self.year, self.regions = period, today, year, regions
        self.months = month_keys(period, today, months)
        bounds = [dt.date(int(self.months[0][:4]), int(self.months[0][5:]), 1), dt.date(year, 1, 1)]
        # A month's first day, or the period's start inside an edge month (read from the rows whole).
        self.lower = min(bounds + [period.start]) if period.start else None
        self.follow = self._follow(session)
        self.members, self.enterprises_served, self.engagements_started = self._members(session)
        self.demands: DemandCounts | None = None

    def demand_counts(self, session: Session) -> DemandCounts:
        if self.demands is None:
            self.demands = DemandCounts(session, self.period)
        return self.demands

    def _follow(self, session: Session) -> list[FollowRow]:
        period, month = self.period, ServiceMonth.month
        inside = _month_in_period(period, month)
        summed = session.execute(
            sa.select(ServiceMonth.region_id, month, sa.case((inside, 1), else_=0), ServiceMonth.problems,
                      ServiceMonth.value_cents, ServiceMonth.trained, ServiceMonth.apprentices)
            .where(ServiceMonth.records > 0, *([month >= self.lower] if self.lower else []),
                   *_summary_months(period, month), *period.region(ServiceMonth.region_id))).all()
        rows = [FollowRow(region_id, f"{first:%Y-%m}", in_period, problems, cents / 100, trained, apprentices)
                for region_id, first, in_period, problems, cents, trained, apprentices in summed]
        if not edge_months(period):
            return rows
        inner = (sa.select(Demand.region_id, month_bucket(session, FollowUp.done_on).label("month"),
                           _flag(period, FollowUp.done_on).label("in_period"), FollowUp.problems_solved,
                           FollowUp.value_created_wan, FollowUp.workers_trained, FollowUp.apprentices)
                 .select_from(FollowUp).join(Engagement, Engagement.id == FollowUp.engagement_id)
                 .join(Demand, Demand.id == Engagement.demand_id)
                 .where(FollowUp.done_on.is_not(None), _in_edges(period, FollowUp.done_on),
                        *period.region(Demand.region_id))).subquery()
        for row in session.execute(
                sa.select(inner.c.region_id, month_label(session, inner.c.month), inner.c.in_period,
                          sa.func.sum(inner.c.problems_solved), sa.func.sum(inner.c.value_created_wan),
                          sa.func.sum(inner.c.workers_trained), sa.func.sum(inner.c.apprentices))
                .group_by(inner.c.region_id, inner.c.month, inner.c.in_period)):
            rows.append(FollowRow(row[0], row[1], row[2], row[3] or 0, float(row[4] or 0), row[5] or 0, row[6] or 0))
        return rows

    def _members(self, session: Session) -> tuple[dict[int, RegionMembers], int, int]:
        """Per (region, enterprise): engagements started and visits in the period, visits in the year; then
        rolled to regions (an enterprise served counts once per region, and once in the headline)."""
        period, month = self.period, EngagementMonth.month
        in_period = _month_in_period(period, month)
        in_year = month.between(dt.date(self.year, 1, 1), dt.date(self.year, 12, 1))

        def when(condition: Any, column: Any) -> Any:
            return sa.func.sum(sa.case((condition, column), else_=0))

        per_enterprise: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        for region_id, enterprise_id, *counts in session.execute(
                sa.select(EngagementMonth.region_id, EngagementMonth.enterprise_id,
                          when(in_period, EngagementMonth.engagements), when(in_period, EngagementMonth.visits),
                          when(in_year, EngagementMonth.visits), when(in_year, EngagementMonth.engagements))
                .where(*_summary_months(period, month), *period.region(EngagementMonth.region_id))
                .group_by(EngagementMonth.region_id, EngagementMonth.enterprise_id)):
            _add(per_enterprise[region_id, enterprise_id], counts)
        if edge_months(period):
            year = Period(dt.date(self.year, 1, 1), dt.date(self.year, 12, 31))
            started = [Engagement.started_on.is_not(None), _in_edges(period, Engagement.started_on),
                       *period.region(Demand.region_id)]
            for query in (
                    sa.select(Demand.region_id, Demand.enterprise_id, sa.func.sum(_flag(period, Engagement.started_on)),
                              sa.literal(0), sa.literal(0), sa.func.sum(_flag(year, Engagement.started_on)))
                    .select_from(Engagement).join(Demand, Demand.id == Engagement.demand_id).where(*started),
                    sa.select(Demand.region_id, Demand.enterprise_id, sa.literal(0),
                              sa.func.sum(_flag(period, Engagement.started_on)),
                              sa.func.sum(_flag(year, Engagement.started_on)), sa.literal(0))
                    .select_from(EngagementMember).join(Engagement, Engagement.id == EngagementMember.engagement_id)
                    .join(Demand, Demand.id == Engagement.demand_id)
                    .where(EngagementMember.status.in_(SERVING_MEMBERS), *started)):
                for region_id, enterprise_id, *counts in session.execute(
                        query.group_by(Demand.region_id, Demand.enterprise_id)):
                    _add(per_enterprise[region_id, enterprise_id], counts)
        regions: dict[int, RegionMembers] = defaultdict(RegionMembers)
        served: set[int] = set()
        started = 0
        for (region_id, enterprise_id), (engagements_p, visits_p, visits_y, engagements_y) in per_enterprise.items():
            totals = regions[region_id]
            # Served: an engagement started for it (the headline's definition), even if no craftsman of it showed.
            if engagements_p:
                totals.enterprises_p.add(enterprise_id)
            totals.visits_p += visits_p
            if engagements_y:
                totals.enterprises_y.add(enterprise_id)
            totals.visits_y += visits_y
            if engagements_p:
                served.add(enterprise_id)
                started += engagements_p
        return dict(regions), len(served), started

    def service_sums(self, rows: Any) -> dict[str, float]:
        totals = {"problems": 0.0, "value_wan": 0.0, "trained": 0.0, "apprentices": 0.0}
        for row in rows:
            for key in totals:
                totals[key] += float(getattr(row, key))
        return totals

    def in_period(self) -> list[Any]:
        return [row for row in self.follow if row.in_period == 1]


def _add(totals: list[int], counts: Any) -> None:
    for index, count in enumerate(counts):
        totals[index] += int(count)


def month_keys(period: Period, today: dt.date, months: int = 12) -> list[str]:
    """The trend's months: the ``months`` months up to the period's end (or today), not before its start."""
    end = period.end or today
    first = agreements.add_months(end.replace(day=1), 1 - months)
    if period.start and period.start > first:
        first = period.start.replace(day=1)
    keys, cursor = [], first
    while cursor <= end:
        keys.append(f"{cursor:%Y-%m}")
        cursor = agreements.add_months(cursor, 1)
    return keys


def _facts(session: Session, period: Period, today: dt.date, facts: Facts | None) -> Facts:
    return facts if facts is not None else Facts(session, period, today, (period.end or today).year)


def headline(session: Session, period: Period, today: dt.date, facts: Facts | None = None) -> dict[str, Any]:
    """The leaders' figures: 服务企业 N 家、解决难题 N 项、培训职工 N 人次、节创价值 N 万元, and the rest."""
    facts = _facts(session, period, today, facts)
    sums = facts.service_sums(facts.in_period())
    figures: dict[str, Any] = {
        "problems_solved": int(sums["problems"]), "value_created_wan": round(sums["value_wan"], 2),
        "workers_trained": int(sums["trained"]), "apprentices": int(sums["apprentices"]),
        "craftsman_visits": sum(row.visits_p for row in facts.members.values()),
    }
    figures["agreements"] = session.scalar(  # agreements (长期惠企) that start in the period
        sa.select(sa.func.count(Agreement.id))
        .where(*period.on(Agreement.starts_on), *_in_province(period, Agreement.engagement_id)))
    figures["enterprises_served"] = facts.enterprises_served
    figures["engagements_started"] = facts.engagements_started
    figures["visits_logged"] = session.scalar(
        sa.select(sa.func.count()).select_from(VisitLog)
        .where(*period.on(VisitLog.visited_on), *_in_province(period, VisitLog.engagement_id)))
    figures["outcomes"] = session.scalar(
        sa.select(sa.func.count()).select_from(Outcome).join(FollowUp, FollowUp.id == Outcome.follow_up_id)
        .where(*period.on(Outcome.created_at), *_in_province(period, FollowUp.engagement_id)))
    figures.update(_state_today(session, period, today))
    figures.update(_satisfaction(session, period))
    figures.update(_matching(session, period, _demand_counts(session, period, facts)))
    return figures


def _in_province(period: Period, engagement_id: Any) -> list[Any]:
    """Keep rows of engagements whose demand lies in the period's province (nothing when no province)."""
    if not period.province:
        return []
    return [engagement_id.in_(sa.select(Engagement.id).join(Demand, Demand.id == Engagement.demand_id)
                              .where(*period.region(Demand.region_id)))]


def _state_today(session: Session, period: Period, today: dt.date) -> dict[str, int]:
    by_status = dict(session.execute(
        sa.select(Engagement.status, sa.func.count()).where(*_in_province(period, Engagement.id))
        .group_by(Engagement.status)).all())
    due = Period(None, today - dt.timedelta(days=1), period.province)  # due before today
    overdue = sum(int(count or 0) for count, in _counted(  # the summary's sum over no month is NULL
        session, due, sa.select(sa.func.sum(OpenMonth.follow_ups)).where(*due.region(OpenMonth.region_id)),
        OpenMonth.month,
        # The engagement's status looked up per follow-up (a few thousand due this month): as a join PostgreSQL
        # hashes every served engagement instead.
        sa.select(sa.func.count()).select_from(FollowUp)
        .where(FollowUp.done_on.is_(None), *_in_province(due, FollowUp.engagement_id),
               sa.select(Engagement.status).where(Engagement.id == FollowUp.engagement_id).scalar_subquery()
               .in_(SERVED_ENGAGEMENTS)),
        FollowUp.due_on))
    in_force = agreements.counts(session, today,
                                 sa.and_(*period.region(Demand.region_id)) if period.province else None)
    return {"engagements_active": by_status.get("in_service", 0),
            "engagements_scheduled": by_status.get("scheduled", 0),
            "engagements_completed": by_status.get("completed", 0) + by_status.get("evaluated", 0),
            "follow_ups_overdue": overdue, "agreements_active": in_force["active"],
            "agreements_expiring": in_force["expiring"]}


def _satisfaction(session: Session, period: Period) -> dict[str, Any]:
    ratings: dict[int, int] = defaultdict(int)
    for rating, count in _counted(
            session, period, sa.select(RatingMonth.rating, sa.func.sum(RatingMonth.ratings))
            .where(*period.region(RatingMonth.region_id)).group_by(RatingMonth.rating), RatingMonth.month,
            sa.select(Feedback.rating, sa.func.count()).join(Demand, Demand.id == Feedback.demand_id)
            .where(*period.region(Demand.region_id)).group_by(Feedback.rating), Feedback.created_at):
        ratings[rating] += int(count)
    count = sum(ratings.values())
    high = sum(n for rating, n in ratings.items() if rating >= HIGH_RATING)
    average = sum(rating * n for rating, n in ratings.items()) / count if count else None
    return {"ratings": count, "rating_average": round(average, 2) if average is not None else None,
            "satisfied_share": round(100.0 * high / count, 1) if count else None}


def _matching(session: Session, period: Period, counts: DemandCounts) -> dict[str, Any]:
    counted = counts.by("status")
    by_status = {status: n for status, (n, _matched) in counted.items()}
    total, matched = sum(by_status.values()), sum(matched for _n, matched in counted.values())
    matchable = sum(by_status.get(s, 0) for s in MATCHABLE)
    solved = sum(by_status.get(s, 0) for s in ("completed", "evaluated"))
    return {
        "demands": total, "demands_matchable": matchable, "demands_matched": matched, "demands_solved": solved,
        "match_rate": round(100.0 * matched / matchable, 1) if matchable else None,
        "median_days_to_match": median_days(session, period, (MatchDays.demands, MatchValue.demands),
                                            summaries.MATCH_DAYS.days_of, Demand, Demand.matched_at.is_not(None)),
        # Completion is the engagement's completion date (set by the service; imported history has it too).
        "median_days_to_completion": median_days(
            session, period, (CompletionDays.engagements, CompletionValue.engagements),
            summaries.COMPLETION_DAYS.days_of,
            sa.join(Engagement, Demand, Demand.id == Engagement.demand_id),
            Engagement.completed_on.is_not(None), Engagement.status.in_(("completed", "evaluated"))),
    }


def demands_by_status(session: Session, period: Period, facts: Facts | None = None) -> list[tuple[str, int]]:
    counts = _demand_counts(session, period, facts).by("status")
    return [(status, counts[status][0]) for status in DEMAND_STATUSES if status in counts]


def demands_by_category(session: Session, period: Period, facts: Facts | None = None) -> list[dict[str, Any]]:
    counts = _demand_counts(session, period, facts).by("category_id")
    categories = session.execute(sa.select(DemandCategory.id, DemandCategory.code, DemandCategory.name_zh,
                                           DemandCategory.name_en, DemandCategory.sort)
                                 .where(DemandCategory.id.in_(counts))).all() if counts else []
    categories.sort(key=lambda c: (-counts[c.id][0], c.sort))
    return [{"code": c.code, "name_zh": c.name_zh, "name_en": c.name_en, "demands": counts[c.id][0],
             "matched": counts[c.id][1]} for c in categories]


def _per_region(session: Session, period: Period, facts: Facts, *, year_only: bool = False) -> dict[int, dict]:
    """Figures per demand region id, from SQL-grouped rows (period figures, or the target year's)."""
    figures: dict[int, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    if not year_only:  # the targets measure no demand figures
        for region_id, (demands, matched) in _demand_counts(session, period, facts).by("region_id").items():
            figures[region_id]["demands"] += demands
            figures[region_id]["matched"] += matched
    if not facts.regions and not year_only:  # the dashboard's table by region: demand figures only
        return figures
    for region_id, row in facts.members.items():  # enterprises: by _enterprises, once per rolled-up region
        figures[region_id]["visits"] += row.visits_y if year_only else row.visits_p
    year = str(facts.year)
    for row in facts.follow:
        if (row.month.startswith(year)) if year_only else row.in_period == 1:
            target = figures[row.region_id]
            target["problems"] += row.problems
            target["value_wan"] += row.value_wan
            target["trained"] += row.trained
            target["skill_upgrades"] += row.trained + row.apprentices
    return figures


def _enterprises(facts: Facts, groups: Any, *, year_only: bool = False) -> dict[int, int]:
    """Enterprises served per rolled-up region (``groups(region_id)``: the city, or the region and those above it):
    each enterprise once, however many of the group's regions its demands lie in (summed per region, an
    enterprise with demands in 锦江区 and 成都市 counted twice in 成都市)."""
    served: dict[int, set[int]] = defaultdict(set)
    for region_id, row in facts.members.items():
        for group in groups(region_id):
            served[group] |= row.enterprises_y if year_only else row.enterprises_p
    return {group: len(ids) for group, ids in served.items()}


class RegionTree:
    """The region reference table (a few hundred rows) as parent links, for rolling grouped rows up."""

    def __init__(self, session: Session) -> None:
        rows = session.execute(sa.select(Region.id, Region.parent_id, Region.level, Region.name, Region.name_en)).all()
        self.parent = {r.id: r.parent_id for r in rows}
        self.level = {r.id: r.level for r in rows}
        self.name = {r.id: r.name for r in rows}
        self.name_en = {r.id: r.name_en or r.name for r in rows}

    def ancestors(self, region_id: int) -> list[int]:
        chain, node = [], region_id
        while node is not None and node not in chain:
            chain.append(node)
            node = self.parent.get(node)
        return chain

    def city(self, region_id: int) -> int:
        """The prefecture-level city (Sichuan) or the district/county directly under a province (Chongqing)."""
        chain = self.ancestors(region_id)
        for node in chain:
            if self.level.get(node) == "prefecture":
                return node
        for node, up in zip(chain, chain[1:], strict=False):
            if self.level.get(up) == "province" and self.level.get(node) != "functional_area":
                return node
        return chain[0]


def by_region(session: Session, period: Period, facts: Facts | None = None,
              tree: RegionTree | None = None) -> list[dict[str, Any]]:
    # Without facts: today only sets the trend months, which this table does not use.
    facts = _facts(session, period, period.end or dt.date(2099, 12, 31), facts)
    tree = tree or RegionTree(session)
    rolled: dict[int, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for region_id, figures in _per_region(session, period, facts).items():
        target = rolled[tree.city(region_id)]
        for key, value in figures.items():
            target[key] += value
    if facts.regions:
        for city, served in _enterprises(facts, lambda region_id: [tree.city(region_id)]).items():
            rolled[city]["enterprises"] = served
    rows = [{"region_id": rid, "name": tree.name.get(rid, "?"), "name_en": tree.name_en.get(rid, "?"),
             **{k: round(v, 2) for k, v in figures.items()}}
            for rid, figures in rolled.items()]
    return sorted(rows, key=lambda r: (-r.get("demands", 0), r["name"]))


def by_industry(session: Session, period: Period, *, with_values: bool = True) -> list[dict[str, Any]]:
    """Per top-level industry (a demand with two industries counts in both); value and training figures
    (a join through every follow-up) only when ``with_values``: the period report and the export."""
    parent = aliased(Industry)
    top_id = sa.func.coalesce(Industry.parent_id, Industry.id)
    counts = _industry_demands(session, period, top_id)
    value_rows = {} if not with_values else dict((k, (float(v or 0), t or 0)) for k, v, t in session.execute(
        _industry_values(period, top_id)).all())
    ids = set(counts) | set(value_rows)
    names = {i: (zh, en) for i, zh, en in session.execute(
        sa.select(parent.id, parent.name_zh, parent.name_en).where(parent.id.in_(ids)))} if ids else {}
    rows = [{"industry_id": i, "name_zh": names.get(i, ("?", "?"))[0], "name_en": names.get(i, ("?", "?"))[1],
             "demands": counts.get(i, (0, 0))[0], "matched": counts.get(i, (0, 0))[1],
             "value_wan": round(value_rows.get(i, (0.0, 0))[0], 2), "trained": value_rows.get(i, (0.0, 0))[1]}
            for i in ids]
    return sorted(rows, key=lambda r: (-r["demands"], -r["value_wan"], r["name_zh"]))


def _industry_values(period: Period, top_id: Any) -> sa.Select:
    """(top-level industry, value created, workers trained) of the follow-ups done in the period, each counted once
    per top-level industry of its demand: two of the demand's industries under one parent count once, as the
    demand itself does (joined through every industry, such a demand's figures counted twice)."""
    tops = (sa.select(demand_industry.c.demand_id, top_id.label("industry_id"))
            .join(Industry, Industry.id == demand_industry.c.industry_id)
            .group_by(demand_industry.c.demand_id, top_id).subquery())
    return (sa.select(tops.c.industry_id, sa.func.sum(FollowUp.value_created_wan),
                      sa.func.sum(FollowUp.workers_trained))
            .select_from(FollowUp).join(Engagement, Engagement.id == FollowUp.engagement_id)
            .join(tops, tops.c.demand_id == Engagement.demand_id)
            .join(Demand, Demand.id == Engagement.demand_id)
            .where(FollowUp.done_on.is_not(None), *period.on(FollowUp.done_on), *period.region(Demand.region_id))
            .group_by(tops.c.industry_id))


def _industry_demands(session: Session, period: Period, top_id: Any) -> dict[int, tuple[int, int]]:
    """{top-level industry: (demands, matched or later)}: whole months from ``report_industry_month`` (a demand
    is counted once per top industry there), the edge months by distinct counts over the rows."""
    matched = IndustryMonth.status.in_(MATCHED_OR_LATER)
    counts: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for industry_id, demands, matched_demands in _counted(
            session, period, sa.select(IndustryMonth.industry_id, sa.func.sum(IndustryMonth.demands),
                                       sa.func.sum(sa.case((matched, IndustryMonth.demands), else_=0)))
            .where(*period.region(IndustryMonth.region_id)).group_by(IndustryMonth.industry_id)
            .having(sa.func.sum(IndustryMonth.demands) > 0), IndustryMonth.month,
            sa.select(top_id, sa.func.count(sa.distinct(Demand.id)),
                      sa.func.count(sa.distinct(sa.case((Demand.status.in_(MATCHED_OR_LATER), Demand.id)))))
            .select_from(demand_industry).join(Demand, Demand.id == demand_industry.c.demand_id)
            .join(Industry, Industry.id == demand_industry.c.industry_id)
            .where(*period.region(Demand.region_id)).group_by(top_id), Demand.submitted_at):
        counts[industry_id][0] += int(demands)
        counts[industry_id][1] += int(matched_demands)
    return {industry_id: (demands, matched) for industry_id, (demands, matched) in counts.items()}


def trend(session: Session, period: Period, today: dt.date, facts: Facts | None = None) -> list[dict[str, Any]]:
    """Per month: demands submitted, engagements completed, value created and workers trained, in the period: a
    month the period cuts shows its part inside the period only (as whole months, the first month counted the
    demands before the period's start, the last one the follow-ups after its end)."""
    facts = _facts(session, period, today, facts)
    keys = facts.months
    series: dict[str, dict[str, float]] = {key: defaultdict(float) for key in keys}
    first = dt.date(int(keys[0][:4]), int(keys[0][5:]), 1)
    window = Period(max(first, period.start) if period.start else first, period.end or today, period.province)
    for name, month, count, column, in_province in (
            ("demands", DemandMonth.month, DemandMonth.demands, Demand.submitted_at, window.region(Demand.region_id)),
            ("completed", CompletionMonth.month, CompletionMonth.engagements, Engagement.completed_on,
             _in_province(window, Engagement.id))):
        bucket = month_bucket(session, column)
        for label, number in _counted(  # both as YYYY-MM: the summary's months formatted where they are read
                session, window, sa.select(month_label(session, month_bucket(session, month)), sa.func.sum(count))
                .group_by(month).where(*window.region(month.class_.region_id)), month,
                sa.select(month_label(session, bucket), sa.func.count())
                .where(column.is_not(None), *in_province).group_by(bucket), column):
            if label in series:
                series[label][name] += float(number)
    for row in facts.follow:
        if row.month in series and row.in_period == 1:
            series[row.month]["value_wan"] += row.value_wan
            series[row.month]["trained"] += row.trained
    return [{"month": key, **{name: round(series[key].get(name, 0.0), 2)
                              for name in ("demands", "completed", "value_wan", "trained")}} for key in keys]


def targets(session: Session, year: int, province: str | None = None, facts: Facts | None = None,
            tree: RegionTree | None = None) -> list[dict[str, Any]]:
    """Yearly targets per region with the year's actuals (the region and every region under it)."""
    query = sa.select(RegionTarget, Region.name, Region.name_en).join(Region, Region.id == RegionTarget.region_id)\
        .where(RegionTarget.year == year).order_by(Region.code)
    if province:
        query = query.where(Region.province_code == province)
    rows = session.execute(query).all()
    if not rows:
        return []
    if facts is None or facts.year != year or facts.period.province != province:
        first, last = dt.date(year, 1, 1), dt.date(year, 12, 31)
        facts = Facts(session, Period(first, last, province), last, year)
    tree = tree or RegionTree(session)
    actual: dict[int, dict[str, float]] = {target.region_id: defaultdict(float) for target, *_names in rows}
    for region_id, figures in _per_region(session, Period(province=province), facts, year_only=True).items():
        for ancestor in tree.ancestors(region_id):
            if ancestor in actual:
                for key, value in figures.items():
                    actual[ancestor][key] += value
    for ancestor, served in _enterprises(facts, tree.ancestors, year_only=True).items():
        if ancestor in actual:
            actual[ancestor]["enterprises"] = served
    result = []
    for target, name, name_en in rows:
        got = actual[target.region_id]
        measures = []
        for key, goal in (("visits", target.visits), ("enterprises", target.enterprises),
                          ("problems", target.problems), ("skill_upgrades", target.skill_upgrades)):
            value = int(got.get(key, 0))
            measures.append({"key": key, "target": goal, "actual": value,
                             "percent": round(100.0 * value / goal, 1) if goal else None})
        result.append({"region_id": target.region_id, "name": name, "name_en": name_en or name, "year": year,
                       "measures": measures})
    return result


@dataclass
class Report:
    period: Period
    today: dt.date
    year: int
    headline: dict[str, Any] = field(default_factory=dict)
    by_status: list[tuple[str, int]] = field(default_factory=list)
    by_category: list[dict[str, Any]] = field(default_factory=list)
    by_region: list[dict[str, Any]] = field(default_factory=list)
    by_industry: list[dict[str, Any]] = field(default_factory=list)
    trend: list[dict[str, Any]] = field(default_factory=list)
    targets: list[dict[str, Any]] = field(default_factory=list)


def build(session: Session, period: Period, today: dt.date, year: int | None = None, *,
          detail: bool = True) -> Report:
    """Every figure of the report; the heavy joins run once (``Facts``). ``detail=False`` (the dashboard)
    leaves out the per-region and per-industry service figures, which need a join through every follow-up."""
    year = year or (period.end or today).year
    facts = Facts(session, period, today, year, regions=detail)
    tree = RegionTree(session)
    return Report(period=period, today=today, year=year, headline=headline(session, period, today, facts),
                  by_status=demands_by_status(session, period, facts),
                  by_category=demands_by_category(session, period, facts),
                  by_region=by_region(session, period, facts, tree),
                  by_industry=by_industry(session, period, with_values=detail),
                  trend=trend(session, period, today, facts),
                  targets=targets(session, year, period.province, facts, tree))


# ---------------------------------------------------------------- a short-lived cache of built reports
# Every change of the figures goes through a service that inserts a row (an audit entry at least), so the
# largest ids of these tables identify the data; a report built for the same ids and filters is reused for
# at most ``ttl`` seconds (the TTL also covers changes made outside the services, e.g. raw SQL).
_CACHE: dict[tuple, tuple[float, Report]] = {}
_CACHE_LIMIT = 64


def data_version(session: Session) -> tuple:
    from web.models import AuditLog

    tables = (AuditLog, Demand, Engagement, FollowUp, Feedback, Outcome, RegionTarget, VisitLog)
    return tuple(session.execute(sa.select(*(sa.select(sa.func.max(t.id)).scalar_subquery() for t in tables))).one())


def cached_build(session: Session, period: Period, today: dt.date, year: int | None = None, *,
                 detail: bool = True, ttl: float = 0) -> Report:
    if ttl <= 0:
        return build(session, period, today, year, detail=detail)
    bind = session.get_bind()
    key = (str(getattr(bind, "url", None) or bind.engine.url), period, today, year, detail, data_version(session))
    clock = time.monotonic()
    hit = _CACHE.get(key)
    if hit is not None and clock - hit[0] < ttl:
        return hit[1]
    report = build(session, period, today, year, detail=detail)
    if len(_CACHE) >= _CACHE_LIMIT:
        _CACHE.clear()
    _CACHE[key] = (clock, report)
    return report


# ---------------------------------------------------------------- yearly targets
TARGET_FIELDS = ("visits", "enterprises", "problems", "skill_upgrades")


def target_regions(session: Session, *, english: bool = False) -> list[Any]:
    """Regions a target can be set for: the provinces and prefecture-level cities (few dozen rows)."""
    return list(session.execute(sa.select(Region.code, reference.region_name_column(english), Region.level)
                                .where(Region.level.in_(("province", "prefecture"))).order_by(Region.code)))


def set_target(session: Session, data: dict[str, Any], *, actor: Any, now: dt.datetime) -> RegionTarget:
    """Create or change a region's targets for a year (audited with before and after)."""
    values = load_or_raise(TargetSchema(), data)
    region = reference.region(session, values["region_code"])
    target = session.scalar(sa.select(RegionTarget).where(RegionTarget.region_id == region.id,
                                                          RegionTarget.year == values["year"]))
    before = audit.snapshot(target, TARGET_FIELDS) if target is not None else None
    if target is None:
        target = RegionTarget(region_id=region.id, year=values["year"])
        session.add(target)
    for name in TARGET_FIELDS:
        setattr(target, name, values[name])
    session.flush()
    audit.record(session, actor=actor, action="target.set", entity=target, now=now, before=before,
                 after={"region": region.code, "year": target.year, **audit.snapshot(target, TARGET_FIELDS)})
    return target
