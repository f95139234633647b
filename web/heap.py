"""Memory settings of a long-lived server process: the cyclic garbage collector, numpy's huge pages and malloc's
thresholds.

A worker holds a couple of hundred thousand objects from its start to its end (modules, mappers, compiled
templates, message catalogues). Every full collection of the cyclic collector walks all of them again, and a
page that builds a few thousand objects (a round's review: its proposals' breakdowns) sets one off about every
other request: 0.1-0.3 s on such a page (benchmarks/NOTES.md, "The round page and the collector").
"""

from __future__ import annotations

import ctypes
import gc
import os

NUMPY_HUGEPAGES = "NUMPY_MADVISE_HUGEPAGE"
# glibc's mallopt parameters, and the environment settings through which an operator sets them himself
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MALLOC_ENVIRONMENT = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_")
STEADY_MMAP_THRESHOLD = 32 * 2**20  # glibc's ceiling for its own raised threshold (DEFAULT_MMAP_THRESHOLD_MAX)


def freeze_startup_objects() -> int:
    """Collect once, then leave every object alive now out of all later collections (``gc.freeze``): they live as
    long as the process. Reference counting still frees them; one that later becomes part of an unreachable cycle
    is never reclaimed. Returns how many objects were frozen.

    Call it once the process has built its app and before it serves (gunicorn: ``post_worker_init``)."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def numpy_without_hugepages() -> None:
    """Ask numpy, imported after this call, not to request transparent huge pages for its large arrays.

    With the kernel's huge-page defragmentation on "madvise" (Debian's default), each such request may stall in
    direct memory compaction: a province round's re-solve took 0.83-1.21 s from run to run of the same code, and
    0.92-0.95 s without the requests (its click 2.58-2.75 s -> 2.33-2.39 s; benchmarks/NOTES.md). The national
    round was the same either way. An operator's own setting of ``NUMPY_MADVISE_HUGEPAGE`` wins."""
    os.environ.setdefault(NUMPY_HUGEPAGES, "0")


def malloc_as_after_a_round() -> bool:
    """Start glibc's malloc with the thresholds it reaches by itself after the process's first round.

    glibc serves a block of at least its mmap threshold (128 KiB at start) from a fresh mapping and raises the
    threshold to the size of a freed mapped block (at most 32 MiB), the trim threshold to twice that. Until then a
    round's scoring (4 MB temporaries per row chunk, on two threads) and its solve (~32 MB pricing blocks) map,
    page-fault and unmap their memory again and again: a worker's first round took ~286,000 minor page faults
    against ~77,000 for its second, ~0.6 s more CPU (benchmarks/NOTES.md, "The click's matching side"). With the
    thresholds the first round already has, the first round costs what the later ones do; the memory a worker
    keeps is the same as after its first round. Call it in the process before it forks its workers (they inherit
    the settings). Returns whether the thresholds were set: not on a C library without ``mallopt`` or when the
    operator set malloc's own environment settings (they win)."""
    if any(name in os.environ for name in MALLOC_ENVIRONMENT) or "glibc.malloc" in os.environ.get("GLIBC_TUNABLES", ""):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (AttributeError, OSError, TypeError):  # not glibc: no such call, or no C library to open by None
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, STEADY_MMAP_THRESHOLD) and mallopt(M_TRIM_THRESHOLD, 2 * STEADY_MMAP_THRESHOLD))
