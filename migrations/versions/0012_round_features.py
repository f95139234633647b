"""round snapshots in two parts: the features stored once per content, the solve inputs on the round

A province round's snapshot is ~3.5 MB of JSON, of which all but a few kB are the pools' features (craftsmen,
demands, history, roles, skill families, track record). They now live in ``round_features`` (the canonical JSON
text keyed by its sha256), and ``matching_round.snapshot`` becomes ``solve_inputs`` (config, locks, exclusions,
previous and kept pairs) with ``features_digest`` pointing at its features: a re-solve that reuses the features
writes only the small part. The rounds' ``snapshot_digest`` values are kept as they are (the digest of the whole
snapshot, both parts merged). On PostgreSQL the features text is compressed with lz4 where the server has it
(a 3.5 MB insert 15-25 ms instead of 55-110 ms with pglz).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 20:00:00
"""
import datetime as dt
import hashlib
import json

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# Frozen copy of ``web.services.features.FEATURE_KEYS`` as of this revision.
FEATURE_KEYS = ("craftsmen", "demands", "history", "roles", "skill_parent", "track_record")

features_table = sa.table("round_features", sa.column("digest", sa.String), sa.column("data", sa.Text),
                          sa.column("created_at", sa.DateTime))


def _round_table(*columns: str) -> sa.TableClause:
    kinds = {"id": sa.Integer, "snapshot": sa.JSON, "solve_inputs": sa.JSON, "features_digest": sa.String}
    return sa.table("matching_round", *(sa.column(name, kinds[name]) for name in columns))


def upgrade() -> None:
    op.create_table(
        "round_features",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_round_features")),
    )
    bind = op.get_bind()
    if bind.dialect.name == "postgresql" and bind.scalar(sa.text(
            "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'")):
        op.execute("ALTER TABLE round_features ALTER COLUMN data SET COMPRESSION lz4")
    with op.batch_alter_table("matching_round", schema=None) as batch_op:
        batch_op.add_column(sa.Column("solve_inputs", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("features_digest", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_matching_round_features_digest"), ["features_digest"], unique=False)
        batch_op.create_foreign_key(batch_op.f("fk_matching_round_features_digest_round_features"),
                                    "round_features", ["features_digest"], ["digest"])
    old = _round_table("id", "snapshot")
    new = _round_table("id", "solve_inputs", "features_digest")
    stored: set[str] = set()
    for round_id in bind.scalars(sa.select(old.c.id).where(old.c.snapshot.is_not(None)).order_by(old.c.id)).all():
        snapshot = bind.scalar(sa.select(old.c.snapshot).where(old.c.id == round_id))
        features = {key: value for key, value in snapshot.items() if key in FEATURE_KEYS}
        text = json.dumps(features, sort_keys=True, separators=(",", ":"))
        digest = hashlib.sha256(text.encode()).hexdigest()
        if digest not in stored and bind.scalar(sa.select(sa.func.count()).select_from(features_table)
                                                .where(features_table.c.digest == digest)) == 0:
            bind.execute(sa.insert(features_table).values(digest=digest, data=text,
                                                          created_at=dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)))
        stored.add(digest)
        bind.execute(sa.update(new).where(new.c.id == round_id).values(
            features_digest=digest,
            solve_inputs={key: value for key, value in snapshot.items() if key not in FEATURE_KEYS}))
    with op.batch_alter_table("matching_round", schema=None) as batch_op:
        batch_op.drop_column("snapshot")


def downgrade() -> None:
    with op.batch_alter_table("matching_round", schema=None) as batch_op:
        batch_op.add_column(sa.Column("snapshot", sa.JSON(), nullable=True))
    bind = op.get_bind()
    rounds = _round_table("id", "snapshot", "solve_inputs", "features_digest")
    for round_id, features_digest in bind.execute(sa.select(rounds.c.id, rounds.c.features_digest)
                                                  .where(rounds.c.solve_inputs.is_not(None))
                                                  .order_by(rounds.c.id)).all():
        solve_inputs = bind.scalar(sa.select(rounds.c.solve_inputs).where(rounds.c.id == round_id))
        text = bind.scalar(sa.select(features_table.c.data).where(features_table.c.digest == features_digest)) \
            if features_digest else None
        bind.execute(sa.update(rounds).where(rounds.c.id == round_id).values(
            snapshot={**(json.loads(text) if text else {}), **solve_inputs}))
    with op.batch_alter_table("matching_round", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_matching_round_features_digest_round_features"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_matching_round_features_digest"))
        batch_op.drop_column("features_digest")
        batch_op.drop_column("solve_inputs")
    op.drop_table("round_features")
