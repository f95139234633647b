"""The solve worker behind ``craftmatch worker``: RQ's in-process worker, with the heartbeats a forking one sends.

RQ's default worker forks a fresh process for every job. For a round that costs the import of the app, numpy,
scipy and HiGHS (1.5–2 s) before each solve, and it throws away what the last solve kept for the next one (the
scored round, the flow LP's warm start, the remembered proposal rows), so a re-solve after a lock cost as much as
the first solve. :class:`SolveWorker` runs the jobs one after another in its own process instead (RQ's
``SimpleWorker``); measured in benchmarks/NOTES.md ("The queued path").
"""

from __future__ import annotations

import threading

from rq import Queue, SimpleWorker
from rq.executions import Execution
from rq.job import Job
from rq.worker import WorkerStatus


class SolveWorker(SimpleWorker):
    """A worker that solves in its own process and keeps reporting that it lives while it does.

    A forking worker's parent refreshes the job's heartbeat every ``job_monitoring_interval`` while the child
    works; an in-process worker is busy in the job itself, so a thread does it here. Without it, a solve longer than
    ``SOLVE_HEARTBEAT_GRACE_SECONDS`` would be reported as stuck on the round page while it is still running.
    """

    def execute_job(self, job: Job, queue: Queue) -> None:
        execution = self.prepare_execution(job)
        finished = threading.Event()
        beating = threading.Thread(target=self._beat_while_working, args=(job, execution, finished),
                                   name="solve-heartbeat", daemon=True)
        beating.start()
        try:
            self.perform_job(job, queue, execution)
        finally:
            finished.set()
            beating.join()
        self.set_state(WorkerStatus.IDLE)

    def _beat_while_working(self, job: Job, execution: Execution, finished: threading.Event) -> None:
        while not finished.wait(self.job_monitoring_interval):
            self.maintain_heartbeats(job, execution)

