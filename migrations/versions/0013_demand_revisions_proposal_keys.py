"""demand revisions kept by triggers; a proposal's pair keyed to the round's membership

1. ``demand.revision``, moved on by triggers in the transaction of every write to what a demand's matching
   fingerprint (``eligibility.demand_fingerprints``) is made of: the demand's fingerprinted columns, its skills,
   industries and roles. ``round_demand.revision`` records the revision its ``fingerprint`` was read at, so a
   round's page (and a re-solve) hashes again only the demands whose revision moved, instead of reading and
   hashing all of them (~40 ms at 2,000 demands). Demands already in the database start at 0 and the rounds'
   stored revisions are unknown (NULL): their first look hashes them as before.
2. ``proposal``: the keys to the round, the craftsman and the demand become two keys to the round's
   membership, (round_id, craftsman_id) → round_craftsman and (round_id, demand_id) → round_demand, both
   ON DELETE CASCADE like the round's key before; ``ix_proposal_round_id``, ``ix_proposal_craftsman_id`` and
   ``ix_proposal_demand_id`` make way for ``ix_proposal_round_id_demand_id`` (the unique index serves a round's
   rows and a round's craftsman). A province round's COPY of 8,530 proposals checks two keys and updates three
   indexes per row instead of three and five. A database holding a proposal whose pair is not in its round
   (none is made by the application) stops the upgrade with the first such pairs.

On SQLite a batch operation that rebuilds ``demand``, ``demand_skill``, ``demand_industry`` or ``demand_role``
drops their triggers: such a later migration must create them again (tests/test_demand_revisions.py checks the
migrated head has them). The trigger statements are this revision's, frozen here.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 03:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

# Frozen copy of ``web.services.eligibility._FINGERPRINTED`` as of this revision.
FINGERPRINTED = ("title", "description", "support_needed", "other_skills", "category_id", "team_size", "mode",
                 "region_id", "window_start", "window_end", "urgency", "enterprise_id")
LINKED = ("demand_skill", "demand_industry", "demand_role")  # rows of a demand that its fingerprint reads
_BUMP = "UPDATE demand SET revision = revision + 1 WHERE id"


def _trigger_statements(dialect: str) -> list[str]:
    """Every trigger, as ``(name, statements)``; on PostgreSQL the linked tables' triggers are per statement (one
    update of each demand for a statement's rows, e.g. a demand's five skills inserted at once)."""
    columns = ", ".join(FINGERPRINTED)
    old = ", ".join(f"OLD.{c}" for c in FINGERPRINTED)
    new = ", ".join(f"NEW.{c}" for c in FINGERPRINTED)
    if dialect == "sqlite":
        statements = [f"CREATE TRIGGER demand_revision_demand_au AFTER UPDATE OF {columns} ON demand FOR EACH ROW "
                      f"WHEN ({old}) IS NOT ({new}) BEGIN {_BUMP} = NEW.id; END"]
        for table in LINKED:
            statements += [
                f"CREATE TRIGGER demand_revision_{table}_ai AFTER INSERT ON {table} FOR EACH ROW "
                f"BEGIN {_BUMP} = NEW.demand_id; END",
                f"CREATE TRIGGER demand_revision_{table}_au AFTER UPDATE ON {table} FOR EACH ROW "
                f"BEGIN {_BUMP} IN (OLD.demand_id, NEW.demand_id); END",
                f"CREATE TRIGGER demand_revision_{table}_ad AFTER DELETE ON {table} FOR EACH ROW "
                f"BEGIN {_BUMP} = OLD.demand_id; END",
            ]
        return statements
    statements = [
        "CREATE FUNCTION demand_revision_demand_bu() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN NEW.revision := OLD.revision + 1; RETURN NEW; END $$",
        f"CREATE TRIGGER demand_revision_demand_bu BEFORE UPDATE OF {columns} ON demand FOR EACH ROW "
        f"WHEN (({old}) IS DISTINCT FROM ({new})) EXECUTE FUNCTION demand_revision_demand_bu()",
    ]
    for table in LINKED:
        for suffix, event, tables, ids in (
                ("ai", "INSERT", "NEW TABLE AS changed", "SELECT demand_id FROM changed"),
                ("au", "UPDATE", "OLD TABLE AS before NEW TABLE AS changed",
                 "SELECT demand_id FROM before UNION SELECT demand_id FROM changed"),
                ("ad", "DELETE", "OLD TABLE AS before", "SELECT demand_id FROM before")):
            name = f"demand_revision_{table}_{suffix}"
            statements += [
                f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
                f"BEGIN {_BUMP} IN ({ids}); RETURN NULL; END $$",
                f"CREATE TRIGGER {name} AFTER {event} ON {table} REFERENCING {tables} FOR EACH STATEMENT "
                f"EXECUTE FUNCTION {name}()",
            ]
    return statements


def _drop_statements(dialect: str) -> list[str]:
    names = ["demand_revision_demand_au" if dialect == "sqlite" else "demand_revision_demand_bu"]
    names += [f"demand_revision_{table}_{suffix}" for table in LINKED for suffix in ("ai", "au", "ad")]
    if dialect == "sqlite":
        return [f"DROP TRIGGER IF EXISTS {name}" for name in names]
    tables = ["demand"] + [table for table in LINKED for _ in range(3)]
    return [statement for name, table in zip(names, tables, strict=True)
            for statement in (f"DROP TRIGGER IF EXISTS {name} ON {table}", f"DROP FUNCTION IF EXISTS {name}()")]


def _pairs_outside_their_round() -> list[tuple[int, int, int]]:
    return [tuple(row) for row in op.get_bind().execute(sa.text(
        "SELECT p.round_id, p.craftsman_id, p.demand_id FROM proposal p "
        "WHERE NOT EXISTS (SELECT 1 FROM round_craftsman m WHERE m.round_id = p.round_id "
        "AND m.craftsman_id = p.craftsman_id) "
        "OR NOT EXISTS (SELECT 1 FROM round_demand m WHERE m.round_id = p.round_id AND m.demand_id = p.demand_id) "
        "ORDER BY p.id LIMIT 5")).all()]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    with op.batch_alter_table("demand", schema=None) as batch_op:
        batch_op.add_column(sa.Column("revision", sa.Integer(), server_default="0", nullable=False))
    with op.batch_alter_table("round_demand", schema=None) as batch_op:
        batch_op.add_column(sa.Column("revision", sa.Integer(), nullable=True))
    for statement in _trigger_statements(dialect):
        op.execute(statement)

    outside = _pairs_outside_their_round()
    if outside:
        raise RuntimeError(f"proposals whose pair is not in their round (round, craftsman, demand): {outside}")
    with op.batch_alter_table("proposal", schema=None) as batch_op:
        batch_op.drop_constraint("fk_proposal_round_id_matching_round", type_="foreignkey")
        batch_op.drop_constraint("fk_proposal_craftsman_id_craftsman", type_="foreignkey")
        batch_op.drop_constraint("fk_proposal_demand_id_demand", type_="foreignkey")
        batch_op.drop_index("ix_proposal_round_id")
        batch_op.drop_index("ix_proposal_craftsman_id")
        batch_op.drop_index("ix_proposal_demand_id")
        batch_op.create_index("ix_proposal_round_id_demand_id", ["round_id", "demand_id"], unique=False)
        batch_op.create_foreign_key("fk_proposal_round_id_round_craftsman", "round_craftsman",
                                    ["round_id", "craftsman_id"], ["round_id", "craftsman_id"], ondelete="CASCADE")
        batch_op.create_foreign_key("fk_proposal_round_id_round_demand", "round_demand",
                                    ["round_id", "demand_id"], ["round_id", "demand_id"], ondelete="CASCADE")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    with op.batch_alter_table("proposal", schema=None) as batch_op:
        batch_op.drop_constraint("fk_proposal_round_id_round_demand", type_="foreignkey")
        batch_op.drop_constraint("fk_proposal_round_id_round_craftsman", type_="foreignkey")
        batch_op.drop_index("ix_proposal_round_id_demand_id")
        batch_op.create_index("ix_proposal_demand_id", ["demand_id"], unique=False)
        batch_op.create_index("ix_proposal_craftsman_id", ["craftsman_id"], unique=False)
        batch_op.create_index("ix_proposal_round_id", ["round_id"], unique=False)
        batch_op.create_foreign_key("fk_proposal_demand_id_demand", "demand", ["demand_id"], ["id"])
        batch_op.create_foreign_key("fk_proposal_craftsman_id_craftsman", "craftsman", ["craftsman_id"], ["id"])
        batch_op.create_foreign_key("fk_proposal_round_id_matching_round", "matching_round", ["round_id"], ["id"],
                                    ondelete="CASCADE")
    for statement in _drop_statements(dialect):
        op.execute(statement)
    with op.batch_alter_table("round_demand", schema=None) as batch_op:
        batch_op.drop_column("revision")
    if dialect == "sqlite":  # in place: a batch rebuild of the table would drop the report summaries' triggers
        op.execute("ALTER TABLE demand DROP COLUMN revision")
    else:
        op.drop_column("demand", "revision")
