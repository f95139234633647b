"""Relevance first's first phase by max-flows (`matching.relevant_fill`): its optimum, and the optimal
face it derives from the level cuts, checked by enumerating every feasible assignment; the pricing
loop (a growing set of pairs) checked against handing out every pair at once; and `solve` on
contested rounds with many distinct priorities against the two MILPs."""

import dataclasses
import itertools
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import Bounds, LinearConstraint, milp

from matching import solve
from matching.relevant_fill import max_relevant_fill

from .conftest import check_feasible, random_problem, relevance_optimum, relevant_weight

SEEDS = st.integers(0, 2**32 - 1)


def random_graph(seed, n_c, n_d, *, density, levels):
    rng = np.random.default_rng(seed)
    room = rng.integers(0, 3, n_c)
    open_slots = rng.integers(0, 3, n_d)
    priority = rng.choice(levels, n_d)
    allowed = rng.random((n_c, n_d)) < density
    relevant = allowed & (rng.random((n_c, n_d)) < 0.6)
    return room, open_slots, priority, allowed, relevant


def pricer(relevant, batch, seed, start=None):
    """Hands out, per demand asked for, at most ``batch`` relevant pairs to craftsmen not skipped
    (in a random order), each pair once — the contract of the solver's pricers; ``start`` (c, d): pairs
    counted as handed out already."""
    rng = np.random.default_rng(seed)
    handed = np.zeros(relevant.shape, dtype=bool)
    if start is not None:
        handed[start] = True
    calls = []

    def price(demands, skip_c):
        calls.append(1)
        found_c, found_d = [], []
        for d in np.flatnonzero(demands):
            c = rng.permutation(np.flatnonzero(relevant[:, d] & ~handed[:, d] & ~skip_c))[:batch]
            handed[c, d] = True
            found_c.extend(c.tolist())
            found_d.extend([d] * c.size)
        return np.array(found_c, dtype=np.int64), np.array(found_d, dtype=np.int64)

    price.calls = calls
    return price


def feasible_subsets(pairs, room, open_slots):
    for size in range(len(pairs) + 1):
        for subset in itertools.combinations(pairs, size):
            load, team = Counter(c for c, _ in subset), Counter(d for _, d in subset)
            if all(n <= room[c] for c, n in load.items()) and all(n <= open_slots[d] for d, n in team.items()):
                yield subset


@settings(derandomize=True, max_examples=60, deadline=None)
@given(seed=SEEDS, shape=st.sampled_from([(2, 3), (3, 3), (3, 4), (4, 3)]), batch=st.sampled_from([1, 99]))
def test_the_face_is_exactly_the_set_of_first_phase_optima(seed, shape, batch):
    """Every feasible assignment, irrelevant pairs included: it maximises the priority-weighted relevant
    slots if and only if it keeps off the dropped pairs, holds the fixed ones and fills the tight rows."""
    room, open_slots, priority, allowed, relevant = random_graph(seed, *shape, density=0.8, levels=[1.0, 2.0, 3.5])
    phase = max_relevant_fill(room, open_slots, priority, pricer(relevant, batch, seed))
    pairs = [tuple(p) for p in np.argwhere(allowed).tolist()]
    fixed = set(zip(phase.fixed_c.tolist(), phase.fixed_d.tolist(), strict=True))

    def value(subset):
        return sum(priority[d] for c, d in subset if relevant[c, d])

    def on_face(subset):
        c = np.array([p[0] for p in subset], dtype=np.int64)
        d = np.array([p[1] for p in subset], dtype=np.int64)
        if phase.dropped(c, d, relevant[c, d]).any() or not fixed <= set(subset):
            return False
        load = np.bincount(c, minlength=room.size)
        team = np.bincount(d, minlength=open_slots.size)
        return bool(np.all(load[phase.tight_craftsmen] == room[phase.tight_craftsmen])
                    and np.all(team[phase.tight_demands] == open_slots[phase.tight_demands]))

    subsets = list(feasible_subsets(pairs, room, open_slots))
    best = max(value(s) for s in subsets)
    assert phase.value == pytest.approx(best, abs=1e-12)
    assert value(list(zip(phase.pair_c.tolist(), phase.pair_d.tolist(), strict=True))) == pytest.approx(best)
    optimal = {s for s in subsets if value(s) == pytest.approx(best, abs=1e-12)}
    assert {s for s in subsets if on_face(s)} == optimal


def first_phase_milp(room, open_slots, priority, relevant):
    c, d = np.nonzero(relevant)
    if c.size == 0:
        return 0.0
    rows = np.zeros((room.size + open_slots.size, c.size))
    rows[c, np.arange(c.size)] = 1
    rows[room.size + d, np.arange(c.size)] = 1
    solution = milp(
        -priority[d], constraints=LinearConstraint(rows, -np.inf, np.r_[room, open_slots]),
        integrality=np.ones(c.size), bounds=Bounds(0, 1),
    )
    return -solution.fun


