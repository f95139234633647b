"""A re-solve that reuses the scored round (`run_round(reuse=…)`) gives exactly what a cold run gives, and a
round scored without dense component matrices proposes what the scored-with-components route proposes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from matching import RoundConfig, outcome
from matching.features import synthetic_features
from matching.outcome import RoundInputs, describe, run_round
from matching.pipeline import build_problem
from matching.prepared import prepare, scoring_key
from matching.solve import solve

DENSE = RoundConfig(load_penalty=0.02)


def _pools(seed=3, n_craftsmen=60, n_demands=25):
    return synthetic_features(np.random.default_rng(seed), n_craftsmen, n_demands)


def _rows(outcome):
    """Everything a round stores and shows, exactly."""
    result = outcome.result
    return (result.status, result.objective, [dataclasses.astuple(a) for a in result.assignments],
            result.alternates, result.unfilled, result.loads, [p.to_dict() for p in outcome.proposals])


def _changed(inputs, previous):
    """The second solve of a round: a craftsman serving one demand is locked onto it with his capacity cut to 1 while
    he serves an engagement elsewhere (so he shows as overloaded), another assigned pair is excluded, and the last
    assignment is kept close."""
    pairs = [(a.craftsman, a.demand) for a in previous.result.assignments]
    loads, index = previous.result.loads, {c: i for i, c in enumerate(inputs.craftsmen.ids)}
    lock = next((c, d) for c, d in pairs if loads[c] == 1 and inputs.craftsmen.capacity[index[c]] >= 2)
    capacity = inputs.craftsmen.capacity.copy()
    capacity[index[lock[0]]] = 1
    return dataclasses.replace(inputs, craftsmen=dataclasses.replace(inputs.craftsmen, capacity=capacity),
                               locks=(lock,), exclusions=(next(p for p in pairs if p[0] != lock[0]),),
                               previous=tuple(pairs), committed={lock[0]: 1})


@pytest.mark.parametrize("config", [DENSE, RoundConfig(relevance="off"), RoundConfig(dense_budget_cells=0, top_k=8)],
                         ids=["dense relevance first", "dense relevance off", "sparse"])
def test_a_re_solve_reusing_the_scored_round_equals_a_cold_one(config):
    craftsmen, demands, history = _pools()
    first = run_round(RoundInputs(craftsmen, demands, config, history=history))
    second = _changed(RoundInputs(craftsmen, demands, config, history=history), first)
    warm, cold = run_round(second, reuse=first.scored), run_round(second)
    assert warm.scored is first.scored  # reused, not recomputed
    assert cold.scored is not first.scored
    assert _rows(warm) == _rows(cold)
    chosen = {(a.craftsman, a.demand) for a in warm.result.assignments}
    assert set(second.locks) <= chosen and not set(second.exclusions) & chosen
    assert any("overloaded" in p.flags for p in warm.proposals if (p.craftsman, p.demand) in second.locks)


def test_a_scored_round_of_other_pools_is_not_reused():
    craftsmen, demands, history = _pools()
    first = run_round(RoundInputs(craftsmen, demands, DENSE, history=history))
    moved = dataclasses.replace(craftsmen, travel_radius_km=craftsmen.travel_radius_km * 0.5)
    inputs = RoundInputs(moved, demands, DENSE, history=history)
    again = run_round(inputs, reuse=first.scored)
    assert again.scored is not first.scored
    assert _rows(again) == _rows(run_round(inputs))


def test_the_scoring_key_ignores_what_scoring_does_not_read_only():
    craftsmen, demands, history = _pools()
    key = scoring_key(craftsmen, demands, DENSE, history=history)
    more_room = dataclasses.replace(craftsmen, capacity=craftsmen.capacity + 1)
    more_slots = dataclasses.replace(demands, slots=demands.slots + 1, priority=demands.priority * 2)
    assert scoring_key(more_room, more_slots, DENSE, history=history) == key
    paused = craftsmen.active.copy()
    paused[0] = not paused[0]
    conflicts = list(craftsmen.conflict_enterprise_ids)
    conflicts[1] = (*conflicts[1], demands.enterprise_id[0])  # a conflict of interest declared since
    for other in (scoring_key(dataclasses.replace(craftsmen, active=paused), demands, DENSE, history=history),
                  scoring_key(dataclasses.replace(craftsmen, conflict_enterprise_ids=tuple(conflicts)), demands,
                              DENSE, history=history),
                  scoring_key(craftsmen, demands, RoundConfig(load_penalty=0.02, min_score=0.3), history=history),
                  scoring_key(craftsmen, demands, DENSE),
                  scoring_key(craftsmen, demands.take(np.arange(len(demands)) > 0), DENSE, history=history)):
        assert other != key


def test_without_dense_components_the_round_proposes_what_the_components_route_proposes():
    """The old route: prepare with the exclusions, score with every component matrix, solve, describe."""
    craftsmen, demands, history = _pools(seed=5, n_craftsmen=80, n_demands=30)
    chosen = run_round(RoundInputs(craftsmen, demands, DENSE, history=history)).result.assignments
    exclusions = tuple((a.craftsman, a.demand) for a in chosen[:2])  # allowed pairs, so excluding them counts
    inputs = RoundInputs(craftsmen, demands, DENSE, history=history, exclusions=exclusions)
    new = run_round(inputs)
    rnd = prepare(craftsmen, demands, DENSE, history=history, exclusions=exclusions)
    old_problem = build_problem(craftsmen, demands, DENSE, exclusions=exclusions, prepared=rnd)
    old_result = solve(old_problem)
    old = describe(rnd, old_result)
    assert old_problem.components and not new.problem.components
    np.testing.assert_array_equal(new.problem.scores, old_problem.scores)
    np.testing.assert_array_equal(new.problem.allowed, old_problem.allowed)
    np.testing.assert_array_equal(new.problem.relevance, old_problem.relevance)
    assert new.result.objective == old_result.objective
    assert [(p.craftsman, p.demand, p.score, p.assigned, p.alternate_rank, p.flags, p.facts) for p in new.proposals] \
        == [(p.craftsman, p.demand, p.score, p.assigned, p.alternate_rank, p.flags, p.facts) for p in old]
    for mine, theirs in zip(new.proposals, old, strict=True):  # float32 matrices then, float64 per pair now
        assert mine.breakdown.keys() == theirs.breakdown.keys()
        assert mine.breakdown == pytest.approx(theirs.breakdown, abs=1e-6)


def test_the_remembered_pair_facts_start_afresh_beyond_their_bound(monkeypatch):
    craftsmen, demands, history = _pools()
    inputs = RoundInputs(craftsmen, demands, DENSE, history=history)
    first = run_round(inputs)
    described = len(first.proposals)
    assert len(first.scored.facts) == described
    for key in list(first.scored.facts)[:5]:  # five pairs to describe again
        del first.scored.facts[key]
    monkeypatch.setattr(outcome, "FACTS_REMEMBERED", described - 1)
    again = run_round(inputs, reuse=first.scored)
    assert len(first.scored.facts) == 5  # over the bound: only the pairs described now are kept
    assert _rows(again) == _rows(run_round(inputs))


def test_a_round_without_exclusions_solves_on_the_kept_rule_mask_and_exclusions_leave_it_alone():
    """The kept mask of the rules (9M cells at province scale) is not copied for a solve without exclusions; a solve
    with one gets its own copy with the pair off, and the kept mask stays as it was for the next solve."""
    craftsmen, demands, history = _pools()
    first = run_round(RoundInputs(craftsmen, demands, DENSE, history=history))
    kept = first.scored.allowed
    assert first.problem.allowed is kept and not kept.flags.writeable
    before = kept.copy()
    second = _changed(RoundInputs(craftsmen, demands, DENSE, history=history), first)
    warm = run_round(second, reuse=first.scored)
    (c, d), = second.exclusions
    c, d = craftsmen.ids.index(c), demands.ids.index(d)
    assert warm.problem.allowed is not kept and not warm.problem.allowed[c, d] and kept[c, d]
    assert np.array_equal(kept, before)


@pytest.mark.parametrize("config", [DENSE, RoundConfig(relevance="off", load_penalty=0.02)],
                         ids=["relevance first", "relevance off"])
def test_a_round_solves_alike_in_one_chunk_on_one_thread_and_in_many_chunks_on_several(config, monkeypatch):
    """The solver's dense passes (weights, pricing, top k) run over row chunks on a few threads: the click and a
    re-solve of a round propose the same whatever the chunks and the schedule."""
    import matching.threads as threads

    craftsmen, demands, history = _pools(seed=5, n_craftsmen=90, n_demands=40)
    inputs = RoundInputs(craftsmen, demands, config, history=history)

    def click_and_re_solve():
        first = run_round(inputs)
        second = run_round(_changed(inputs, first), reuse=first.scored)
        return _rows(first), _rows(second)

    monkeypatch.setattr(threads, "MAX_THREADS", 1)
    monkeypatch.setattr(threads, "CHUNK_CELLS", 10**9)
    whole = click_and_re_solve()
    monkeypatch.setattr(threads, "MAX_THREADS", 4)
    monkeypatch.setattr(threads, "CHUNK_CELLS", 200)  # a few rows a chunk: dozens of chunks on the threads
    assert click_and_re_solve() == whole
