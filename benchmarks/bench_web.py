"""Load benchmark of the public side: the demand form and the JSON API under gunicorn and PostgreSQL.

    .venv/bin/python benchmarks/bench_web.py [--workers 4] [--clients 50] [--seconds 15] [--max-requests 20000]
        [--rounds N] [--baseline DIR]

Creates a throwaway PostgreSQL database next to ``--postgres`` (default: the local server of the tests,
role craftmatch), migrates it and loads the reference data; starts a private ``redis-server`` on a free
port as rate-limit storage when the binary exists (otherwise the limiter keeps its counts in memory);
starts gunicorn with the project's ``gunicorn.conf.py`` (production settings) on a free port of 127.0.0.1;
then drives it with an asyncio client (aiohttp on uvloop when installed, one keep-alive connection pool),
each phase bounded by ``--seconds`` and ``--max-requests``:

1. one client alone: ``GET /demand/new`` (latency, page size);
2. ``--clients`` concurrent clients: ``GET /demand/new``;
3. ``--clients`` concurrent clients: ``POST /api/v1/demands``, each a unique submission;
4. ``--clients`` concurrent clients filling in the HTML form as a browser does (GET the page, POST it with
   its CSRF token and one-time key, cookies kept per client).

Afterwards the database is checked: every accepted tracking code exists exactly once, every accepted
submission is stored once (by its unique title), nothing unacknowledged was stored. Prints throughput,
p50/p95/p99, errors, lost and duplicated submissions, the ratio of each figure to its target (a ratio ≥ 1
meets the target), and where the CPU went: per request for the client and the gunicorn workers, and in
cores for them and the rest of the machine (PostgreSQL, Redis, other people's work).
``--baseline DIR`` serves another checkout (e.g. the code before a change) beside this one from the same
database; every phase then runs against both in turn, ``--rounds`` times, and the best of each is compared:
before and after meet the same moments of a shared machine. Everything started is stopped and the database
dropped at the end.

The public submit limits are raised for the run (CRAFTMATCH_PUBLIC_SUBMIT_LIMIT) so that rate limiting
does not distort the figures; the limiter still counts every request in its storage. Only 127.0.0.1 is
ever contacted. The client shares the machine's cores with the server: figures are for the pair.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

try:
    import uvloop
except ImportError:  # the client then runs on asyncio's own loop
    uvloop = None
import sqlalchemy as sa
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.databases import LOCAL_POSTGRES_URL, throwaway_postgres_database  # noqa: E402
from tests.factories import valid_credit_code  # noqa: E402
from web import migrate  # noqa: E402
from web.db import make_engine  # noqa: E402
from web.models import Demand  # noqa: E402
from web.services import seeding  # noqa: E402

GET_P95_TARGET_MS = 50.0
API_RATE_TARGET = 100.0
FORM_RATE_TARGET = 50.0
RAISED_LIMIT = "1000000 per minute"
REQUEST_TIMEOUT_S = 30.0
_TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
_KEY = re.compile(r'name="submission_key"[^>]*value="([^"]+)"')
_CODE = re.compile(r"/demand/submitted/([A-Z]{2}-\d{4}-[0-9A-Z]{6})")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {seconds:.0f} s")


@contextlib.contextmanager
def running(command: list[str], env: dict[str, str], port: int, log: Path,
            cwd: Path = ROOT) -> Iterator[subprocess.Popen]:
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        wait_for_port(port, 60)
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def redis_storage(workdir: Path) -> Iterator[str]:
    """A private redis-server for the limiter's counts, or the limiter's in-memory storage without one."""
    binary = shutil.which("redis-server")
    if binary is None:
        yield "memory://"
        return
    port = free_port()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
               "--dir", str(workdir)]
    with running(command, dict(os.environ), port, workdir / "redis.log"):
        yield f"redis://127.0.0.1:{port}/0"


def prepare_database(url: str) -> None:
    """Migrated, with the reference data (regions, industries, skills, categories) the form offers."""
    migrate.upgrade(url)
    engine = make_engine(url)
    try:
        with Session(bind=engine) as session, session.begin():
            seeding.load_reference(session)
    finally:
        engine.dispose()


# --- where the CPU went ----------------------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _process_cpu(pid: int) -> float:
    """CPU seconds (user + system) of one process so far; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def _children(pid: int) -> list[int]:
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _machine_busy() -> float:
    """CPU seconds every core of the machine spent busy (not idle, not waiting for I/O) so far."""
    ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / CLOCK_TICKS


