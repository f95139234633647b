"""Migrations: one head, a full round trip, and models that agree with the migrated schema — on every backend."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from web import migrate
from web.db import Base, make_engine


def test_there_is_exactly_one_head():
    script = ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1, script.get_heads()


def _schema_differences(url: str) -> list:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade_and_models_agree(fresh_database_url):
    migrate.upgrade(fresh_database_url)
    assert _schema_differences(fresh_database_url) == []

    migrate.downgrade(fresh_database_url, "base")
    assert _tables(fresh_database_url) <= {"alembic_version"}

    migrate.upgrade(fresh_database_url)
    assert _schema_differences(fresh_database_url) == []
    assert set(Base.metadata.tables) <= _tables(fresh_database_url)
