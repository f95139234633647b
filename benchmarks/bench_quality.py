"""Match quality on the labelled evaluation set: relevance first against today's weighted sum.

    .venv/bin/python benchmarks/bench_quality.py [--seed 20250923] [--craftsmen 5000 --demands 2000]

The evaluation set (`quality_set.py`): the demo pools (320 craftsmen, 100 demands, the seed
articles' real people and needs among them) plus 12 invented 跨界攻关小组 demands with roles and
12 remote copies of digital, management and standards needs.  For the default round settings with relevance "first" (the new scoring) and
"off" (the plain weighted sum of earlier rounds) it prints:

- relevance rate: filled slots whose craftsman is relevant, over the filled slots where a
  relevant craftsman was free (allowed for the demand with a score of at least the round's
  ``min_score``, and under capacity in that answer, or filling that very slot);
- team-role coverage: role places filled, over those the pool allows (a role whose eligible
  and allowed craftsmen are fewer than its count can only take as many);
- median and p90 distance of on-site and hybrid pairs, demands served, slots filled, total
  score, and the solve time (best of --repeat).

Then the solve time of both at --craftsmen × --demands from synthetic features, and the
ratios against the targets: relevance 100 %, every role covered, total score within 1 % of
the unconstrained optimum ("off" with the same roles), solve time ≤ 1.5 × today's.  Asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import maximum_bipartite_matching

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.quality_set import DEFAULT_SEED, EvaluationSet, evaluation_set  # noqa: E402
from matching import solve  # noqa: E402
from matching.config import RoundConfig  # noqa: E402
from matching.features import synthetic_features  # noqa: E402
from matching.kernels import great_circle_km  # noqa: E402
from matching.pipeline import build_problem  # noqa: E402
from matching.prepared import prepare  # noqa: E402

MODES = ("first", "off")
# (column title, relevance, with roles): the new scoring; the same round with relevance off (the
# unconstrained optimum the score loss is measured against); the weighted sum of earlier rounds,
# which knew no roles (a team was team_size interchangeable slots)
COLUMNS = (("first (new)", "first", True), ("off + roles", "off", True), ("weighted sum (before)", "off", False))


def _best_time(function, repeat: int):
    best, value = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        value = function()
        best = min(best, time.perf_counter() - start)
    return value, best


def quality(evaluation: EvaluationSet, relevance: str, with_roles: bool, repeat: int) -> dict:
    """Solve the evaluation round with ``relevance`` (and its roles or not) and measure its answer."""
    craftsmen, demands = evaluation.craftsmen, evaluation.demands
    config = RoundConfig(relevance=relevance)
    prepared = prepare(craftsmen, demands, config, skill_parent=evaluation.skill_parent)
    roles = evaluation.roles if with_roles else ()
    problem = build_problem(craftsmen, demands, config, roles=roles, prepared=prepared)
    result, seconds = _best_time(lambda: solve(problem), repeat)
    if result.status != "optimal":
        raise SystemExit(f"bench_quality: {relevance}: {result.status}: {result.message}")
    c_index = {c: i for i, c in enumerate(craftsmen.ids)}
    d_index = {d: j for j, d in enumerate(demands.ids)}
    allowed = np.asarray(problem.allowed) & (np.asarray(problem.scores) >= config.min_score)
    relevant = np.asarray(problem.relevance) >= 1
    load = np.zeros(len(craftsmen), dtype=np.int64)
    on_demand: dict[int, set[int]] = {}
    for a in result.assignments:
        load[c_index[a.craftsman]] += 1
        on_demand.setdefault(d_index[a.demand], set()).add(c_index[a.craftsman])
    free = load < craftsmen.capacity

    hits = counted = 0
    on_site = []
    for a in result.assignments:
        i, j = c_index[a.craftsman], d_index[a.demand]
        if relevant[i, j]:
            hits += 1
            counted += 1
        else:
            others = allowed[:, j] & relevant[:, j] & free
            others[list(on_demand[j])] = False
            counted += bool(others.any())
        if demands.mode[j] != "remote":
            on_site.append((i, j))
    pairs = np.array(on_site, dtype=np.int64).reshape(-1, 2)
    distances = great_circle_km(prepared, pairs[:, 0], pairs[:, 1])
    return {
        "relevance_rate": hits / counted if counted else 1.0,
        "irrelevant_with_relevant_free": counted - hits,
        **role_coverage(evaluation, problem, result, config.min_score),
        "median_km": float(np.nanmedian(distances)) if distances.size else 0.0,
        "p90_km": float(np.nanpercentile(distances, 90)) if distances.size else 0.0,
        "demands_served": len(on_demand),
        "slots_filled": len(result.assignments),
        "total_score": float(sum(a.score for a in result.assignments)),
        "solve_seconds": seconds,
    }


def role_coverage(evaluation: EvaluationSet, problem, result, min_score: float) -> dict:
    """Role places the answer covers, wanted, and those the pool allows.

    Covered: a maximum matching of the demand's assigned craftsmen to its role places (a
    craftsman covers a place of a role whose speciality he holds), so an answer solved without
    roles is judged by the same rule.  Possible: per role, its count capped by the distinct
    eligible craftsmen allowed for the demand.
    """
    allowed = np.asarray(problem.allowed) & (np.asarray(problem.scores) >= min_score)
    holds = evaluation.craftsmen.skills.tocsc() > 0
    c_index = {c: i for i, c in enumerate(evaluation.craftsmen.ids)}
    d_index = {d: j for j, d in enumerate(evaluation.demands.ids)}
    team: dict[str, list[int]] = {}
    for a in result.assignments:
        team.setdefault(a.demand, []).append(c_index[a.craftsman])
    places: dict[str, list[int]] = {}
    wanted = possible = 0
    for demand, column, count in evaluation.roles:
        places.setdefault(demand, []).extend([column] * count)
        wanted += count
        eligible = holds[:, column].toarray().ravel()
        possible += min(count, int((eligible & allowed[:, d_index[demand]]).sum()))
    covered = 0
    for demand, columns in places.items():
        members = team.get(demand, [])
        fits = sp.csr_matrix([[bool(holds[i, column]) for column in columns] for i in members] or np.zeros((0, 1)))
        if members:
            covered += int((maximum_bipartite_matching(fits, perm_type="column") >= 0).sum())
    return {"role_places_covered": covered, "role_places_wanted": wanted, "role_places_possible": possible}


def scale_times(n_craftsmen: int, n_demands: int, seed: int, repeat: int) -> dict[str, float]:
    craftsmen, demands, history = synthetic_features(np.random.default_rng(seed), n_craftsmen, n_demands)
    times = {}
    for relevance in MODES:
        problem = build_problem(craftsmen, demands, RoundConfig(relevance=relevance), history=history)
        _, times[relevance] = _best_time(lambda problem=problem: solve(problem), repeat)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--craftsmen", type=int, default=5000)
    parser.add_argument("--demands", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    evaluation = evaluation_set(args.seed)
    print(f"evaluation set: {len(evaluation.craftsmen)} craftsmen, {len(evaluation.demands)} demands "
          f"({sum(1 for label in evaluation.labels.values() if label.roles)} with roles, "
          f"{sum(1 for m in evaluation.demands.mode if m == 'remote')} remote), {len(evaluation.roles)} roles")
    rows = [quality(evaluation, relevance, with_roles, args.repeat) for _, relevance, with_roles in COLUMNS]
    print(f"{'':30s}" + "".join(f"{title:>23s}" for title, _, _ in COLUMNS))
    for name in rows[0]:
        show = (lambda v: f"{v:.4f}") if isinstance(rows[0][name], float) else str
        print(f"{name:30s}" + "".join(f"{show(row[name]):>23s}" for row in rows))

    first, off = rows[0], rows[1]
    score_loss = (off["total_score"] - first["total_score"]) / off["total_score"]
    times = scale_times(args.craftsmen, args.demands, args.seed, args.repeat)
    print(f"\nsolve at {args.craftsmen} x {args.demands} (synthetic, best of {args.repeat}): "
          f"first {times['first']:.3f} s, off {times['off']:.3f} s")
    print("\nratios to targets")
    print(f"  relevance rate            {first['relevance_rate']:.4f} / 1.0")
    coverage = first["role_places_covered"] / max(first["role_places_possible"], 1)
    print(f"  role places covered       {first['role_places_covered']}/{first['role_places_possible']} "
          f"= {coverage:.4f} / 1.0")
    print(f"  score loss vs off + roles {100 * score_loss:.3f} % / 1 %  (ratio {score_loss / 0.01:.3f})")
    ratio = times["first"] / times["off"]
    print(f"  solve time first / off    {ratio:.3f} / 1.5  (ratio {ratio / 1.5:.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
