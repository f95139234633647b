"""The run numbering shared by the copies, windows and group members of `matching`."""

import doctest

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import matching.groupwise
from matching.groupwise import kth_best, number_runs, top_k_per_group


@given(st.lists(st.integers(0, 4), max_size=12))
def test_each_item_names_its_owner_and_its_place_in_the_owners_run(counts):
    owner, within = number_runs(np.array(counts, dtype=np.int64))
    expected = [(i, k) for i, count in enumerate(counts) for k in range(count)]
    assert list(zip(owner.tolist(), within.tolist(), strict=True)) == expected
    assert owner.dtype == within.dtype == np.int64


def test_the_example_in_the_docstring_holds():
    results = doctest.testmod(matching.groupwise)
    assert results.attempted > 0 and results.failed == 0


@given(st.lists(st.tuples(st.integers(0, 5), st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0])), max_size=40),
       st.integers(0, 4))
def test_the_k_best_of_each_group_come_in_order_with_ties_to_the_smaller_tiebreak(items, k):
    group = np.array([g for g, _ in items], dtype=np.int64)
    value = np.array([v for _, v in items])
    tiebreak = np.arange(group.size)[::-1].copy()  # ties go to the later items
    ordered = sorted(range(group.size), key=lambda i: (group[i], -value[i], tiebreak[i]))
    expected = [i for i in ordered if sum(group[j] == group[i] for j in ordered[: ordered.index(i)]) < k]
    assert top_k_per_group(group, value, tiebreak, k).tolist() == expected
    if k == 0:  # no k-th best to speak of
        return
    kth = kth_best(group, value, k, 6)
    for g in range(6):
        mine = sorted(value[group == g], reverse=True)
        assert kth[g] == (mine[k - 1] if len(mine) >= k else -np.inf)
