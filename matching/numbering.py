"""Items laid out in runs, one run per owner: which owner each item has and its place within the run.

Copies of a craftsman, windows of a pair, members of a group: the same numbering, vectorised once here.
"""

from __future__ import annotations

import numpy as np


def number_runs(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Owner and 0-based place of each of ``counts.sum()`` items, owner ``i`` holding ``counts[i]`` in a row.

    Examples
    --------
    >>> owner, within = number_runs(np.array([2, 0, 3]))
    >>> owner.tolist(), within.tolist()
    ([0, 0, 2, 2, 2], [0, 1, 0, 1, 2])
    """
    owner = np.repeat(np.arange(counts.size), counts)
    within = np.arange(owner.size) - np.repeat(np.cumsum(counts) - counts, counts)
    return owner, within
