"""Relevance first (issue 11.1): the solver maximises, lexicographically, the priority-weighted number of
slots filled by relevant craftsmen (tier ≥ 1), then priority·score minus the load penalty.  Checked
against two MILPs and brute force on seeded random instances, dense and sparse, both exact routes."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matching import Problem, solve

from .conftest import (
    brute_force,
    check_feasible,
    milp_optimum,
    objective_of,
    random_problem,
    relevance_optimum,
    relevant_weight,
    tier_table,
    usable_pairs,
)

SEEDS = st.integers(0, 2**32 - 1)


def pairs_of(result):
    return [(a.craftsman, a.demand) for a in result.assignments]


def check_relevance(problem, result):
    check_feasible(problem, result)
    tiers = tier_table(problem)
    for a in result.assignments:
        assert a.tier == tiers[(a.craftsman, a.demand)]
        assert a.relevant == (a.tier >= 1)
        assert a.flags == (() if a.relevant else ("no_required_skill",))
        if problem.relevance_mode == "only" and not a.locked:
            assert a.relevant


@settings(derandomize=True, max_examples=40, deadline=None)
@given(
    seed=SEEDS,
    load_penalty=st.sampled_from([0.0, 0.05, 0.3]),
    min_score=st.sampled_from([0.0, 0.3]),
    sparse=st.booleans(),
    mode=st.sampled_from(["first", "only"]),
    locks=st.integers(0, 2),
)
def test_relevance_first_matches_two_milps(seed, load_penalty, min_score, sparse, mode, locks):
    problem = random_problem(
        seed, 9, 6, density=0.7, locks=locks, forbidden=2, min_score=min_score,
        load_penalty=load_penalty, sparse=sparse, relevance=mode,
    )
    result = solve(problem)
    check_relevance(problem, result)
    best_relevant, best_objective = relevance_optimum(problem)
    assert relevant_weight(problem, pairs_of(result)) == pytest.approx(best_relevant, abs=1e-9)
    assert result.objective == pytest.approx(best_objective, abs=1e-7)


def brute_force_lexicographic(problem):
    """(most relevant weight, best objective among those) by enumerating every feasible subset."""
    pairs, locked = usable_pairs(problem), set(problem.locked)
    tiers = tier_table(problem)
    if problem.relevance_mode == "only":
        pairs = [p for p in pairs if p in locked or tiers[p] >= 1]
    return brute_force(
        problem, key=lambda subset: (round(relevant_weight(problem, subset), 9), objective_of(problem, subset)),
        pairs=pairs,
    )


@settings(derandomize=True, max_examples=40, deadline=None)
@given(
    seed=SEEDS,
    shape=st.sampled_from([(2, 2), (3, 2), (2, 3), (3, 3), (4, 2)]),
    load_penalty=st.sampled_from([0.0, 0.3, 1.0]),
    mode=st.sampled_from(["first", "only"]),
    sparse=st.booleans(),
)
def test_small_instances_match_brute_force(seed, shape, load_penalty, mode, sparse):
    problem = random_problem(
        seed, *shape, density=0.8, locks=1, load_penalty=load_penalty, sparse=sparse, relevance=mode
    )
    result = solve(problem)
    check_relevance(problem, result)
    best_relevant, best_objective = brute_force_lexicographic(problem)
    assert relevant_weight(problem, pairs_of(result)) == pytest.approx(best_relevant, abs=1e-9)
    assert result.objective == pytest.approx(best_objective, abs=1e-9)


@pytest.mark.parametrize("seed", range(6))
def test_off_is_todays_weighted_sum(seed):
    problem = random_problem(seed, 12, 8, load_penalty=0.05, relevance="off")
    result = solve(problem)
    check_feasible(problem, result)
    assert result.objective == pytest.approx(milp_optimum(problem), abs=1e-9)
    assert result.solver != "flow+relevance"


def test_an_irrelevant_craftsman_fills_a_slot_only_when_no_relevant_one_can():
    # c0 is the better scorer everywhere but holds no required skill of d0; c1 does.
    scores = np.array([[0.95, 0.5], [0.3, 0.2]])
    tiers = np.array([[0, 2], [2, 2]], dtype=np.int8)
    base = dict(scores=scores, relevance=tiers, load_penalty=0.0)
    off = solve(Problem(["c0", "c1"], ["d0", "d1"], [1, 1], [1, 1], **base, relevance_mode="off"))
    assert set(pairs_of(off)) == {("c0", "d0"), ("c1", "d1")}
    assert [a.flags for a in off.assignments if a.craftsman == "c0"] == [("no_required_skill",)]
    first = solve(Problem(["c0", "c1"], ["d0", "d1"], [1, 1], [1, 1], **base))
    assert set(pairs_of(first)) == {("c1", "d0"), ("c0", "d1")}
    assert all(a.relevant for a in first.assignments)
    assert first.metrics["relevance_rate"] == 1.0
    # no relevant craftsman left for d1: "first" still fills it, flagged; "only" leaves it open
    lonely = dict(base, relevance=np.array([[0, 0], [2, 0]], dtype=np.int8))
    first = solve(Problem(["c0", "c1"], ["d0", "d1"], [1, 1], [1, 1], **lonely))
    assert set(pairs_of(first)) == {("c1", "d0"), ("c0", "d1")}
    assert [a.flags for a in first.assignments if a.demand == "d1"] == [("no_required_skill",)]
    only = solve(Problem(["c0", "c1"], ["d0", "d1"], [1, 1], [1, 1], **lonely, relevance_mode="only"))
    assert pairs_of(only) == [("c1", "d0")]
    assert only.unfilled == [("d1", 1)]


def test_without_tiers_relevance_changes_nothing():
    problem = random_problem(3, 10, 6, load_penalty=0.05)
    assert problem.relevance is None and problem.relevance_mode == "first"
    result = solve(problem)
    assert all(a.tier is None and a.relevant and a.flags == () for a in result.assignments)
    assert result.objective == pytest.approx(milp_optimum(problem), abs=1e-9)


def test_bad_relevance_is_refused_naming_the_field():
    from matching import ProblemError

    with pytest.raises(ProblemError, match="relevance_mode"):
        Problem(["c"], ["d"], [1], [1], scores=[[0.5]], relevance_mode="sometimes")
    with pytest.raises(ProblemError, match="relevance"):
        Problem(["c"], ["d"], [1], [1], scores=[[0.5]], relevance=np.array([[3]]))
