"""teams by role (跨界攻关小组): a demand's roles (speciality × count) and the role each proposal fills

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 11:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "demand_role",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("demand_id", sa.Integer(), nullable=False),
        sa.Column("skill_id", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.CheckConstraint("count BETWEEN 1 AND 20", name=op.f("ck_demand_role_count_range")),
        sa.ForeignKeyConstraint(["demand_id"], ["demand.id"], name=op.f("fk_demand_role_demand_id_demand"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["skill_id"], ["skill.id"], name=op.f("fk_demand_role_skill_id_skill")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_demand_role")),
        sa.UniqueConstraint("demand_id", "skill_id", name=op.f("uq_demand_role_demand_id_skill_id")),
    )
    with op.batch_alter_table("demand_role", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_demand_role_demand_id"), ["demand_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_demand_role_skill_id"), ["skill_id"], unique=False)

    with op.batch_alter_table("proposal", schema=None) as batch_op:
        batch_op.add_column(sa.Column("role_skill_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f("fk_proposal_role_skill_id_skill"), "skill", ["role_skill_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("proposal", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_proposal_role_skill_id_skill"), type_="foreignkey")
        batch_op.drop_column("role_skill_id")

    with op.batch_alter_table("demand_role", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_demand_role_skill_id"))
        batch_op.drop_index(batch_op.f("ix_demand_role_demand_id"))
    op.drop_table("demand_role")
