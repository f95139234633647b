"""round integrity: one live engagement per demand, demand fingerprints in rounds, queued_at, no 'approved'

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 09:00:00
"""
import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

STATUSES_BEFORE = ('submitted', 'needs_info', 'approved', 'open', 'matched', 'in_service', 'completed',
                   'evaluated', 'rejected', 'withdrawn', 'merged')
STATUSES_AFTER = tuple(status for status in STATUSES_BEFORE if status != 'approved')
LIVE = "status <> 'cancelled'"
DUPLICATE_REASON = 'Duplicate booking of a demand served by another engagement (cancelled by migration 0002)'


def _status_check(statuses):
    return "status IN (%s)" % ", ".join(f"'{status}'" for status in statuses)


def upgrade() -> None:
    bind = op.get_bind()
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    # 'approved' was a dead end: approval moves a demand to 'open' (ready for matching), which rounds pick up.
    stuck = [row[0] for row in bind.execute(sa.text("SELECT id FROM demand WHERE status = 'approved'"))]
    if stuck:
        bind.execute(sa.text(
            "INSERT INTO demand_status_event (demand_id, from_status, to_status, at, actor_id, note, public) "
            "VALUES (:demand_id, 'approved', 'open', :at, NULL, NULL, false)"),
            [{"demand_id": demand_id, "at": now} for demand_id in stuck])
        bind.execute(sa.text("UPDATE demand SET status = 'open', updated_at = :at WHERE status = 'approved'"),
                     {"at": now})
    with op.batch_alter_table('demand', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_demand_status_valid'), type_='check')
        batch_op.create_check_constraint(op.f('ck_demand_status_valid'), _status_check(STATUSES_AFTER))

    # Before the unique index: a demand that two rounds double-booked keeps its first engagement.
    duplicates = [row[0] for row in bind.execute(sa.text(
        f"SELECT e.id FROM engagement e WHERE e.{LIVE} AND EXISTS (SELECT 1 FROM engagement f "
        f"WHERE f.demand_id = e.demand_id AND f.{LIVE} AND f.id < e.id)"))]
    if duplicates:
        bind.execute(sa.text("UPDATE engagement SET status = 'cancelled', cancel_reason = :reason, updated_at = :at "
                             "WHERE id IN (%s)" % ", ".join(str(int(i)) for i in duplicates)),
                     {"reason": DUPLICATE_REASON, "at": now})
    op.create_index('uq_engagement_live_demand', 'engagement', ['demand_id'], unique=True,
                    sqlite_where=sa.text(LIVE), postgresql_where=sa.text(LIVE))

    with op.batch_alter_table('round_demand', schema=None) as batch_op:
        batch_op.add_column(sa.Column('fingerprint', sa.String(length=32), nullable=True))
    with op.batch_alter_table('matching_round', schema=None) as batch_op:
        batch_op.add_column(sa.Column('queued_at', sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('matching_round', schema=None) as batch_op:
        batch_op.drop_column('queued_at')
    with op.batch_alter_table('round_demand', schema=None) as batch_op:
        batch_op.drop_column('fingerprint')
    op.drop_index('uq_engagement_live_demand', table_name='engagement',
                  sqlite_where=sa.text(LIVE), postgresql_where=sa.text(LIVE))
    with op.batch_alter_table('demand', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_demand_status_valid'), type_='check')
        batch_op.create_check_constraint(op.f('ck_demand_status_valid'), _status_check(STATUSES_BEFORE))