@dataclass
class CpuShare:
    """The CPU a phase used: this client process, the gunicorn workers, and everything else on the machine
    (PostgreSQL, Redis, other people's work), in cores (CPU seconds per second) and per request."""

    client: float = 0.0
    server: float = 0.0
    machine: float = 0.0

    @staticmethod
    def now(master_pid: int) -> CpuShare:
        return CpuShare(time.process_time(), sum(_process_cpu(pid) for pid in _children(master_pid)),
                        _machine_busy())

    def minus(self, start: CpuShare) -> CpuShare:
        return CpuShare(self.client - start.client, self.server - start.server, self.machine - start.machine)

    def describe(self, elapsed: float, requests: int) -> str:
        per_request = f"client {1000 * self.client / requests:.2f} ms, server {1000 * self.server / requests:.2f} ms"
        others = max(0.0, self.machine - self.client - self.server)
        return (f"cpu per request: {per_request}; cores busy: client {self.client / elapsed:.2f}, server "
                f"{self.server / elapsed:.2f}, rest of the machine {others / elapsed:.2f} (of {os.cpu_count()})")


# --- the load -----------------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    latencies: list[float] = field(default_factory=list)  # seconds, of the measured request
    statuses: dict[int, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    accepted: list[str] = field(default_factory=list)  # tracking codes
    titles: list[str] = field(default_factory=list)  # of the accepted submissions
    sent_titles: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    page_bytes: int = 0
    http_requests: int = 0
    cpu: CpuShare = field(default_factory=CpuShare)

    def count(self, status: int) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1

    def percentile_ms(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    @property
    def rate(self) -> float:
        done = len(self.accepted) if self.sent_titles else len(self.latencies)
        return done / self.elapsed if self.elapsed else 0.0


class Submissions:
    """Unique, valid submissions: each its own title and one-time key; enterprises shared by a few."""

    def __init__(self) -> None:
        self.run = secrets.token_hex(4)
        self.base = secrets.randbelow(10**9) + 10**9
        self.n = 0

    def next(self) -> dict:
        self.n += 1
        n = self.n
        return {
            "enterprise_name": f"压测企业{self.run}-{n // 5}", "credit_code": valid_credit_code(self.base + n // 5),
            "enterprise_type": "smme", "region_code": "500112" if n % 2 else "510104",
            "industry_code": "sc.equipment", "contact_name": "压测联系人", "contact_phone": f"139{n % 10**8:08d}",
            "category_code": "tech_service", "title": f"压测需求 {self.run}-{n}",
            "description": "负载测试提交的需求，每一条都必须保存且只保存一次。", "skills": ["weld"],
            "team_size": "1", "mode": "onsite", "urgency": "medium", "consent": True,
            "submission_key": f"bench-{self.run}-{n}",
        }


class Client:
    """One simulated browser: its own connection and its own cookies (kept by hand: the production
    session cookie is Secure, which aiohttp's jar would not send over plain http)."""

    def __init__(self, base: str, connector: aiohttp.BaseConnector) -> None:
        self.base = base
        self.sent = 0
        self.cookies: dict[str, str] = {}
        self.http = aiohttp.ClientSession(connector=connector, connector_owner=False,
                                          cookie_jar=aiohttp.DummyCookieJar(),
                                          timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S))

    async def request(self, method: str, path: str, **kwargs) -> tuple[int, bytes, str]:
        """Status, the whole body (decompressed, as a browser has it, but not decoded to text), Location."""
        headers = kwargs.pop("headers", {})
        self.sent += 1
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        async with self.http.request(method, self.base + path, headers=headers, allow_redirects=False,
                                     **kwargs) as response:
            body = await response.read()
            for morsel in response.cookies.values():
                self.cookies[morsel.key] = morsel.value
            return response.status, body, response.headers.get("Location", "")


async def drive(phase: Phase, server: Server, clients: int, seconds: float, max_requests: int, step) -> None:
    """Run ``step(client, phase)`` in ``clients`` loops until the time or the request budget is spent."""
    base = server.base
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    budget = [max_requests]
    deadline = time.perf_counter() + seconds

    async def loop() -> None:
        client = Client(base, connector)
        try:
            while time.perf_counter() < deadline and budget[0] > 0:
                budget[0] -= 1
                try:
                    await step(client, phase)
                except (TimeoutError, aiohttp.ClientError) as error:
                    phase.errors.append(type(error).__name__)
        finally:
            phase.http_requests += client.sent
            await client.http.close()

    cpu_before = CpuShare.now(server.pid)
    started = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(clients)))
    phase.elapsed = time.perf_counter() - started
    phase.cpu = CpuShare.now(server.pid).minus(cpu_before)
    await connector.close()


