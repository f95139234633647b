"""What a round's proposal rows store, what they show, and what their COPY costs: before and after a change.

    .venv/bin/python benchmarks/bench_proposal_bytes.py --database-url URL [--round 1]
    .venv/bin/python benchmarks/bench_proposal_bytes.py --copy URL_A URL_B [--repeat 7]

Run from a worktree (its ``web`` is the one imported) against a database ``bench_round`` has left (its round 1
solved, re-solved after a lock). The first form prints the rows' bytes and digests of what they mean and of
what they show: every stored column with the facts' skill and industry references named (names stored in the
row, or ids named now) and their columns/ids left out, the review page in both languages (four views each; the
form tokens and the solve's timings left out), the export (CSV, both languages), ``round show --json`` and every proposal's ``describe`` in both languages. Two
trees whose rows differ only in how the facts refer to skills and industries print the same digests (the bytes
differ).

The second form COPYs the unflagged rows of round 1 of each database (as stored, JSON as text) into database
A's round 1 in place of its own, in a transaction rolled back each time, alternating A's rows and B's, and prints
the best and median wall, client CPU and server CPU seconds (the server's process, read from /proc when the
server runs on this machine) of each and their ratios, with the load average.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path.cwd()))  # the worktree it is run from

import sqlalchemy as sa  # noqa: E402

from web import create_app  # noqa: E402
from web.extensions import db  # noqa: E402
from web.models import MatchingRound, Proposal  # noqa: E402
from web.services import explain  # noqa: E402
from web.services.round_report import round_report  # noqa: E402

PASSWORD = "bench-password-123"  # bench_round's coordinator
PAGES = ("", "?page=2", "?warnings=1", "?lq=a&lpage=2&page=3")
REFERENCES = ("column", "skill", "via", "role")  # how facts point at the vocabulary: columns (before) or ids
# what differs from one page view to the next whatever is stored: the form tokens and the solve's timings
UNTIMED = re.compile(rb'name="csrf_token" value="[^"]*"|<div class="stat-value">[0-9.]+ s</div>'
                     rb'|<div class="stat-note">[^<]*\xc2\xb7[^<]*</div>')


def _digest(data: bytes | str) -> str:
    return hashlib.sha256(data if isinstance(data, bytes) else data.encode()).hexdigest()[:16]


def _names(session):
    """The tree's way of naming stored facts (identity where rows stored the names themselves)."""
    if hasattr(explain, "with_names"):
        names = explain.vocabulary(session)
        return lambda facts: explain.with_names(facts, names)
    return lambda facts: facts


def _meaning(facts: dict, named) -> dict:
    """Facts named, with their references to the vocabulary (columns or ids) left out."""
    if not facts:
        return facts
    out = {key: value for key, value in named(facts).items() if key != "role"}
    for key in ("skills", "family_skills"):
        out[key] = [{k: v for k, v in entry.items() if k not in REFERENCES} for entry in out.get(key, [])]
    return out


def rows_digest(session, round_id: int) -> tuple[str, int, int]:
    named = _names(session)
    columns = [c for c in Proposal.__table__.c if c.name not in ("id", "breakdown")]
    rows = session.execute(sa.select(*columns, sa.cast(Proposal.breakdown, sa.Text), sa.func.octet_length(
        sa.cast(Proposal.breakdown, sa.Text)), sa.func.octet_length(sa.cast(Proposal.warnings, sa.Text)))
        .where(Proposal.round_id == round_id).order_by(Proposal.craftsman_id, Proposal.demand_id)).all()
    meant = []
    for *values, text, _, _ in rows:
        breakdown = json.loads(text)
        facts = breakdown.pop("facts", None)
        meant.append([repr(values), json.dumps(breakdown), json.dumps(_meaning(facts, named), sort_keys=True)])
    return _digest(json.dumps(meant)), sum(row[-2] for row in rows), sum(row[-1] for row in rows)


def shown(app, round_id: int) -> dict[str, str]:
    """Outside the app's context: in one, a request would keep the locale of the first (Flask-Babel keeps it in
    ``g``)."""
    client = app.test_client()
    assert client.post("/auth/login", data={"username": "bench", "password": PASSWORD}).status_code == 302
    out = {}
    for query in PAGES:
        for lang in ("zh_CN", "en"):
            page = client.get(f"/workspace/rounds/{round_id}{query}{'&' if query else '?'}lang={lang}").get_data()
            out[f"page {query or '/'} {lang}"] = _digest(UNTIMED.sub(b"", page))
    for lang in ("zh_CN", "en"):
        client.get(f"/workspace/rounds/{round_id}?lang={lang}")  # the export speaks the page's language
        response = client.get(f"/workspace/rounds/{round_id}/export?format=csv")
        assert response.status_code == 200 and response.mimetype == "text/csv", response.status
        out[f"export csv {lang}"] = _digest(response.get_data())
    return out


