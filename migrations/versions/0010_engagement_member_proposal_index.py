"""index engagement_member.proposal_id: the key every deleted proposal is checked against

A re-solve deletes the round's old proposals (8,530 at 5,000 x 2,000); PostgreSQL checks each against
``fk_engagement_member_proposal_id_proposal``, a scan of engagement_member per row without this index
(1,000 proposals with 100,000 members: 16.6 s before, 17 ms after).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 14:30:00
"""
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("engagement_member", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_engagement_member_proposal_id"), ["proposal_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("engagement_member", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_engagement_member_proposal_id"))