async def get_form(client: Client, phase: Phase) -> None:
    started = time.perf_counter()
    status, body, _ = await client.request("GET", "/demand/new")
    phase.latencies.append(time.perf_counter() - started)
    phase.count(status)
    phase.page_bytes = len(body)


def api_step(submissions: Submissions):
    async def step(client: Client, phase: Phase) -> None:
        payload = submissions.next()
        phase.sent_titles.append(payload["title"])
        started = time.perf_counter()
        status, body, _ = await client.request("POST", "/api/v1/demands", json=payload)
        phase.latencies.append(time.perf_counter() - started)
        phase.count(status)
        if status == 201:
            phase.accepted.append(re.search(rb'"tracking_code":\s*"([^"]+)"', body).group(1).decode())
            phase.titles.append(payload["title"])

    return step


def form_step(submissions: Submissions):
    async def step(client: Client, phase: Phase) -> None:
        status, body, _ = await client.request("GET", "/demand/new")
        page = body.decode()
        if status != 200:
            phase.count(status)
            return
        payload = submissions.next()
        form = {**payload, "consent": "y", "csrf_token": _TOKEN.search(page).group(1),
                "submission_key": _KEY.search(page).group(1)}
        phase.sent_titles.append(payload["title"])
        started = time.perf_counter()
        status, _body, location = await client.request("POST", "/demand/new", data=form)
        phase.latencies.append(time.perf_counter() - started)
        phase.count(status)
        match = _CODE.search(location)
        if status == 303 and match:
            phase.accepted.append(match.group(1))
            phase.titles.append(payload["title"])

    return step


# --- the check and the report -------------------------------------------------------------------


def verify(url: str, phase: Phase) -> dict[str, int]:
    """Lost: accepted but not stored (by code or by title); duplicated: stored more than once."""
    engine = make_engine(url)
    with engine.connect() as connection:
        by_code = dict(connection.execute(
            sa.select(Demand.tracking_code, sa.func.count()).where(Demand.title.in_(phase.sent_titles))
            .group_by(Demand.tracking_code)).all())
        by_title = dict(connection.execute(
            sa.select(Demand.title, sa.func.count()).where(Demand.title.in_(phase.sent_titles))
            .group_by(Demand.title)).all())
    engine.dispose()
    accepted_titles = set(phase.titles)
    return {
        "lost": sum(1 for code in phase.accepted if by_code.get(code, 0) == 0)
        + sum(1 for title in accepted_titles if title not in by_title),
        "duplicated": sum(1 for n in by_code.values() if n > 1) + sum(1 for n in by_title.values() if n > 1)
        + len(phase.accepted) - len(set(phase.accepted)),
        "stored_unacknowledged": sum(1 for title in by_title if title not in accepted_titles),
    }


