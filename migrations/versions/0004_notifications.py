"""notifications people can act on: one message per recipient per round, retries with backoff, e-mail
addresses for enterprises and craftsmen, a contact phone for staff (the liaison in the messages)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 09:10:00
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("enterprise", schema=None) as batch_op:
        batch_op.add_column(sa.Column("contact_email", sa.String(length=120), server_default="", nullable=False))

    with op.batch_alter_table("craftsman", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email", sa.String(length=120), server_default="", nullable=False))

    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.add_column(sa.Column("contact_phone", sa.String(length=20), server_default="", nullable=False))

    # A recipient written twice into one round's outbox keeps its first message (the unique key below).
    op.execute(sa.text(
        "DELETE FROM notification WHERE round_id IS NOT NULL AND id NOT IN "
        "(SELECT MIN(id) FROM notification WHERE round_id IS NOT NULL "
        "GROUP BY round_id, recipient_kind, recipient_id)"))

    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("next_attempt_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("last_error", sa.String(length=500), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_notification_round_id_recipient_kind_recipient_id"),
                                          ["round_id", "recipient_kind", "recipient_id"])
        batch_op.create_check_constraint(op.f("ck_notification_channel_valid"), "channel IN ('sms', 'email')")
        batch_op.create_check_constraint(op.f("ck_notification_attempts_nonnegative"), "attempts >= 0")


def downgrade() -> None:
    with op.batch_alter_table("notification", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_notification_attempts_nonnegative"), type_="check")
        batch_op.drop_constraint(op.f("ck_notification_channel_valid"), type_="check")
        batch_op.drop_constraint(batch_op.f("uq_notification_round_id_recipient_kind_recipient_id"), type_="unique")
        batch_op.drop_column("last_error")
        batch_op.drop_column("next_attempt_at")
        batch_op.drop_column("attempts")

    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.drop_column("contact_phone")

    with op.batch_alter_table("craftsman", schema=None) as batch_op:
        batch_op.drop_column("email")

    with op.batch_alter_table("enterprise", schema=None) as batch_op:
        batch_op.drop_column("contact_email")
