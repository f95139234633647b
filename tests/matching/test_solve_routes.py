"""The solver's internal routes agree: warm-started HiGHS or plain linprog, column
generation that stops early or adds every pair, on instances where pricing has work."""

import importlib
from pathlib import Path

import numpy as np
import pytest

from matching import solve

from .conftest import check_feasible, milp_optimum, random_problem

solve_module = importlib.import_module("matching.solve")


def contested(seed: int, sparse: bool = False):
    # Many demands, few craftsmen with room: the best craftsmen of a demand are taken by
    # others, so the first restricted LP misses pairs that pricing must bring in.
    return random_problem(
        seed,
        40,
        30,
        max_capacity=2,
        max_slots=3,
        density=0.9,
        locks=3,
        forbidden=15,
        load_penalty=0.15,
        min_score=0.05,
        sparse=sparse,
    )


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("seed", range(3))
def test_pricing_rounds_are_exact(monkeypatch, seed, sparse):
    rounds = []
    original = solve_module._FlowLP.run

    def counting_run(self):
        rounds.append(1)
        return original(self)

    monkeypatch.setattr(solve_module._FlowLP, "run", counting_run)
    problem = contested(seed, sparse)
    result = solve(problem, method="flow")
    check_feasible(problem, result)
    assert result.objective == pytest.approx(milp_optimum(problem), abs=1e-9)
    assert len(rounds) >= 2  # pricing found pairs the first restricted LP lacked


def test_the_solver_uses_the_public_highspy_package():
    import highspy

    assert isinstance(solve_module.new_highs(), highspy.Highs)
    assert "_highspy" not in Path(solve_module.__file__).read_text(encoding="utf-8")


@pytest.mark.parametrize("sparse", [False, True])
def test_adding_every_pair_after_one_round_is_still_exact(monkeypatch, sparse):
    monkeypatch.setattr(solve_module, "ROUNDS_BEFORE_ALL_PAIRS", 1)
    problem = contested(5, sparse)
    result = solve(problem, method="flow")
    check_feasible(problem, result)
    assert result.objective == pytest.approx(milp_optimum(problem), abs=1e-9)


@pytest.mark.parametrize("packed", [True, False])
@pytest.mark.parametrize("seed", range(20))
def test_rank_within_orders_as_a_three_key_lexsort(seed, packed):
    # few distinct keys (ties, -0.0 and 0.0 among them) so the tie-break decides often; the
    # unpacked case forces the lexsort fallback that large ids take
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 400))
    group = rng.integers(0, 6, n)
    key = rng.choice([-0.5, -0.0, 0.0, 0.25, 1e-300, 3.0], n)
    tie = rng.permutation(n)
    if not packed:
        tie = tie + 2**60
    order = np.lexsort((tie, key, group))
    expected = np.empty(n, dtype=np.int64)
    for position, element in enumerate(order):
        expected[element] = int(np.sum(group[order[:position]] == group[element]))
    np.testing.assert_array_equal(solve_module._rank_within(group, key, tie), expected)


@pytest.mark.parametrize("relevance", [None, "first"])
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("seed", range(3))
def test_plain_steepest_edge_reaches_the_optimum_of_highs_own_choice(monkeypatch, seed, sparse, relevance):
    # the solver turns HiGHS's "less infeasible" steepest edge off (fewer iterations on the national round):
    # the same LP, so the same optimum, and still an integral vertex
    problem = random_problem(
        seed, 300, 120, max_capacity=2, density=0.3, locks=3, forbidden=15, load_penalty=0.15, min_score=0.05,
        sparse=sparse, relevance=relevance,
    )
    assert solve_module._HIGHS_OPTIONS["less_infeasible_DSE_check"] is False
    fractional = []
    chosen_pairs = solve_module._FlowLP.chosen_pairs

    def integral_vertex(self):
        fractional.append(float(np.max(np.abs(self.x - np.round(self.x)), initial=0.0)))
        return chosen_pairs(self)

    monkeypatch.setattr(solve_module._FlowLP, "chosen_pairs", integral_vertex)
    plain = solve(problem, method="flow")
    assert fractional and max(fractional) <= 1e-9  # HiGHS's own vertex, not the MILP safety net
    monkeypatch.setitem(solve_module._HIGHS_OPTIONS, "less_infeasible_DSE_check", True)
    highs_choice = solve(problem, method="flow")
    check_feasible(problem, plain)
    assert plain.objective == pytest.approx(highs_choice.objective, rel=1e-9, abs=0)
    if relevance:  # the same first phase too
        assert plain.metrics["relevant_weight"] == pytest.approx(highs_choice.metrics["relevant_weight"], rel=1e-12)
    else:
        assert plain.objective == pytest.approx(milp_optimum(problem), rel=1e-9, abs=0)
