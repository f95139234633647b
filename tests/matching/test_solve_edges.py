"""Edge cases, infeasibility, determinism, incremental re-solve, explanations, validation."""

import json
from dataclasses import replace

import numpy as np
import pytest

from matching import Problem, ProblemError, solve

from .conftest import check_feasible, milp_optimum, random_problem, to_sparse


def small(**options) -> Problem:
    scores = np.array([[0.9, 0.2, 0.5], [0.8, 0.7, 0.0], [0.1, 0.6, 0.4]])
    base = dict(capacity=[2, 1, 1], slots=[2, 1, 1], scores=scores)
    base.update(options)
    return Problem(["a", "b", "c"], ["x", "y", "z"], **base)


def comparable(result) -> dict:
    data = result.to_dict()
    data.pop("timings")
    return data


@pytest.mark.parametrize("sparse", [False, True])
def test_no_craftsmen_or_no_demands(sparse):
    for craftsmen, demands in (([], ["x"]), (["a"], []), ([], [])):
        shape = (len(craftsmen), len(demands))
        if sparse:
            problem = Problem.from_pairs(craftsmen, demands, [1] * shape[0], [1] * shape[1], [], [], [])
        else:
            problem = Problem(craftsmen, demands, [1] * shape[0], [1] * shape[1], scores=np.zeros(shape))
        result = solve(problem)
        assert result.status == "optimal" and result.objective == 0.0 and result.assignments == []
        assert result.unfilled == [(d, 1) for d in demands]
        assert result.metrics["demand_coverage"] == 0.0


def test_all_pairs_forbidden_leaves_everything_unfilled():
    problem = small(forbidden=[(c, d) for c in "abc" for d in "xyz"])
    result = solve(problem)
    assert result.assignments == [] and result.objective == 0.0
    assert result.unfilled == [("x", 2), ("y", 1), ("z", 1)]
    assert all(alternates == [] for alternates in result.alternates.values())


def test_zero_scores_assign_nobody():
    result = solve(small(scores=np.zeros((3, 3))))
    assert result.status == "optimal" and result.objective == 0.0 and result.assignments == []


def test_locks_overfilling_a_craftsman_and_a_demand_are_infeasible_and_named():
    problem = small(capacity=[1, 1, 1], slots=[1, 1, 1], locked=[("a", "x"), ("a", "y"), ("b", "x")])
    result = solve(problem)
    assert result.status == "infeasible" and result.objective is None and result.assignments == []
    assert "craftsman a has 2 locked demands but capacity 1" in result.message
    assert "demand x has 2 locked craftsmen but 1 slots" in result.message


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"locked": [("a", "y")], "forbidden": [("a", "y")]}, "locked pair (a, y) is forbidden"),
        ({"locked": [("a", "y"), ("a", "y")]}, "locked pair (a, y) is listed twice"),
        (
            {"locked": [("b", "z")], "allowed": np.array([[1, 1, 1], [1, 1, 0], [1, 1, 1]], bool)},
            "locked pair (b, z) is not an allowed candidate",
        ),
    ],
)
def test_impossible_locks_are_infeasible(options, expected):
    problem = small(**options)
    for candidate in (problem, to_sparse(problem)):
        result = solve(candidate)
        assert result.status == "infeasible"
        assert expected in result.message


def test_locks_are_kept_even_below_min_score_and_shift_the_load_penalty():
    problem = small(locked=[("b", "z")], min_score=0.3, load_penalty=0.1)
    result = solve(problem)
    check_feasible(problem, result)
    assert ("b", "z") in result.pairs
    assert [a.locked for a in result.assignments if (a.craftsman, a.demand) == ("b", "z")] == [True]
    assert result.objective == pytest.approx(milp_optimum(problem))


@pytest.mark.parametrize("sparse", [False, True])
def test_same_input_same_output_even_with_ties(sparse):
    problem = random_problem(7, 25, 12, ties=True, locks=2, forbidden=5, load_penalty=0.25, sparse=sparse)
    assert comparable(solve(problem)) == comparable(solve(problem))


