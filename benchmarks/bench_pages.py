"""The coordinator's daily pages at production scale: server time, SQL statements and bytes of every workspace GET.

    .venv/bin/python benchmarks/bench_pages.py --url postgresql+psycopg://…/bench_h_pages [--runs 5] [--only RE]
        [--json results.json]

Builds (once; an existing database is reused) ``bench_dashboard``'s data set — 5,000 craftsmen, 100,000 demands
each with one engagement, 4 follow-ups per started engagement — and adds what the other pages show: 2,000 demands
reopened (their engagement cancelled) and solved in one round with proposals, 300 demands waiting for review,
points entries for every served member, outcomes, agreements and an audit trail (~300,000 rows). Then GETs every
coordinator/admin page through the Flask test client with the production settings (``ENV=production``, https,
CSRF on), logged in as an admin (a coordinator's pages and the admin's): a few warm-up requests, then ``--runs``
timed ones; prints per route the median wall and CPU ms of this process, the SQL statements per request, the page's
bytes and the ratio to the 200 ms target. A list shown with its rows and with one row is compared: statements that
grow with the rows shown (N+1) are flagged.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import re
import statistics
import sys
import time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_dashboard  # noqa: E402

from web import create_app  # noqa: E402
from web.db import make_engine  # noqa: E402
from web.models import (  # noqa: E402
    Agreement,
    AuditLog,
    Craftsman,
    Demand,
    Engagement,
    EngagementMember,
    FollowUp,
    MatchingRound,
    Outcome,
    PointsEntry,
)
from web.services import rounds, summaries  # noqa: E402
from web.services.users import create_user  # noqa: E402

TARGET_MS = 200.0
NOW = bench_dashboard.NOW
PASSWORD = bench_dashboard.PASSWORD
ROUND_NAME = "bench pages round"
N_REOPENED, N_SUBMITTED, N_OUTCOMES, N_AGREEMENTS = 2_000, 300, 5_000, 3_000


# ---------------------------------------------------------------- data
def build(url: str) -> None:
    bench_dashboard.build(url, bench_dashboard.N_ENGAGEMENTS)
    engine = make_engine(url)
    with Session(bind=engine) as session:
        if session.scalar(sa.select(MatchingRound.id).where(MatchingRound.name == ROUND_NAME)) is None:
            started = time.perf_counter()
            with summaries.suspended(session):
                _extras(session)
            session.commit()
            print(f"added the pages' extras in {time.perf_counter() - started:.1f} s", file=sys.stderr)
            solve = True
        else:
            solve = False
    if solve:
        _solve_round(url)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(sa.text("VACUUM ANALYZE"))
    engine.dispose()


def _extras(session: Session) -> None:
    rng = random.Random(11)
    admin = create_user(session, username="bench-admin", password=PASSWORD, role="admin", actor="bench", now=NOW)
    # reopened demands (their engagement cancelled): the next round's pool; a few more wait for review
    cancelled = session.scalars(sa.select(Engagement.demand_id).where(Engagement.status == "cancelled")
                                .order_by(Engagement.demand_id)).all()
    reopened, submitted = cancelled[:N_REOPENED], cancelled[N_REOPENED:N_REOPENED + N_SUBMITTED]
    session.execute(sa.update(Demand).where(Demand.id.in_(reopened)).values(status="open", matched_at=None))
    session.execute(sa.update(Demand).where(Demand.id.in_(submitted)).values(status="submitted", matched_at=None))
    # points for every served member
    served = session.execute(sa.select(EngagementMember.craftsman_id, EngagementMember.engagement_id)
                             .where(EngagementMember.status == "served")).all()
    session.execute(sa.insert(PointsEntry), [
        {"craftsman_id": c, "delta": 10, "rule": "engagement_completed", "explanation": "bench",
         "engagement_id": e, "created_at": NOW} for c, e in served])
    craftsmen = session.scalars(sa.select(Craftsman.id).order_by(Craftsman.id)).all()
    session.execute(sa.insert(Outcome), [
        {"kind": rng.choice(("patent", "method", "small_innovation", "standard", "course")),
         "title": f"bench outcome {i}", "description": "", "craftsman_id": rng.choice(craftsmen),
         "year": rng.randint(2020, 2026), "value_wan": round(rng.uniform(0, 100), 2), "created_at": NOW}
        for i in range(N_OUTCOMES)])
    signed = session.execute(
        sa.select(FollowUp.id, FollowUp.engagement_id, FollowUp.due_on, Demand.enterprise_id,
                  sa.func.min(EngagementMember.craftsman_id))
        .join(Engagement, Engagement.id == FollowUp.engagement_id).join(Demand, Demand.id == Engagement.demand_id)
        .join(EngagementMember, EngagementMember.engagement_id == Engagement.id)
        .where(FollowUp.done_on.is_not(None), FollowUp.kind == "result", FollowUp.id % 7 == 0)
        .group_by(FollowUp.id, FollowUp.engagement_id, FollowUp.due_on, Demand.enterprise_id)
        .order_by(FollowUp.id).limit(N_AGREEMENTS)).all()
    session.execute(sa.insert(Agreement), [
        {"engagement_id": e, "enterprise_id": ent, "craftsman_id": c, "union_name": "bench union",
         "starts_on": due, "ends_on": due + dt.timedelta(days=365), "scope": "", "follow_up_id": f, "created_at": NOW}
        for f, e, due, ent, c in signed])
    # an audit trail: each engagement created and its status changed, each demand submitted and reviewed
    trail = []
    for engagement_id, demand_id in session.execute(sa.select(Engagement.id, Engagement.demand_id)):
        trail.append({"actor_label": "bench", "action": "engagement.create", "entity_type": "engagement",
                      "entity_id": engagement_id, "before": None, "after": {"demand_id": demand_id}, "at": NOW})
        trail.append({"actor_label": "public", "action": "demand.submit", "entity_type": "demand",
                      "entity_id": demand_id, "before": None, "after": {"status": "submitted"}, "at": NOW})
        trail.append({"actor_label": "bench", "action": "demand.approve", "entity_type": "demand",
                      "entity_id": demand_id, "before": {"status": "submitted"}, "after": {"status": "open"},
                      "at": NOW})
    for craftsman_id in craftsmen:
        trail.append({"actor_label": "bench", "action": "craftsman.update", "entity_type": "craftsman",
                      "entity_id": craftsman_id, "before": {"bio": ""}, "after": {"bio": "x"}, "at": NOW})
    session.execute(sa.insert(AuditLog), trail)
    rounds.create_round(session, name=ROUND_NAME, actor=admin, now=NOW)  # every open demand, active craftsman


def _solve_round(url: str) -> None:
    """The reopened demands' round solved through the app, as a coordinator would (proposals stored)."""
    app, client = _client(url)
    with app.app_context():
        from web.extensions import db
        round_id = db.session.scalar(sa.select(MatchingRound.id).where(MatchingRound.name == ROUND_NAME))
    page_url = f"/workspace/rounds/{round_id}"
    token, version = _tokens(client, page_url)
    started = time.perf_counter()
    response = client.post(f"{page_url}/solve", data={"csrf_token": token, "version": version})
    assert response.status_code == 302, response.status_code
    print(f"solved round {round_id} in {time.perf_counter() - started:.1f} s", file=sys.stderr)


