"""SQLite: requests that read and then write at the same time wait for each other instead of failing.

A deferred transaction (plain BEGIN) takes the shared lock at its first read; when two of them
then write, SQLite refuses the second upgrade at once with "database is locked" (the busy timeout
cannot help: waiting could deadlock). Writing sessions therefore begin IMMEDIATE; reading
requests (GET) stay deferred, so they are not queued behind writers. Runs on a file SQLite
database of its own (committed for real), whatever backends the rest of the suite uses.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask import Flask

from tests.conftest import make_test_app
from web.extensions import db

THREADS = 6


@pytest.fixture()
def file_app(tmp_path) -> Iterator[Flask]:
    app = make_test_app(f"sqlite:///{tmp_path / 'locking.sqlite'}")
    with app.app_context(), db.engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE counter (n INTEGER NOT NULL)")
        connection.exec_driver_sql("INSERT INTO counter (n) VALUES (0)")
    yield app
    with app.app_context():
        db.engine.dispose()


def _read_then_write(app: Flask, context, start: threading.Barrier, errors: list[BaseException]) -> None:
    try:
        start.wait(timeout=30)
        with context():
            session = db.session
            n = session.execute(sa.text("SELECT n FROM counter")).scalar_one()
            time.sleep(0.05)  # others read meanwhile: without IMMEDIATE their writes collide
            session.execute(sa.text("UPDATE counter SET n = :n"), {"n": n + 1})
            session.commit()
    except BaseException as error:  # noqa: BLE001 - reported by the test
        errors.append(error)


@pytest.mark.parametrize("where", ["request", "app context"])
def test_concurrent_read_then_write_waits_instead_of_failing(file_app, where):
    def context():
        if where == "request":
            return file_app.test_request_context("/workspace/", method="POST")
        return file_app.app_context()  # CLI commands and jobs

    start, errors = threading.Barrier(THREADS), []
    threads = [threading.Thread(target=_read_then_write, args=(file_app, context, start, errors))
               for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    with file_app.app_context():
        # no lost update either: each read-then-write saw the previous one's result
        assert db.session.execute(sa.text("SELECT n FROM counter")).scalar_one() == THREADS


def test_a_reading_request_is_not_queued_behind_a_writer(file_app):
    with file_app.test_request_context("/", method="POST"):
        writer = db.session
        writer.execute(sa.text("UPDATE counter SET n = n + 1"))  # holds the write lock, not committed
        result: list[int] = []

        def read() -> None:
            with file_app.test_request_context("/", method="GET"):
                result.append(db.session.execute(sa.text("SELECT n FROM counter")).scalar_one())

        reader = threading.Thread(target=read)
        started = time.perf_counter()
        reader.start()
        reader.join(timeout=10)
        assert result == [0] and time.perf_counter() - started < 5  # the committed value, at once
        writer.rollback()
