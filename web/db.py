"""Engine and one session per application context.

The engine is created lazily on first use, so ``create_app()`` does no database work.
Tests may bind sessions to an outer connection (``Database.bind_to``) and roll back.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson
import sqlalchemy as sa
from flask import Flask, current_app, g, has_request_context, request
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import DeclarativeBase, Session

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


def postgresql_only(index: sa.Index) -> sa.Index:
    """An index only PostgreSQL has (a trigram index needs pg_trgm): created there, absent elsewhere."""
    return index.ddl_if(dialect="postgresql")


def containing(column: Any, text: str) -> sa.ColumnElement[bool]:
    """``column`` contains ``text``, whatever the case, its ``%``, ``_`` and ``\\`` taken as they are (a search
    box). ILIKE as written, not ``lower() LIKE``: PostgreSQL's trigram indexes serve it."""
    return column.ilike("%" + re.sub(r"([\\%_])", r"\\\1", text) + "%", escape="\\")


def schema_compares(dialect: str):
    """alembic's ``include_object`` for comparing the models with a database of ``dialect``: an index another
    backend only has (``postgresql_only``) is not expected there (alembic does not read ``ddl_if``)."""
    def include(item: Any, _name: str | None, kind: str, reflected: bool, _compare_to: Any) -> bool:
        condition = getattr(item, "_ddl_if", None) if kind == "index" and not reflected else None
        return condition is None or condition.dialect in (None, dialect)
    return include


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling breaks SAVEPOINT; let SQLAlchemy emit BEGIN itself
    # (the recipe in SQLAlchemy's SQLite dialect documentation).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


# Execution option naming how SQLite transactions begin. A deferred BEGIN takes the shared lock at the
# first read; if the transaction then writes while another connection is writing, the upgrade fails at
# once with "database is locked" (waiting could deadlock, so SQLite does not use the busy timeout there).
# BEGIN IMMEDIATE takes the write lock up front and waits for it (up to the busy timeout) instead.
SQLITE_BEGIN = "craftmatch_sqlite_begin"
SQLITE_BUSY_TIMEOUT_SECONDS = 30
READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _begin_sqlite_transaction(connection: Connection) -> None:
    mode = connection.get_execution_options().get(SQLITE_BEGIN, "DEFERRED")
    connection.exec_driver_sql(f"BEGIN {'IMMEDIATE' if mode == 'IMMEDIATE' else 'DEFERRED'}")


def writer_engine(engine: Engine) -> Engine:
    """``engine`` whose SQLite transactions begin IMMEDIATE (the same pool; other databases: ``engine`` itself)."""
    if engine.dialect.name != "sqlite":
        return engine
    return engine.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})


# orjson reads an integer beyond 64 bits as a float: a text with such a run of digits goes to the standard library.
# The run is found by mapping every digit to "0" and looking for 19 of them (a regular expression costs more than
# the parse).
_DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_DIGIT_RUN = b"0" * 19


def json_loads(text: str | bytes) -> Any:
    """A JSON column's value: orjson's parse (a review page decodes hundreds of breakdowns), the standard library's
    for what orjson reads otherwise or refuses (integers of 19 digits or more; NaN, lone surrogates): the same
    values either way."""
    data = text.encode() if isinstance(text, str) else bytes(text)
    exact = text if isinstance(text, str) else data  # json.loads guesses an encoding for bytes, not for a str
    if _LONG_DIGIT_RUN in data.translate(_DIGITS_TO_ZERO):
        return json.loads(exact)
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(exact)


def make_engine(url: str, echo: bool = False) -> Engine:
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, echo=echo, json_deserializer=json_loads,
                                  connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_SECONDS})
        sa.event.listen(engine, "connect", _configure_sqlite_connection)
        sa.event.listen(engine, "begin", _begin_sqlite_transaction)
        return engine
    return sa.create_engine(url, echo=echo, pool_pre_ping=True, json_deserializer=json_loads)


class _DatabaseState:
    def __init__(self, url: str, echo: bool) -> None:
        self.url = url
        self.echo = echo
        self._engine: Engine | None = None
        self._writer: Engine | None = None
        self.bind_override: Connection | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(self.url, self.echo)
        return self._engine

    @property
    def writer(self) -> Engine:
        if self._writer is None:
            self._writer = writer_engine(self.engine)
        return self._writer


class Database:
    """Flask extension: ``db.session`` is the request's (app context's) session."""

    extension_key = "craftmatch.db"

    def init_app(self, app: Flask) -> None:
        app.extensions[self.extension_key] = _DatabaseState(app.config["DATABASE_URL"], app.config["DATABASE_ECHO"])
        app.teardown_appcontext(self._close_session)

    def state(self, app: Flask | None = None) -> _DatabaseState:
        return (app or current_app).extensions[self.extension_key]

    @property
    def engine(self) -> Engine:
        return self.state().engine

    def new_session(self, app: Flask | None = None, *, write: bool = True) -> Session:
        """A session; on SQLite a ``write`` session's transactions begin IMMEDIATE (see ``SQLITE_BEGIN``)."""
        state = self.state(app)
        if state.bind_override is not None:
            return Session(bind=state.bind_override, join_transaction_mode="create_savepoint", expire_on_commit=False)
        return Session(bind=state.writer if write else state.engine, expire_on_commit=False)

    @property
    def session(self) -> Session:
        """The app context's session. Requests with a safe method (GET…) read without taking SQLite's write
        lock; every other request, CLI command and job may write, so it takes the lock when it begins."""
        if "_craftmatch_session" not in g:
            reading = has_request_context() and request.method in READ_ONLY_METHODS
            g._craftmatch_session = self.new_session(write=not reading)
        return g._craftmatch_session

    def bind_to(self, app: Flask, connection: Connection | None) -> None:
        """Make every new session join ``connection`` (tests roll it back afterwards)."""
        self.state(app).bind_override = connection

    @staticmethod
    def _close_session(_exc: BaseException | None) -> None:
        session = g.pop("_craftmatch_session", None)
        if session is not None:
            session.close()
