"""The cyclic garbage collector in a long-lived server process.

A worker holds a couple of hundred thousand objects from its start to its end (modules, mappers, compiled
templates, message catalogues). Every full collection of the cyclic collector walks all of them again, and a
page that builds a few thousand objects (a round's review: its proposals' breakdowns) sets one off about every
other request: 0.1-0.3 s on such a page (benchmarks/NOTES.md, "The round page and the collector").
"""

from __future__ import annotations

import gc


def freeze_startup_objects() -> int:
    """Collect once, then leave every object alive now out of all later collections (``gc.freeze``): they live as
    long as the process. Reference counting still frees them. Returns how many objects were frozen.

    Call it once the process has built its app and before it serves (gunicorn: ``post_worker_init``)."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
