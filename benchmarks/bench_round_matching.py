"""The matching side of a province round alone: `run_round` on bench_round's inputs, click and re-solve.

    .venv/bin/python benchmarks/bench_round_matching.py [--craftsmen 5000] [--demands 2000] [--repeat 5]
        [--first 3] [--profile click|re-solve]

Seeds ``seed synthetic`` into a temporary SQLite database, solves the round once through the service and
locks one assigned pair (as bench_round does), keeping the `RoundInputs` the service handed to
`matching.outcome.run_round` each time.  Then, in this process, best of ``--repeat`` CPU seconds
(``time.process_time``, all threads): the click (a cold `run_round`) and the re-solve after the lock (reusing
the click's `ScoredRound`, as the web process does), with their stages and a digest of everything they propose
(result and proposals in order), so that a change can be checked for the same output.

A process's first round costs more than its later ones (malloc's start state: its temporaries are mapped and
page-faulted afresh; see `web.heap.malloc_as_after_a_round`), and a web worker's click is usually its first: so
the click is also timed as the first round of ``--first`` fresh processes (the inputs handed over in a pickle;
each has imported `matching.outcome` before, as a worker has), with its minor page faults.
"""

from __future__ import annotations

import argparse
import copyreg
import cProfile
import gc
import hashlib
import json
import os
import pickle
import pstats
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from web.heap import malloc_as_after_a_round, numpy_without_hugepages  # noqa: E402

numpy_without_hugepages()  # as gunicorn.conf.py and the craftmatch command do, before numpy is imported
malloc_as_after_a_round()  # as they do too

import sqlalchemy as sa  # noqa: E402

from matching.outcome import RoundInputs, RoundOutcome  # noqa: E402
from matching.outcome import run_round as matching_run_round  # noqa: E402
from web.cpu import idle_core  # noqa: E402


def run_round(inputs: RoundInputs, reuse=None) -> RoundOutcome:
    """`matching.outcome.run_round` as the web's solve calls it: work beside HiGHS when a core is idle."""
    return matching_run_round(inputs, reuse, beside_solver=idle_core)


def round_inputs(n_craftsmen: int, n_demands: int) -> tuple[RoundInputs, RoundInputs]:
    """The inputs of bench_round's click and of its re-solve after a lock."""
    from web import create_app, migrate
    from web.clock import utcnow
    from web.extensions import db
    from web.models import Proposal
    from web.services import rounds, seeding

    captured: list[RoundInputs] = []
    service_run_round = rounds.run_round
    rounds.run_round = lambda inputs, reuse=None, **kw: captured.append(inputs) or service_run_round(inputs, reuse, **kw)
    workdir = tempfile.mkdtemp(prefix="bench-round-matching-")
    url = f"sqlite:///{workdir}/bench.sqlite"
    migrate.upgrade(url)
    app = create_app({"DATABASE_URL": url, "RATELIMIT_ENABLED": False, "UPLOAD_DIR": workdir,
                      "SECRET_KEY": "bench-secret-key-that-is-long-enough-0123456789"})
    try:
        with app.app_context():
            session = db.session
            seeding.load_synthetic(session, n_craftsmen=n_craftsmen, n_demands=n_demands, seed=1, now=utcnow())
            rnd = rounds.create_round(session, name="bench", actor="bench", now=utcnow(), config={})
            rounds.solve_round(session, rnd, actor="bench", now=utcnow())
            proposal = session.scalar(sa.select(Proposal).where(Proposal.round_id == rnd.id, Proposal.assigned))
            rounds.set_pair(session, rnd, proposal.craftsman_id, proposal.demand_id, "lock", actor="bench",
                            now=utcnow())
            rounds.solve_round(session, rnd, actor="bench", now=utcnow())
            session.rollback()
    finally:
        rounds.run_round = service_run_round
    return captured[0], captured[1]


