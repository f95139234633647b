"""the page header's overdue count kept by triggers; the inbox's text search by trigram indexes (PostgreSQL)

``open_follow_up_day`` counts the open follow-ups of engagements in service (or completed, evaluated) per
(engagement's coordinator, 0 when unassigned; due date). The header of every workspace page sums a coordinator's
rows and the unassigned ones before today: a few hundred index entries, where counting the follow-ups read every
past-due open one (69,000 at 100,000 engagements, 60-120 ms a page; benchmarks/NOTES.md).

Its triggers are those ``web.services.summaries`` makes for ``OPEN_DAYS``, frozen here as 0011 froze the others
(tests/test_migration_summaries.py checks the migrated head has exactly the summaries' triggers). A new table and
triggers only: a batch rebuild of follow_up or engagement on SQLite would drop the triggers already on them.

On PostgreSQL only, trigram indexes (GIN, ``pg_trgm``) on the columns the inbox's ``ILIKE '%…%'`` search reads
(demand title and tracking code, enterprise name): a search matching few demands read all 100,000 (0.6-1.1 s).
``pg_trgm`` is a trusted extension (PostgreSQL 13+): the database's owner may create it. SQLite is unchanged.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 19:10:00
"""
import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_UPSERT = ("INSERT INTO open_follow_up_day (coordinator_id, due_on, follow_ups) "
           "SELECT coalesce(e.coordinator_id, 0), f.due_on, {sign} * count(*) "
           "FROM follow_up f JOIN engagement e ON e.id = f.engagement_id "
           "WHERE f.done_on IS NULL AND e.status IN ('in_service', 'completed', 'evaluated') AND {where} GROUP BY 1, 2 "
           "ON CONFLICT (coordinator_id, due_on) DO UPDATE SET follow_ups = open_follow_up_day.follow_ups + "
           "excluded.follow_ups")
_FOLLOW_UP_SET = "UPDATE OF engagement_id, done_on, due_on"
_ENGAGEMENT_SET = "UPDATE OF status, coordinator_id"
_SEARCHED = (("demand", "title"), ("demand", "tracking_code"), ("enterprise", "name"))
# (table, name's suffix, timing, event, sign, the entities whose follow-ups are counted)
_TRIGGERS = (
    ("follow_up", "ai", "AFTER", "INSERT", 1, "f.id IN (NEW.id)"),
    ("follow_up", "bu", "BEFORE", _FOLLOW_UP_SET, -1, "f.id IN (OLD.id, NEW.id)"),
    ("follow_up", "au", "AFTER", _FOLLOW_UP_SET, 1, "f.id IN (OLD.id, NEW.id)"),
    ("follow_up", "bd", "BEFORE", "DELETE", -1, "f.id IN (OLD.id)"),
    ("engagement", "bu", "BEFORE", _ENGAGEMENT_SET, -1, "e.id IN (OLD.id, NEW.id)"),
    ("engagement", "au", "AFTER", _ENGAGEMENT_SET, 1, "e.id IN (OLD.id, NEW.id)"),
    ("engagement", "bd", "BEFORE", "DELETE", -1, "e.id IN (OLD.id)"),
)


def upgrade() -> None:
    op.create_table(
        "open_follow_up_day",
        sa.Column("coordinator_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("follow_ups", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("coordinator_id", "due_on", name=op.f("pk_open_follow_up_day")),
    )
    connection = op.get_bind()
    for table, suffix, timing, event, sign, where in _TRIGGERS:
        name, body = f"tr_{table}_open_days_{suffix}", _UPSERT.format(sign=sign, where=where)
        trigger = f"CREATE TRIGGER {name} {timing} {event} ON {table} FOR EACH ROW"
        if connection.dialect.name == "sqlite":
            connection.execute(sa.text(f"{trigger} BEGIN {body}; END"))
            continue
        returned = "NULL" if timing == "AFTER" else ("OLD" if event == "DELETE" else "NEW")
        connection.execute(sa.text(f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
                                   f"BEGIN {body}; RETURN {returned}; END $$"))
        connection.execute(sa.text(f"{trigger} EXECUTE FUNCTION {name}()"))
    connection.execute(sa.text(_UPSERT.format(sign=1, where="1 = 1")))  # the follow-ups already open
    if connection.dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for table, column in _SEARCHED:
            op.create_index(f"ix_{table}_{column}_trgm", table, [column], postgresql_using="gin",
                            postgresql_ops={column: "gin_trgm_ops"})


def downgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name == "postgresql":  # the extension stays: it may have been there before
        for table, column in _SEARCHED:
            op.drop_index(f"ix_{table}_{column}_trgm", table_name=table)
    for table, suffix, *_rest in _TRIGGERS:
        name = f"tr_{table}_open_days_{suffix}"
        if connection.dialect.name == "sqlite":
            connection.execute(sa.text(f"DROP TRIGGER IF EXISTS {name}"))
        else:
            connection.execute(sa.text(f"DROP TRIGGER IF EXISTS {name} ON {table}"))
            connection.execute(sa.text(f"DROP FUNCTION IF EXISTS {name}()"))
    op.drop_table("open_follow_up_day")
