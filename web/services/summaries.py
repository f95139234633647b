"""The report summaries (``web.models.summaries``): what each sums, the triggers that keep them exact, a rebuild.

Each summary is the sum of *contributions*: one SQL query, grouped by the summary's key, over the rows it
reads (follow_up → engagement → demand, engagement_member → engagement → demand, demand_industry → demand,
industry). The triggers keep the summaries equal to those queries over the whole database, in the same
transaction as the write, whoever makes it (a service, an import, a bulk UPDATE, a cascade): before a row
changes they subtract the contributions of the entities it touches, after it changed they add them back.
That is exact by construction (the same query computes the rebuild), and a changed key (a demand moved to
another region, a follow-up to another month) moves its sums. Triggers rather than service code because the
writers are many (services, imports, seeding, bulk SQL, foreign-key cascades) and one forgotten writer
would make every later figure wrong.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

SERVING_MEMBERS = ("assigned", "accepted", "served")  # the members a report counts as visits
SERVED_ENGAGEMENTS = ("in_service", "completed", "evaluated")  # whose open follow-ups can be overdue


def _month(dialect: str, column: str) -> str:
    if dialect == "sqlite":
        return f"date({column}, 'start of month')"
    return f"CAST(date_trunc('month', CAST({column} AS timestamp)) AS date)"


def days(dialect: str, start: str, end: str) -> str:
    """Days from ``start`` to ``end`` (fractional), as the reports' medians compute them."""
    if dialect == "sqlite":
        return f"(julianday({end}) - julianday({start}))"
    return f"(EXTRACT(epoch FROM CAST({end} AS timestamp) - CAST({start} AS timestamp)) / 86400.0)"


def days_bucket(dialect: str, start: str, end: str) -> str:
    """Whole days (truncated) of ``days``: the medians' histogram buckets. The same SQL text in the triggers
    and in the reports' queries, so a row's bucket is the same wherever it is computed."""
    return f"CAST({'' if dialect == 'sqlite' else 'trunc'}({days(dialect, start, end)}) AS INTEGER)"


@dataclass(frozen=True)
class Contribution:
    """One query adding to ``table``: ``select`` has ``{sign}``, ``{month}`` and a ``{where}`` for the entities."""

    name: str
    table: str
    keys: tuple[str, ...]
    values: tuple[str, ...]
    select: str
    month_of: str
    days_of: tuple[str, str] = ("", "")

    def query(self, dialect: str, where: str = "1 = 1", sign: int = 1) -> str:
        return self.select.format(sign=sign, where=where, month=_month(dialect, self.month_of),
                                  days=days_bucket(dialect, *self.days_of), value=days(dialect, *self.days_of))

    def upsert(self, dialect: str, where: str, sign: int) -> str:
        columns = ", ".join((*self.keys, *self.values))
        sums = ", ".join(f"{v} = {self.table}.{v} + excluded.{v}" for v in self.values)
        return (f"INSERT INTO {self.table} ({columns}) {self.query(dialect, where, sign)} "
                f"ON CONFLICT ({', '.join(self.keys)}) DO UPDATE SET {sums}")


_SERVING = ", ".join(f"'{status}'" for status in SERVING_MEMBERS)
SERVICE = Contribution(
    "service", "report_service_month", ("region_id", "month"),
    ("records", "problems", "value_cents", "trained", "apprentices"),
    "SELECT d.region_id, {month}, {sign} * count(*), {sign} * coalesce(sum(f.problems_solved), 0), "
    "{sign} * coalesce(sum(CAST(round(f.value_created_wan * 100) AS BIGINT)), 0), "
    "{sign} * coalesce(sum(f.workers_trained), 0), {sign} * coalesce(sum(f.apprentices), 0) "
    "FROM follow_up f JOIN engagement e ON e.id = f.engagement_id JOIN demand d ON d.id = e.demand_id "
    "WHERE f.done_on IS NOT NULL AND {where} GROUP BY 1, 2", "f.done_on")