def _mapping_proxy(data: dict) -> types.MappingProxyType:
    return types.MappingProxyType(data)


copyreg.pickle(types.MappingProxyType, lambda proxy: (_mapping_proxy, (dict(proxy),)))  # RoundConfig's weights


def first_click(path: str) -> dict:
    """The click as this process's first round: CPU seconds, minor page faults, stages, digest."""
    with open(path, "rb") as source:
        click_inputs = pickle.load(source)
    gc.disable()
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    started = time.process_time()
    outcome = run_round(click_inputs)
    seconds = time.process_time() - started
    return {"seconds": seconds, "faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults,
            "stages": {**outcome.timings, **{f"solve.{k}": v for k, v in outcome.result.timings.items()}},
            "digest": digest(outcome)}


def first_clicks(click_inputs: RoundInputs, runs: int) -> list[dict]:
    with tempfile.NamedTemporaryFile(suffix=".pickle") as handed:
        pickle.dump(click_inputs, handed, protocol=pickle.HIGHEST_PROTOCOL)
        handed.flush()
        return [json.loads(subprocess.run([sys.executable, __file__, "--first-click-of", handed.name], check=True,
                                          capture_output=True, text=True).stdout) for _ in range(runs)]


def digest(outcome: RoundOutcome) -> str:
    data = outcome.to_dict()
    data["result"].pop("timings", None)
    return hashlib.sha256(json.dumps(data, default=str).encode()).hexdigest()[:16]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--craftsmen", type=int, default=5000)
    parser.add_argument("--demands", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--first", type=int, default=3, help="fresh processes timing the click as their first round")
    parser.add_argument("--profile", choices=("click", "re-solve"), help="cProfile one more run of that stage")
    parser.add_argument("--first-click-of", help=argparse.SUPPRESS)  # a fresh process's part of --first
    args = parser.parse_args(argv)
    if args.first_click_of:
        print(json.dumps(first_click(args.first_click_of)))
        return 0
    click_inputs, lock_inputs = round_inputs(args.craftsmen, args.demands)
    gc.disable()  # as the web service's solve does
    best: dict[str, tuple[float, dict]] = {}

    def timed(name: str, *call) -> RoundOutcome:
        started = time.process_time()
        outcome = run_round(*call)
        seconds = time.process_time() - started
        if name not in best or seconds < best[name][0]:
            best[name] = (seconds, {**outcome.timings, **{f"solve.{k}": v for k, v in outcome.result.timings.items()}})
        return outcome

    for _ in range(args.repeat):
        click = timed("click", click_inputs)
        again = timed("re-solve", lock_inputs, click.scored)
        digests = digest(click), digest(again)
        del click, again
        gc.collect()
    print(f"{args.craftsmen} x {args.demands}, best of {args.repeat} (CPU s, all threads); "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    for name, (seconds, stages) in best.items():
        print(f"  {name}: {seconds:.3f} s; " + ", ".join(f"{k} {v:.3f}" for k, v in stages.items()))
    print(f"  digests: click {digests[0]}, re-solve {digests[1]}")
    if args.first > 0:
        firsts = sorted(first_clicks(click_inputs, args.first), key=lambda run: run["seconds"])
        print(f"  click as a fresh process's first round ({args.first} processes): best {firsts[0]['seconds']:.3f} s, "
              f"median {statistics.median(run['seconds'] for run in firsts):.3f} s, minor page faults "
              f"{firsts[0]['faults']}; digests {sorted({run['digest'] for run in firsts})}")
        print("    best: " + ", ".join(f"{k} {v:.3f}" for k, v in firsts[0]["stages"].items()))
    if args.profile:
        profile = cProfile.Profile()
        click = run_round(click_inputs)
        if args.profile == "click":
            profile.runcall(run_round, click_inputs)
        else:
            profile.runcall(run_round, lock_inputs, click.scored)
        pstats.Stats(profile).sort_stats("tottime").print_stats(30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
