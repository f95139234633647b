"""gunicorn settings for craftmatch: ``gunicorn -c gunicorn.conf.py`` (read from the working directory).

Every value can still be overridden on the command line or with GUNICORN_CMD_ARGS. The app runs behind a
TLS-terminating proxy (see README, Production).
"""

from __future__ import annotations

import os

from gunicorn.http import wsgi

from web.heap import malloc_as_after_a_round, numpy_without_hugepages

# read here, in the master: the workers import the app, and numpy with it, after they fork
numpy_without_hugepages()
malloc_as_after_a_round()  # set in the master: the workers inherit it

wsgi_app = "web:create_app()"
bind = os.environ.get("CRAFTMATCH_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("CRAFTMATCH_WORKERS", "2"))  # one per core: threads do the waiting
# Threaded workers keep connections alive (a browser, or a proxy's upstream keep-alive, sends its next
# request on the same connection instead of a new TCP handshake) and serve other requests while one waits
# on PostgreSQL: measured against sync workers in benchmarks/NOTES.md ("Public side under load").
worker_class = "gthread"
# Two threads per worker: enough to overlap PostgreSQL's waits on two cores, and fewer threads contend less for the
# GIL (2 x 2 against 2 x 4, alternating on a quiet machine: API 104-118 against 92-93 submissions/s, GET p95 46-50
# against 60 ms at 50 clients; benchmarks/NOTES.md, session 18).
threads = int(os.environ.get("CRAFTMATCH_THREADS", "2"))
# A worker stops accepting at this many open connections, so that a burst of new keep-alive clients spreads
# over the workers: uncapped, one worker took all 50 of bench_web's API clients and served them on one core
# (84 submissions/s with the other worker idle; capped at 32: 158-170/s, GET p95 unchanged; NOTES.md).
worker_connections = int(os.environ.get("CRAFTMATCH_WORKER_CONNECTIONS", "32"))
keepalive = 5  # seconds an idle connection is kept; an idle one holds no thread, only a poller entry
timeout = 60
graceful_timeout = 30
# the proxy answers slow clients; only request lines and headers of a sane size reach the app
limit_request_line = 8190
limit_request_fields = 100


def post_worker_init(worker) -> None:
    """The worker has built the app: what it holds for good stays out of the cyclic collector's full passes."""
    from web.heap import freeze_startup_objects

    freeze_startup_objects()


# No "Server:" header: gunicorn always writes "Server: gunicorn" and has no setting for it, so the response
# class's default headers are filtered here (the config file runs in the master before workers fork).
_default_headers = wsgi.Response.default_headers


def _default_headers_without_server(self):
    return [line for line in _default_headers(self) if not line.lower().startswith("server:")]


wsgi.Response.default_headers = _default_headers_without_server
