"""Memory settings of a long-lived server process: the cyclic garbage collector and numpy's huge pages.

A worker holds a couple of hundred thousand objects from its start to its end (modules, mappers, compiled
templates, message catalogues). Every full collection of the cyclic collector walks all of them again, and a
page that builds a few thousand objects (a round's review: its proposals' breakdowns) sets one off about every
other request: 0.1-0.3 s on such a page (benchmarks/NOTES.md, "The round page and the collector").
"""

from __future__ import annotations

import gc
import os

NUMPY_HUGEPAGES = "NUMPY_MADVISE_HUGEPAGE"


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
