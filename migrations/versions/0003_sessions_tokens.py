"""sessions that logout ends; API tokens with a prefix, scopes, an expiry and last use

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 08:20:00
"""
import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Tokens issued before scopes existed keep working for a while: 90 days from the upgrade, and only the
# "solve" scope they were used for, for editors only (a viewer's old token could solve; it no longer can).
LEGACY_TOKEN_DAYS = 90


def upgrade() -> None:
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_version", sa.Integer(), server_default="1", nullable=False))

    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.add_column(sa.Column("prefix", sa.String(length=16), server_default="", nullable=False))
        batch_op.add_column(sa.Column("scopes", sa.String(length=200), server_default="", nullable=False))
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("last_used_at", sa.DateTime(), nullable=True))

    legacy_expiry = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0) + dt.timedelta(days=LEGACY_TOKEN_DAYS)
    op.execute(sa.text("UPDATE api_token SET expires_at = :expiry").bindparams(expiry=legacy_expiry))
    op.execute(sa.text(
        "UPDATE api_token SET scopes = 'solve' WHERE user_id IN "
        "(SELECT id FROM user_account WHERE role IN ('admin', 'coordinator'))"))

    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.alter_column("expires_at", existing_type=sa.DateTime(), nullable=False)
        batch_op.create_check_constraint(op.f("ck_api_token_expires_after_creation"), "expires_at > created_at")


def downgrade() -> None:
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_api_token_expires_after_creation"), type_="check")
        batch_op.drop_column("last_used_at")
        batch_op.drop_column("expires_at")
        batch_op.drop_column("scopes")
        batch_op.drop_column("prefix")

    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.drop_column("session_version")
