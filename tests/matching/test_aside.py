"""Work beside HiGHS (`matching.aside`): steps taken only while the solver waits in a run and a core is idle,
the solver opening it around every run and telling what each LP run chose, and the pair facts described there
(`matching.outcome._likely_facts`) being exactly the ones `describe` computes."""

from __future__ import annotations

import dataclasses
import itertools
import time

import numpy as np
import pytest

from matching import RoundConfig, outcome
from matching.aside import WhileWaiting, working_aside
from matching.explain import pair_facts
from matching.features import synthetic_features
from matching.outcome import RoundInputs, describe, run_round
from matching.pipeline import build_problem, score_round
from matching.prepared import scoring_key
from matching.solve import solve

from .conftest import random_problem


def _counting(taken: list):
    def work(waiting):
        for n in itertools.count():
            taken.append(n)
            yield

    return work


def _until(condition, seconds=5.0):
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.001)
    return condition()


def test_steps_are_taken_only_while_the_caller_waits_inside_the_block():
    taken: list[int] = []
    waiting = WhileWaiting(_counting(taken), when=lambda *_: True)
    try:
        time.sleep(0.03)
        assert taken == []  # before any wait
        with waiting:
            assert _until(lambda: len(taken) >= 20)
        time.sleep(0.01)  # the step in progress as the block ended finishes
        after = len(taken)
        time.sleep(0.03)
        assert len(taken) == after
        with waiting:
            assert _until(lambda: len(taken) >= after + 20)  # and again at the next wait
    finally:
        waiting.finish()
    finished = len(taken)
    time.sleep(0.01)
    assert len(taken) == finished


def test_no_steps_while_no_core_is_idle():
    taken: list[int] = []
    waiting = WhileWaiting(_counting(taken), when=lambda *_: False)
    with waiting:
        time.sleep(0.03)
    waiting.finish()
    assert taken == []


def test_steps_pause_within_a_wait_while_the_machine_is_busy():
    taken: list[int] = []
    busy = []
    waiting = WhileWaiting(_counting(taken), when=lambda steps_running: not (steps_running and busy))
    with waiting:
        assert _until(lambda: len(taken) >= 5)
        busy.append(True)
        time.sleep(0.01)
        stopped = len(taken)
        time.sleep(0.03)
        assert len(taken) == stopped
        busy.clear()  # and go on once it is not
        assert _until(lambda: len(taken) >= stopped + 5)
    waiting.finish()


def test_a_steps_error_is_raised_by_finish_and_an_error_of_the_block_wins():
    def failing(waiting):
        yield
        raise ValueError("step")

    waiting = WhileWaiting(failing, when=lambda *_: True)
    with waiting:
        time.sleep(0.02)
    with pytest.raises(ValueError, match="step"):
        waiting.finish()
    with pytest.raises(KeyError), working_aside(failing, when=lambda *_: True) as aside:
        with aside:
            time.sleep(0.02)
        raise KeyError("block")


def test_news_hands_each_choice_of_the_lp_once_and_none_once_finished():
    seen = []

    def work(waiting):
        chosen = None
        while (chosen := waiting.news(chosen)) is not None:
            seen.append(chosen)
            yield

    first, second = (np.array([1]), np.array([2])), (np.array([3]), np.array([4]))
    with working_aside(work, when=lambda *_: True) as waiting, waiting:
        waiting.lp_chose(*first)
        assert _until(lambda: len(seen) == 1)
        time.sleep(0.01)
        waiting.lp_chose(*second)
        assert _until(lambda: len(seen) == 2)
        time.sleep(0.01)
    assert [tuple(map(int, np.concatenate(pair))) for pair in seen] == [(1, 2), (3, 4)]


class _Recorder:
    """What the solver does with its aside: runs inside it, choices told outside a run."""

    def __init__(self):
        self.inside, self.runs, self.told, self.told_inside = False, 0, [], 0

    def __enter__(self):
        assert not self.inside
        self.inside, self.runs = True, self.runs + 1
        return self

    def __exit__(self, *exc):
        self.inside = False

    def lp_chose(self, pair_c, pair_d):
        self.told_inside += self.inside
        self.told.append((pair_c.copy(), pair_d.copy()))


@pytest.mark.parametrize("relevance", [None, "first"])
def test_the_solver_opens_the_aside_around_every_highs_run_and_tells_each_lp_runs_choice(relevance):
    problem = random_problem(5, 40, 30, load_penalty=0.05, relevance=relevance, locks=2)
    recorder = _Recorder()
    result = solve(problem, method="flow", aside=recorder)
    plain = solve(problem, method="flow")
    assert [dataclasses.astuple(a) for a in result.assignments] == [dataclasses.astuple(a) for a in plain.assignments]
    assert recorder.runs >= 1 and recorder.told and not recorder.inside and recorder.told_inside == 0
    last_c, last_d = recorder.told[-1]
    chosen = {(problem.craftsmen[c], problem.demands[d]) for c, d in zip(last_c.tolist(), last_d.tolist(), strict=True)}
    assert chosen == {(a.craftsman, a.demand) for a in result.assignments if not a.locked}


class _Told:
    """A `WhileWaiting` stand-in whose LP chose ``pairs`` once."""

    def __init__(self, pairs):
        self.chosen = pairs

    def news(self, seen):
        return None if seen is self.chosen else self.chosen


def test_the_likely_pairs_facts_are_the_facts_describe_computes_and_cover_the_alternates():
    craftsmen, demands, history = synthetic_features(np.random.default_rng(11), 120, 50)
    config = RoundConfig(load_penalty=0.02)
    key = scoring_key(craftsmen, demands, config, history=history)
    scored = score_round(craftsmen, demands, config, key=key, history=history)
    problem = build_problem(craftsmen, demands, config, prepared=scored.prepared, scored=scored)
    result = solve(problem)
    assigned = (np.array([problem.craftsmen.index(a.craftsman) for a in result.assignments]),
                np.array([problem.demands.index(a.demand) for a in result.assignments]))
    for _ in outcome._likely_facts(_Told(assigned), scored.prepared, scored, problem):
        pass
    memo, n_d = scored.facts, len(demands)
    pc, pd = np.divmod(np.array(list(memo)), n_d)
    assert list(memo.values()) == pair_facts(scored.prepared, pc, pd)  # each pair's facts, in a batch of all
    rows = describe(scored.prepared, result)
    shown = {problem.craftsmen.index(p.craftsman) * n_d + problem.demands.index(p.demand) for p in rows}
    assert shown <= set(memo)  # every pair shown was guessed: the alternates and the LP's choice
    assert len(memo) > len(shown)  # and some more (guesses)
    assert [p.to_dict() for p in describe(scored.prepared, result, facts_memo=dict(memo))] \
        == [p.to_dict() for p in rows]


def test_a_round_is_the_same_whether_facts_are_described_beside_highs_or_not():
    craftsmen, demands, history = synthetic_features(np.random.default_rng(5), 150, 60)
    inputs = RoundInputs(craftsmen, demands, RoundConfig(load_penalty=0.02), history=history)
    alone = run_round(inputs)
    beside = run_round(inputs, beside_solver=lambda *_: True)
    assert beside.result.objective == alone.result.objective
    assert [p.to_dict() for p in beside.proposals] == [p.to_dict() for p in alone.proposals]