ENGAGEMENTS = Contribution(
    "engagements", "report_engagement_month", ("region_id", "enterprise_id", "month"), ("engagements", "visits"),
    "SELECT d.region_id, d.enterprise_id, {month}, {sign} * count(*), 0 "
    "FROM engagement e JOIN demand d ON d.id = e.demand_id "
    "WHERE e.started_on IS NOT NULL AND {where} GROUP BY 1, 2, 3", "e.started_on")
VISITS = Contribution(
    "visits", "report_engagement_month", ("region_id", "enterprise_id", "month"), ("engagements", "visits"),
    "SELECT d.region_id, d.enterprise_id, {month}, 0, {sign} * count(*) "
    "FROM engagement_member m JOIN engagement e ON e.id = m.engagement_id JOIN demand d ON d.id = e.demand_id "
    f"WHERE e.started_on IS NOT NULL AND m.status IN ({_SERVING}) AND {{where}} GROUP BY 1, 2, 3", "e.started_on")
INDUSTRIES = Contribution(
    "industries", "report_industry_month", ("region_id", "month", "status", "industry_id"), ("demands",),
    "SELECT d.region_id, {month}, d.status, coalesce(i.parent_id, i.id), {sign} * count(DISTINCT d.id) "
    "FROM demand_industry l JOIN demand d ON d.id = l.demand_id JOIN industry i ON i.id = l.industry_id "
    "WHERE {where} GROUP BY 1, 2, 3, 4", "d.submitted_at")
DEMANDS = Contribution(
    "demands", "report_demand_month", ("region_id", "month", "category_id", "status"), ("demands",),
    "SELECT d.region_id, {month}, d.category_id, d.status, {sign} * count(*) FROM demand d "
    "WHERE {where} GROUP BY 1, 2, 3, 4", "d.submitted_at")
COMPLETIONS = Contribution(
    "completions", "report_completion_month", ("region_id", "month"), ("engagements",),
    "SELECT d.region_id, {month}, {sign} * count(*) FROM engagement e JOIN demand d ON d.id = e.demand_id "
    "WHERE e.completed_on IS NOT NULL AND {where} GROUP BY 1, 2", "e.completed_on")
_SERVED = ", ".join(f"'{status}'" for status in SERVED_ENGAGEMENTS)
OPEN = Contribution(
    "open", "report_open_month", ("region_id", "month"), ("follow_ups",),
    "SELECT d.region_id, {month}, {sign} * count(*) "
    "FROM follow_up f JOIN engagement e ON e.id = f.engagement_id JOIN demand d ON d.id = e.demand_id "
    f"WHERE f.done_on IS NULL AND e.status IN ({_SERVED}) AND {{where}} GROUP BY 1, 2", "f.due_on")
# The page header's overdue count: the same open follow-ups per (coordinator, day due), 0 for the unassigned.
UNASSIGNED = 0
OPEN_DAYS = Contribution(
    "open_days", "open_follow_up_day", ("coordinator_id", "due_on"), ("follow_ups",),
    f"SELECT coalesce(e.coordinator_id, {UNASSIGNED}), f.due_on, {{sign}} * count(*) "
    "FROM follow_up f JOIN engagement e ON e.id = f.engagement_id "
    f"WHERE f.done_on IS NULL AND e.status IN ({_SERVED}) AND {{where}} GROUP BY 1, 2", "f.due_on")
RATINGS = Contribution(
    "ratings", "report_rating_month", ("region_id", "month", "rating"), ("ratings",),
    "SELECT d.region_id, {month}, fb.rating, {sign} * count(*) FROM feedback fb JOIN demand d ON d.id = fb.demand_id "
    "WHERE {where} GROUP BY 1, 2, 3", "fb.created_at")
# The medians' histograms: demands per whole days to match, completed engagements per whole days to completion.
MATCH_DAYS = Contribution(
    "match_days", "report_match_days", ("region_id", "month", "days"), ("demands",),
    "SELECT demand.region_id, {month}, {days}, {sign} * count(*) FROM demand "
    "WHERE demand.matched_at IS NOT NULL AND {where} GROUP BY 1, 2, 3", "demand.submitted_at",
    ("demand.submitted_at", "demand.matched_at"))