def test_renaming_and_reordering_does_not_change_the_objective():
    problem = random_problem(3, 20, 10, ties=True, locks=2, load_penalty=0.1)
    rng = np.random.default_rng(0)
    rows, cols = rng.permutation(20), rng.permutation(10)
    shuffled = Problem(
        [problem.craftsmen[i] for i in rows],
        [problem.demands[j] for j in cols],
        problem.capacity[rows],
        problem.slots[cols],
        priority=problem.priority[cols],
        scores=problem.scores[np.ix_(rows, cols)],
        allowed=problem.allowed[np.ix_(rows, cols)],
        locked=problem.locked,
        load_penalty=problem.load_penalty,
    )
    assert solve(shuffled).objective == pytest.approx(solve(problem).objective, abs=1e-12)


def test_incremental_resolve_keeps_what_it_can_and_reports_changes():
    problem = random_problem(11, 15, 8, load_penalty=0.05)
    first = solve(problem)
    previous = sorted(first.pairs)
    # A small change: one demand's scores drop a little; stickiness keeps the old answer.
    scores = problem.scores.copy()
    scores[:, 0] *= 0.97
    again = replace(problem, scores=scores, stickiness=1.0, previous=previous)
    sticky = solve(again)
    check_feasible(again, sticky)
    assert sticky.pairs == set(previous)
    assert sticky.changes == {"added": [], "removed": []}
    # Without stickiness a big change moves pairs, and the changes say which.
    scores[:, 0] = 0.0
    moved = solve(replace(problem, scores=scores, previous=previous))
    removed = set(previous) - moved.pairs
    assert removed and set(moved.changes["removed"]) == removed
    assert set(moved.changes["added"]) == moved.pairs - set(previous)


def test_stickiness_only_breaks_near_ties():
    # a→x (1.0) beats b→x (0.9); previous says b→x; stickiness 0.05 is not enough, 0.2 is.
    scores = np.array([[1.0], [0.9]])
    base = dict(scores=scores, previous=[("b", "x")])
    assert solve(Problem(["a", "b"], ["x"], [1, 1], [1], stickiness=0.05, **base)).pairs == {("a", "x")}
    result = solve(Problem(["a", "b"], ["x"], [1, 1], [1], stickiness=0.2, **base))
    assert result.pairs == {("b", "x")}
    assert result.objective == pytest.approx(0.9)  # stickiness is not part of the objective


@pytest.mark.parametrize("sparse", [False, True])
def test_alternates_exclude_assigned_and_forbidden(sparse):
    problem = small(forbidden=[("c", "y")], alternates_k=2)
    problem = to_sparse(problem) if sparse else problem
    result = solve(problem)
    for demand, alternates in result.alternates.items():
        names = [c for c, _ in alternates]
        assert len(names) <= 2
        assert not {(c, demand) for c in names} & (result.pairs | set(problem.forbidden))
        assert [s for _, s in alternates] == sorted((s for _, s in alternates), reverse=True)
    assert "c" not in [c for c, _ in result.alternates["y"]]


@pytest.mark.parametrize("sparse", [False, True])
def test_breakdown_carries_the_named_components(sparse):
    problem = random_problem(5, 8, 5, max_capacity=2)
    skill = problem.scores * 0.75
    components = {"skill": skill, "distance": problem.scores - skill}
    problem = replace(problem, components=components)
    problem = to_sparse(problem) if sparse else problem
    result = solve(problem)
    assert result.assignments
    for a in result.assignments:
        assert set(a.breakdown) == {"skill", "distance"}
        assert sum(a.breakdown.values()) == pytest.approx(a.score)
        assert a.weighted == pytest.approx(a.score * problem.priority[problem.demands.index(a.demand)])
    json.dumps(result.to_dict())