def described(session, round_id: int) -> dict[str, str]:
    out = {}
    rnd = session.get(MatchingRound, round_id)
    out["round show --json"] = _digest(json.dumps(round_report(session, rnd), ensure_ascii=False))
    proposals = session.scalars(sa.select(Proposal).where(Proposal.round_id == round_id)
                                .order_by(Proposal.craftsman_id, Proposal.demand_id)).all()
    for lang in ("zh_CN", "en"):
        if hasattr(explain, "proposal_describer"):
            describe = explain.proposal_describer(session)
        else:
            describe = explain.describe_proposal
        out[f"describe {lang}"] = _digest("\n".join(describe(p, lang) for p in proposals))
    return out


def check(url: str, round_id: int) -> None:
    app = create_app({"DATABASE_URL": url, "RATELIMIT_ENABLED": False, "WTF_CSRF_ENABLED": False,
                      "SECRET_KEY": "bench-secret-key-that-is-long-enough-0123456789"})
    with app.app_context():
        session = db.session
        digest, breakdown_bytes, warning_bytes = rows_digest(session, round_id)
        count = session.scalar(sa.select(sa.func.count()).where(Proposal.round_id == round_id))
        print(f"{count} rows: breakdown JSON {breakdown_bytes:,} bytes ({breakdown_bytes / count:.0f} per row), "
              f"warnings {warning_bytes:,}")
        print(f"rows with facts named, references left out: {digest}")
        for name, value in described(session, round_id).items():
            print(f"{name}: {value}")
    for name, value in shown(app, round_id).items():
        print(f"{name}: {value}")


COPIED = ("round_id", "craftsman_id", "demand_id", "locked", "excluded", "score", "breakdown", "assigned",
          "alternate_rank", "warnings", "role_skill_id")


def _copy_rows(url: str) -> list[tuple]:
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(sa.text(
            f"SELECT {', '.join(c + '::text' if c in ('breakdown', 'warnings') else c for c in COPIED)} "
            "FROM proposal WHERE round_id = 1 AND NOT locked AND NOT excluded ORDER BY id")).all()
    engine.dispose()
    return [tuple(row) for row in rows]


def _server_cpu(pid: int) -> float:
    """CPU seconds of the database server's process serving this connection (a server on this machine), steadier
    than wall time on a shared machine; NaN when it cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def copy_race(url_a: str, url_b: str, repeat: int) -> None:
    rows = {"A": _copy_rows(url_a), "B": _copy_rows(url_b)}
    for name, payload in rows.items():
        print(f"rows {name}: {len(payload)}, JSON {sum(len(r[6].encode()) + len(r[9].encode()) for r in payload):,} "
              "bytes")
    engine = sa.create_engine(url_a)
    times: dict[str, list[tuple[float, float, float]]] = {"A": [], "B": []}
    sql = f"COPY proposal ({', '.join(COPIED)}) FROM STDIN"
    with engine.connect() as connection:
        raw = connection.connection.driver_connection
        server = raw.execute("SELECT pg_backend_pid()").fetchone()[0]
        for _ in range(repeat):
            for name, payload in rows.items():
                with raw.cursor() as cursor:
                    cursor.execute("DELETE FROM proposal WHERE round_id = 1 AND NOT locked AND NOT excluded")
                    started, cpu, served = time.perf_counter(), time.process_time(), _server_cpu(server)
                    with cursor.copy(sql) as copy:
                        for row in payload:
                            copy.write_row(row)
                    times[name].append((time.perf_counter() - started, time.process_time() - cpu,
                                        _server_cpu(server) - served))
                raw.rollback()
    engine.dispose()
    print(f"load average {os.getloadavg()[0]:.2f}; COPY of round 1's unflagged rows, {repeat} each, alternating")
    for name, runs in times.items():
        walls, cpus, served = ([run[i] for run in runs] for i in range(3))
        print(f"  {name}: wall best {min(walls):.3f} median {statistics.median(walls):.3f} s; client CPU best "
              f"{min(cpus):.3f} s; server CPU best {min(served):.3f} median {statistics.median(served):.3f} s")
    for i, what in enumerate(("wall", "client CPU", "server CPU")):
        a, b = ([run[i] for run in times[name]] for name in ("A", "B"))
        print(f"  B / A {what}: best {min(b) / min(a):.2f}, median {statistics.median(b) / statistics.median(a):.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url")
    parser.add_argument("--round", type=int, default=1)
    parser.add_argument("--copy", nargs=2, metavar=("URL_A", "URL_B"))
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    if args.copy:
        copy_race(*args.copy, args.repeat)
    else:
        check(args.database_url, args.round)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