COMPLETION_DAYS = Contribution(
    "completion_days", "report_completion_days", ("region_id", "month", "days"), ("engagements",),
    "SELECT demand.region_id, {month}, {days}, {sign} * count(*) "
    "FROM engagement JOIN demand ON demand.id = engagement.demand_id "
    "WHERE engagement.completed_on IS NOT NULL AND engagement.status IN ('completed', 'evaluated') AND {where} "
    "GROUP BY 1, 2, 3", "demand.submitted_at", ("demand.submitted_at", "engagement.completed_on"))
# ... and the values themselves, keyed by their whole days first: the median reads the middle day's values
# from an index instead of computing every row's (a join of engagements and demands for the completions).
MATCH_VALUES = Contribution(
    "match_values", "report_match_values", ("days", "region_id", "month", "value"), ("demands",),
    "SELECT {days}, demand.region_id, {month}, {value}, {sign} * count(*) FROM demand "
    "WHERE demand.matched_at IS NOT NULL AND {where} GROUP BY 1, 2, 3, 4", "demand.submitted_at",
    ("demand.submitted_at", "demand.matched_at"))
COMPLETION_VALUES = Contribution(
    "completion_values", "report_completion_values", ("days", "region_id", "month", "value"), ("engagements",),
    "SELECT {days}, demand.region_id, {month}, {value}, {sign} * count(*) "
    "FROM engagement JOIN demand ON demand.id = engagement.demand_id "
    "WHERE engagement.completed_on IS NOT NULL AND engagement.status IN ('completed', 'evaluated') AND {where} "
    "GROUP BY 1, 2, 3, 4", "demand.submitted_at", ("demand.submitted_at", "engagement.completed_on"))
CONTRIBUTIONS = (SERVICE, ENGAGEMENTS, VISITS, INDUSTRIES, DEMANDS, COMPLETIONS, OPEN, RATINGS, MATCH_DAYS,
                 COMPLETION_DAYS, MATCH_VALUES, COMPLETION_VALUES, OPEN_DAYS)
SUMMARY_TABLES = tuple(dict.fromkeys(contribution.table for contribution in CONTRIBUTIONS))


@dataclass(frozen=True)
class Watch:
    """A table whose writes change ``contribution``: the entities a row touches are those whose ``column`` is
    the row's ``key`` (or in ``through``, a subquery of them); ``columns`` are the ones an UPDATE must set to
    matter; ``own_row`` when the entity is the row itself; ``link`` when the row is one of several that make
    up the entity's contribution (see ``_triggers``)."""

    table: str
    contribution: Contribution
    column: str
    key: str
    columns: tuple[str, ...]
    own_row: bool = False
    through: str = "{refs}"
    link: bool = False

    def where(self, refs: tuple[str, ...]) -> str:
        return f"{self.column} IN ({self.through.format(refs=', '.join(f'{ref}.{self.key}' for ref in refs))})"


