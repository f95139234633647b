"""Background solving on RQ (Redis) when ``REDIS_URL`` is configured; inline otherwise.

No home-made job runner: the queue is RQ's, the worker is ``craftmatch worker`` (RQ's in-process worker,
:class:`web.worker.SolveWorker`; in tests also ``rq.SimpleWorker`` in burst mode). The job opens its own app context and session and commits —
the one place outside the entry points that does, because the job *is* an entry point.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
from typing import Any

from flask import Flask
from flask_babel import lazy_gettext as _l

from web.caches import LastFew

QUEUE_NAME = "craftmatch"
log = logging.getLogger("craftmatch.jobs")
# A job queued this long without an id was never enqueued (the queue refused it).
ENQUEUE_GRACE = dt.timedelta(minutes=1)


def queue_configured(app: Flask) -> bool:
    return bool(app.config.get("REDIS_URL"))


def queue(redis_url: str):
    from redis import Redis
    from rq import Queue

    return Queue(QUEUE_NAME, connection=Redis.from_url(redis_url))


def enqueue_solve(app: Flask, round_id: int, actor_id: int | None, *, keep_unaffected: bool = False) -> str:
    """Put a solve on the queue; the worker runs :func:`run_solve`. Returns the job id."""
    job = queue(app.config["REDIS_URL"]).enqueue(
        run_solve, round_id, actor_id, app.config["DATABASE_URL"], keep_unaffected=keep_unaffected,
        job_timeout=app.config["SOLVE_TIMEOUT_SECONDS"], description=f"solve matching round {round_id}")
    return job.id


def _naive_utc(moment: dt.datetime | None) -> dt.datetime | None:
    if moment is not None and moment.tzinfo is not None:
        return moment.astimezone(dt.UTC).replace(tzinfo=None)
    return moment


@dataclasses.dataclass(frozen=True)
class Progress:
    """A queued or solving round as the queue sees it, from one look at Redis."""

    state: str | None = None  # RQ's status of the job ("queued", "started"…), None when unknown
    started_at: dt.datetime | None = None  # naive UTC: when a worker took the job
    stuck: Any | None = None  # why the solve will never finish on its own, None while it may


def progress(app: Flask, rnd, now: dt.datetime) -> Progress:
    """The job of a queued or solving round: its state, since when a worker has it, and whether it is stuck.

    Failed, stopped or vanished jobs, a worker whose heartbeat stopped (killed, machine gone), and a solve that
    outlived ``SOLVE_TIMEOUT_SECONDS`` are all reported as ``stuck``, so the round page can stop waiting and offer
    a new solve. The job is fetched once (a page load asks Redis once); other rounds ask nothing.
    """
    if rnd.status not in ("queued", "solving"):
        return Progress()
    if not queue_configured(app):
        return Progress(stuck=_l("No task queue is configured any more, so the background solve cannot finish."))
    timeout = dt.timedelta(seconds=app.config["SOLVE_TIMEOUT_SECONDS"])
    grace = dt.timedelta(seconds=app.config["SOLVE_HEARTBEAT_GRACE_SECONDS"])
    waited = now - (rnd.queued_at or now)
    if rnd.job_id is None:
        return Progress(stuck=_l("The solve never reached the task queue.") if waited > ENQUEUE_GRACE else None)
    from redis.exceptions import RedisError
    from rq.exceptions import NoSuchJobError
    from rq.job import Job, JobStatus

    try:
        job = Job.fetch(rnd.job_id, connection=queue(app.config["REDIS_URL"]).connection)
        status = job.get_status(refresh=False)
    except NoSuchJobError:
        return Progress(stuck=_l("The solve's job is no longer in the task queue (the queue was emptied or "
                                 "restarted)."))
    except RedisError:  # the queue cannot be asked: only the time limit can tell
        return Progress(stuck=_l("The solve outlived its time limit.") if waited > timeout + grace else None)
    seen = Progress(state=getattr(status, "value", status), started_at=_naive_utc(job.started_at))
    if status in (JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED):
        return dataclasses.replace(seen, stuck=_l("The background solve failed: %(error)s",
                                                  error=_last_line(job) or status.value))
    if status == JobStatus.FINISHED:
        return dataclasses.replace(seen, stuck=_l("The background solve ended without saving its result."))
    if status == JobStatus.STARTED:
        heartbeat = _naive_utc(job.last_heartbeat or job.started_at)
        if heartbeat is not None and now - heartbeat > grace:
            return dataclasses.replace(seen, stuck=_l(
                "The worker solving this round stopped answering (no sign of life for %(seconds)d s).",
                seconds=int((now - heartbeat).total_seconds())))
    if waited > timeout + grace:
        return dataclasses.replace(seen, stuck=_l("The solve outlived its time limit."))
    return seen


def stuck_reason(app: Flask, rnd, now: dt.datetime) -> Any | None:
    """Why a queued or solving round will never finish on its own, or None while its job may still be running."""
    return progress(app, rnd, now).stuck


def _last_line(job) -> str:
    text = ""
    try:
        result = job.latest_result()
        text = (getattr(result, "exc_string", "") or "") if result is not None else ""
    except Exception:  # noqa: BLE001 - a missing result only makes the message shorter
        text = ""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


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


def run_solve(round_id: int, actor_id: int | None, database_url: str, config: dict[str, Any] | None = None, *,
              keep_unaffected: bool = False) -> dict:
    """The job: solve the round in its own app context and commit; a failure marks the round failed."""
    from web.extensions import db

    app = job_app(database_url, config)
    with app.app_context():
        try:
            return _solve_in_context(db.session, round_id, actor_id, keep_unaffected)
        finally:  # between jobs the worker holds no database connection; the next job connects again
            db.session.close()
            db.engine.dispose()


def job_app(database_url: str, config: dict[str, Any] | None = None) -> Flask:
    """The app a job runs in, built once per database and settings in a process that runs jobs one after another
    (``craftmatch worker``): the next job starts at once, in the same process that kept the last solve's state."""
    key = (database_url, json.dumps(config or {}, sort_keys=True, default=str))
    app = _job_apps.get(key)
    if app is None:
        from web import create_app

        app = create_app({"DATABASE_URL": database_url, **(config or {})})
        _job_apps.keep(key, app)
    return app


_job_apps = LastFew(2)


def _solve_in_context(session, round_id: int, actor_id: int | None, keep_unaffected: bool) -> dict:
    from web.clock import utcnow
    from web.models import MatchingRound, User
    from web.services import rounds

    rnd = session.get(MatchingRound, round_id)
    actor = session.get(User, actor_id) if actor_id else "worker"
    if rnd.status not in ("queued", "solving"):  # settled meanwhile (reported stuck, or solved inline)
        return {"round_id": round_id, "status": rnd.status}
    rnd.status = "solving"
    session.commit()
    try:
        result = rounds.solve_round(session, rnd, actor=actor, now=utcnow(), keep_unaffected=keep_unaffected)
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
