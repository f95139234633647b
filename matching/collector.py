"""The cyclic garbage collector paused while many small containers are made at once."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause CPython's cyclic collector for the block, then restore it as it was.

    Notes
    -----
    Each collection of the oldest generation walks every container alive, and making hundreds of thousands of
    small ones (a parsed problem's objects, a result's assignments and alternates) sets it off again and again.
    What is made in such a block holds no reference cycle, so pausing loses nothing; a collector already paused
    (by an enclosing block or the caller) stays paused.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()
