"""A few threads for numpy work: numpy and scipy release the GIL inside their kernels, so row chunks of one
array operation overlap on the cores there are.  Each chunk's result depends on its rows only, never on the
schedule, so the outcome is the same on one thread or four."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

MAX_THREADS = 4
CHUNK_CELLS = 2**19  # cells per dense row chunk: 4 MB temporaries stay near the cache


def map_in_threads(work: Callable[..., T], items: list) -> list[T]:
    """``[work(item) for item in items]`` on a few threads, results in order."""
    workers = min(MAX_THREADS, os.cpu_count() or 1, len(items))
    if workers <= 1:
        return [work(item) for item in items]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(work, items))


def rows_per_chunk(n_rows: int, n_cols: int, cells: float) -> int:
    return int(min(max(1, n_rows), max(1, cells // max(1, n_cols))))


def row_chunks(n_rows: int, n_cols: int, cells: float | None = None) -> list[slice]:
    """Consecutive row slices of about ``cells`` (default ``CHUNK_CELLS``) cells each, covering ``n_rows`` rows."""
    step = rows_per_chunk(n_rows, n_cols, CHUNK_CELLS if cells is None else cells)
    return [slice(start, min(start + step, n_rows)) for start in range(0, n_rows, step)]


def map_row_chunks(n_rows: int, n_cols: int, work: Callable[[slice], T]) -> list[T]:
    """``work(rows)`` over cache-sized row chunks (disjoint rows) on a few threads, results in row order."""
    return map_in_threads(work, row_chunks(n_rows, n_cols))


def for_row_chunks(n_rows: int, n_cols: int, work: Callable[[slice], None]) -> None:
    """Run ``work(rows)`` over cache-sized row chunks (disjoint rows) on a few threads."""
    map_row_chunks(n_rows, n_cols, work)
