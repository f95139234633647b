"""report summaries: the dashboard's joins pre-aggregated per region x month, kept by triggers

``report_service_month`` (follow-up sums), ``report_engagement_month`` (engagements started and their serving
members per enterprise), ``report_industry_month`` (demands per top-level industry), ``report_demand_month``,
``report_completion_month``, ``report_open_month`` (open follow-ups by month due), ``report_rating_month`` and
the medians' histograms ``report_match_days`` and ``report_completion_days`` with their values
(``report_match_values``, ``report_completion_values``),
each kept exact by the row triggers of ``web.services.summaries`` and built here for the rows already in the database.

The triggers and the rebuild come from ``web.services.summaries`` as it stands: a later change of a
contribution or a watch needs a migration of its own (the old triggers dropped, the new created, a rebuild),
and this file should then keep a frozen copy of today's statements instead of calling the module.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 16:45:00
"""
import sqlalchemy as sa
from alembic import op

from web.services import summaries

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


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
    for statement in summaries.create_triggers(connection.dialect.name):
        connection.execute(sa.text(statement))
    summaries.rebuild(connection)  # an upgraded database shows the right figures at once


def downgrade() -> None:
    connection = op.get_bind()
    for statement in summaries.drop_triggers(connection.dialect.name):
        connection.execute(sa.text(statement))
    for table in summaries.SUMMARY_TABLES:
        op.drop_table(table)
    with op.batch_alter_table("engagement", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_engagement_completed_on"))
