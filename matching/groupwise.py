"""Per-group numbering and selection over flat arrays, without a Python loop over groups.

Items laid out in runs, one per owner (copies of a craftsman, windows of a pair, members of a group): which owner
each has and its place in the run.  Values keyed by a group (candidate pairs by demand): the k-th best of each
group and the k best, in order.
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


def rank_in_sorted_groups(sorted_group: np.ndarray) -> np.ndarray:
    """0, 1, 2… within each run of equal values of a sorted array (linear, unlike searchsorted)."""
    if sorted_group.size == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, sorted_group[1:] != sorted_group[:-1]])
    lengths = np.diff(np.r_[starts, sorted_group.size])
    return np.arange(sorted_group.size) - np.repeat(starts, lengths)


def kth_best(group: np.ndarray, value: np.ndarray, k: int, n_groups: int) -> np.ndarray:
    """The k-th largest value of each group; -inf where a group has fewer than k values.

    Linear, not a sort of every value: an integer (radix) sort by group, the
    values of each group with at least k of them laid out as one padded row,
    then one ``np.partition`` along the rows.  Groups are laid out in bands of
    similar size (each band padded to its own widest group), so padding stays
    below about a third of the cells however unequal the groups are.
    """
    kth = np.full(n_groups, -np.inf)
    if group.size < k:
        return kth
    low = int(group.min())
    local = group - low
    counts = np.bincount(local)
    full = np.flatnonzero(counts >= k)
    if full.size == 0:
        return kth
    # renumber groups: full groups first, by band (size within a factor of about 1.4), then the others
    band = np.floor(2.0 * np.log2(counts[full])).astype(np.int64)
    by_band = np.argsort(band, kind="stable")
    full, band = full[by_band], band[by_band]
    new_id = np.full(counts.size, full.size, dtype=np.int64)
    new_id[full] = np.arange(full.size)
    key = new_id[local]
    order = np.argsort(key.astype(np.uint16) if full.size < 2**16 else key, kind="stable")
    sizes = counts[full]
    n_full = int(sizes.sum())  # the values of full groups come first
    order = order[:n_full]
    sorted_key = key[order]
    rank = rank_in_sorted_groups(sorted_key)
    sorted_value = value[order]
    group_starts = np.flatnonzero(np.r_[True, band[1:] != band[:-1]])
    group_ends = np.r_[group_starts[1:], full.size]
    value_starts = np.r_[0, np.cumsum(sizes)]
    for g0, g1 in zip(group_starts.tolist(), group_ends.tolist(), strict=True):
        e0, e1 = int(value_starts[g0]), int(value_starts[g1])
        width = int(sizes[g0:g1].max())
        padded = np.full((g1 - g0, width), -np.inf)
        padded[sorted_key[e0:e1] - g0, rank[e0:e1]] = sorted_value[e0:e1]
        kth[full[g0:g1] + low] = np.partition(padded, width - k, axis=1)[:, width - k]
    return kth


def top_k_per_group(group: np.ndarray, value: np.ndarray, tiebreak: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k best values in each group (ties: smaller ``tiebreak`` first), in that order: by group,
    then best first.

    A cheap cut at each group's k-th best (one sort of a float key) leaves
    about k entries per group for the exact three-key sort; the cut keeps
    what lies within 1e-9 of that k-th best too, so it never drops one.
    """
    if group.size == 0 or k <= 0:
        return np.zeros(0, dtype=np.int64)
    n_groups = int(group.max()) + 1
    near = np.flatnonzero(value >= kth_best(group, value, k, n_groups)[group] - 1e-9)
    order = near[np.lexsort((tiebreak[near], -value[near], group[near]))]
    return order[rank_in_sorted_groups(group[order]) < k]
