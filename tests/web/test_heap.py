"""The server process's malloc thresholds (`web.heap.malloc_as_after_a_round`), each probe in a fresh interpreter."""

import ctypes
import os
import subprocess
import sys

import pytest

from web.heap import MALLOC_ENVIRONMENT

pytestmark = pytest.mark.skipif(
    getattr(ctypes.CDLL(None), "mallopt", None) is None, reason="a C library without mallopt"
)

# Rounds of a few 4 MB temporaries freed together, as a round's scoring builds them per row chunk: glibc's start
# thresholds map and trim them every round, so every round page-faults its memory afresh.
PROBE = """
import resource, sys
import numpy as np
from web.heap import malloc_as_after_a_round
if sys.argv[1] == "set":
    print(malloc_as_after_a_round())
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    temporaries = [np.ones(2**19) for _ in range(5)]
    del temporaries
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def probe(mode: str, **environment: str) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k not in MALLOC_ENVIRONMENT and k != "GLIBC_TUNABLES"}
    done = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True,
                          env={**env, **environment})
    return done.stdout.split()


def test_a_fresh_process_reuses_its_freed_temporaries_instead_of_faulting_them_in_again():
    (unset_faults,) = probe("unset")
    was_set, set_faults = probe("set")
    assert was_set == "True"
    assert int(set_faults) * 4 < int(unset_faults)  # ~5 rounds' worth of pages against ~20 rounds' worth


def test_the_operators_own_malloc_settings_win():
    was_set, _ = probe("set", MALLOC_TRIM_THRESHOLD_="131072")
    assert was_set == "False"
    was_set, _ = probe("set", GLIBC_TUNABLES="glibc.malloc.mmap_threshold=131072")
    assert was_set == "False"