WATCHES = (
    Watch("follow_up", SERVICE, "f.id", "id",
          ("engagement_id", "done_on", "problems_solved", "value_created_wan", "workers_trained", "apprentices"),
          own_row=True),
    Watch("engagement", SERVICE, "e.id", "id", ("demand_id",)),
    Watch("demand", SERVICE, "d.id", "id", ("region_id",)),
    Watch("engagement", ENGAGEMENTS, "e.id", "id", ("demand_id", "started_on"), own_row=True),
    Watch("demand", ENGAGEMENTS, "d.id", "id", ("region_id", "enterprise_id")),
    Watch("engagement_member", VISITS, "m.id", "id", ("engagement_id", "status"), own_row=True),
    Watch("engagement", VISITS, "e.id", "id", ("demand_id", "started_on")),
    Watch("demand", VISITS, "d.id", "id", ("region_id", "enterprise_id")),
    Watch("demand", INDUSTRIES, "d.id", "id", ("region_id", "submitted_at", "status")),
    # A link changes its demand's distinct count per top industry: the whole demand is recounted.
    Watch("demand_industry", INDUSTRIES, "d.id", "demand_id", ("demand_id", "industry_id"), link=True),
    Watch("industry", INDUSTRIES, "l.demand_id", "id", ("parent_id",),
          through="SELECT demand_id FROM demand_industry WHERE industry_id IN ({refs})"),
    Watch("demand", DEMANDS, "d.id", "id", ("region_id", "submitted_at", "category_id", "status"), own_row=True),
    Watch("engagement", COMPLETIONS, "e.id", "id", ("demand_id", "completed_on"), own_row=True),
    Watch("demand", COMPLETIONS, "d.id", "id", ("region_id",)),
    Watch("follow_up", OPEN, "f.id", "id", ("engagement_id", "done_on", "due_on"), own_row=True),
    Watch("engagement", OPEN, "e.id", "id", ("demand_id", "status")),
    Watch("demand", OPEN, "d.id", "id", ("region_id",)),
    Watch("feedback", RATINGS, "fb.id", "id", ("demand_id", "created_at", "rating"), own_row=True),
    Watch("demand", RATINGS, "d.id", "id", ("region_id",)),
    Watch("demand", MATCH_DAYS, "demand.id", "id", ("region_id", "submitted_at", "matched_at"), own_row=True),
    Watch("engagement", COMPLETION_DAYS, "engagement.id", "id", ("demand_id", "status", "completed_on"),
          own_row=True),
    Watch("demand", COMPLETION_DAYS, "demand.id", "id", ("region_id", "submitted_at")),
    Watch("demand", MATCH_VALUES, "demand.id", "id", ("region_id", "submitted_at", "matched_at"), own_row=True),
    Watch("engagement", COMPLETION_VALUES, "engagement.id", "id", ("demand_id", "status", "completed_on"),
          own_row=True),
    Watch("demand", COMPLETION_VALUES, "demand.id", "id", ("region_id", "submitted_at")),
    Watch("follow_up", OPEN_DAYS, "f.id", "id", ("engagement_id", "done_on", "due_on"), own_row=True),
    Watch("engagement", OPEN_DAYS, "e.id", "id", ("status", "coordinator_id")),
)
_EVENTS = {"INSERT": ("NEW",), "UPDATE": ("OLD", "NEW"), "DELETE": ("OLD",)}


def _triggers(watch: Watch):
    """(name, timing, event clause, sign, refs) of the watch's triggers. Skipped, as they find nothing: before
    a row is inserted or after it is deleted, its own contribution; and when the row counts only through the
    rows that refer to it (a demand through its engagements...), on its insertion (the foreign keys let
    nothing refer to it yet) and after its deletion (what referred to it is gone or cascades after it). A
    ``link`` row (an industry of a demand) recounts its demand before and after every change."""
    for event, refs in _EVENTS.items():
        clause = f"UPDATE OF {', '.join(watch.columns)}" if event == "UPDATE" else event
        for timing, sign in (("BEFORE", -1), ("AFTER", 1)):
            if not watch.link and ((event, timing) in (("INSERT", "BEFORE"), ("DELETE", "AFTER"))
                                   or (event == "INSERT" and not watch.own_row)):
                continue
            name = f"tr_{watch.table}_{watch.contribution.name}_{timing[0]}{event[0]}".lower()
            yield name, timing, clause, sign, refs


def create_triggers(dialect: str) -> list[str]:
    """The statements creating every trigger (PostgreSQL needs a function each). Migration 0011 runs a frozen
    copy of them: a change here needs a migration of its own (tests/test_migration_summaries.py)."""
    statements = []
    for watch in WATCHES:
        for name, timing, clause, sign, refs in _triggers(watch):
            body = watch.contribution.upsert(dialect, watch.where(refs), sign)
            if dialect == "sqlite":
                statements.append(f"CREATE TRIGGER {name} {timing} {clause} ON {watch.table} FOR EACH ROW "
                                  f"BEGIN {body}; END")
                continue
            returned = "NULL" if timing == "AFTER" else ("OLD" if clause == "DELETE" else "NEW")
            statements.append(f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
                              f"BEGIN {body}; RETURN {returned}; END $$")
            statements.append(f"CREATE TRIGGER {name} {timing} {clause} ON {watch.table} FOR EACH ROW "
                              f"EXECUTE FUNCTION {name}()")
    return statements


