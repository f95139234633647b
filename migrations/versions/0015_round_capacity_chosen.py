"""a round's capacity for a craftsman: chosen by the coordinator, or copied from his profile

``round_craftsman.capacity_chosen``: the coordinator set the number (for him in the round, or for every craftsman
when the round was created); otherwise it is the profile's demands per round copied at the round's creation and
follows later edits of the profile while the round is not published (``rounds.follow_capacity_edit``).
Existing rows count as chosen where their round was created with a capacity for all, or where they differ from
the profile now (what a coordinator's change leaves; a copy differs only after a profile edit).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 20:15:00
"""
import json

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("round_craftsman") as batch:
        batch.add_column(sa.Column("capacity_chosen", sa.Boolean(), server_default=sa.false(), nullable=False))
    connection = op.get_bind()
    rows = connection.execute(sa.text("SELECT id, filters FROM matching_round WHERE filters IS NOT NULL")).all()
    for_all = [round_id for round_id, filters in rows
               if (json.loads(filters) if isinstance(filters, str) else filters or {}).get("default_capacity")
               is not None]
    chosen = sa.text("UPDATE round_craftsman SET capacity_chosen = :yes WHERE round_id IN :rounds") \
        .bindparams(sa.bindparam("rounds", expanding=True))
    if for_all:
        connection.execute(chosen, {"yes": True, "rounds": for_all})
    connection.execute(sa.text(
        "UPDATE round_craftsman SET capacity_chosen = :yes WHERE capacity <> "
        "(SELECT round_capacity FROM craftsman WHERE craftsman.id = round_craftsman.craftsman_id)"), {"yes": True})


def downgrade() -> None:
    with op.batch_alter_table("round_craftsman") as batch:
        batch.drop_column("capacity_chosen")
