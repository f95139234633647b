"""Dashboard render time on the synthetic pool: 5,000 craftsmen, 100,000 engagements (one demand each).

    .venv/bin/python benchmarks/bench_dashboard.py [--url sqlite:////tmp/bench.sqlite] [--runs 15]
        [--engagements 100000]

Builds the database once (reference data, ``seeding.load_synthetic`` with as many demands as engagements —
a demand has at most one live engagement — then the engagements over five published rounds with members,
four follow-ups each, ratings and yearly targets, bulk-inserted with the report summaries' triggers suspended,
then the summaries built once),
then renders ``/workspace/reports/`` through the Flask test client as a logged-in coordinator: a few
warm-up requests, then ``--runs`` timed ones, once with every figure computed on each request and once
with the report cache on (figures unchanged between requests). Prints the medians, their ratio to the
300 ms target, and the machine's load average (timings on a shared machine vary with it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from web import create_app, migrate  # noqa: E402
from web.db import make_engine  # noqa: E402
from web.models import (  # noqa: E402
    Craftsman,
    Demand,
    DemandSkill,
    Engagement,
    EngagementMember,
    Feedback,
    FollowUp,
    MatchingRound,
    Region,
    RegionTarget,
    demand_industry,
)
from web.services import seeding, summaries  # noqa: E402
from web.services.users import create_user  # noqa: E402

TARGET_MS = 300.0
N_CRAFTSMEN, N_DEMANDS, N_ENGAGEMENTS = 5_000, 2_000, 100_000
N_ROUNDS = 5
NOW = dt.datetime(2026, 11, 23, 9, 0, 0)
PASSWORD = "bench-password-123"


def build(url: str, n_engagements: int) -> None:
    migrate.upgrade(url)
    engine = make_engine(url)
    with Session(bind=engine) as session:
        existing = session.scalar(sa.select(sa.func.count()).select_from(Engagement))
        if existing:
            assert existing == n_engagements, f"{url} holds {existing:,} engagements, not {n_engagements:,}"
            engine.dispose()
            return
        started = time.perf_counter()
        with summaries.suspended(session):  # then the report summaries are built once, not row by row
            seeding.load_synthetic(session, n_craftsmen=N_CRAFTSMEN, n_demands=N_DEMANDS, seed=7, now=NOW)
            _copy_demands(session, n_engagements)
            create_user(session, username="bench", password=PASSWORD, role="coordinator", actor="bench", now=NOW)
            _engagements(session, n_engagements)
        session.commit()
        print(f"built the synthetic database in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    if engine.dialect.name == "postgresql":
        # Statistics and the visibility map, as autovacuum keeps them on a live database: without statistics
        # the planner takes the freshly bulk-loaded tables for empty ones and a single join runs for minutes;
        # without the visibility map the reports' index-only scans (ix_demand_report) read the table anyway.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(sa.text("VACUUM ANALYZE"))
    engine.dispose()


def _copy_demands(session: Session, n_demands: int) -> None:
    """Copies of the synthetic demands (with their skills and industries) up to ``n_demands``, in SQL:
    loading that many through the seeding service would take many minutes."""
    columns = [c for c in Demand.__table__.c if c.name not in ("id", "tracking_code", "submission_key")]
    copies = -(-n_demands // N_DEMANDS) - 1
    for copy in range(1, copies + 1):
        suffix = f"-{copy}"
        originals = sa.select(Demand.id).where(Demand.id <= N_DEMANDS).order_by(Demand.id)
        if copy == copies:
            originals = originals.limit(n_demands - copies * N_DEMANDS)
        session.execute(sa.insert(Demand.__table__).from_select(
            ["tracking_code", *(c.name for c in columns)],
            sa.select(Demand.tracking_code + suffix, *columns).where(Demand.id.in_(originals))))
        for link, values in ((demand_industry, [demand_industry.c.industry_id]),
                             (DemandSkill.__table__, [DemandSkill.skill_id, DemandSkill.importance])):
            original, duplicate = sa.orm.aliased(Demand), sa.orm.aliased(Demand)
            session.execute(sa.insert(link).from_select(
                ["demand_id", *(v.key for v in values)],
                sa.select(duplicate.id, *values)
                .join(original, original.id == link.c.demand_id)
                .join(duplicate, duplicate.tracking_code == original.tracking_code + suffix)))


def _engagements(session: Session, n_engagements: int) -> None:
    rng = random.Random(7)
    craftsmen = session.scalars(sa.select(Craftsman.id)).all()
    demands = session.execute(sa.select(Demand.id, Demand.submitted_at)).all()
    assert len(craftsmen) >= N_CRAFTSMEN and len(demands) >= n_engagements, "the synthetic pool is smaller than asked"
    rounds = [MatchingRound(name=f"bench round {i}", status="published", config={}, filters={}, created_at=NOW,
                            published_at=NOW) for i in range(N_ROUNDS)]
    session.add_all(rounds)
    session.flush()
    engagement_rows, statuses = [], ("scheduled", "in_service", "completed", "evaluated", "cancelled")
    for index in range(n_engagements):
        demand_id, _submitted = demands[index]
        status = rng.choices(statuses, weights=(1, 3, 3, 3, 1))[0]
        started = NOW.date() - dt.timedelta(days=rng.randint(20, 700)) if status != "scheduled" else None
        completed = started + dt.timedelta(days=rng.randint(10, 90)) if status in ("completed", "evaluated") else None
        engagement_rows.append({"demand_id": demand_id, "round_id": rounds[index * N_ROUNDS // n_engagements].id, "status": status,
                                "started_on": started, "completed_on": completed, "created_at": NOW, "updated_at": NOW,
                                "cancel_reason": "bench" if status == "cancelled" else None})
    session.execute(sa.insert(Engagement), engagement_rows)
    rows = session.execute(sa.select(Engagement.id, Engagement.status, Engagement.started_on, Engagement.completed_on,
                                     Engagement.demand_id)).all()
    members, follow_ups, feedback, rated = [], [], [], set()
    for engagement_id, status, started, completed, demand_id in rows:
        for craftsman_id in rng.sample(craftsmen, rng.choice((1, 1, 2, 3))):
            members.append({"engagement_id": engagement_id, "craftsman_id": craftsman_id,
                            "status": "served" if completed else "assigned"})
        if started is None:
            continue
        for kind, days in (("check_2w", 14), ("result", 60), ("review_3m", 91), ("review_6m", 182)):
            due = started + dt.timedelta(days=days)
            done = due if due < NOW.date() and rng.random() < 0.8 else None
            follow_ups.append({"engagement_id": engagement_id, "kind": kind, "mandatory": True, "due_on": due,
                               "done_on": done, "problems_solved": rng.randint(0, 3) if done else None,
                               "value_created_wan": round(rng.uniform(0, 50), 2) if done else None,
                               "workers_trained": rng.randint(0, 30) if done else None,
                               "apprentices": rng.randint(0, 2) if done else None,
                               "agreement_signed": (rng.random() < 0.2) if done else None,
                               "recorded_at": NOW if done else None})
        if status == "evaluated" and demand_id not in rated:
            rated.add(demand_id)
            feedback.append({"demand_id": demand_id, "engagement_id": engagement_id, "rating": rng.randint(2, 5),
                             "comment": "", "created_at": dt.datetime.combine(completed, dt.time(10))})
    session.execute(sa.insert(EngagementMember), members)
    session.execute(sa.insert(FollowUp), [{**row, "agreement_term_months": 12 if row["agreement_signed"] else None}
                                          for row in follow_ups])
    session.execute(sa.insert(Feedback), feedback)
    submitted = dict(demands)
    matched = [d for d, in session.execute(sa.select(Engagement.demand_id).distinct())]
    session.execute(sa.update(Demand), [  # bulk UPDATE by primary key
        {"id": d, "status": "in_service", "matched_at": submitted[d] + dt.timedelta(days=rng.randint(2, 30))}
        for d in matched])
    for code in ("510000", "500000"):
        region_id = session.scalar(sa.select(Region.id).where(Region.code == code))
        session.add(RegionTarget(region_id=region_id, year=NOW.year, visits=1000, enterprises=1000, problems=1000,
                                 skill_upgrades=10000))


def measure(url: str, runs: int, cache_seconds: int) -> list[float]:
    app = create_app({"DATABASE_URL": url, "TESTING": True, "RATELIMIT_ENABLED": False, "WTF_CSRF_ENABLED": False,
                      "SECRET_KEY": "bench-secret-key-that-is-long-enough-0123456789",
                      "REPORT_CACHE_SECONDS": cache_seconds})
    client = app.test_client()
    response = client.post("/auth/login", data={"username": "bench", "password": PASSWORD})
    assert response.status_code == 302, "login failed"
    timings = []
    for index in range(runs + 3):
        started = time.perf_counter()
        response = client.get("/workspace/reports/")
        elapsed = (time.perf_counter() - started) * 1000
        assert response.status_code == 200, response.status_code
        if index >= 3:  # warm-up: first connection, template compilation
            timings.append(elapsed)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="sqlite:////tmp/craftmatch-bench-dashboard.sqlite")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--engagements", type=int, default=N_ENGAGEMENTS)
    args = parser.parse_args()
    build(args.url, args.engagements)
    backend = args.url.split(":", 1)[0]
    load = os.getloadavg()[0]
    print(f"dashboard ({backend}, {N_CRAFTSMEN:,} craftsmen, {args.engagements:,} demands and engagements; "
          f"load average {load:.1f} on {os.cpu_count()} CPUs):")
    for label, seconds in (("every figure computed (cache off)", 0), ("data unchanged (report cache on)", 60)):
        timings = measure(args.url, args.runs, seconds)
        median = statistics.median(timings)
        print(f"  {label}: median {median:.1f} ms, min {min(timings):.1f} ms, max {max(timings):.1f} ms over "
              f"{len(timings)} runs; {median / TARGET_MS:.2f} × the {TARGET_MS:.0f} ms target "
              f"({'OK' if median < TARGET_MS else 'TOO SLOW'})")


if __name__ == "__main__":
    main()