def drop_triggers(dialect: str) -> list[str]:
    statements = []
    for watch in WATCHES:
        for name, *_rest in _triggers(watch):
            if dialect == "sqlite":
                statements.append(f"DROP TRIGGER IF EXISTS {name}")
            else:
                statements += [f"DROP TRIGGER IF EXISTS {name} ON {watch.table}", f"DROP FUNCTION IF EXISTS {name}()"]
    return statements


def trigger_names() -> set[str]:
    return {name for watch in WATCHES for name, *_rest in _triggers(watch)}


def rebuild(connection: sa.Connection | Session) -> None:
    """Every summary recomputed from the rows (``flask rebuild-summaries``; migration 0011 has a frozen copy)."""
    dialect = connection.get_bind().dialect.name if isinstance(connection, Session) else connection.dialect.name
    for table in SUMMARY_TABLES:
        connection.execute(sa.text(f"DELETE FROM {table}"))
    for contribution in CONTRIBUTIONS:
        connection.execute(sa.text(contribution.upsert(dialect, "1 = 1", 1)))


@contextmanager
def suspended(session: Session) -> Iterator[None]:
    """Bulk loading without the triggers (a row trigger per inserted row is slow at 100,000s of rows): they
    are dropped, then created again and the summaries rebuilt, in the caller's transaction."""
    dialect = session.get_bind().dialect.name
    for statement in drop_triggers(dialect):
        session.execute(sa.text(statement))
    yield
    session.flush()
    for statement in create_triggers(dialect):
        session.execute(sa.text(statement))
    rebuild(session)


def _nonzero(rows) -> dict[tuple, tuple]:
    return {row[0]: row[1] for row in rows if any(row[1])}


def stored(session: Session) -> dict[str, dict[tuple, tuple]]:
    """The summaries as they are, without rows of zeros: {table: {key: values}}."""
    result = {}
    for contribution in CONTRIBUTIONS:
        columns = ", ".join((*contribution.keys, *contribution.values))
        rows = session.execute(sa.text(f"SELECT {columns} FROM {contribution.table}")).all()
        width = len(contribution.keys)
        result[contribution.table] = _nonzero((_key(row[:width]), tuple(row[width:])) for row in rows)
    return result


def recomputed(session: Session) -> dict[str, dict[tuple, tuple]]:
    """The summaries as a rebuild would make them, computed without writing (for tests and checks)."""
    dialect = session.get_bind().dialect.name
    totals: dict[str, dict[tuple, list[int]]] = {}
    for contribution in CONTRIBUTIONS:
        width = len(contribution.keys)
        table = totals.setdefault(contribution.table, {})
        for row in session.execute(sa.text(contribution.query(dialect))).all():
            values = table.setdefault(_key(row[:width]), [0] * len(contribution.values))
            for index, value in enumerate(row[width:]):
                values[index] += int(value)
    return {name: _nonzero((key, tuple(values)) for key, values in table.items()) for name, table in totals.items()}


def _key(values) -> tuple:
    """Keys compare as text (SQLite hands a month back as text) and numbers as floats (SQLite stores a whole
    number of days in a NUMERIC column as an integer)."""
    return tuple(str(float(value)) if isinstance(value, int | float | Decimal) else str(value) for value in values)


def installed_triggers(session: Session) -> set[str]:
    """The summaries' triggers present in the database (a table rebuilt by a migration loses its triggers)."""
    if session.get_bind().dialect.name == "sqlite":
        names = session.scalars(sa.text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))
    else:
        names = session.scalars(sa.text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"))
    return {name for name in names if name.startswith("tr_")}
