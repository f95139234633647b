"""merge notes that named another enterprise's demand

A demand merged into another enterprise's demand told its enterprise, in its public history, the tracking code it
continued under: a code of someone else's demand, whose status could then be looked up with four digits. New merges
write a note without it (``demands.merge``); this rewrites the notes already written.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02 00:15:00
"""
import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

# demands.merge's note for this case, in the office's language (notes are stored as written)
NOTE = "已与其他企业的同类需求合并办理，工会将及时与您联系。"


def upgrade() -> None:
    op.get_bind().execute(sa.text(
        "UPDATE demand_status_event SET note = :note WHERE to_status = 'merged' AND public = :yes AND demand_id IN "
        "(SELECT merged.id FROM demand merged JOIN demand successor ON successor.id = merged.merged_into_id "
        "WHERE successor.enterprise_id <> merged.enterprise_id)"), {"note": NOTE, "yes": True})


def downgrade() -> None:
    pass  # the old notes are not restored: they disclosed another enterprise's tracking code
