"""The run numbering shared by the copies, windows and group members of `matching`."""

import doctest

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import matching.numbering
from matching.numbering import number_runs


@given(st.lists(st.integers(0, 4), max_size=12))
def test_each_item_names_its_owner_and_its_place_in_the_owners_run(counts):
    owner, within = number_runs(np.array(counts, dtype=np.int64))
    expected = [(i, k) for i, count in enumerate(counts) for k in range(count)]
    assert list(zip(owner.tolist(), within.tolist(), strict=True)) == expected
    assert owner.dtype == within.dtype == np.int64


def test_the_example_in_the_docstring_holds():
    results = doctest.testmod(matching.numbering)
    assert results.attempted > 0 and results.failed == 0
