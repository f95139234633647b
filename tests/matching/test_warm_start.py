"""A re-solve starts its column generation with the previous assignment's pairs (`solve.SEED_WITH_PREVIOUS`), and
from the last solve's flow LP when the caller keeps it (`solve(warm=…)`): only the path
changes, the optimum is the one found without that start."""

from dataclasses import replace
from importlib import import_module
from unittest import mock

import numpy as np
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


def _same_outcome(warm, cold):
    assert warm.status == cold.status == "optimal"
    assert warm.objective == cold.objective
    assert warm.pairs == cold.pairs
    assert warm.alternates == cold.alternates
    assert [a.breakdown for a in warm.assignments] == [a.breakdown for a in cold.assignments]


@settings(derandomize=True, max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), sparse=st.booleans(), relevance=st.sampled_from([None, "first", "only"]),
       load_penalty=st.sampled_from([0.0, 0.05]), ties=st.booleans())
def test_re_solves_started_from_the_last_flow_lp_find_the_cold_optimum(seed, sparse, relevance, load_penalty, ties):
    """`solve(warm=…)`: each solve of the round starts from the last one's LP columns and basis (a lock, an
    exclusion, then a capacity cut, as the coordinator makes them), and finds what a solve from nothing finds,
    tied optima included (scores in quarters): there it starts again from nothing."""
    problem = random_problem(seed, 60, 25, density=0.7, min_score=0.1, load_penalty=load_penalty, sparse=sparse,
                             relevance=relevance, ties=ties)
    kept = solve_module.WarmStart()
    first = solve(problem, method="flow", warm=kept)
    _same_outcome(first, solve(problem, method="flow"))
    assert kept.last is not None or not first.pairs
    assigned = sorted(first.pairs)
    again = replace(problem, previous=assigned, stickiness=0.02, locked=assigned[:1], forbidden=assigned[1:2])
    busiest = int(np.argmax(again.capacity))
    cut = replace(again, capacity=np.where(np.arange(again.capacity.size) == busiest, 1, again.capacity))
    with mock.patch.object(solve_module._FlowLP, "start_from", autospec=True,
                           side_effect=solve_module._FlowLP.start_from) as started:
        for changed in (again, cut):
            _same_outcome(solve(changed, method="flow", warm=kept), solve(changed, method="flow"))
    assert started.call_count >= (2 if len(assigned) > 2 else 0)


def test_the_last_lps_statuses_are_read_from_the_kept_basis_only_when_a_solve_starts_from_them():
    """A first solve keeps HiGHS's basis as it is (~32k enums on a province round, ~20 ms to read); the re-solve
    that starts from it reads each column's and row's status the LP ended with."""
    problem = random_problem(7, 60, 25, density=0.7, min_score=0.1, load_penalty=0.05)
    kept, columns = solve_module.WarmStart(), []
    real_final = solve_module._FlowLP.final

    def final(flow):  # each column's key and status in the LP's own order, as HiGHS ended
        columns.append((*flow._keys(), [int(s) for s in flow.highs.getBasis().col_status],
                        [int(s) for s in flow.highs.getBasis().row_status]))
        return real_final(flow)

    with mock.patch.object(solve_module._FlowLP, "final", final):
        first = solve(problem, method="flow", warm=kept)
    last = kept.last
    assert "_statuses" not in vars(last)  # not read yet
    copy_keys, pair_keys, column, row = columns[-1]
    again = replace(problem, locked=sorted(first.pairs)[:1])
    with mock.patch.object(solve_module._FlowLP, "start_from", autospec=True,
                           side_effect=solve_module._FlowLP.start_from) as started:
        _same_outcome(solve(again, method="flow", warm=kept), solve(again, method="flow"))
    assert started.call_args.args[1] is last and "_statuses" in vars(last)
    assert dict(zip(last.pair_keys.tolist(), last.pair_status.tolist(), strict=True)) \
        == dict(zip(pair_keys.tolist(), column[copy_keys.size:], strict=True))
    assert dict(zip(last.copy_keys.tolist(), last.copy_status.tolist(), strict=True)) \
        == dict(zip(copy_keys.tolist(), column[:copy_keys.size], strict=True))
    assert last.pair_keys.tolist() == sorted(pair_keys.tolist()) and last.row_status.tolist() == row


@settings(derandomize=True, max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), relevance=st.sampled_from(["first", "only"]), ties=st.booleans(),
       refused=st.booleans())
def test_sparse_re_solves_start_their_max_flows_from_the_last_ones(seed, relevance, ties, refused):
    """Sparse rounds' second phase is the min-cost flow, which keeps no LP: a re-solve's max-flows still start from
    the last solve's pairs, and the result is a solve from nothing's, also when the flow is refused and the LP
    takes over (it then starts again from nothing: the max-flows' pairs seed it)."""
    problem = random_problem(seed, 60, 25, density=0.7, min_score=0.1, load_penalty=0.05, sparse=True,
                             relevance=relevance, ties=ties)
    kept = solve_module.WarmStart()
    first = solve(problem, warm=kept)
    assert kept.last is None and kept.edges is not None
    assigned = sorted(first.pairs)
    again = replace(problem, previous=assigned, stickiness=0.02, locked=assigned[:1], forbidden=assigned[1:2])
    fill = import_module("matching.relevant_fill").max_relevant_fill
    with mock.patch("matching.relevant_fill.max_relevant_fill", side_effect=fill) as max_flows, \
            mock.patch.object(import_module("matching.min_cost_flow"), "LARGEST_COST_BITS", 20 if refused else 59):
        warm = solve(again, warm=kept)
        starts = [call.kwargs["start"][0].size for call in max_flows.call_args_list]
        _same_outcome(warm, solve(again))
    assert warm.solver.startswith("flow" if refused else "mincostflow")
    assert starts[0] > 0 or not first.pairs  # started from the last solve's pairs
    assert starts[1:] == ([0] if refused else [])  # refused: again from nothing