@settings(derandomize=True, max_examples=40, deadline=None)
@given(seed=SEEDS, batch=st.sampled_from([1, 2]))
def test_pricing_a_few_pairs_at_a_time_reaches_the_optimum(seed, batch):
    """Contested rounds (little room, many distinct priorities): the max-flows see a few pairs per
    demand at a time, and the cuts certify when no more are needed."""
    rng = np.random.default_rng(seed)
    room, open_slots, _, allowed, relevant = random_graph(seed, 25, 15, density=0.5, levels=[1.0])
    priority = rng.random(15) + 0.01  # 15 priority levels
    price = pricer(relevant, batch, seed)
    phase = max_relevant_fill(room, open_slots, priority, price)
    assert phase.value == pytest.approx(first_phase_milp(room, open_slots, priority, relevant), rel=1e-12)
    everything = max_relevant_fill(room, open_slots, priority, pricer(relevant, 10**6, seed))
    assert phase.value == pytest.approx(everything.value, rel=1e-12)
    assert phase.edge_c.size <= everything.edge_c.size
    assert len(price.calls) > 15  # pricing rounds happened beyond one per level


@settings(derandomize=True, max_examples=40, deadline=None)
@given(seed=SEEDS, batch=st.sampled_from([1, 2]), share=st.sampled_from([0.1, 0.5, 1.0]))
def test_max_flows_started_from_some_pairs_find_the_same_cuts_and_face(seed, batch, share):
    """A re-solve starts phase 1 from the pairs the last one saw (`solve(warm=…)`): the optimum, every level's cut,
    the tight rows and the fixed pairs are those of a start from nothing; only the pairs seen and the phase-1
    assignment (a seed of phase 2) may differ."""
    rng = np.random.default_rng(seed)
    room, open_slots, _, _, relevant = random_graph(seed, 25, 15, density=0.5, levels=[1.0])
    priority = rng.choice([1.0, 2.0, 3.0], 15)
    start_c, start_d = np.nonzero(relevant & (rng.random(relevant.shape) < share))
    cold = max_relevant_fill(room, open_slots, priority, pricer(relevant, batch, seed))
    warm = max_relevant_fill(room, open_slots, priority, pricer(relevant, batch, seed, start=(start_c, start_d)),
                             start=(start_c, start_d))
    assert warm.value == cold.value and warm.flows == cold.flows and len(warm.cuts) == len(cold.cuts)
    for ours, theirs in zip(warm.cuts, cold.cuts, strict=True):
        assert np.array_equal(ours.craftsmen, theirs.craftsmen) and np.array_equal(ours.demands, theirs.demands)
    assert np.array_equal(warm.tight_craftsmen, cold.tight_craftsmen)
    assert np.array_equal(warm.tight_demands, cold.tight_demands)
    fixed = [set(zip(phase.fixed_c.tolist(), phase.fixed_d.tolist(), strict=True)) for phase in (warm, cold)]
    assert fixed[0] == fixed[1]


def test_a_full_craftsman_reached_by_a_cut_serves_only_the_demands_that_need_him():
    # c0 is the only relevant craftsman of d0 and d1 (priority 2), and relevant to d2 (priority 1)
    relevant = np.array([[True, True, True], [False, False, True]])
    phase = max_relevant_fill(np.array([1, 1]), np.array([1, 1, 1]), np.array([2.0, 2.0, 1.0]), pricer(relevant, 9, 0))
    assert phase.value == 3.0
    assert phase.tight_craftsmen.tolist() == [True, False]
    assert phase.dropped(np.array([0, 0, 1]), np.array([0, 2, 2]), np.array([True, True, True])).tolist() == [
        False, True, False]
    assert sorted(zip(phase.pair_c.tolist(), phase.pair_d.tolist(), strict=True))[1] == (1, 2)


def test_a_demand_left_short_keeps_every_relevant_craftsman_it_has():
    # d0 (priority 2) wants 2 but only c0 is relevant to it; c0 is relevant to d1 (priority 1) too
    relevant = np.array([[True, True], [False, True]])
    phase = max_relevant_fill(np.array([1, 1]), np.array([2, 1]), np.array([2.0, 1.0]), pricer(relevant, 9, 0))
    assert phase.value == 3.0
    assert set(zip(phase.fixed_c.tolist(), phase.fixed_d.tolist(), strict=True)) == {(0, 0)}
    assert phase.tight_demands.tolist() == [False, True]
    assert sorted(zip(phase.pair_c.tolist(), phase.pair_d.tolist(), strict=True)) == [(0, 0), (1, 1)]


@settings(derandomize=True, max_examples=30, deadline=None)
@given(
    seed=SEEDS,
    load_penalty=st.sampled_from([0.0, 0.1]),
    sparse=st.booleans(),
    mode=st.sampled_from(["first", "only"]),
    locks=st.integers(0, 3),
)
def test_contested_rounds_with_many_priorities_match_two_milps(seed, load_penalty, sparse, mode, locks):
    problem = random_problem(
        seed, 24, 16, max_capacity=2, density=0.6, locks=locks, forbidden=4, min_score=0.1,
        load_penalty=load_penalty, sparse=sparse, relevance=mode,
    )
    priority = np.random.default_rng(seed).random(16) + 0.05  # every demand its own level
    problem = dataclasses.replace(problem, priority=priority)
    result = solve(problem)
    check_feasible(problem, result)
    best_relevant, best_objective = relevance_optimum(problem)
    pairs = [(a.craftsman, a.demand) for a in result.assignments]
    assert relevant_weight(problem, pairs) == pytest.approx(best_relevant, abs=1e-9)
    assert result.objective == pytest.approx(best_objective, abs=1e-7)
