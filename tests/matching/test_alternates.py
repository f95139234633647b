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


@settings(derandomize=True, max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), ties=st.booleans(), k=st.sampled_from([1, 3, 20]),
       mode=st.sampled_from(["off", "first", "only"]))
def test_alternates_after_a_sticky_previous_assignment(seed, ties, k, mode):
    """A re-solve (stickiness on the previous pairs) ranks its alternates by score alone: a previous pair the
    stickiness lifts is an alternate only when it is open (relevant under relevance "only")."""
    import numpy as np

    problem = random_problem(seed, 9, 5, forbidden=3, min_score=0.1, ties=ties, density=0.8,
                             relevance=None if mode == "off" else mode)
    rng = np.random.default_rng(seed)
    previous = [(c, d) for c in problem.craftsmen for d in problem.demands if rng.random() < 0.3]
    problem = replace(problem, alternates_k=k, previous=previous, stickiness=0.05)
    result = solve(problem)
    expected = reference_alternates(problem, result)
    if mode == "only":
        relevant = {(c, d) for i, c in enumerate(problem.craftsmen) for j, d in enumerate(problem.demands)
                    if problem.relevance[i, j] >= 1}
        unfiltered = reference_alternates(replace(problem, alternates_k=len(problem.craftsmen)), result)
        expected = {d: [(c, s) for c, s in pairs if (c, d) in relevant][:k] for d, pairs in unfiltered.items()}
    assert result.alternates == expected
