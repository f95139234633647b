"""Features → Problem → the solver, end to end."""

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from matching import rules
from matching.config import RoundConfig
from matching.features import CraftsmanFeatures, DemandFeatures, synthetic_features
from matching.pipeline import build_problem, explain_pair, lock_violations, uses_dense
from matching.rules import allowed_mask
from matching.scoring import prepare
from matching.solve import solve

DENSE = RoundConfig()
SPARSE = RoundConfig(dense_budget_cells=0, top_k=5)


@pytest.fixture(scope="module")
def round_features():
    return synthetic_features(np.random.default_rng(5), 60, 25)


def test_dense_round_solves_and_explains(round_features):
    crafts, dems, history = round_features
    problem = build_problem(crafts, dems, DENSE, history=history)
    assert not problem.is_sparse and problem.scores.shape == (60, 25)
    assert set(problem.components) == {
        "skill",
        "industry",
        "text",
        "distance",
        "honour",
        "availability",
        "continuity",
        "track_record",
    }
    result = solve(problem)
    assert result.status == "optimal" and result.assignments
    allowed, _ = allowed_mask(crafts, dems, DENSE)
    for a in result.assignments:
        c, d = crafts.ids.index(a.craftsman), dems.ids.index(a.demand)
        assert allowed[c, d] and a.score >= DENSE.min_score
        assert math.isclose(sum(a.breakdown.values()), a.score, abs_tol=1e-6)
        breakdown = explain_pair(problem, DENSE, a.craftsman, a.demand)
        assert math.isclose(breakdown["total"], a.score, abs_tol=1e-6)


def test_sparse_round_keeps_the_top_k_and_matches_dense_when_k_covers_everyone(round_features):
    crafts, dems, history = round_features
    assert uses_dense(60, 25, DENSE) and not uses_dense(60, 25, SPARSE)
    sparse = build_problem(crafts, dems, SPARSE, history=history)
    assert sparse.is_sparse
    assert np.bincount(sparse.pair_demand, minlength=25).max() <= 5
    assert solve(sparse).status == "optimal"

    everyone = RoundConfig(dense_budget_cells=0, top_k=60)
    dense_result = solve(build_problem(crafts, dems, DENSE, history=history))
    sparse_result = solve(build_problem(crafts, dems, everyone, history=history))
    assert math.isclose(dense_result.objective, sparse_result.objective, rel_tol=1e-9)


@pytest.mark.parametrize("config", [DENSE, SPARSE], ids=["dense", "sparse"])
def test_a_forbidden_lock_reaches_the_solver_and_is_reported(round_features, config):
    crafts, dems, history = round_features
    inactive = crafts.ids[int(np.flatnonzero(~crafts.active)[0])]
    lock = (inactive, dems.ids[0])
    problem = build_problem(crafts, dems, config, history=history, locks=[lock])
    assert problem.locked == (lock,)
    result = solve(problem)
    assert result.status == "infeasible" and inactive in result.message
    violations = lock_violations(prepare(crafts, dems, config, history=history), [lock])
    assert [(v.craftsman, v.reason, v.label) for v in violations] == [
        (inactive, rules.INACTIVE, "craftsman not active")
    ]


def test_an_allowed_lock_outside_the_top_k_joins_the_sparse_candidates(round_features):
    crafts, dems, history = round_features
    dense = build_problem(crafts, dems, DENSE, history=history)
    d = 3
    allowed = np.flatnonzero(dense.allowed[:, d])
    worst = allowed[np.argmin(dense.scores[allowed, d])]  # surely not among the top 5
    lock = (crafts.ids[worst], dems.ids[d])
    problem = build_problem(crafts, dems, SPARSE, history=history, locks=[lock], previous=[lock])
    in_pairs = (problem.pair_craftsman == worst) & (problem.pair_demand == d)
    assert in_pairs.sum() == 1
    assert math.isclose(problem.pair_score[in_pairs][0], dense.scores[worst, d], abs_tol=1e-12)
    result = solve(problem)
    assert result.status == "optimal" and lock in result.pairs
    assert problem.stickiness == SPARSE.stickiness and problem.previous == (lock,)


def test_exclusions_are_forbidden_and_recorded(round_features):
    crafts, dems, history = round_features
    problem = build_problem(crafts, dems, DENSE, history=history)
    c, d = np.argwhere(problem.allowed)[0]
    pair = (crafts.ids[c], dems.ids[d])
    excluded = build_problem(crafts, dems, DENSE, history=history, exclusions=[pair])
    assert not excluded.allowed[c, d] and excluded.forbidden == (pair,)
    assert pair not in solve(excluded).pairs


def test_round_settings_reach_the_problem(round_features):
    crafts, dems, _ = round_features
    config = RoundConfig(min_score=0.4, load_penalty=0.1, alternates_k=2)
    problem = build_problem(crafts, dems, config)
    assert (problem.min_score, problem.load_penalty, problem.alternates_k) == (0.4, 0.1, 2)
    assert problem.stickiness == 0.0  # no previous assignment, nothing to stick to
    np.testing.assert_array_equal(problem.capacity, crafts.capacity)
    np.testing.assert_array_equal(problem.slots, dems.slots)


def test_the_scoring_benchmark_runs_at_toy_size(capsys, monkeypatch):
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_scoring.py"
    spec = importlib.util.spec_from_file_location("bench_scoring", path)
    bench = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bench_scoring", bench)  # dataclasses look their module up there
    spec.loader.exec_module(bench)
    sizes = ["--dense-craftsmen", "30", "--dense-demands", "12", "--craftsmen", "50", "--demands", "20"]
    assert bench.main([*sizes, "--repeats", "1", "--top-k", "3"]) == 0
    out = capsys.readouterr().out
    assert "features -> scores" in out and "x 1 s" in out
    assert "candidate generation" in out and "(60 pairs)" in out and "peak traced memory" in out


@pytest.mark.parametrize("config", [DENSE, SPARSE], ids=["dense", "sparse"])
@pytest.mark.parametrize("sizes", [(0, 2), (2, 0)], ids=["no craftsmen", "no demands"])
def test_an_empty_side_gives_an_empty_solvable_round(config, sizes):
    crafts = CraftsmanFeatures.build([f"c{i}" for i in range(sizes[0])], n_skills=2, n_industries=1)
    dems = DemandFeatures.build([f"d{i}" for i in range(sizes[1])], n_skills=2, n_industries=1)
    result = solve(build_problem(crafts, dems, config))
    assert result.status == "optimal" and not result.assignments


def test_taking_demands_keeps_every_field_row_aligned(round_features):
    crafts, dems, history = round_features
    keep = np.arange(len(dems)) % 3 != 0
    kept = dems.take(keep)
    rows = np.flatnonzero(keep)
    assert kept.ids == tuple(dems.ids[i] for i in rows)
    assert kept.mode == tuple(dems.mode[i] for i in rows)
    assert (kept.required_skills != dems.required_skills[rows]).nnz == 0
    np.testing.assert_array_equal(kept.priority, dems.priority[rows])
    part = solve(build_problem(crafts, kept, DENSE, history=history))
    assert part.assignments and {a.demand for a in part.assignments} <= set(kept.ids)
    with pytest.raises(Exception, match="keep"):
        dems.take(keep[:-1])
