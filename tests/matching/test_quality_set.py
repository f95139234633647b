"""The match-quality benchmark's evaluation set, judged by the benchmark's own measures.

The relevance-first round must never fill a slot with an irrelevant craftsman while a relevant
one was free, and must cover every role place the pool allows; the weighted sum of earlier
rounds (relevance off, no roles) did neither on this set, which shows the measures can fail.
"""

from __future__ import annotations

import pytest

from tests.matching.test_solve_benchmarks import load


@pytest.fixture(scope="module")
def bench():
    return load("bench_quality")


@pytest.fixture(scope="module")
def evaluation(bench):
    return bench.evaluation_set()


def test_the_set_is_large_enough_and_labelled(evaluation):
    assert len(evaluation.craftsmen) >= 300 and len(evaluation.demands) >= 100
    sources = {label.source for label in evaluation.labels.values()}
    assert sources == {"demo", "team", "remote"}
    assert "remote" in evaluation.demands.mode and len(evaluation.roles) >= 20
    assert all(label.required for label in evaluation.labels.values() if label.source == "team")


def test_relevance_first_uses_a_relevant_craftsman_wherever_one_is_free(bench, evaluation):
    first = bench.quality(evaluation, "first", True, repeat=1)
    assert first["relevance_rate"] == 1.0 and first["irrelevant_with_relevant_free"] == 0
    assert first["role_places_covered"] == first["role_places_possible"] > 0


def test_the_weighted_sum_of_earlier_rounds_fails_both_measures(bench, evaluation):
    before = bench.quality(evaluation, "off", False, repeat=1)
    assert before["irrelevant_with_relevant_free"] > 0
    assert before["role_places_covered"] < before["role_places_possible"]


def test_the_benchmark_prints_its_ratios_at_toy_size(bench, capsys):
    assert bench.main(["--craftsmen", "60", "--demands", "25", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    assert "relevance rate            1.0000 / 1.0" in out and "solve time first / off" in out
