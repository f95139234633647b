"""an engagement's version: an optimistic lock against two actions on it at once

A start and a cancel sent at the same moment both read the engagement as scheduled; without a version the later
write won and the engagement ended started and cancelled at once in its history. ``engagement.version`` is the
mapper's ``version_id_col``: the later request's UPDATE matches no row and is answered 409.

A plain ALTER on both backends: SQLite adds and drops a column in place (3.35+), while batch mode's copy of the
table would fail on the follow-up triggers that name ``engagement`` (0011, 0014).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01 22:30:00
"""
import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("engagement", sa.Column("version", sa.Integer(), server_default="1", nullable=False))


def downgrade() -> None:
    op.drop_column("engagement", "version")
