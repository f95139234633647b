"""report summaries: the dashboard's joins pre-aggregated per region x month, kept by triggers

``report_service_month`` (follow-up sums), ``report_engagement_month`` (engagements started and their serving
members per enterprise), ``report_industry_month`` (demands per top-level industry), ``report_demand_month``,
``report_completion_month``, ``report_open_month`` (open follow-ups by month due), ``report_rating_month`` and
the medians' histograms ``report_match_days`` and ``report_completion_days`` with their values
(``report_match_values``, ``report_completion_values``),
each kept exact by the row triggers of ``web.services.summaries`` and built here for the rows already in the database.

The triggers and the rebuild are a frozen copy of ``web.services.summaries`` as it stood at this revision
(the contributions, the watches and the statements they make), not an import of it: a migration must do
the same whatever the application code becomes later. A later change of a contribution or a watch needs a
migration of its own (the old triggers dropped, the new created, a rebuild); tests/test_migration_summaries.py
checks that the migrated head has exactly the triggers ``web.services.summaries`` creates.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 16:45:00
"""
from dataclasses import dataclass

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


# ---- frozen: web/services/summaries.py at this revision (see the docstring); do not edit
SERVING_MEMBERS = ("assigned", "accepted", "served")
SERVED_ENGAGEMENTS = ("in_service", "completed", "evaluated")


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
                 COMPLETION_DAYS, MATCH_VALUES, COMPLETION_VALUES)
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
    """The statements creating every trigger (the migration runs them; PostgreSQL needs a function each)."""
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


def rebuild(connection: sa.Connection) -> None:
    for table in SUMMARY_TABLES:
        connection.execute(sa.text(f"DELETE FROM {table}"))
    for contribution in CONTRIBUTIONS:
        connection.execute(sa.text(contribution.upsert(connection.dialect.name, "1 = 1", 1)))


# ---- the migration
def upgrade() -> None:
    op.create_table(
        "report_service_month",
        sa.Column("region_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("problems", sa.BigInteger(), nullable=False),
        sa.Column("value_cents", sa.BigInteger(), nullable=False),
        sa.Column("trained", sa.BigInteger(), nullable=False),
        sa.Column("apprentices", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("region_id", "month", name=op.f("pk_report_service_month")),
    )
    op.create_table(
        "report_engagement_month",
        sa.Column("region_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("enterprise_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("engagements", sa.Integer(), nullable=False),
        sa.Column("visits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("region_id", "enterprise_id", "month", name=op.f("pk_report_engagement_month")),
    )
    op.create_table(
        "report_industry_month",
        sa.Column("region_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("industry_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("demands", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("region_id", "month", "status", "industry_id",
                                name=op.f("pk_report_industry_month")),
    )
    op.create_table(
        "report_demand_month",
        sa.Column("region_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("category_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("demands", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("region_id", "month", "category_id", "status", name=op.f("pk_report_demand_month")),
    )
    for table, count in (("report_completion_month", "engagements"), ("report_open_month", "follow_ups")):
        op.create_table(
            table,
            sa.Column("region_id", sa.Integer(), autoincrement=False, nullable=False),
            sa.Column("month", sa.Date(), nullable=False),
            sa.Column(count, sa.Integer(), nullable=False),
            sa.PrimaryKeyConstraint("region_id", "month", name=op.f(f"pk_{table}")),
        )
    op.create_table(
        "report_rating_month",
        sa.Column("region_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("rating", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("ratings", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("region_id", "month", "rating", name=op.f("pk_report_rating_month")),
    )
    for table, count in (("report_match_days", "demands"), ("report_completion_days", "engagements")):
        op.create_table(
            table,
            sa.Column("region_id", sa.Integer(), autoincrement=False, nullable=False),
            sa.Column("month", sa.Date(), nullable=False),
            sa.Column("days", sa.Integer(), autoincrement=False, nullable=False),
            sa.Column(count, sa.Integer(), nullable=False),
            sa.PrimaryKeyConstraint("region_id", "month", "days", name=op.f(f"pk_{table}")),
        )
    for table, count in (("report_match_values", "demands"), ("report_completion_values", "engagements")):
        op.create_table(
            table,
            sa.Column("days", sa.Integer(), autoincrement=False, nullable=False),
            sa.Column("region_id", sa.Integer(), autoincrement=False, nullable=False),
            sa.Column("month", sa.Date(), nullable=False),
            sa.Column("value", sa.Numeric(), nullable=False),
            sa.Column(count, sa.Integer(), nullable=False),
            sa.PrimaryKeyConstraint("days", "region_id", "month", "value", name=op.f(f"pk_{table}")),
        )
    with op.batch_alter_table("engagement", schema=None) as batch_op:  # the trend's current month, from the rows
        batch_op.create_index(batch_op.f("ix_engagement_completed_on"), ["completed_on"], unique=False)
    connection = op.get_bind()
    for statement in create_triggers(connection.dialect.name):
        connection.execute(sa.text(statement))
    rebuild(connection)  # an upgraded database shows the right figures at once


def downgrade() -> None:
    connection = op.get_bind()
    for statement in drop_triggers(connection.dialect.name):
        connection.execute(sa.text(statement))
    for table in SUMMARY_TABLES:
        op.drop_table(table)
    with op.batch_alter_table("engagement", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_engagement_completed_on"))