# ---------------------------------------------------------------- measuring
def _client(url: str):
    app = create_app({"DATABASE_URL": url, "ENV": "production", "RATELIMIT_ENABLED": False,
                      "SECRET_KEY": "bench-secret-key-that-is-long-enough-0123456789",
                      "UPLOAD_DIR": "/tmp/bench-pages-uploads"})
    client = app.test_client()
    client.environ_base["wsgi.url_scheme"] = "https"  # production cookies are Secure
    token, _ = _tokens(client, "/auth/login")
    response = client.post("/auth/login", data={"username": "bench-admin", "password": PASSWORD,
                                                "csrf_token": token})
    assert response.status_code == 302, f"login failed: {response.status_code}"
    return app, client


def _tokens(client, url: str) -> tuple[str, str]:
    page = client.get(url).get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    version = re.search(r'name="version" value="(\d+)"', page)
    return token, version.group(1) if version else ""


def _ids(app) -> dict[str, int | str]:
    from web.extensions import db
    with app.app_context():
        s = db.session
        busiest = s.execute(sa.select(EngagementMember.craftsman_id).group_by(EngagementMember.craftsman_id)
                            .order_by(sa.func.count().desc(), EngagementMember.craftsman_id).limit(1)).scalar()
        engagement = s.scalar(sa.select(Engagement.id).where(Engagement.status == "evaluated").order_by(Engagement.id)
                              .limit(1))
        follow_up = s.scalar(sa.select(FollowUp.id).where(FollowUp.engagement_id == engagement).order_by(FollowUp.id)
                             .limit(1))
        demand = s.scalar(sa.select(Engagement.demand_id).where(Engagement.id == engagement))
        enterprise = s.scalar(sa.select(Demand.enterprise_id).group_by(Demand.enterprise_id)
                              .order_by(sa.func.count().desc(), Demand.enterprise_id).limit(1))
        submitted = s.scalar(sa.select(Demand.id).where(Demand.status == "submitted").order_by(Demand.id).limit(1))
        round_id = s.scalar(sa.select(MatchingRound.id).where(MatchingRound.name == ROUND_NAME))
        published = s.scalar(sa.select(MatchingRound.id).where(MatchingRound.status == "published")
                             .order_by(MatchingRound.id).limit(1))
        open_demand = s.scalar(sa.select(Demand.id).where(Demand.status == "open").order_by(Demand.id).limit(1))
        agreement = s.scalar(sa.select(Agreement.id).order_by(Agreement.id).limit(1))
        outcome = s.scalar(sa.select(Outcome.id).order_by(Outcome.id).limit(1))
        name = s.scalar(sa.select(Craftsman.name).where(Craftsman.id == busiest))
        code = s.scalar(sa.select(Demand.tracking_code).where(Demand.id == demand))
    return {"craftsman": busiest, "engagement": engagement, "follow_up": follow_up, "demand": demand,
            "enterprise": enterprise, "submitted": submitted, "round": round_id, "published": published,
            "open_demand": open_demand, "agreement": agreement, "outcome": outcome, "name": name, "code": code}


