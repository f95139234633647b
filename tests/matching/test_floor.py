"""Demand-floor fairness (issue 11.3): q is the largest threshold at which every demand with an eligible
candidate can get a craftsman scoring ≥ q × its best candidate, and the round then maximises its usual
objective under that floor.  Both checked against scipy's MILP on seeded random instances."""

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matching import Problem, ProblemError, RoundConfig, solve
from matching.features import FeatureError

from .conftest import (
    check_feasible,
    milp_optimum,
    random_problem,
    relevance_optimum,
    relevant_weight,
    score_table,
    tier_table,
    usable_pairs,
)

SEEDS = st.integers(0, 2**32 - 1)


def eligible_pairs(problem):
    """Usable pairs with a positive score; with relevance "only", relevant or locked ones."""
    table, tiers, locked = score_table(problem), tier_table(problem), set(problem.locked)
    pairs = [p for p in usable_pairs(problem) if table[p] > 0]
    if problem.relevance_mode == "only" and tiers is not None:
        pairs = [p for p in pairs if p in locked or tiers[p] >= 1]
    return pairs


def floor_rows(problem, q):
    """Per demand with a candidate: the eligible pairs scoring ≥ q × its best one."""
    table = score_table(problem)
    pairs = eligible_pairs(problem)
    best = {}
    for c, d in pairs:
        best[d] = max(best.get(d, 0.0), table[(c, d)])
    return [{(c, e) for c, e in pairs if e == d and table[(c, e)] / best[d] >= q} for d in best]


def reference(problem):
    """(q, best objective under it) by MILPs: every ratio tried as a floor, the largest feasible kept."""
    table = score_table(problem)
    pairs = eligible_pairs(problem)
    best = {}
    for c, d in pairs:
        best[d] = max(best.get(d, 0.0), table[(c, d)])
    ratios = sorted({table[(c, d)] / best[d] for c, d in pairs}, reverse=True)
    for q in ratios:
        value = milp_optimum(problem, at_least_one=floor_rows(problem, q), feasible_only=True)
        if value is not None:
            return q, value
    return None, milp_optimum(problem)


@settings(derandomize=True, max_examples=40, deadline=None)
@given(
    seed=SEEDS,
    load_penalty=st.sampled_from([0.0, 0.1]),
    sparse=st.booleans(),
    locks=st.integers(0, 2),
    tight=st.booleans(),
)
def test_floor_and_objective_match_the_milp(seed, load_penalty, sparse, locks, tight):
    n_c = 5 if tight else 9  # few craftsmen: demands compete for their best ones
    problem = random_problem(
        seed, n_c, 6, max_capacity=2, density=0.7, locks=locks, forbidden=2, min_score=0.1,
        load_penalty=load_penalty, sparse=sparse, relevance="off",
    )
    problem = dataclasses.replace(problem, floor=True)
    result = solve(problem)
    check_feasible(problem, result)
    q, best = reference(problem)
    assert result.fairness["q"] == pytest.approx(q, rel=1e-12) if q is not None else result.fairness["q"] is None
    assert result.objective == pytest.approx(best, abs=1e-7)
    if q is not None:
        assert result.fairness["worst_with_floor"] >= q - 1e-12
        assert result.fairness["worst_with_floor"] >= result.fairness["worst_without_floor"] - 1e-12
    unfloored = milp_optimum(dataclasses.replace(problem, floor=False))
    assert result.fairness["objective_without_floor"] == pytest.approx(unfloored, abs=1e-7)
    assert result.fairness["cost"] == pytest.approx(unfloored - best, abs=1e-7)


@settings(derandomize=True, max_examples=25, deadline=None)
@given(seed=SEEDS, mode=st.sampled_from(["first", "only"]), sparse=st.booleans(), locks=st.integers(0, 2))
def test_floor_comes_before_relevance_first_which_comes_before_the_score(seed, mode, sparse, locks):
    problem = random_problem(
        seed, 6, 5, max_capacity=2, density=0.7, locks=locks, load_penalty=0.05, sparse=sparse, relevance=mode,
    )
    problem = dataclasses.replace(problem, floor=True)
    result = solve(problem)
    check_feasible(problem, result)
    q, _ = reference(problem)
    assert result.fairness["q"] == pytest.approx(q, rel=1e-12) if q is not None else result.fairness["q"] is None
    rows = floor_rows(problem, q) if q is not None else []
    best_relevant, best_objective = relevance_optimum(problem, rows)
    assert relevant_weight(problem, result.pairs) == pytest.approx(best_relevant, abs=1e-9)
    assert result.objective == pytest.approx(best_objective, abs=1e-7)


def test_the_floor_moves_a_shared_best_craftsman_to_the_demand_that_has_no_other():
    # c0 is everyone's best; d1's alternative c1 is poor, d0's alternative c2 nearly as good
    scores = np.array([[1.0, 1.0], [0.1, 0.2], [0.9, 0.0]])
    allowed = np.array([[True, True], [False, True], [True, False]])
    base = dict(scores=scores, allowed=allowed, priority=[12.0, 1.0])
    plain = solve(Problem(["c0", "c1", "c2"], ["d0", "d1"], [1, 1, 1], [1, 1], **base))
    assert plain.pairs == {("c0", "d0"), ("c1", "d1")}  # 12·1.0 + 0.2 beats 12·0.9 + 1.0
    fair = solve(Problem(["c0", "c1", "c2"], ["d0", "d1"], [1, 1, 1], [1, 1], **base, floor=True))
    assert fair.pairs == {("c2", "d0"), ("c0", "d1")}
    assert fair.fairness["q"] == 0.9
    assert fair.fairness["worst_without_floor"] == pytest.approx(0.2)
    assert fair.fairness["cost"] == pytest.approx(12.2 - 11.8)
    assert fair.solver == "floor"


def test_floor_is_a_checked_round_setting():
    assert RoundConfig().floor is False
    assert RoundConfig(floor=True).to_dict()["floor"] is True
    with pytest.raises(FeatureError, match="floor"):
        RoundConfig(floor="yes")
    with pytest.raises(ProblemError, match="floor"):
        Problem(["c"], ["d"], [1], [1], scores=[[0.5]], floor=1)
