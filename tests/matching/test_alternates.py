"""Each demand's alternates, against an independent reference: the `alternates_k` best craftsmen still
open to it (allowed, not forbidden, 0 < score, score ≥ min_score, not assigned to it), best first,
ties in input order."""

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from matching import solve

from .conftest import random_problem


def reference_alternates(problem, result) -> dict:
    chosen, forbidden = result.pairs, set(problem.forbidden)
    dense = problem if not problem.is_sparse else None
    if dense is None:
        score_of = {(problem.craftsmen[c], problem.demands[d]): s for c, d, s in zip(
            problem.pair_craftsman.tolist(), problem.pair_demand.tolist(), problem.pair_score.tolist(), strict=True)}
    else:
        score_of = {(c, d): float(problem.scores[i, j]) for i, c in enumerate(problem.craftsmen)
                    for j, d in enumerate(problem.demands) if problem.allowed[i, j]}
    expected = {}
    for demand in problem.demands:
        open_to = [(c, score_of[(c, demand)]) for c in problem.craftsmen if (c, demand) in score_of
                   and (c, demand) not in chosen and (c, demand) not in forbidden
                   and score_of[(c, demand)] > 0 and score_of[(c, demand)] >= problem.min_score]
        open_to.sort(key=lambda item: -item[1])  # stable: ties stay in input order
        expected[demand] = open_to[: problem.alternates_k]
    return expected


@settings(derandomize=True, max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), sparse=st.booleans(), ties=st.booleans(), k=st.sampled_from([1, 3, 5]))
def test_alternates_are_the_best_open_craftsmen_in_order(seed, sparse, ties, k):
    problem = random_problem(seed, 9, 5, forbidden=3, min_score=0.1, sparse=sparse, ties=ties, density=0.8)
    problem = replace(problem, alternates_k=k)
    result = solve(problem)
    assert result.alternates == reference_alternates(problem, result)