# (label, url, url of the same list narrowed to one row or None): the narrowed one shows whether statements grow
ROUTES = [
    ("home", "/workspace/", None),
    ("craftsmen p1", "/workspace/craftsmen/", "/workspace/craftsmen/?q={name}"),
    ("craftsmen p100", "/workspace/craftsmen/?page=100", None),
    ("craftsmen status=active", "/workspace/craftsmen/?status=active", None),
    ("craftsmen search name", "/workspace/craftsmen/?q={name}", None),
    ("craftsmen search digits", "/workspace/craftsmen/?q=138", None),
    ("craftsman profile", "/workspace/craftsmen/{craftsman}", None),
    ("craftsman edit", "/workspace/craftsmen/{craftsman}/edit", None),
    ("craftsman points", "/workspace/engagements/craftsmen/{craftsman}/points", None),
    ("craftsmen export.xlsx", "/workspace/craftsmen/export.xlsx", None),
    ("demands inbox p1", "/workspace/demands/", "/workspace/demands/?q={code}"),
    ("demands inbox p2000", "/workspace/demands/?page=2000", None),
    ("demands review queue", "/workspace/demands/?status=submitted", None),
    ("demands status=open", "/workspace/demands/?status=open", None),
    ("demands search code", "/workspace/demands/?q={code}", None),
    ("demands search broad", "/workspace/demands/?q=SC-2026", None),
    ("demands ageing", "/workspace/demands/?ageing=1", None),
    ("demand page", "/workspace/demands/{demand}", None),
    ("demand page (submitted)", "/workspace/demands/{submitted}", None),
    ("demand edit", "/workspace/demands/{submitted}/edit", None),
    ("engagements mine", "/workspace/engagements/", None),
    ("engagements all p1", "/workspace/engagements/?who=all", None),
    ("engagements all p3000", "/workspace/engagements/?who=all&page=3000", None),
    ("engagements in_service", "/workspace/engagements/?who=all&status=in_service", None),
    ("engagement page", "/workspace/engagements/{engagement}", None),
    ("follow-up page", "/workspace/engagements/follow-ups/{follow_up}", None),
    ("flags", "/workspace/engagements/flags", None),
    ("outcomes p1", "/workspace/outcomes/", "/workspace/outcomes/?q=bench outcome 17&year=2020"),
    ("outcomes p100", "/workspace/outcomes/?page=100", None),
    ("outcomes export.xlsx", "/workspace/outcomes/export.xlsx", None),
    ("outcome edit", "/workspace/outcomes/{outcome}/edit", None),
    ("agreements", "/workspace/agreements/", None),
    ("agreement page", "/workspace/agreements/{agreement}", None),
    ("enterprise page", "/workspace/enterprises/{enterprise}", None),
    ("rounds list", "/workspace/rounds/", None),
    ("round page (proposals)", "/workspace/rounds/{round}", None),
    ("round page (published)", "/workspace/rounds/{published}", None),
    ("round export.xlsx", "/workspace/rounds/{round}/export", None),
    ("round export.csv", "/workspace/rounds/{round}/export?format=csv", None),
    ("round place", "/workspace/rounds/{round}/demands/{open_demand}/place", None),
    ("round new", "/workspace/rounds/new", None),
    ("outbox", "/workspace/rounds/outbox", None),
    ("dashboard", "/workspace/reports/", None),
    ("period report", "/workspace/reports/period", None),
    ("reports export.xlsx", "/workspace/reports/export.xlsx", None),
    ("staff intake new", "/workspace/intake/new", None),
    ("admin tokens", "/workspace/admin/tokens/", None),
]


