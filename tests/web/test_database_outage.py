"""A database outage is answered, not crashed: /healthz says 503, every request that meets the outage gets a
503 "temporarily unavailable, nothing was saved" page or JSON in the user's language, and the same app works
again once the database is back — no restart.

PostgreSQL for real: the app talks to a throwaway database through a TCP relay this test controls; cutting
the relay drops the open connections and refuses new ones, as a database restart or a network failure does.
SQLite: a database file that cannot be opened, then can.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import socket
import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from tests.browser import Browser
from tests.conftest import NOW, TEST_PASSWORD, make_test_app
from tests.databases import postgres_url, throwaway_postgres_database
from tests.web.test_intake_service import valid_demand_data
from web import migrate
from web.db import make_engine
from web.extensions import db
from web.models import Demand
from web.services import seeding
from web.services.users import create_user

UNAVAILABLE_EN = "temporarily unavailable; nothing was saved"
UNAVAILABLE_ZH = "服务暂时不可用，本次操作未保存任何内容"


class Relay:
    """A TCP relay 127.0.0.1:port → target that can be cut (connections dropped, new ones refused) and restored."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.restore()

    def restore(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            sockets, self._sockets = self._sockets, set()
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _address = listener.accept()
            except OSError:
                return  # cut
            try:
                server = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not listener:  # cut meanwhile
                    client.close()
                    server.close()
                    return
                self._sockets |= {client, server}
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()

    def _pump(self, client: socket.socket, server: socket.socket) -> None:
        selector = selectors.DefaultSelector()
        selector.register(client, selectors.EVENT_READ, server)
        selector.register(server, selectors.EVENT_READ, client)
        try:
            while True:
                for key, _events in selector.select():
                    data = key.fileobj.recv(65536)
                    if not data:
                        return
                    key.data.sendall(data)
        except (OSError, ValueError):
            return
        finally:
            selector.close()
            for sock in (client, server):
                with contextlib.suppress(OSError):
                    sock.close()


@pytest.fixture(scope="module")
def outage_database() -> Iterator[str]:
    base = postgres_url()
    if base is None:
        pytest.skip("needs a PostgreSQL server")
    with throwaway_postgres_database(base) as url:
        migrate.upgrade(url)
        engine = make_engine(url)
        with Session(bind=engine) as session:
            seeding.load_reference(session)
            create_user(session, username="outage_staff", password=TEST_PASSWORD, role="coordinator",
                        actor="test", now=NOW)
            session.commit()
        engine.dispose()
        yield url


@pytest.fixture()
def relayed_app(outage_database):
    direct = sa.make_url(outage_database)
    relay = Relay((direct.host, direct.port or 5432))
    app = make_test_app(direct.set(port=relay.port).render_as_string(hide_password=False))
    yield app, relay
    relay.cut()
    with app.app_context():
        db.engine.dispose()


def _demands(url: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return connection.scalar(sa.select(sa.func.count()).select_from(Demand))
    finally:
        engine.dispose()


def _unavailable_page(response, text: str) -> None:
    assert response.status_code == 503, response.status_code
    assert text in response.get_data(as_text=True)
    assert response.headers["Retry-After"]


def test_postgres_outage_is_answered_and_the_app_recovers_without_restart(relayed_app, outage_database):
    app, relay = relayed_app
    visitor, staff = Browser(app.test_client()), Browser(app.test_client())
    assert visitor.get("/healthz").get_json() == {"status": "ok", "database": "ok"}
    token = visitor.csrf_token("/demand/new")
    assert staff.login("outage_staff", TEST_PASSWORD).status_code == 302
    assert staff.get("/workspace/").status_code == 200
    before = _demands(outage_database)

    relay.cut()  # the database goes away: open connections drop, new ones are refused
    health = visitor.get("/healthz")
    assert health.status_code == 503 and health.get_json()["status"] == "unavailable"
    _unavailable_page(visitor.get("/"), UNAVAILABLE_ZH)  # Chinese first
    _unavailable_page(visitor.get("/?lang=en"), UNAVAILABLE_EN)
    _unavailable_page(staff.get("/workspace/demands/?lang=en"), UNAVAILABLE_EN)  # the layout needs no database
    form = visitor.client.post("/demand/new", data={**valid_demand_data(), "csrf_token": token})
    _unavailable_page(form, UNAVAILABLE_EN)  # the language chosen before stays
    api = visitor.client.post("/api/v1/demands", json=valid_demand_data(consent=True))
    assert api.status_code == 503
    assert api.get_json() == {"code": 503, "status": "unavailable", "errors": {},
                              "message": "The service is temporarily unavailable; nothing was saved. "
                                         "Please try again in a few minutes."}

    relay.restore()  # the same app, no restart: dead pooled connections are replaced
    assert visitor.get("/healthz").status_code == 200
    assert _demands(outage_database) == before  # nothing was saved during the outage
    assert staff.get("/workspace/").status_code == 200
    created = visitor.client.post("/api/v1/demands", json=valid_demand_data(consent=True))
    assert created.status_code == 201, created.get_json()
    assert _demands(outage_database) == before + 1


def test_postgres_connection_killed_mid_session_recovers(relayed_app, outage_database):
    # a database restart between two requests: the pooled connection is dead; the next request still works
    app, relay = relayed_app
    client = app.test_client()
    assert client.get("/").status_code == 200
    relay.cut()
    relay.restore()
    assert client.get("/").status_code == 200
    assert client.get("/healthz").status_code == 200


def test_sqlite_database_that_cannot_be_opened(tmp_path):
    folder = tmp_path / "not-yet"
    url = f"sqlite:///{folder / 'craftmatch.sqlite'}"
    app = make_test_app(url)
    client = app.test_client()
    try:
        health = client.get("/healthz")
        assert health.status_code == 503 and json.loads(health.data)["database"] == "unreachable"
        _unavailable_page(client.get("/?lang=en"), UNAVAILABLE_EN)
        api = client.post("/api/v1/demands", json=valid_demand_data(consent=True))
        assert api.status_code == 503 and api.get_json()["status"] == "unavailable"

        os.mkdir(folder)  # the volume is back
        migrate.upgrade(url)
        assert client.get("/healthz").status_code == 200
        assert client.get("/").status_code == 200
    finally:
        with app.app_context():
            db.engine.dispose()
