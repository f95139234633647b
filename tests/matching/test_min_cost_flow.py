"""The min-cost-flow route: exact for real-valued weights, and the flow LP where it cannot scale the costs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import matching.min_cost_flow as min_cost_flow
from matching import Problem, solve
from matching.min_cost_flow import FlowRefused, max_profit_flow

from .conftest import check_feasible, milp_optimum, random_problem


def test_sparse_rounds_take_it_and_dense_ones_keep_their_routes():
    sparse = random_problem(3, 30, 15, load_penalty=0.05, sparse=True)
    dense = random_problem(3, 30, 15, load_penalty=0.05)
    assert solve(sparse).solver == "mincostflow"
    assert solve(dense).solver in ("assignment", "assignment+flow")
    assert solve(sparse, method="flow").solver == "flow"
    assert solve(dense, method="mincostflow").objective == pytest.approx(solve(dense).objective, rel=1e-12)


@pytest.mark.parametrize("gap", [1e-9, 1e-12, 1e-14])
def test_weights_closer_than_any_tolerance_are_still_told_apart(gap):
    """Two craftsmen for one place, one better by a relative `gap`: the better one, either way round."""
    for better in (0, 1):
        score = np.full(2, 0.7)
        score[better] *= 1 + gap
        problem = Problem(["a", "b"], ["d"], capacity=[1, 1], slots=[1], pair_craftsman=[0, 1],
                          pair_demand=[0, 0], pair_score=score)
        result = solve(problem)
        assert result.solver == "mincostflow"
        assert [a.craftsman for a in result.assignments] == [["a", "b"][better]]


def test_the_certified_gap_is_far_below_the_objectives_own_rounding():
    rng = np.random.default_rng(7)
    n_c, n_d, k = 3_000, 1_200, 20
    pair_c, pair_d = rng.integers(0, n_c, n_d * k), np.repeat(np.arange(n_d), k)
    pair_c, pair_d = np.unique(np.c_[pair_c, pair_d], axis=0).T
    weight = rng.random(pair_c.size)
    optimum = max_profit_flow(
        pair_c, pair_d, weight, room=rng.integers(1, 4, n_c), open_slots=rng.integers(1, 4, n_d),
        locked_load=np.zeros(n_c, dtype=np.int64), load_penalty=0.05,
    )
    objective = weight[optimum.chosen].sum()
    assert optimum.cost_bits >= 40
    assert optimum.gap_bound < 1e-12 * objective


def test_a_network_it_cannot_scale_goes_to_the_flow_lp(monkeypatch):
    problem = random_problem(11, 40, 20, locks=3, forbidden=10, load_penalty=0.3, min_score=0.1, sparse=True)
    monkeypatch.setattr(min_cost_flow, "LARGEST_COST_BITS", 30)  # 2^-29 per unit: coarser than the LP's 1e-9
    with pytest.raises(FlowRefused):
        max_profit_flow(np.array([0]), np.array([0]), np.array([1.0]), room=np.ones(1, int),
                        open_slots=np.ones(1, int), locked_load=np.zeros(1, int), load_penalty=0.0)
    result = solve(problem)
    assert result.solver == "flow"
    check_feasible(problem, result)
    assert result.objective == pytest.approx(milp_optimum(problem), rel=1e-9)


@settings(derandomize=True, max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    load_penalty=st.sampled_from([0.0, 0.05, 0.4]),
    locks=st.integers(0, 4),
    scale=st.sampled_from([1e-6, 1.0, 1e6]),
)
def test_sparse_rounds_match_the_milp_at_any_scale(seed, load_penalty, locks, scale):
    """Locks (copies priced from the locked load), forbidden pairs, a minimum score, ties, any scale."""
    shape = dict(max_capacity=3, max_slots=3, density=0.5, locks=locks, forbidden=8, min_score=0.1,
                 sparse=True, ties=seed % 2 == 0)
    reference = milp_optimum(random_problem(seed, 24, 12, load_penalty=load_penalty, **shape))
    problem = random_problem(seed, 24, 12, load_penalty=load_penalty * scale, priority_scale=scale, **shape)
    result = solve(problem)
    assert result.solver == "mincostflow"
    assert result.objective / scale == pytest.approx(reference, rel=1e-9, abs=1e-12)


def test_a_refused_cost_range_is_retried_with_fewer_bits(monkeypatch):
    monkeypatch.setattr(min_cost_flow, "LARGEST_COST_BITS", 64)
    optimum = max_profit_flow(np.array([0, 1]), np.array([0, 0]), np.array([1.0, 1.0 + 1e-15]), room=np.ones(2, int),
                              open_slots=np.ones(1, int), locked_load=np.zeros(2, int), load_penalty=0.0)
    assert optimum.cost_bits < 64 - 2 and optimum.chosen.tolist() == [False, True]


def _team_face_problem(order: list[str]) -> Problem:
    """Demand d must be filled (relevance first's face): c0 (5 locks) or c1 (8 locks), whose next copies cost
    50 and 80, far more than any weight."""
    pair_c, pair_d, score, locked = ["c0", "c1"], [0, 0], [1.0, 1.0], []
    for j in range(13):
        craftsman = "c0" if j < 5 else "c1"
        pair_c.append(craftsman), pair_d.append(1 + j), score.append(0.5), locked.append((craftsman, f"e{j}"))
    capacity = {"c0": 6, "c1": 9}
    return Problem(order, ["d"] + [f"e{j}" for j in range(13)], capacity=[capacity[c] for c in order],
                   slots=[1] * 14, pair_craftsman=[order.index(c) for c in pair_c], pair_demand=pair_d,
                   pair_score=score, relevance=np.ones(len(pair_c), np.int8), relevance_mode="first",
                   locked=locked, load_penalty=10.0)


@pytest.mark.parametrize("method", ["flow", "mincostflow"])
@pytest.mark.parametrize("order", [["c0", "c1"], ["c1", "c0"]])
def test_an_exact_team_takes_the_cheaper_of_two_copies_dearer_than_every_weight(method, order):
    result = solve(_team_face_problem(order), method=method)
    assert result.solver == f"{method}+relevance"
    assert [a.craftsman for a in result.assignments if a.demand == "d"] == ["c0"]
    assert result.objective == pytest.approx(-422.5)


def test_an_exact_team_may_need_a_copy_dearer_than_every_weight():
    """c0's third copy costs 1.5, more than any weight; filling d0 and d1 (relevance first) needs a chain through it."""
    pair_c, pair_d, score = np.array([0, 1, 1, 2, 0, 0]), np.array([0, 0, 1, 1, 2, 3]), [1.0, 0.01, 1.0, 0.01, 0.5, 0.5]
    problem = Problem(["c0", "c1", "c2"], ["d0", "d1", "e0", "e1"], capacity=[3, 1, 1], slots=[1] * 4,
                      pair_craftsman=pair_c, pair_demand=pair_d, pair_score=score,
                      relevance=np.ones(6, np.int8), relevance_mode="first",
                      locked=[("c0", "e0"), ("c0", "e1")], load_penalty=0.75)
    for method in ("flow", "mincostflow"):
        result = solve(problem, method=method)
        assert result.solver == f"{method}+relevance"
        assert result.objective == pytest.approx(0.75)


@settings(derandomize=True, max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), load_penalty=st.sampled_from([0.3, 0.75, 1.5]), locks=st.integers(2, 9),
       relevance=st.sampled_from(["first", "only"]))
def test_relevance_faces_with_dear_copies_match_the_lp(seed, load_penalty, locks, relevance):
    problem = random_problem(seed, 10, 10, max_capacity=4, max_slots=2, density=0.5, locks=locks,
                             load_penalty=load_penalty, relevance=relevance, sparse=True)
    flow, lp = solve(problem, method="mincostflow"), solve(problem, method="flow")
    check_feasible(problem, flow)
    assert flow.solver in ("mincostflow+relevance", "mincostflow")  # not the LP by a refusal
    assert flow.objective == pytest.approx(lp.objective, rel=1e-9, abs=1e-12)
