"""Component and distance kernels: one code path for a block (rows × columns) or for 1-D pairs.

Element-wise components broadcast, product components use a matrix product on blocks and
row-wise dot products on pairs.  There is no Python loop over pairs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

import numpy as np
import scipy.sparse as sp

from matching.config import COMPONENTS
from matching.groupwise import number_runs
from matching.prepared import EARTH_RADIUS_KM, TRACK_NEUTRAL, UNKNOWN_DISTANCE_SCORE, PreparedRound, Product

PAIR_CHUNK = 200_000  # pairs per row-wise sparse dot: bounds the gathered rows' memory


# ---------------------------------------------------------------- kernels (block or pairs)
def _is_block(ci: np.ndarray) -> bool:
    return ci.ndim == 2


def _cross(product: Product, ci: np.ndarray, di: np.ndarray) -> np.ndarray:
    """``left[c]·right[d]`` for a block (matrix product) or for pairs (row-wise dots)."""
    left, right = product.left, product.right
    if _is_block(ci):
        if left.nnz == 0:  # the product's zeros, as it would return them
            return np.zeros((ci.shape[0], di.shape[1]))
        rows, cols = _block_rows(left, ci[:, 0]), di[0]
        if product.right_dense_t is None:
            return (rows @ right[cols].T).toarray()
        every_column = cols.size == right.shape[0] and np.array_equal(cols, np.arange(cols.size))
        return rows @ (product.right_dense_t if every_column else product.right_dense_t[:, cols])
    if left.nnz == 0 or right.nnz == 0:  # e.g. the track record of a round where nobody has one
        return np.zeros(ci.size)
    out = np.empty(ci.size)
    for start in range(0, ci.size, PAIR_CHUNK):
        part = slice(start, start + PAIR_CHUNK)
        out[part] = np.asarray(left[ci[part]].multiply(right[di[part]]).sum(axis=1)).ravel()
    return out


def _block_rows(matrix: sp.csr_matrix, rows: np.ndarray) -> sp.csr_matrix:
    """``matrix[rows]``; a slice when the rows are consecutive (a dense round's chunks are), which is quicker."""
    if rows.size and rows[-1] - rows[0] == rows.size - 1 and (rows.size < 3 or (np.diff(rows) == 1).all()):
        return matrix[int(rows[0]) : int(rows[-1]) + 1]
    return matrix[rows]


def sparse_lookup(table: sp.csr_matrix, ci: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """``table[c, key]`` for a block or for pairs (sparse tables, zeros elsewhere)."""
    if _is_block(ci):
        if table.nnz == 0:
            return np.zeros((ci.shape[0], keys.shape[1]), dtype=table.dtype)
        return _block_rows(table, ci[:, 0])[:, keys[0]].toarray()
    out = np.zeros(ci.shape, dtype=table.dtype)
    # only the rows holding an entry are looked up (few craftsmen have a history or a conflict)
    held = np.flatnonzero(table.indptr[ci + 1] > table.indptr[ci]) if table.nnz else ci[:0]
    if held.size:
        out[held] = np.asarray(table[ci[held], keys[held]]).ravel()
    return out


def _fill_unknown_places(
    rnd: PreparedRound, values: np.ndarray, ci: np.ndarray, di: np.ndarray, fill
) -> None:
    """Set ``values`` where either side's coordinates are unknown (by rows / columns on a block)."""
    if _is_block(ci):
        values[~rnd.known_c[ci[:, 0]], :] = fill
        values[:, ~rnd.known_d[di[0]]] = fill
    else:
        values[~(rnd.known_c[ci] & rnd.known_d[di])] = fill


def great_circle_km(
    rnd: PreparedRound, ci: np.ndarray, di: np.ndarray, memo: dict | None = None
) -> np.ndarray:
    """Haversine distance via the chord of unit vectors (one matrix product per block); NaN if unknown.

    ``memo`` (one dict per block) lets scoring and rules share the result; callers must not modify it.
    """
    if memo is not None:
        if "km" not in memo:
            memo["km"] = great_circle_km(rnd, ci, di)
        return memo["km"]
    if _is_block(ci):
        # three broadcast products, not a K=3 matrix product: BLAS threads would fight ours
        uc, ud = rnd.unit_c[ci[:, 0]], rnd.unit_d[di[0]]
        dot = uc[:, 0:1] * ud[:, 0]
        dot += uc[:, 1:2] * ud[:, 1]
        dot += uc[:, 2:3] * ud[:, 2]
    else:  # the block's order of sums (einsum's differs in the last bit), on contiguous columns
        uc, ud = rnd.unit_c, rnd.unit_d
        dot = uc[:, 0][ci] * ud[:, 0][di]
        dot += uc[:, 1][ci] * ud[:, 1][di]
        dot += uc[:, 2][ci] * ud[:, 2][di]
    km = km_from_dot(dot)
    _fill_unknown_places(rnd, km, ci, di, np.nan)
    return km


def km_from_dot(dot: np.ndarray) -> np.ndarray:
    """Great-circle km from dot products of unit vectors, computed in place (``dot`` is overwritten).

    The haversine distance via the chord: half chord = sqrt((2 - 2·dot) / 4).  The one copy of
    the formula in craftmatch: scoring, the rules, the group bounds and the explanations use it.
    """
    np.multiply(dot, -0.5, out=dot)
    np.add(dot, 0.5, out=dot)
    np.clip(dot, 0.0, 1.0, out=dot)
    np.sqrt(dot, out=dot)
    np.arcsin(dot, out=dot)
    np.multiply(dot, 2.0 * EARTH_RADIUS_KM, out=dot)
    return dot


def availability_coverage(
    rnd: PreparedRound, ci: np.ndarray, di: np.ndarray, memo: dict | None = None
) -> np.ndarray:
    """Share of each demand's window covered by the craftsman's windows; 1 if none declared."""
    if memo is not None:
        if "coverage" not in memo:
            memo["coverage"] = availability_coverage(rnd, ci, di)
        return memo["coverage"]
    windows = rnd.craftsmen.availability
    if _is_block(ci):
        covered = _covered_days_block(rnd, ci[:, 0], di[0])
        no_calendar = (windows.count[ci[:, 0]] == 0)[:, None]
    else:
        covered = _covered_days_pairs(rnd, ci, di)
        no_calendar = windows.count[ci] == 0
    covered /= rnd.window_length_d[di]
    np.minimum(covered, 1.0, out=covered)
    if _is_block(ci):
        covered[no_calendar[:, 0]] = 1.0  # whole rows
    else:
        covered[no_calendar] = 1.0
    return covered


def _covered_days_block(rnd: PreparedRound, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Days of each demand window covered, one pass per window slot (craftsmen hold few windows)."""
    windows = rnd.craftsmen.availability
    counts = windows.count[rows]
    demand_start = rnd.demands.window_start[cols].astype(np.float64)
    demand_end = rnd.demands.window_end[cols].astype(np.float64) + 1.0  # half-open ends
    covered = np.empty((rows.size, cols.size))
    overlap = np.empty_like(covered)
    slots = int(counts.max(initial=0))
    if not slots or not (counts > 0).all():
        covered[:] = 0.0
    for slot in range(slots):
        has = counts > slot
        # only the rows holding this slot: the others would add 0 (a third of them at province scale)
        every_row = bool(has.all())
        held = slice(None) if every_row else np.flatnonzero(has)
        index = windows.indptr[rows[held]] + slot
        start = windows.start[index].astype(np.float64)[:, None]
        # every row's first window is written as it is: 0.0 + days is days (whole days, never -0.0)
        part = covered if slot == 0 and every_row else overlap[: index.size]
        np.minimum((windows.end[index] + 1.0)[:, None], demand_end, out=part)
        part -= np.maximum(start, demand_start)
        np.maximum(part, 0.0, out=part)
        if part is not covered:
            covered[held] += part
    return covered


def _covered_days_pairs(rnd: PreparedRound, ci: np.ndarray, di: np.ndarray) -> np.ndarray:
    """Days of each pair's demand window covered: every window of the pair's craftsman, summed."""
    windows = rnd.craftsmen.availability
    counts = windows.count[ci]
    pair, within = number_runs(counts)
    window = windows.indptr[ci][pair] + within
    d = di[pair]
    overlap = np.minimum(windows.end[window], rnd.demands.window_end[d]) - np.maximum(
        windows.start[window], rnd.demands.window_start[d]
    )
    return np.bincount(pair, weights=np.maximum(overlap + 1, 0), minlength=ci.size).astype(np.float64)


def _distance_component(rnd: PreparedRound, ci: np.ndarray, di: np.ndarray, memo: dict | None) -> np.ndarray:
    decay = np.divide(great_circle_km(rnd, ci, di, memo), -rnd.distance_scale_d[di])
    np.exp(decay, out=decay)
    _fill_unknown_places(rnd, decay, ci, di, UNKNOWN_DISTANCE_SCORE)
    # per mode an affine map of the decay: on-site 0 + 1·decay, hybrid 0.5 + 0.5·decay, remote 1 + 0·decay
    np.multiply(decay, rnd.distance_slope_d[di], out=decay)
    np.add(decay, 1.0 - rnd.distance_slope_d[di], out=decay)
    return decay


def _honour_component(rnd: PreparedRound, ci: np.ndarray, di: np.ndarray) -> np.ndarray:
    if _is_block(ci):
        # a row per rank (a block holds a few), copied to the rows holding it: the same divisions, done once
        ranks, rank_row = np.unique(rnd.rank_c[ci[:, 0]], return_inverse=True)
        by_rank = np.minimum(ranks[:, None] / rnd.target_d[di[0]], 1.0)
        return by_rank.take(rank_row.ravel(), axis=0)
    return np.minimum(rnd.rank_c[ci] / rnd.target_d[di], 1.0)


def _component(
    rnd: PreparedRound, name: str, ci: np.ndarray, di: np.ndarray, memo: dict | None = None
) -> np.ndarray:
    """One component's values for a block or for pairs; on a block, a component that is the same for every pair
    (no continuity, no track record in the round) is one (1, 1) value that broadcasts: no block-sized passes."""
    if name == "skill":
        return _cross(rnd.skill, ci, di)
    if name == "industry":
        return _cross(rnd.industry, ci, di)
    if name == "text":
        cosine = _cross(rnd.text, ci, di)
        return np.minimum(cosine, 1.0, out=cosine)  # rounding can reach 1 + 1e-16
    if name == "distance":
        return _distance_component(rnd, ci, di, memo)
    if name == "honour":
        return _honour_component(rnd, ci, di)
    if name == "availability":
        return availability_coverage(rnd, ci, di, memo)
    alike = _is_block(ci)
    if name == "continuity":
        if alike and not rnd.continuity.nnz:
            return np.zeros((1, 1))
        return sparse_lookup(rnd.continuity, ci, rnd.enterprise_d[di])
    if name == "track_record":
        record = np.zeros((1, 1)) if alike and not rnd.track.left.nnz else _cross(rnd.track, ci, di)
        record += TRACK_NEUTRAL
        return np.clip(record, 0.0, 1.0, out=record)
    raise KeyError(name)


def block_indices(rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index arrays that make the kernels evaluate the whole ``rows × cols`` block."""
    return np.asarray(rows, dtype=np.int64)[:, None], np.asarray(cols, dtype=np.int64)[None, :]


def component_values(
    rnd: PreparedRound, ci: np.ndarray, di: np.ndarray, names: Iterable[str] | None = None
) -> dict[str, np.ndarray]:
    """Unweighted component values in [0, 1] for a block or for pairs (see :func:`block_indices`)."""
    weights = rnd.config.weights
    names = [n for n in COMPONENTS if weights[n] > 0] if names is None else list(names)
    shape = (ci.shape[0], di.shape[1]) if _is_block(ci) else ci.shape
    return {name: np.broadcast_to(_component(rnd, name, ci, di), shape) for name in names}


def weighted(
    rnd: PreparedRound, values: Mapping[str, np.ndarray]
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Weighted contributions ``w_i·component_i / Σw`` and their sum (the total score)."""
    norm = rnd.config.normalised_weights
    contributions = {name: norm[name] * value for name, value in values.items()}
    total = np.zeros(next(iter(values.values())).shape) if values else np.zeros(0)
    for contribution in contributions.values():
        total += contribution
    return total, contributions


# The score components whose cross is positive on the pairs where a relevance tier's product is (when
# `same_signs` says so): a block that scores them first hands `relevance_tiers` their signs (``memo[SIGNS]``),
# and the tiers need two matrix products fewer.
SIGNS = "signs"
SIGN_PRODUCTS = MappingProxyType({"skill": "held", "industry": "industry"})


def same_signs(rnd: PreparedRound, component: str) -> bool:
    """The cross of ``component``'s product is > 0 on exactly the pairs where its tier product's is.

    So when both sides store the same pattern and no stored product of the component's values rounds to 0
    (each side's smallest stored value times the other's is > 0; rounding is monotone): both crosses are
    sums of positive terms over the same shared columns.
    """
    values, support = getattr(rnd, component), getattr(rnd, SIGN_PRODUCTS[component])
    if values is support:
        return True
    smallest = []
    for side in ("left", "right"):
        mine, theirs = _canonical(getattr(values, side)), _canonical(getattr(support, side))
        if not (np.array_equal(mine.indptr, theirs.indptr) and np.array_equal(mine.indices, theirs.indices)):
            return False
        if (mine.data <= 0).any() or (theirs.data <= 0).any():
            return False
        smallest.append(float(mine.data.min(initial=np.inf)))
    return smallest[0] * smallest[1] > 0.0


def _canonical(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """The same matrix with each row's columns sorted and stored once (for comparing patterns)."""
    if matrix.has_canonical_format:
        return matrix
    matrix = matrix.copy()
    matrix.sum_duplicates()
    return matrix


def relevance_tiers(
    rnd: PreparedRound, ci: np.ndarray, di: np.ndarray, memo: dict | None = None
) -> np.ndarray:
    """Relevance tier (int8) of a block or of pairs (``memo[SIGNS]``: the positive pairs of tier products
    already known, by product name; see `same_signs`).

    2: the craftsman holds a required skill of the demand; 1: he holds a skill of the same family
    (shares a parent); 0: neither.  A demand that requires no skill: 2 if he works in one of its
    industries, else 0; a demand naming neither skills nor industries: 1 for everyone (nothing
    speaks against anyone).  Products of 0/1 rows are sums of positive terms, so "> 0" is the same
    whatever the order of the sums: blocks and pairs agree exactly.
    """
    names_skill = rnd.names_skill_d[di]
    names_industry = rnd.names_industry_d[di]
    known = memo.get(SIGNS, {}) if memo is not None else {}
    exact = known["held"] if "held" in known else _cross(rnd.held, ci, di) > 0
    family = _cross(rnd.family, ci, di) > 0
    industry = known["industry"] if "industry" in known else _cross(rnd.industry, ci, di) > 0
    # in int8 throughout (bools viewed as 0/1): nested int64 np.where took 4x as long on a dense round's chunks
    by_skill = exact.view(np.int8) + (exact | family).view(np.int8)  # 2 exact, 1 family only, 0 neither
    if _is_block(ci):  # the industry's way only in the columns of the demands that require no skill (few)
        cols = np.flatnonzero(~names_skill[0])
        if cols.size:
            by_skill[:, cols] = np.where(names_industry[:, cols], industry[:, cols].view(np.int8) * np.int8(2),
                                         np.int8(1))
        return by_skill
    by_industry = np.where(names_industry, industry.view(np.int8) * np.int8(2), np.int8(1))
    return np.where(names_skill, by_skill, by_industry)
