"""a lock onto one role of a team demand: proposal.locked_role_skill_id

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 12:30:00
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("proposal", schema=None) as batch_op:
        batch_op.add_column(sa.Column("locked_role_skill_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f("fk_proposal_locked_role_skill_id_skill"), "skill",
                                    ["locked_role_skill_id"], ["id"])
        batch_op.create_check_constraint(batch_op.f("ck_proposal_role_lock_is_a_lock"),
                                         "locked_role_skill_id IS NULL OR locked")


def downgrade() -> None:
    with op.batch_alter_table("proposal", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_proposal_role_lock_is_a_lock"), type_="check")
        batch_op.drop_constraint(batch_op.f("fk_proposal_locked_role_skill_id_skill"), type_="foreignkey")
        batch_op.drop_column("locked_role_skill_id")
