"""The production server as the README starts it: gunicorn with gunicorn.conf.py names no server software,
and the app's security headers come through."""

from __future__ import annotations

import gc
import http.client
import os
import runpy
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(port: int, path: str, deadline: float) -> http.client.HTTPResponse:
    while True:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            return response
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
        finally:
            connection.close()


@pytest.fixture()
def gunicorn(tmp_path):
    def start(*config: str) -> int:
        port = _free_port()
        env = {**os.environ, "CRAFTMATCH_DATABASE_URL": f"sqlite:///{tmp_path / 'g.sqlite'}",
               "CRAFTMATCH_WORKERS": "1", "CRAFTMATCH_BIND": f"127.0.0.1:{port}"}
        process = subprocess.Popen([sys.executable, "-m", "gunicorn", *config, "--bind", f"127.0.0.1:{port}",
                                    "--workers", "1", "web:create_app()"], cwd=REPO, env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started.append(process)
        return port

    started: list[subprocess.Popen] = []
    yield start
    for process in started:
        process.terminate()
        process.wait(timeout=30)


def test_gunicorn_with_the_config_names_no_server(gunicorn):
    response = _get(gunicorn("-c", "gunicorn.conf.py"), "/healthz", time.monotonic() + 30)
    assert response.status == 200
    assert response.getheader("Server") is None
    assert response.getheader("X-Frame-Options") == "DENY"
    assert "frame-ancestors 'none'" in response.getheader("Content-Security-Policy")


def test_gunicorn_without_the_config_would_say_its_name(gunicorn):
    # the check above can fail: plain gunicorn announces itself
    response = _get(gunicorn("-c", "/dev/null"), "/healthz", time.monotonic() + 30)
    assert response.getheader("Server") == "gunicorn"


def test_gunicorn_with_the_config_keeps_the_connection_alive(gunicorn):
    port = gunicorn("-c", "gunicorn.conf.py")
    _get(port, "/healthz", time.monotonic() + 30)  # up
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        for _ in range(3):  # one TCP connection for all three (sync workers would close it after each)
            connection.request("GET", "/healthz")
            response = connection.getresponse()
            response.read()
            assert response.status == 200 and response.getheader("Connection") != "close"
        assert connection.sock is not None
    finally:
        connection.close()


def test_the_workers_import_numpy_without_huge_page_requests(monkeypatch):
    monkeypatch.delenv("NUMPY_MADVISE_HUGEPAGE", raising=False)
    runpy.run_path(str(REPO / "gunicorn.conf.py"))
    assert os.environ["NUMPY_MADVISE_HUGEPAGE"] == "0"
    check = "import numpy._core.multiarray as m; print(m._get_madvise_hugepage())"
    assert subprocess.check_output([sys.executable, "-c", check], text=True).strip() == "False"


def test_an_operators_own_huge_page_setting_wins(monkeypatch):
    monkeypatch.setenv("NUMPY_MADVISE_HUGEPAGE", "1")
    runpy.run_path(str(REPO / "gunicorn.conf.py"))
    assert os.environ["NUMPY_MADVISE_HUGEPAGE"] == "1"


def test_a_worker_leaves_what_it_built_at_start_out_of_the_collectors_full_passes():
    config = runpy.run_path(str(REPO / "gunicorn.conf.py"))
    before = gc.get_freeze_count()
    try:
        config["post_worker_init"](None)
        assert gc.get_freeze_count() > before
        assert gc.get_count()[2] == 0  # collected first: no garbage is frozen with it
    finally:
        gc.unfreeze()
