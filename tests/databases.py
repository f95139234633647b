"""Which databases the tests run on: SQLite always, PostgreSQL when one is reachable.

PostgreSQL comes from ``CRAFTMATCH_TEST_POSTGRES_URL``; without it, a local server with the
database ``craftmatch_test`` (as .ci/run creates it) is tried once, quickly.
"""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
from collections.abc import Iterator

import sqlalchemy as sa

LOCAL_POSTGRES_URL = "postgresql+psycopg://craftmatch:craftmatch@127.0.0.1:5432/craftmatch_test"


@functools.cache
def postgres_url() -> str | None:
    url = os.environ.get("CRAFTMATCH_TEST_POSTGRES_URL")
    if url:
        return url
    engine = sa.create_engine(LOCAL_POSTGRES_URL, connect_args={"connect_timeout": 2})
    try:
        with engine.connect():
            return LOCAL_POSTGRES_URL
    except Exception:  # noqa: BLE001 - no server is a normal case: the tests then run on SQLite only
        return None
    finally:
        engine.dispose()


def backends() -> list[str]:
    return ["sqlite", "postgresql"] if postgres_url() else ["sqlite"]


@contextlib.contextmanager
def throwaway_postgres_database(base_url: str) -> Iterator[str]:
    """A fresh database next to ``base_url``'s, dropped afterwards, so that parallel test runs never collide."""
    base = sa.make_url(base_url)
    name = f"{base.database}_{os.getpid()}_{secrets.token_hex(3)}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        try:
            with admin.connect() as connection:
                _drop_database(connection, name)
        finally:
            admin.dispose()


def _drop_database(connection: sa.Connection, name: str) -> None:
    try:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    except sa.exc.ProgrammingError:
        # PostgreSQL 15's FORCE refuses when an autovacuum worker is in the database (it belongs to no role we may
        # signal): end our own sessions, then a plain DROP, which the server clears of autovacuum itself.
        connection.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name "
                                   "AND usename = current_user AND pid <> pg_backend_pid()"), {"name": name})
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
