"""Scoring benchmark: dense 5,000 × 2,000 from features, and sparse candidates at 100,000 × 50,000.

    .venv/bin/python benchmarks/bench_scoring.py                      # full sizes (sparse part takes minutes)
    .venv/bin/python benchmarks/bench_scoring.py --craftsmen 2000 --demands 500   # quick sparse size

Data come from ``matching.features.synthetic_features`` (seeded).  Peak memory
of the sparse part is measured with tracemalloc (numpy reports its buffers to
it), after the features exist.
"""

from __future__ import annotations

import argparse
import os
import time
import tracemalloc
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from matching.candidates import candidate_pairs
from matching.config import RoundConfig
from matching.features import synthetic_features
from matching.rules import allowed_mask, score_and_mask
from matching.scoring import prepare, score


@dataclass(frozen=True)
class Timing:
    wall: float
    cpu: float  # summed over threads: on a busy shared machine the steadier figure

    def __str__(self) -> str:
        return f"{self.wall:7.3f} s wall {self.cpu:7.3f} s CPU"

    def __add__(self, other: Timing) -> Timing:
        return Timing(self.wall + other.wall, self.cpu + other.cpu)


def _timed(function, *args, **kwargs):
    wall, cpu = time.perf_counter(), time.process_time()
    value = function(*args, **kwargs)
    return value, Timing(time.perf_counter() - wall, time.process_time() - cpu)


def bench_dense(n_craftsmen: int, n_demands: int, seed: int, repeats: int) -> dict[str, Timing]:
    """Per stage, the repeat with the least wall time, from features."""
    craftsmen, demands, history = synthetic_features(np.random.default_rng(seed), n_craftsmen, n_demands)
    config = RoundConfig()
    best: dict[str, Timing] = {}
    for _ in range(repeats):
        rnd, t_prepare = _timed(prepare, craftsmen, demands, config, history=history)
        _, t_score = _timed(score, craftsmen, demands, prepared=rnd)
        _, t_rules = _timed(allowed_mask, craftsmen, demands, prepared=rnd)
        _, t_both = _timed(score_and_mask, rnd)
        stages = (("prepare", t_prepare), ("score", t_score), ("rules", t_rules), ("both", t_both))
        for name, value in stages:
            if name not in best or value.wall < best[name].wall:
                best[name] = value
    return best


def bench_sparse(n_craftsmen: int, n_demands: int, seed: int, top_k: int) -> dict:
    craftsmen, demands, history = synthetic_features(np.random.default_rng(seed), n_craftsmen, n_demands)
    config = RoundConfig(top_k=top_k)
    tracemalloc.start()
    try:
        rnd, t_prepare = _timed(prepare, craftsmen, demands, config, history=history)
        candidates, t_candidates = _timed(candidate_pairs, craftsmen, demands, prepared=rnd)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return {
        "prepare": t_prepare,
        "candidates": t_candidates,
        "pairs": len(candidates),
        "peak_mb": peak / 2**20,
    }


def _load() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dense-craftsmen", type=int, default=5_000)
    parser.add_argument("--dense-demands", type=int, default=2_000)
    parser.add_argument("--craftsmen", type=int, default=100_000, help="sparse part")
    parser.add_argument("--demands", type=int, default=50_000, help="sparse part")
    parser.add_argument("--top-k", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=20250917)
    parser.add_argument("--skip-sparse", action="store_true")
    args = parser.parse_args(argv)

    dense = bench_dense(args.dense_craftsmen, args.dense_demands, args.seed, args.repeats)
    to_scores = dense["prepare"] + dense["score"]
    with_rules = dense["prepare"] + dense["both"]
    print(
        f"dense {args.dense_craftsmen:,} x {args.dense_demands:,} (best of {args.repeats}; load {_load()}):"
    )
    print(f"  prepare (TF-IDF, tables) {dense['prepare']}")
    print(f"  score (7 components)     {dense['score']}")
    print(f"  rules (allowed mask)     {dense['rules']}")
    print(f"  features -> scores       {to_scores} = {to_scores.wall:.2f} x 1 s")
    print(f"  score + mask, one pass   {dense['both']}")
    print(f"  features -> scores+mask  {with_rules} = {with_rules.wall:.2f} x 1 s  (what build_problem does)")
    if not args.skip_sparse:
        sparse = bench_sparse(args.craftsmen, args.demands, args.seed, args.top_k)
        print(f"sparse candidates {args.craftsmen:,} x {args.demands:,}, top {args.top_k} (load {_load()}):")
        print(f"  prepare                  {sparse['prepare']}")
        print(f"  candidate generation     {sparse['candidates']} ({sparse['pairs']:,} pairs)")
        print(f"  peak traced memory       {sparse['peak_mb']:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
