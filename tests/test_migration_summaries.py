"""The report summaries' triggers in a migrated database are those ``web.services.summaries`` creates.

Migration 0011 holds a frozen copy of the summaries' statements (a migration must not change with the app), so
this is what keeps the two from drifting: a change of a contribution or a watch without a migration of its own
(old triggers dropped, new created, a rebuild) fails here. Compared: every trigger's name, table and SQL text
(SQLite keeps the statement as written; PostgreSQL its definition and its function's source), on each backend.
"""

from __future__ import annotations

import re

import sqlalchemy as sa

from web import migrate
from web.db import make_engine
from web.services import summaries


def _installed(connection: sa.Connection) -> dict[str, tuple[str, ...]]:
    """The installed triggers but the demand revisions' (tests/test_demand_revisions.py)."""
    if connection.dialect.name == "sqlite":
        rows = connection.execute(sa.text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"))
        installed = {name: (sql,) for name, sql in rows}
    else:
        rows = connection.execute(sa.text(
            "SELECT t.tgname, pg_get_triggerdef(t.oid), p.prosrc FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid "
            "WHERE NOT t.tgisinternal"))
        installed = {name: (definition.replace(" ON public.", " ON "), source) for name, definition, source in rows}
    return {name: value for name, value in installed.items() if not name.startswith("demand_revision_")}


def _expected(dialect: str) -> dict[str, tuple[str, ...]]:
    statements = summaries.create_triggers(dialect)
    if dialect == "sqlite":
        return {statement.split()[2]: (statement,) for statement in statements}
    functions = {}
    for statement in statements:
        if statement.startswith("CREATE FUNCTION"):
            name, source = re.fullmatch(r"CREATE FUNCTION (\w+)\(\) .*? AS \$\$(.*)\$\$", statement).groups()
            functions[name] = source
    return {statement.split()[2]: (statement, functions[statement.split()[2]])
            for statement in statements if statement.startswith("CREATE TRIGGER")}


def test_the_migrated_head_has_exactly_the_summaries_triggers(fresh_database_url):
    migrate.upgrade(fresh_database_url)
    engine = make_engine(fresh_database_url)
    try:
        with engine.connect() as connection:
            installed = _installed(connection)
            expected = _expected(connection.dialect.name)
    finally:
        engine.dispose()
    assert set(installed) == summaries.trigger_names()
    assert installed == expected