class Counter:
    def __init__(self) -> None:
        self.statements = 0

    def __call__(self, *args) -> None:
        self.statements += 1


def measure(client, url: str, runs: int, counter: Counter) -> dict:
    walls, cpus, statements, size, status, body = [], [], [], 0, 0, b""
    for index in range(runs + 2):
        counter.statements = 0
        wall, cpu = time.perf_counter(), time.process_time()
        response = client.get(url)
        body = response.get_data()
        wall, cpu = (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000
        status, size = response.status_code, len(body)
        if index >= 2:  # warm-up: templates compiled, caches filled
            walls.append(wall)
            cpus.append(cpu)
            statements.append(counter.statements)
    return {"ms": statistics.median(walls), "cpu_ms": statistics.median(cpus), "statements": max(statements),
            "bytes": size, "status": status, "body": body}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", default="", help="a regular expression on the labels")
    parser.add_argument("--json", default="", help="write the figures to this file")
    parser.add_argument("--save", default="", help="write each page to this folder (CSRF tokens blanked) to compare "
                                                   "two versions of the code")
    args = parser.parse_args()
    build(args.url)
    app, client = _client(args.url)
    ids = _ids(app)
    counter = Counter()
    sa.event.listen(sa.engine.Engine, "before_cursor_execute", counter)
    print(f"pages ({args.url.split(':', 1)[0]}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; "
          f"median of {args.runs}; target {TARGET_MS:.0f} ms):")
    print(f"  {'route':28} {'wall ms':>8} {'cpu ms':>8} {'stmts':>6} {'bytes':>9} {'ratio':>6}")
    results = {}
    for label, url, narrowed in ROUTES:
        if args.only and not re.search(args.only, label):
            continue
        figures = measure(client, url.format(**ids), args.runs, counter)
        notes = [] if figures["status"] == 200 else [f"HTTP {figures['status']}"]
        if narrowed:
            one = measure(client, narrowed.format(**ids), 1, counter)
            figures["statements_one_row"] = one["statements"]
            if figures["statements"] - one["statements"] >= 5:
                notes.append(f"N+1? {one['statements']} statements with one row")
        if figures["ms"] > TARGET_MS:
            notes.append("TOO SLOW")
        body = figures.pop("body")
        if args.save:  # the last response; an XLSX's zip stamps its time, so only its size compares
            folder = Path(args.save)
            folder.mkdir(parents=True, exist_ok=True)
            (folder / re.sub(r"\W+", "_", label)).write_bytes(re.sub(rb'(csrf_token"[^>]*value=")[^"]+', rb"\1", body))
        results[label] = figures
        print(f"  {label:28} {figures['ms']:8.1f} {figures['cpu_ms']:8.1f} {figures['statements']:6d} "
              f"{figures['bytes']:9,d} {figures['ms'] / TARGET_MS:6.2f} {' '.join(notes)}", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
