"""Background solving on RQ (Redis) when ``REDIS_URL`` is configured; inline otherwise.

No home-made job runner: the queue is RQ's, the worker is ``rq worker craftmatch`` (or, in tests,
``rq.SimpleWorker`` in burst mode). The job opens its own app context and session and commits —
the one place outside the entry points that does, because the job *is* an entry point.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask

QUEUE_NAME = "craftmatch"
JOB_TIMEOUT = 30 * 60
log = logging.getLogger("craftmatch.jobs")


def queue_configured(app: Flask) -> bool:
    return bool(app.config.get("REDIS_URL"))


def queue(redis_url: str):
    from redis import Redis
    from rq import Queue

    return Queue(QUEUE_NAME, connection=Redis.from_url(redis_url))


def enqueue_solve(app: Flask, round_id: int, actor_id: int | None) -> str:
    """Put a solve on the queue; the worker runs :func:`run_solve`. Returns the job id."""
    job = queue(app.config["REDIS_URL"]).enqueue(
        run_solve, round_id, actor_id, app.config["DATABASE_URL"], job_timeout=JOB_TIMEOUT,
        description=f"solve matching round {round_id}")
    return job.id


def job_state(app: Flask, job_id: str | None) -> str | None:
    """RQ's status of a job ("queued", "started", "finished", "failed"…), None when unknown."""
    if not job_id or not queue_configured(app):
        return None
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    try:
        status = Job.fetch(job_id, connection=queue(app.config["REDIS_URL"]).connection).get_status()
        return getattr(status, "value", status)
    except NoSuchJobError:
        return None


def run_solve(round_id: int, actor_id: int | None, database_url: str, config: dict[str, Any] | None = None) -> dict:
    """The job: solve the round in its own app context and commit; a failure marks the round failed."""
    from web import create_app
    from web.clock import utcnow
    from web.extensions import db
    from web.models import MatchingRound, User
    from web.services import rounds

    app = create_app({"DATABASE_URL": database_url, **(config or {})})
    with app.app_context():
        session = db.session
        rnd = session.get(MatchingRound, round_id)
        actor = session.get(User, actor_id) if actor_id else "worker"
        rnd.status = "solving"
        session.commit()
        try:
            result = rounds.solve_round(session, rnd, actor=actor, now=utcnow())
            session.commit()
        except Exception as error:
            session.rollback()
            log.exception("solving round %s failed", round_id)
            rnd = session.get(MatchingRound, round_id)
            rnd.status = "failed"
            rnd.solver_message = str(getattr(error, "message", error))[:2000]
            session.commit()
            raise
        return {"round_id": round_id, "status": result.status, "objective": result.objective}
