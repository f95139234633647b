"""A re-solve starts its column generation with the previous assignment's pairs (`solve.SEED_WITH_PREVIOUS`):
only the path changes, the optimum is the one found without that start."""

from dataclasses import replace
from importlib import import_module
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from matching import solve

from .conftest import random_problem

solve_module = import_module("matching.solve")


@settings(derandomize=True, max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), sparse=st.booleans(), relevance=st.sampled_from([None, "first", "only"]),
       load_penalty=st.sampled_from([0.0, 0.05]))
def test_a_re_solve_started_from_the_previous_assignment_finds_the_same_optimum(seed, sparse, relevance,
                                                                               load_penalty):
    problem = random_problem(seed, 60, 25, density=0.7, min_score=0.1, load_penalty=load_penalty, sparse=sparse,
                             relevance=relevance)
    first = solve(problem, method="flow")
    assigned = sorted(first.pairs)
    # the coordinator locks one proposed pair and excludes another, then solves again near the last answer
    again = replace(problem, previous=assigned, stickiness=0.02, locked=assigned[:1], forbidden=assigned[1:2])
    warm = solve(again, method="flow")
    with mock.patch.object(solve_module, "SEED_WITH_PREVIOUS", False):
        cold = solve(again, method="flow")
    assert warm.status == cold.status == "optimal"
    assert warm.objective == cold.objective
    assert warm.pairs == cold.pairs
    assert warm.alternates == cold.alternates
    assert [a.breakdown for a in warm.assignments] == [a.breakdown for a in cold.assignments]