def test_metrics():
    problem = small(capacity=[1, 1, 1])
    result = solve(problem)
    check_feasible(problem, result)
    assert result.metrics["slot_fill_rate"] == pytest.approx(len(result.assignments) / 4)
    assert result.metrics["demand_coverage"] == pytest.approx(len({a.demand for a in result.assignments}) / 3)
    assert result.metrics["load_gini"] == 0.0  # everybody carries exactly one
    assert result.metrics["mean_score"] == pytest.approx(np.mean([a.score for a in result.assignments]))
    assert set(result.timings) == {"prepare", "optimise", "explain"}


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="method"):
        solve(small(), method="greedy")
    with pytest.raises(ValueError, match="dense"):
        solve(to_sparse(small()), method="assignment")


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"capacity": [2, -1, 1]}, "capacity[1]"),
        ({"capacity": [2, 1.5, 1]}, "capacity"),
        ({"slots": [0, 1, 1]}, "slots[0]"),
        ({"priority": [1.0, 0.0, 1.0]}, "priority"),
        ({"scores": np.full((3, 3), np.nan)}, "scores"),
        ({"scores": np.full((3, 3), np.inf)}, "scores"),
        ({"scores": -np.ones((3, 3))}, "scores"),
        ({"scores": np.ones((2, 3))}, "scores"),
        ({"allowed": np.ones((3, 3))}, "allowed"),
        ({"locked": [("a", "nope")]}, "locked[0]"),
        ({"forbidden": [("nobody", "x")]}, "forbidden[0]"),
        ({"min_score": -0.1}, "min_score"),
        ({"load_penalty": float("nan")}, "load_penalty"),
        ({"stickiness": -1}, "stickiness"),
        ({"alternates_k": 1.5}, "alternates_k"),
        ({"components": {"skill": np.ones((3, 2))}}, "components[skill]"),
    ],
)
def test_invalid_problems_name_the_field(options, field):
    with pytest.raises(ProblemError) as caught:
        small(**options)
    assert caught.value.field == field
    assert str(caught.value).startswith(field)


def _one_entry(value: float, where: tuple[int, int]) -> np.ndarray:
    scores = np.array([[0.9, 0.2, 0.5], [0.8, 0.7, 0.0], [0.1, 0.6, 0.4]])
    scores[where] = value
    return scores


@pytest.mark.parametrize(
    ("options", "field", "entry"),
    [
        ({"scores": _one_entry(np.nan, (1, 2))}, "scores", "(1, 2)"),
        ({"scores": _one_entry(np.inf, (2, 0))}, "scores", "(2, 0)"),
        ({"scores": _one_entry(-np.inf, (0, 1))}, "scores", "(0, 1)"),
        ({"scores": _one_entry(-1e-300, (2, 2))}, "scores", "(2, 2)"),
        ({"priority": [1.0, 2.0, np.nan]}, "priority", "(2,)"),
        ({"priority": [1.0, np.inf, 3.0]}, "priority", "(1,)"),
        ({"priority": [1.0, 2.0, -0.0]}, "priority", "(2,)"),
    ],
)
def test_one_bad_number_among_good_ones_is_named_by_its_entry(options, field, entry):
    with pytest.raises(ProblemError) as caught:
        small(**options)
    assert caught.value.field == field and f"entry {entry}" in str(caught.value)


def test_zero_scores_and_an_empty_round_are_valid():
    assert small(scores=np.zeros((3, 3))).scores.sum() == 0
    assert Problem([], [], [], [], scores=np.zeros((0, 0))).shape == (0, 0)


def test_invalid_ids_and_pairs_name_the_field():
    with pytest.raises(ProblemError) as caught:
        Problem(["a", "a"], ["x"], [1, 1], [1], scores=np.ones((2, 1)))
    assert caught.value.field == "craftsmen"
    with pytest.raises(ProblemError) as caught:
        Problem.from_pairs(["a"], ["x"], [1], [1], ["a", "a"], ["x", "x"], [0.5, 0.6])
    assert caught.value.field == "pair_score" and "duplicate pair" in str(caught.value)
    with pytest.raises(ProblemError) as caught:
        Problem.from_pairs(["a"], ["x"], [1], [1], ["b"], ["x"], [0.5])
    assert caught.value.field == "pair_craftsman"
    with pytest.raises(ProblemError) as caught:
        Problem(["a"], ["x"], [1], [1])
    assert caught.value.field == "scores"


def test_to_pairs_keeps_only_allowed_pairs_and_refuses_a_sparse_problem():
    problem = small(allowed=np.array([[1, 0, 1], [1, 1, 1], [0, 1, 1]], bool))
    sparse = problem.to_pairs(np.array([0, 0, 2]), np.array([0, 1, 0]))
    assert sparse.is_sparse and list(sparse.pair_craftsman) == [0] and list(sparse.pair_score) == [0.9]
    with pytest.raises(ProblemError):
        sparse.to_pairs()