def report(phase: Phase, check: dict[str, int] | None, target: tuple[str, float, float] | None) -> None:
    statuses = " ".join(f"{status}×{n}" for status, n in sorted(phase.statuses.items()))
    line = (f"{phase.name:<34} n={len(phase.latencies):>5}  {phase.rate:7.1f}/s  p50 {phase.percentile_ms(0.5):7.1f} ms"
            f"  p95 {phase.percentile_ms(0.95):7.1f} ms  p99 {phase.percentile_ms(0.99):7.1f} ms  [{statuses}]"
            f"  5xx {phase.server_errors}  errors {len(phase.errors)}")
    if phase.page_bytes:
        line += f"  page {phase.page_bytes / 1024:.1f} KB"
    if check is not None:
        line += (f"  accepted {len(phase.accepted)}  lost {check['lost']}  duplicated {check['duplicated']}"
                 f"  stored-unacknowledged {check['stored_unacknowledged']}")
    print(line)
    if phase.http_requests:
        print(f"    {phase.cpu.describe(phase.elapsed, phase.http_requests)}")
    if target is not None:
        label, value, goal = target
        ratio = goal / value if label.startswith("p95") else value / goal
        print(f"    target {label}: {value:.1f} vs {goal:.0f} → ratio {ratio:.2f} ({'met' if ratio >= 1 else 'NOT met'})")


@dataclass
class Server:
    label: str  # "" for the code under test; "baseline" for --baseline's
    base: str
    pid: int  # gunicorn's master: its children are the workers


PhaseSpec = tuple[str, Any, str, float]  # name, step, the figure compared with the target, the target


def phase_specs(args: argparse.Namespace, submissions: Submissions) -> list[PhaseSpec]:
    specs = [
        (f"GET /demand/new, {args.clients} clients", get_form, "p95 ms", GET_P95_TARGET_MS),
        (f"API POST /api/v1/demands, {args.clients} clients", api_step(submissions), "submissions/s",
         API_RATE_TARGET),
        (f"HTML form GET+POST, {args.clients} clients", form_step(submissions), "submissions/s", FORM_RATE_TARGET),
    ]
    return [spec for spec in specs if spec[0].split()[0] in args.only]


def figure(phase: Phase, label: str) -> float:
    return phase.percentile_ms(0.95) if label.startswith("p95") else phase.rate


