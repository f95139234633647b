"""Optimality of `solve` against brute force and an independent MILP, on both routes."""

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matching import solve

from .conftest import (
    brute_force,
    check_feasible,
    milp_optimum,
    objective_of,
    random_problem,
    score_table,
    to_sparse,
)

SEEDS = st.integers(0, 2**32 - 1)


def sticky_objective(problem, result):
    return objective_of(problem, [(a.craftsman, a.demand) for a in result.assignments], sticky=True)


@settings(derandomize=True, max_examples=60, deadline=None)
@given(
    seed=SEEDS,
    shape=st.sampled_from([(2, 2), (3, 2), (2, 3), (3, 3), (4, 2)]),
    load_penalty=st.sampled_from([0.0, 0.3, 1.0]),
    min_score=st.sampled_from([0.0, 0.4]),
    locks=st.integers(0, 2),
    method=st.sampled_from(["auto", "assignment", "flow", "mincostflow"]),
)
def test_small_instances_match_brute_force(seed, shape, load_penalty, min_score, locks, method):
    problem = random_problem(
        seed, *shape, density=0.7, locks=locks, forbidden=1, min_score=min_score, load_penalty=load_penalty
    )
    result = solve(problem, method=method)
    check_feasible(problem, result)
    assert sticky_objective(problem, result) == pytest.approx(brute_force(problem), abs=1e-9)


@settings(derandomize=True, max_examples=25, deadline=None)
@given(
    seed=SEEDS,
    load_penalty=st.sampled_from([0.0, 0.05, 0.3]),
    min_score=st.sampled_from([0.0, 0.3]),
    method=st.sampled_from(["auto", "assignment", "flow", "mincostflow"]),
    sparse=st.booleans(),
    ties=st.booleans(),
)
def test_medium_instances_match_milp(seed, load_penalty, min_score, method, sparse, ties):
    if sparse and method == "assignment":
        method = "flow"
    problem = random_problem(
        seed,
        30,
        15,
        locks=4,
        forbidden=20,
        min_score=min_score,
        load_penalty=load_penalty,
        sparse=sparse,
        ties=ties,
    )
    result = solve(problem, method=method)
    check_feasible(problem, result)
    assert sticky_objective(problem, result) == pytest.approx(milp_optimum(problem), abs=1e-7)


@pytest.mark.parametrize("seed", range(4))
def test_dense_and_sparse_agree(seed):
    problem = random_problem(seed, 40, 20, locks=3, forbidden=10, load_penalty=0.1, min_score=0.1)
    dense, sparse = solve(problem), solve(to_sparse(problem))
    check_feasible(problem, dense)
    assert dense.objective == pytest.approx(sparse.objective, abs=1e-9)
    assert dense.alternates == sparse.alternates


def test_duplicates_of_the_assignment_relaxation_fall_back_to_the_exact_flow():
    # c0 (capacity 2) is by far d0's best craftsman and c1 is needed by d1: the slot
    # expansion gives both of d0's slots to c0's two copies (2.0 + 0.9 > the true 1.9).
    from matching import Problem

    scores = np.array([[1.0, 0.05], [0.1, 0.9]])
    problem = Problem(["c0", "c1"], ["d0", "d1"], [2, 1], [2, 1], scores=scores)
    result = solve(problem, method="assignment")
    assert result.solver == "assignment+flow"
    check_feasible(problem, result)
    assert result.pairs == {("c0", "d0"), ("c1", "d1")}
    assert result.objective == pytest.approx(brute_force(problem)) == pytest.approx(1.9)
    assert result.unfilled == [("d0", 1)]


@pytest.mark.parametrize("seed", range(6))
def test_random_duplicates_are_repaired_exactly(seed):
    # Few craftsmen with large capacity, big teams: the relaxation duplicates often.
    problem = random_problem(seed, 6, 8, max_capacity=5, max_slots=4, density=0.9, load_penalty=0.02)
    result = solve(problem, method="assignment")
    check_feasible(problem, result)
    assert result.objective == pytest.approx(milp_optimum(problem), abs=1e-9)


@settings(derandomize=True, max_examples=15, deadline=None)
@given(seed=SEEDS, stickiness=st.sampled_from([0.02, 0.2]), sparse=st.booleans())
def test_sticky_resolves_match_milp(seed, stickiness, sparse):
    problem = random_problem(seed, 20, 10, locks=2, forbidden=8, load_penalty=0.1, sparse=sparse)
    rng = np.random.default_rng(seed)
    pairs = sorted(score_table(problem))
    previous = [pairs[i] for i in rng.choice(len(pairs), size=min(12, len(pairs)), replace=False)]
    problem = dataclasses.replace(problem, previous=previous, stickiness=stickiness)
    result = solve(problem)
    check_feasible(problem, result)
    assert sticky_objective(problem, result) == pytest.approx(milp_optimum(problem), abs=1e-7)
    assert set(result.changes["added"]) == result.pairs - set(previous)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("seed", range(4))
def test_capped_pricing_batches_stay_exact(monkeypatch, seed, sparse):
    # Pricing adds only the few most violated columns per round (here 3, never all of them at
    # once): the loop must still end on the optimum, proved by the last pricing round alone.
    import importlib

    solve_module = importlib.import_module("matching.solve")
    monkeypatch.setattr(solve_module, "MIN_PRICING_BATCH", 3)
    monkeypatch.setattr(solve_module, "PRICING_BATCH_PER_ROW", 0)
    monkeypatch.setattr(solve_module, "ROUNDS_BEFORE_ALL_PAIRS", 10_000)
    problem = random_problem(seed, 30, 15, locks=3, forbidden=10, load_penalty=0.05, min_score=0.1, sparse=sparse)
    result = solve(problem, method="flow")
    check_feasible(problem, result)
    assert sticky_objective(problem, result) == pytest.approx(milp_optimum(problem), abs=1e-7)


@pytest.mark.parametrize("k", [1, 3, 7])
def test_top_k_per_row_by_argmax_passes(k):
    import importlib

    top_k = importlib.import_module("matching.solve")._top_k_per_row
    rng = np.random.default_rng(k)
    matrix = np.round(rng.random((50, 40)), 1)  # many ties
    before = matrix.copy()
    picked = top_k(matrix, k)
    np.testing.assert_array_equal(matrix, before)  # restored
    for row, columns in zip(matrix, picked, strict=True):
        assert len(set(columns.tolist())) == k
        assert sorted(row[columns]) == sorted(row)[-k:]  # the k largest values
        threshold = row[columns].min()
        assert all(c in columns for c in np.flatnonzero(row > threshold))
        ties = np.flatnonzero(row == threshold)
        assert set(columns.tolist()) & set(ties.tolist()) == set(ties[: k - int((row > threshold).sum())].tolist())
