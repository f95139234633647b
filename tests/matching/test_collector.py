"""The cyclic collector is paused only inside the blocks that make many small objects, and restored after."""

import gc

import pytest

from matching import solve
from matching.collector import collector_paused

from .conftest import random_problem


def test_the_collector_is_restored_after_a_solve_and_after_an_error():
    assert gc.isenabled()
    seen = []
    with collector_paused():
        seen.append(gc.isenabled())
    assert seen == [False] and gc.isenabled()
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("a failing block")
    assert gc.isenabled()
    solve(random_problem(1, 12, 6, sparse=True))
    assert gc.isenabled()


def test_a_collector_paused_by_the_caller_stays_paused():
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
        solve(random_problem(1, 12, 6))
        assert not gc.isenabled()
    finally:
        gc.enable()