async def load(servers: list[Server], url: str, args: argparse.Namespace) -> bool:
    """Every phase against every server, the servers in turn, ``--rounds`` times: a baseline and the code under
    test meet the same moments of a shared machine."""
    specs = phase_specs(args, Submissions())  # once: the steps share one stream of unique submissions
    ok = True
    for server in servers:
        await drive(Phase("warm-up"), server, 8, 60, 16, get_form)  # boot every worker and thread
        alone = Phase(f"{server.label} GET /demand/new, 1 client".strip())
        await drive(alone, server, 1, min(args.seconds, 10), 200, get_form)
        report(alone, None, None)
    results: dict[tuple[str, str], list[float]] = {}
    for round_number in range(1, args.rounds + 1):
        if args.rounds > 1:
            print(f"-- round {round_number} of {args.rounds} · load average "
                  f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        for name, step, label, goal in specs:
            for server in servers:
                phase = Phase(f"{server.label} {name}".strip())
                await drive(phase, server, args.clients, args.seconds, args.max_requests, step)
                check = verify(url, phase) if phase.sent_titles else None
                report(phase, check, (label, figure(phase, label), goal))
                results.setdefault((name, server.label), []).append(figure(phase, label))
                ok &= phase.server_errors == 0 and not phase.errors and (
                    check is None or not (check["lost"] or check["duplicated"]))
    if len(servers) > 1:
        print("-- the best of each, code under test against the baseline (same run)")
        for name, _step, label, _goal in specs:
            best = {server.label: (min if label.startswith("p95") else max)(results[(name, server.label)])
                    for server in servers}
            now, before = best[servers[0].label], best["baseline"]
            ratio = before / now if label.startswith("p95") else now / before
            print(f"{name:<40} {label}: baseline {before:.1f}, now {now:.1f} → {ratio:.2f}× better")
    return ok


def run_client(main: Any, loop: str) -> Any:
    """The client runs on uvloop when it is installed (less CPU per request on the cores the server needs)."""
    if loop == "uvloop":
        return uvloop.run(main)
    return asyncio.run(main)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, help="gunicorn workers (default: gunicorn.conf.py's)")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each loaded phase")
    parser.add_argument("--max-requests", type=int, default=20_000, help="request budget of each phase")
    parser.add_argument("--only", nargs="+", default=["GET", "API", "HTML"], choices=["GET", "API", "HTML"],
                        help="the loaded phases to run (default: all)")
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop" if uvloop else "asyncio",
                        help="the client's event loop (default: uvloop when installed)")
    parser.add_argument("--rounds", type=int, default=1, help="run the loaded phases this many times")
    parser.add_argument("--baseline", type=Path, metavar="DIR",
                        help="another checkout of craftmatch (e.g. `git archive main | tar -x -C DIR`) served beside "
                             "this one from the same database; each phase alternates between the two")
    parser.add_argument("--postgres", default=os.environ.get("CRAFTMATCH_TEST_POSTGRES_URL", LOCAL_POSTGRES_URL),
                        help="a database on the server to create the throwaway database next to")
    args = parser.parse_args()
    print(f"{time.strftime('%Y-%m-%d %H:%M')} · {os.cpu_count()} cores · load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} · gunicorn workers {args.workers or 'as configured'} · "
          f"{args.clients} clients · {args.seconds:.0f} s per phase · client: aiohttp on {args.loop}, keep-alive")
    roots = [("", ROOT)] + ([("baseline", args.baseline.resolve())] if args.baseline else [])
    with tempfile.TemporaryDirectory(prefix="bench_web_") as tmp, \
            throwaway_postgres_database(args.postgres) as url, redis_storage(Path(tmp)) as storage, \
            contextlib.ExitStack() as stack:
        prepare_database(url)
        env = {**os.environ, "CRAFTMATCH_ENV": "production", "CRAFTMATCH_SECRET_KEY": secrets.token_hex(32),
               "CRAFTMATCH_DATABASE_URL": url,
               "CRAFTMATCH_RATELIMIT_STORAGE_URI": storage,
               "CRAFTMATCH_PUBLIC_SUBMIT_LIMIT": RAISED_LIMIT, "CRAFTMATCH_PUBLIC_LOOKUP_LIMIT": RAISED_LIMIT}
        if args.workers:
            env["CRAFTMATCH_WORKERS"] = str(args.workers)
        print(f"rate-limit storage {storage.split('://')[0]}; public submit limit raised to '{RAISED_LIMIT}' "
              "for the run")
        gunicorn = [str(Path(sys.executable).with_name("gunicorn")), "-c", "gunicorn.conf.py"]
        servers = []
        for label, root in roots:
            port = free_port()
            server_env = {**env, "CRAFTMATCH_BIND": f"127.0.0.1:{port}", "PYTHONPATH": str(root)}
            process = stack.enter_context(running(gunicorn, server_env, port, Path(tmp) / f"gunicorn{label}.log",
                                                  cwd=root))
            servers.append(Server(label, f"http://127.0.0.1:{port}", process.pid))
        ok = run_client(load(servers, url, args), args.loop)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
