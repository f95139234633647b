"""indexes for the reports: a covering index on the demand's report columns, the open follow-ups by due date

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 14:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

REPORT_COLUMNS = ["id", "region_id", "category_id", "status", "enterprise_id", "matched_at"]
OPEN_FOLLOW_UP = "done_on IS NULL"


def upgrade() -> None:
    # INCLUDE is PostgreSQL's (index-only scans); on SQLite this is a plain index on the submission time.
    op.create_index("ix_demand_report", "demand", ["submitted_at"], postgresql_include=REPORT_COLUMNS)
    op.create_index("ix_follow_up_open", "follow_up", ["due_on"], postgresql_include=["engagement_id"],
                    sqlite_where=sa.text(OPEN_FOLLOW_UP), postgresql_where=sa.text(OPEN_FOLLOW_UP))


def downgrade() -> None:
    op.drop_index("ix_follow_up_open", table_name="follow_up")
    op.drop_index("ix_demand_report", table_name="demand")
