"""regions get English names (name_en), filled from the reference seeds for the regions already there

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 12:05:00
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("region", schema=None) as batch_op:
        batch_op.add_column(sa.Column("name_en", sa.String(length=120), server_default="", nullable=False))

    from seeds import reference  # the names as the seeds give them; a region they do not know keeps ""

    names = [{"code": str(row["code"]), "name_en": row["name_en"]}
             for row in [*reference.load_regions(), *reference.load_functional_areas()] if row.get("name_en")]
    region = sa.table("region", sa.column("code", sa.String), sa.column("name_en", sa.String))
    op.get_bind().execute(region.update().where(region.c.code == sa.bindparam("region_code"))
                          .values(name_en=sa.bindparam("english")),
                          [{"region_code": row["code"], "english": row["name_en"]} for row in names])


def downgrade() -> None:
    with op.batch_alter_table("region", schema=None) as batch_op:
        batch_op.drop_column("name_en")
