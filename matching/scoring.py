"""Features → explainable score: named components in [0, 1] and their weighted sum.

Components (each a function of one craftsman c and one demand d):

- ``skill``: importance-weighted coverage of d's required skills by c's
  proficiency, ``Σ_s imp[d,s]·prof[c,s]/5 / Σ_s imp[d,s]`` (0 if d lists none).
- ``industry``: share of d's industries that c works in, ``|I_c ∩ I_d| / |I_d|``
  (0 if d lists none).  Not Jaccard: a craftsman active in many industries
  should not be penalised for breadth.
- ``text``: cosine of character 2–3-gram TF-IDF vectors (profile vs description).
- ``distance``: ``exp(−km / scale)`` for on-site demands, where ``scale`` is
  ``config.distance_scale_km / (1 + urgency/2)`` (urgent visits want short
  trips); hybrid demands get ``0.5 + 0.5·exp(…)`` since part of the work can be
  remote; remote demands 1; unknown coordinates 0.5 (no evidence either way).
- ``honour``: ``min(1, rank / target)`` where rank counts 劳模 as one more level
  and target is municipal (2) for routine / training demands, provincial (3)
  for substantial ones and national (4) for hard 联合攻关 problems.
- ``availability``: share of d's window covered by c's availability windows
  (1 if c declared none: no calendar means no known restriction).
- ``continuity``: mean past rating / 5 with d's enterprise; 0.6 (a neutral
  3/5) if they worked together unrated; 0 if never.

Everything is evaluated either on a block (rows × columns, dense arrays) or on
arbitrary pairs (1-D index arrays) by the same code: element-wise components
broadcast, product components use a matrix product on blocks and row-wise dot
products on pairs.  There is no Python loop over pairs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from matching.config import COMPONENTS, RoundConfig
from matching.features import (
    MODE_HYBRID,
    MODE_ONSITE,
    MODE_REMOTE,
    CraftsmanFeatures,
    DemandFeatures,
    FeatureError,
    History,
    check_compatible,
)
from matching.text import tfidf_pair

if TYPE_CHECKING:
    from matching.groups import CraftsmanGroups

EARTH_RADIUS_KM = 6371.0088
HONOUR_TARGET_BY_DIFFICULTY = (2, 3, 4)  # municipal, provincial, national by difficulty 0, 1, 2
UNRATED_CONTINUITY = 0.6
UNKNOWN_DISTANCE_SCORE = 0.5
MAX_THREADS = 4
CHUNK_CELLS = 2**19  # cells per dense row chunk: 4 MB temporaries stay near the cache
DENSE_PRODUCT_CELLS = 2**23  # a dense copy of a product's demand side up to 64 MB
LEAD_FACTOR = 4  # candidate search: pairs scored exactly first, per demand, as a multiple of k
PAIR_CHUNK = 200_000  # pairs per row-wise sparse dot: bounds the gathered rows' memory
DISTANCE_SLOPE_BY_MODE = MappingProxyType({MODE_ONSITE: 1.0, MODE_HYBRID: 0.5, MODE_REMOTE: 0.0})


# ---------------------------------------------------------------- prepared round
@dataclass(frozen=True)
class Product:
    """A component that is a dot product of a craftsman row and a demand row.

    When small enough the demand side is also kept dense and transposed, so a
    block is a sparse × dense product (cost: craftsman non-zeros × columns)
    instead of sparse × sparse, which is slow once the result is dense (short,
    common n-grams make most text pairs overlap a little).
    """

    left: sp.csr_matrix  # (C, K)
    right: sp.csr_matrix  # (D, K)
    right_dense_t: np.ndarray | None  # (K, D)

    @classmethod
    def of(cls, left: sp.csr_matrix, right: sp.csr_matrix) -> Product:
        left, right = sp.csr_matrix(left), sp.csr_matrix(right)
        small = right.shape[0] * right.shape[1] <= DENSE_PRODUCT_CELLS
        return cls(left, right, np.ascontiguousarray(right.T.toarray()) if small else None)


@dataclass(frozen=True)
class PreparedRound:
    """Per-round derived arrays shared by scoring and rules (built once by :func:`prepare`)."""

    craftsmen: CraftsmanFeatures
    demands: DemandFeatures
    config: RoundConfig
    skill: Product  # proficiency / 5  ·  importance / total importance of the demand
    industry: Product  # 0/1  ·  1/|I_d|
    text: Product  # L2-normalised TF-IDF rows
    unit_c: np.ndarray  # (C, 3) unit vectors on the sphere, 0 if unknown
    unit_d: np.ndarray  # (D, 3)
    known_c: np.ndarray  # (C,) coordinates known
    known_d: np.ndarray  # (D,)
    distance_scale_d: np.ndarray  # (D,) km
    distance_slope_d: np.ndarray  # (D,) 1 on-site, 0.5 hybrid, 0 remote
    mode_d: np.ndarray  # (D,) MODE_* codes
    rank_c: np.ndarray  # (C,) effective honour rank
    target_d: np.ndarray  # (D,) honour rank wanted
    window_length_d: np.ndarray  # (D,) days
    enterprise_d: np.ndarray  # (D,) index into the round's enterprises
    employer_c: np.ndarray  # (C,) index into the round's enterprises, -1 if none there
    links: sp.csr_matrix  # (C, E) declared conflict links, bool
    continuity: sp.csr_matrix  # (C, E) continuity value (> 0 where they worked together)
    excluded: sp.csr_matrix  # (C, D) explicit exclusions, bool
    radius_c: np.ndarray  # (C,) km, defaults filled in
    province_c: np.ndarray  # (C,) index into the round's provinces, -1 if unknown
    province_d: np.ndarray  # (D,)
    held: Product  # 0/1 holds a skill · 0/1 requires it (relevance tier 2)
    family: Product  # 0/1 holds a skill of a family · 0/1 requires one of it (tier 1)
    names_skill_d: np.ndarray  # (D,) the demand requires at least one skill
    names_industry_d: np.ndarray  # (D,) the demand names at least one industry

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.craftsmen), len(self.demands)


def _unit_vectors(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    phi, lam = np.radians(lat), np.radians(lon)
    unit = np.column_stack([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)])
    # column-major: pairs gather each coordinate from one contiguous column
    return np.asfortranarray(np.nan_to_num(unit, nan=0.0))  # unknown places are masked by known_c / known_d


def _row_scaled(mat: sp.csr_matrix, row_factor: np.ndarray) -> sp.csr_matrix:
    return sp.csr_matrix(sp.diags(row_factor) @ mat)


def _inverse_or_zero(values: np.ndarray) -> np.ndarray:
    return np.divide(1.0, values, out=np.zeros_like(values, dtype=np.float64), where=values > 0)


def prepare(
    craftsmen: CraftsmanFeatures,
    demands: DemandFeatures,
    config: RoundConfig,
    *,
    history: History | None = None,
    exclusions: Iterable[tuple[str, str]] = (),
    skill_parent: np.ndarray | None = None,
) -> PreparedRound:
    """Derive everything the component and rule kernels need, once per round.

    Parameters
    ----------
    craftsmen, demands : CraftsmanFeatures, DemandFeatures
        The round's two sides, on the same skill and industry vocabularies.
    config : RoundConfig
    history : History, optional
        Past engagements (continuity).
    exclusions : iterable of (craftsman id, demand id)
        Pairs the coordinator excluded.
    skill_parent : (S,) int array, optional
        The parent column of every skill column, -1 for a root: skills sharing a parent (or a
        root and its children) form a family, which decides relevance tier 1.  None: every skill
        is its own family.

    Returns
    -------
    PreparedRound
    """
    check_compatible(craftsmen, demands)
    n_c, n_d = len(craftsmen), len(demands)
    importance_total = np.asarray(demands.required_skills.sum(axis=1)).ravel()
    industry_count = np.asarray(demands.industries.sum(axis=1)).ravel()
    text_c, text_d = tfidf_pair(craftsmen.profile_text, demands.description)

    enterprises = sorted(set(demands.enterprise_id))
    enterprise_index = {e: i for i, e in enumerate(enterprises)}
    craftsman_index = {c: i for i, c in enumerate(craftsmen.ids)}
    demand_index = {d: i for i, d in enumerate(demands.ids)}
    link_rows, link_cols = [], []
    for row, own in enumerate(craftsmen.conflict_enterprise_ids):
        for enterprise in own:
            if enterprise in enterprise_index:
                link_rows.append(row)
                link_cols.append(enterprise_index[enterprise])
    links = sp.csr_matrix(
        (np.ones(len(link_rows), dtype=bool), (link_rows, link_cols)), shape=(n_c, len(enterprises))
    )

    excluded_rows, excluded_cols = [], []
    for craftsman_id, demand_id in exclusions:
        if craftsman_id not in craftsman_index or demand_id not in demand_index:
            raise FeatureError("exclusions", f"unknown pair ({craftsman_id!r}, {demand_id!r})")
        excluded_rows.append(craftsman_index[craftsman_id])
        excluded_cols.append(demand_index[demand_id])
    excluded = sp.csr_matrix(
        (np.ones(len(excluded_rows), dtype=bool), (excluded_rows, excluded_cols)), shape=(n_c, n_d)
    )

    provinces = {p: i for i, p in enumerate(sorted((set(craftsmen.province) | set(demands.province)) - {""}))}
    provinces[""] = -1
    radius = craftsmen.travel_radius_km.copy()
    radius[np.isnan(radius)] = config.max_onsite_km_default
    holds = sp.csr_matrix((craftsmen.skills > 0).astype(np.float64))
    requires = sp.csr_matrix((demands.required_skills > 0).astype(np.float64))
    to_family = _family_map(skill_parent, craftsmen.skills.shape[1])
    return PreparedRound(
        craftsmen=craftsmen,
        demands=demands,
        config=config,
        skill=Product.of(
            sp.csr_matrix(craftsmen.skills / 5.0),
            _row_scaled(demands.required_skills, _inverse_or_zero(importance_total)),
        ),
        industry=Product.of(
            sp.csr_matrix((craftsmen.industries > 0).astype(np.float64)),
            _row_scaled((demands.industries > 0).astype(np.float64), _inverse_or_zero(industry_count)),
        ),
        text=Product.of(text_c, text_d),
        unit_c=_unit_vectors(craftsmen.lat, craftsmen.lon),
        unit_d=_unit_vectors(demands.lat, demands.lon),
        known_c=~np.isnan(craftsmen.lat),
        known_d=~np.isnan(demands.lat),
        distance_scale_d=config.distance_scale_km / (1.0 + demands.urgency / 2.0),
        distance_slope_d=np.array([DISTANCE_SLOPE_BY_MODE[m] for m in demands.mode_code]),
        mode_d=demands.mode_code,
        rank_c=craftsmen.effective_rank,
        target_d=np.asarray(HONOUR_TARGET_BY_DIFFICULTY)[demands.difficulty],
        window_length_d=(demands.window_end - demands.window_start + 1).astype(np.float64),
        enterprise_d=np.array([enterprise_index[e] for e in demands.enterprise_id], dtype=np.int64),
        employer_c=np.array([enterprise_index.get(e, -1) for e in craftsmen.employer_id], dtype=np.int64),
        links=links,
        continuity=_continuity_table(history, craftsman_index, enterprise_index),
        excluded=excluded,
        radius_c=radius,
        province_c=np.array([provinces[p] for p in craftsmen.province], dtype=np.int64),
        province_d=np.array([provinces[p] for p in demands.province], dtype=np.int64),
        held=Product.of(holds, requires),
        family=Product.of(_binary(holds @ to_family), _binary(requires @ to_family)),
        names_skill_d=importance_total > 0,
        names_industry_d=industry_count > 0,
    )


def _family_map(skill_parent: np.ndarray | None, n_skills: int) -> sp.csr_matrix:
    """(S, S) 0/1: skill column → its family's column (its parent's, or its own for a root)."""
    if skill_parent is None:
        family = np.arange(n_skills)
    else:
        parent = np.asarray(skill_parent)
        if parent.shape != (n_skills,) or parent.dtype.kind not in "iu" or (
            n_skills and (parent.min() < -1 or parent.max() >= n_skills)
        ):
            raise FeatureError("skill_parent", f"must hold {n_skills} column indices (or -1 for a root)")
        family = np.where(parent >= 0, parent, np.arange(n_skills))
    return sp.csr_matrix((np.ones(n_skills), (np.arange(n_skills), family)), shape=(n_skills, n_skills))


def _binary(matrix: sp.csr_matrix) -> sp.csr_matrix:
    matrix = sp.csr_matrix(matrix)
    matrix.data[:] = 1.0
    return matrix


def relevance_tiers(rnd: PreparedRound, ci: np.ndarray, di: np.ndarray) -> np.ndarray:
    """Relevance tier (int8) of a block or of pairs.

    2: the craftsman holds a required skill of the demand; 1: he holds a skill of the same family
    (shares a parent); 0: neither.  A demand that requires no skill: 2 if he works in one of its
    industries, else 0; a demand naming neither skills nor industries: 1 for everyone (nothing
    speaks against anyone).  Products of 0/1 rows are sums of positive terms, so "> 0" is the same
    whatever the order of the sums: blocks and pairs agree exactly.
    """
    names_skill = rnd.names_skill_d[di]
    names_industry = rnd.names_industry_d[di]
    exact = _cross(rnd.held, ci, di) > 0
    family = _cross(rnd.family, ci, di) > 0
    industry = _cross(rnd.industry, ci, di) > 0
    by_skill = np.where(exact, 2, np.where(family, 1, 0))
    by_industry = np.where(names_industry, np.where(industry, 2, 0), 1)
    return np.where(names_skill, by_skill, by_industry).astype(np.int8)


def _continuity_table(
    history: History | None, craftsman_index: Mapping[str, int], enterprise_index: Mapping[str, int]
) -> sp.csr_matrix:
    shape = (len(craftsman_index), len(enterprise_index))
    if history is None or not len(history.craftsman_id):
        return sp.csr_matrix(shape)
    rows = np.array([craftsman_index.get(c, -1) for c in history.craftsman_id], dtype=np.int64)
    cols = np.array([enterprise_index.get(e, -1) for e in history.enterprise_id], dtype=np.int64)
    known = (rows >= 0) & (cols >= 0)  # engagements of people / firms outside this round do not matter
    rows, cols, rating = rows[known], cols[known], history.rating[known]
    rated = ~np.isnan(rating)
    worked = sp.csr_matrix((np.ones(rows.size), (rows, cols)), shape=shape)
    rating_sum = sp.csr_matrix((rating[rated], (rows[rated], cols[rated])), shape=shape)
    rating_count = sp.csr_matrix((np.ones(int(rated.sum())), (rows[rated], cols[rated])), shape=shape)
    worked.data[:] = UNRATED_CONTINUITY
    mean = rating_sum.multiply(_sparse_inverse(rating_count)) / 5.0
    # where a rating exists, the mean replaces the neutral value
    return sp.csr_matrix(worked - worked.multiply(rating_count > 0) + mean)


def _sparse_inverse(mat: sp.csr_matrix) -> sp.csr_matrix:
    out = mat.copy()
    out.data = 1.0 / out.data
    return out


# ---------------------------------------------------------------- kernels (block or pairs)
def _is_block(ci: np.ndarray) -> bool:
    return ci.ndim == 2


def _cross(product: Product, ci: np.ndarray, di: np.ndarray) -> np.ndarray:
    """``left[c]·right[d]`` for a block (matrix product) or for pairs (row-wise dots)."""
    left, right = product.left, product.right
    if _is_block(ci):
        rows, cols = left[ci[:, 0]], di[0]
        if product.right_dense_t is None:
            return (rows @ right[cols].T).toarray()
        every_column = cols.size == right.shape[0] and np.array_equal(cols, np.arange(cols.size))
        return rows @ (product.right_dense_t if every_column else product.right_dense_t[:, cols])
    out = np.empty(ci.size)
    for start in range(0, ci.size, PAIR_CHUNK):
        part = slice(start, start + PAIR_CHUNK)
        out[part] = np.asarray(left[ci[part]].multiply(right[di[part]]).sum(axis=1)).ravel()
    return out


def sparse_lookup(table: sp.csr_matrix, ci: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """``table[c, key]`` for a block or for pairs (sparse tables, zeros elsewhere)."""
    if _is_block(ci):
        return table[ci[:, 0]][:, keys[0]].toarray()
    if ci.size == 0:
        return np.zeros(0, dtype=table.dtype)
    return np.asarray(table[ci, keys]).ravel()


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
    # half chord = sqrt((2 - 2·dot) / 4); in place because blocks are large
    np.multiply(dot, -0.5, out=dot)
    np.add(dot, 0.5, out=dot)
    np.clip(dot, 0.0, 1.0, out=dot)
    np.sqrt(dot, out=dot)
    np.arcsin(dot, out=dot)
    np.multiply(dot, 2.0 * EARTH_RADIUS_KM, out=dot)
    _fill_unknown_places(rnd, dot, ci, di, np.nan)
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
    covered[np.broadcast_to(no_calendar, covered.shape)] = 1.0
    return covered


def _covered_days_block(rnd: PreparedRound, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Days of each demand window covered, one pass per window slot (craftsmen hold few windows)."""
    windows = rnd.craftsmen.availability
    counts = windows.count[rows]
    demand_start = rnd.demands.window_start[cols].astype(np.float64)
    demand_end = rnd.demands.window_end[cols].astype(np.float64) + 1.0  # half-open ends
    covered = np.zeros((rows.size, cols.size))
    overlap = np.empty_like(covered)
    for slot in range(int(counts.max(initial=0))):
        has = counts > slot
        index = np.where(has, windows.indptr[rows] + slot, 0)
        start = np.where(has, windows.start[index], np.inf)[:, None]
        end = np.where(has, windows.end[index] + 1.0, -np.inf)[:, None]
        np.minimum(end, demand_end, out=overlap)
        overlap -= np.maximum(start, demand_start)
        np.maximum(overlap, 0.0, out=overlap)
        covered += overlap
    return covered


def _covered_days_pairs(rnd: PreparedRound, ci: np.ndarray, di: np.ndarray) -> np.ndarray:
    """Days of each pair's demand window covered: every window of the pair's craftsman, summed."""
    windows = rnd.craftsmen.availability
    counts = windows.count[ci]
    pair = np.repeat(np.arange(ci.size), counts)
    within = np.arange(pair.size) - np.repeat(np.cumsum(counts) - counts, counts)
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
    return np.minimum(rnd.rank_c[ci] / rnd.target_d[di], 1.0)


def _component(
    rnd: PreparedRound, name: str, ci: np.ndarray, di: np.ndarray, memo: dict | None = None
) -> np.ndarray:
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
    if name == "continuity":
        return sparse_lookup(rnd.continuity, ci, rnd.enterprise_d[di])
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


def map_in_threads(work: Callable, items: list) -> list:
    """``[work(item) for item in items]`` on a few threads, results in order.

    numpy and scipy release the GIL inside their kernels, so chunks of work
    overlap; each item's result is independent of the schedule.
    """
    workers = min(MAX_THREADS, os.cpu_count() or 1, len(items))
    if workers <= 1:
        return [work(item) for item in items]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(work, items))


def for_row_chunks(n_rows: int, n_cols: int, work: Callable[[slice], None]) -> None:
    """Run ``work(rows)`` over cache-sized row chunks (disjoint rows) on a few threads."""
    step = rows_per_chunk(n_rows, n_cols, CHUNK_CELLS)
    map_in_threads(work, [slice(start, min(start + step, n_rows)) for start in range(0, n_rows, step)])


def rows_per_chunk(n_rows: int, n_cols: int, cells: float) -> int:
    return int(min(max(1, n_rows), max(1, cells // max(1, n_cols))))


# ---------------------------------------------------------------- dense table
@dataclass(frozen=True)
class ScoreTable:
    """Dense scores of all C × D pairs.

    ``components[name]`` is the *weighted* contribution of one component;
    contributions of all components with a positive weight sum to ``total``.
    """

    craftsman_ids: tuple[str, ...]
    demand_ids: tuple[str, ...]
    total: np.ndarray  # (C, D) float64 in [0, 1]
    components: Mapping[str, np.ndarray]  # name → (C, D) float32
    weights: Mapping[str, float]  # normalised, sum 1
    relevance: np.ndarray | None = None  # (C, D) int8 tiers, see relevance_tiers


def score(
    craftsmen: CraftsmanFeatures,
    demands: DemandFeatures,
    config: RoundConfig | None = None,
    history: History | None = None,
    *,
    prepared: PreparedRound | None = None,
    with_components: bool = True,
    before_chunk: Callable[[slice, np.ndarray, np.ndarray, dict], None] | None = None,
) -> ScoreTable:
    """Score every pair densely.

    Rows are evaluated in chunks so the temporaries stay in cache.  ``total``
    is float64 (C × D × 8 bytes); the components are stored as float32 (half
    the memory and write traffic) and sum to ``total`` within 1e-6.

    ``before_chunk(rows, ci, di, memo)`` runs first on every chunk and may
    fill ``memo`` (see :func:`great_circle_km`) for the components to reuse;
    the rules use it to share one distance and coverage computation.
    """
    rnd = prepared or prepare(craftsmen, demands, config or RoundConfig(), history=history)
    n_c, n_d = rnd.shape
    norm = rnd.config.normalised_weights
    names = [n for n in COMPONENTS if norm[n] > 0]
    total = np.empty((n_c, n_d))
    tiers = np.empty((n_c, n_d), dtype=np.int8)
    contributions = (
        {name: np.empty((n_c, n_d), dtype=np.float32) for name in names} if with_components else {}
    )
    columns = np.arange(n_d)

    def fill(rows: slice) -> None:
        ci, di = block_indices(np.arange(rows.start, rows.stop), columns)
        memo: dict = {}
        if before_chunk is not None:
            before_chunk(rows, ci, di, memo)
        chunk_total = np.zeros((ci.shape[0], n_d))
        for name in names:
            # scaled in place: kernels return fresh arrays, or memo ones nobody reads after the hook
            contribution = _component(rnd, name, ci, di, memo)
            contribution *= norm[name]
            chunk_total += contribution
            if with_components:
                contributions[name][rows] = contribution
        total[rows] = chunk_total
        tiers[rows] = relevance_tiers(rnd, ci, di)

    for_row_chunks(n_c, n_d, fill)
    for array in (total, tiers, *contributions.values()):
        array.flags.writeable = False
    return ScoreTable(
        craftsman_ids=rnd.craftsmen.ids,
        demand_ids=rnd.demands.ids,
        total=total,
        components=MappingProxyType(contributions),
        weights=MappingProxyType(norm),
        relevance=tiers,
    )


# ---------------------------------------------------------------- sparse candidates
@dataclass(frozen=True)
class CandidatePairs:
    """The best allowed craftsmen of every demand as parallel 1-D arrays.

    Sorted by demand, then total score (best first), then craftsman index.
    ``components[name]`` are weighted contributions summing to ``total``.
    """

    craftsman_ids: tuple[str, ...]
    demand_ids: tuple[str, ...]
    craftsman: np.ndarray  # (P,) int64 index into craftsman_ids
    demand: np.ndarray  # (P,) int64 index into demand_ids
    total: np.ndarray  # (P,)
    components: Mapping[str, np.ndarray]  # name → (P,)
    weights: Mapping[str, float]
    relevance: np.ndarray | None = None  # (P,) int8 tiers, see relevance_tiers

    def __len__(self) -> int:
        return int(self.craftsman.size)


def _top_k_per_group(group: np.ndarray, value: np.ndarray, tiebreak: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k best values (in [0, 1]) in each group (ties: smaller ``tiebreak`` first).

    A cheap cut at each group's k-th best (one sort of a float key) leaves
    about k entries per group for the exact three-key sort.
    """
    if group.size == 0:
        return np.zeros(0, dtype=np.int64)
    n_groups = int(group.max()) + 1
    near = np.flatnonzero(value >= _kth_best(group, value, k, n_groups)[group] - 1e-9)
    order = near[np.lexsort((tiebreak[near], -value[near], group[near]))]
    return order[_rank_in_sorted_groups(group[order]) < k]


def candidate_pairs(
    craftsmen: CraftsmanFeatures,
    demands: DemandFeatures,
    config: RoundConfig | None = None,
    history: History | None = None,
    *,
    top_k: int | None = None,
    exclusions: Iterable[tuple[str, str]] = (),
    prepared: PreparedRound | None = None,
) -> CandidatePairs:
    """Top-``k`` allowed craftsmen per demand without a dense C × D matrix; equals the dense top k.

    Demands are taken in chunks of about ``config.chunk_cells / C`` (on a few
    threads).  Exact shortcuts keep the work near the number of *plausible* pairs:

    1. Support first.  A pair sharing no skill and no industry scores at most
       ``1 − w_skill − w_industry`` (less when no one has history with the
       enterprise).  Pairs that share one (a sparse product) are searched; a
       demand whose k-th best of them beats that bound is done.  For the other
       demands that k-th best is a floor: craftsmen are grouped by place,
       honour rank, modes and province (``matching.groups``), one bound per
       (group, demand) covers every member's off-support score, and only the
       members of groups reaching the floor are scored.
    2. Bounds before exact scores.  A sharing pair's skill + industry come
       from the sparse product; the rest is bounded by the off-support bound
       of the craftsman's group (honour exact, distance at the group's nearest
       member, group-wide rules -inf), one gather per pair.  At least the
       ``LEAD_FACTOR × k`` best bounds per demand (a histogram, not a sort) are
       scored exactly, then only pairs whose bound reaches that k-th best, once
       more with the pair's own honour, continuity, exact distance and the
       rules that need no lookup (inactive, mode, travel radius, province).
       Scored pairs reuse the product's skill + industry.
    3. Text last.  Text (the costly sparse product) adds at most ``w_text``:
       it is computed for the pairs at each demand's k-th best other
       components, then only where those reach the k-th best total so far
       (or the lead's floor) minus ``w_text``.

    Ties are broken by the lower craftsman index, as in a stable dense sort.
    Demands are chunked by mode, and each chunk's product has only the rows of
    craftsmen the activity and mode rules may allow (``rules.possible_craftsmen``).
    Timings and where the time goes: benchmarks/NOTES.md.
    """
    # groups are built on this module's kernels
    from matching.groups import group_craftsmen, group_of_craftsman, sharing_bounds
    from matching.rules import possible_craftsmen

    rnd = prepared or prepare(
        craftsmen, demands, config or RoundConfig(), history=history, exclusions=exclusions
    )
    k = rnd.config.top_k if top_k is None else int(top_k)
    n_c, n_d = rnd.shape
    norm = rnd.config.normalised_weights
    names = [n for n in COMPONENTS if norm[n] > 0]
    if n_c == 0 or n_d == 0:
        return _candidate_table(rnd, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), names)
    # best possible score of a pair sharing nothing: every other component at its maximum (continuity
    # at the best any craftsman has with the demand's enterprise, usually 0)
    best_continuity = rnd.continuity.max(axis=0).toarray().ravel()[rnd.enterprise_d]
    off_support_bound = 1.0 - norm["skill"] - norm["industry"] - norm["continuity"] * (1.0 - best_continuity)
    step = max(1, int(rnd.config.chunk_cells // max(1, n_c)))

    # components other than these four are bounded by their weight until computed
    slack = sum(norm[n] for n in names if n not in ("skill", "industry", "honour", "continuity"))

    groups = group_craftsmen(rnd)
    group_of = group_of_craftsman(groups, n_c)
    honour_or_continuity = [name for name in ("honour", "continuity") if norm[name] > 0]

    # per demand mode, the craftsmen the mode and activity rules may allow: the product's only rows
    by_mode = {}
    for mode in np.unique(rnd.mode_d):
        rows = possible_craftsmen(rnd, int(mode))
        by_mode[int(mode)] = (rows, rnd.skill.left[rows], rnd.industry.left[rows])

    def settle(chunk: tuple[int, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Best pairs of the demands settled by their sharing craftsmen, and the demands still open."""
        mode, cols = chunk
        rows, skill_left, industry_left = by_mode[mode]
        shared = (
            norm["skill"] * (skill_left @ rnd.skill.right[cols].T)
            + norm["industry"] * (industry_left @ rnd.industry.right[cols].T)
        ).tocoo()
        pc, local, value = rows[shared.row], shared.col.astype(np.int64), shared.data
        # an upper bound of each pair's total: its skill + industry part plus its group's bound of the rest
        bound = sharing_bounds(rnd, groups, group_of, cols, best_continuity[cols], pc, local, value)
        possible = np.isfinite(bound)  # -inf: the rules forbid the craftsman's whole group
        pc, local, value, bound = pc[possible], local[possible], value[possible], bound[possible]
        pd = cols[local]
        # exact scores for the most promising pairs give each demand a k-th best to beat ...
        lead = _at_least_top(local, bound, LEAD_FACTOR * k, cols.size)
        lead_c, lead_d = pc[lead], pd[lead]
        best_c, best_d, best_t = _best_of_pairs(
            rnd, lead_c, lead_d, _base_of_pairs(rnd, lead_c, lead_d, names, value[lead]), k
        )
        # ... and only the pairs whose bound beats it are scored too (gathered once, then narrowed)
        floor = _kth_best(best_d, best_t, k, n_d)
        reach = floor - 1e-9  # the same per-pair thresholds as ``floor[pd] - 1e-9``
        rest = bound >= reach[pd]
        rest &= ~lead
        rest = np.flatnonzero(rest)
        rest_c, rest_d, rest_v = pc[rest], pd[rest], value[rest]
        # the same with the pair's own honour, continuity and exact distance (text, availability at 1)
        tight = rest_v + slack
        for name in honour_or_continuity:
            tight += norm[name] * _component(rnd, name, rest_c, rest_d)
        near = _with_exact_distance(rnd, rest_c, rest_d, tight) >= reach[rest_d]
        rest_c, rest_d, rest_v = rest_c[near], rest_d[near], rest_v[near]
        more_c, more_d, more_t = _best_of_pairs(
            rnd, rest_c, rest_d, _base_of_pairs(rnd, rest_c, rest_d, names, rest_v), k, floor
        )
        pc, pd, total = (
            np.concatenate(pair) for pair in ((best_c, more_c), (best_d, more_d), (best_t, more_t))
        )
        keep = _top_k_per_group(pd, total, pc, k)
        pc, pd, total = pc[keep], pd[keep], total[keep]
        kth = _kth_best(pd, total, k, n_d)[cols]
        settled = kth > off_support_bound[cols] + 1e-12  # strictly above: ties go to the off-support search
        return pc, pd, cols[~settled], kth[~settled]

    chunks = []
    for mode in by_mode:
        of_mode = np.flatnonzero(rnd.mode_d == mode)
        chunks += [(mode, of_mode[start : start + step]) for start in range(0, of_mode.size, step)]
    first = map_in_threads(settle, chunks)
    # the best sharing pairs of every demand: final for settled demands, a floor to beat for the others
    best_c, best_d = (
        np.concatenate([np.zeros(0, dtype=np.int64)] + [part[i] for part in first]) for i in (0, 1)
    )
    unsettled = np.concatenate([np.zeros(0, dtype=np.int64)] + [part[2] for part in first])
    floor = np.full(n_d, -np.inf)
    floor[unsettled] = np.concatenate([np.zeros(0)] + [part[3] for part in first])
    is_open = np.zeros(n_d, dtype=bool)
    is_open[unsettled] = True
    done = ~is_open[best_d]

    def search(cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        in_block = np.zeros(n_d, dtype=bool)
        in_block[cols] = True
        sharing = in_block[best_d]
        return _search_off_support(
            rnd, groups, cols, floor[cols], best_continuity[cols], best_c[sharing], best_d[sharing], k, names
        )

    blocks = [unsettled[start : start + step] for start in range(0, unsettled.size, step)]
    second = map_in_threads(search, blocks)
    chosen_c = [best_c[done]] + [pc for pc, _ in second]
    chosen_d = [best_d[done]] + [pd for _, pd in second]
    return _candidate_table(rnd, np.concatenate(chosen_c), np.concatenate(chosen_d), names)


def _at_least_top(group: np.ndarray, value: np.ndarray, m: int, n_groups: int, bins: int = 512) -> np.ndarray:
    """Mask of at least the ``m`` largest values of each group (all of a group with fewer), in linear time.

    A histogram per group instead of a sort: every value in or above the bin holding a
    group's m-th largest is taken, so a few more than m come along.
    """
    if value.size == 0:
        return np.zeros(0, dtype=bool)
    low, high = float(value.min()), float(value.max())
    scale = (bins - 1) / (high - low) if high > low else 0.0
    level = ((value - low) * scale).astype(np.int64)
    counts = np.bincount(group * bins + level, minlength=n_groups * bins).reshape(n_groups, bins)
    from_top = np.cumsum(counts[:, ::-1], axis=1)
    enough = from_top >= m
    lowest = np.where(enough.any(axis=1), bins - 1 - np.argmax(enough, axis=1), 0)
    return level >= lowest[group]


def _rank_in_sorted_groups(sorted_group: np.ndarray) -> np.ndarray:
    """0, 1, 2… within each run of equal values of a sorted array (linear, unlike searchsorted)."""
    if sorted_group.size == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, sorted_group[1:] != sorted_group[:-1]])
    lengths = np.diff(np.r_[starts, sorted_group.size])
    return np.arange(sorted_group.size) - np.repeat(starts, lengths)


def _kth_best(group: np.ndarray, value: np.ndarray, k: int, n_groups: int) -> np.ndarray:
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
    rank = _rank_in_sorted_groups(sorted_key)
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


def _with_exact_distance(rnd: PreparedRound, pc: np.ndarray, pd: np.ndarray, bound: np.ndarray) -> np.ndarray:
    """Pairs' ``bound`` that counted distance at its maximum (1), with the exact distance instead.

    -inf where a rule needing no lookup forbids the pair (inactive, mode, travel radius, province):
    such a pair never enters a top k; the others keep a valid upper bound of their total.
    """
    from matching.rules import ALLOWED, rule_codes

    memo: dict = {}  # the distance and the travel-radius rule share one great-circle computation
    weight = rnd.config.normalised_weights["distance"]
    tighter = bound.copy()
    if weight > 0:
        tighter -= weight * (1.0 - _component(rnd, "distance", pc, pd, memo))
    tighter[rule_codes(rnd, pc, pd, memo, cheap_only=True) != ALLOWED] = -np.inf
    return tighter


def _base_of_pairs(
    rnd: PreparedRound, pc: np.ndarray, pd: np.ndarray, names: list[str], shared: np.ndarray | None = None
) -> np.ndarray:
    """Weighted sum of every component but text for pairs; -inf where a rule forbids the pair.

    ``shared``: the pairs' weighted skill + industry, when a sparse product already gave them
    (the same sums, in the same order, as the row-wise dots would give).
    """
    from matching.rules import ALLOWED, rule_codes  # rules are built on this module's kernels

    norm = rnd.config.normalised_weights
    memo: dict = {}
    base = np.zeros(pc.shape) if shared is None else shared.astype(np.float64, copy=True)
    for name in names:
        if name != "text" and (shared is None or name not in ("skill", "industry")):
            base += norm[name] * _component(rnd, name, pc, pd, memo)
    base[rule_codes(rnd, pc, pd, memo) != ALLOWED] = -np.inf
    return base


def _search_off_support(
    rnd: PreparedRound,
    groups: CraftsmanGroups,
    cols: np.ndarray,
    floor: np.ndarray,
    best_continuity: np.ndarray,
    sharing_c: np.ndarray,
    sharing_d: np.ndarray,
    k: int,
    names: list[str],
) -> tuple[np.ndarray, np.ndarray]:
    """Top k of demands whose best sharing pairs (``sharing_*``, k-th best ``floor``) off-support pairs may beat.

    The top k is among the top k sharing pairs and the off-support pairs scoring at
    least ``floor``; those are among the members of groups whose bound reaches it.
    Some sharing pairs come along with their groups: scored again, they change nothing.
    """
    from matching.groups import SCORE_MARGIN, members_of, off_support_bounds

    bound = off_support_bounds(rnd, groups, cols, best_continuity)
    group, local = np.nonzero(bound >= floor[None, :] - SCORE_MARGIN)
    pc, pd = members_of(groups, group, cols[local])
    # per member, the same bound with its exact distance (and the cheap rules) instead of the group's best
    norm = rnd.config.normalised_weights
    member_local = np.repeat(local, groups.sizes[group])
    member_bound = (
        norm["text"]
        + norm["availability"]
        + norm["distance"]
        + norm["continuity"] * best_continuity[member_local]
        + norm["honour"] * _component(rnd, "honour", pc, pd)
    )
    near = _with_exact_distance(rnd, pc, pd, member_bound) >= floor[member_local] - SCORE_MARGIN
    pc, pd = np.concatenate([pc[near], sharing_c]), np.concatenate([pd[near], sharing_d])
    unique = np.unique(pd * rnd.shape[0] + pc)
    pd, pc = np.divmod(unique, rnd.shape[0])
    pc, pd, _ = _best_of_pairs(rnd, pc, pd, _base_of_pairs(rnd, pc, pd, names), k)
    return pc, pd


def _best_of_pairs(
    rnd: PreparedRound,
    pc: np.ndarray,
    pd: np.ndarray,
    base: np.ndarray,
    k: int,
    floor: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top k per demand among pairs with known non-text ``base`` (-inf = forbidden), adding text lazily.

    Text adds at most ``w_text``.  It is computed first for the pairs at or above each
    demand's k-th best base: the k-th best of their totals is a floor no top-k pair is
    below, so text is needed only where ``base`` reaches that floor minus ``w_text``.

    ``floor`` (per demand): the k-th best total of k other pairs, known already.  Pairs that
    cannot reach it are left out: the result then holds the top k only where they reach it.
    """
    text_weight = rnd.config.normalised_weights["text"]
    allowed = np.isfinite(base)
    if floor is not None:
        allowed &= base >= floor[pd] - text_weight - 1e-9
    pc, pd, base = pc[allowed], pd[allowed], base[allowed]
    total = base
    if text_weight > 0 and pc.size:
        n_d = rnd.shape[1]
        first = base >= _kth_best(pd, base, k, n_d)[pd]  # every pair of a demand with fewer than k
        total = np.full(base.shape, -np.inf)
        total[first] = base[first] + text_weight * _component(rnd, "text", pc[first], pd[first])
        floor_now = _kth_best(pd[first], total[first], k, n_d)
        if floor is not None:
            np.maximum(floor_now, floor, out=floor_now)
        more = ~first & (base >= floor_now[pd] - text_weight - 1e-9)
        total[more] = base[more] + text_weight * _component(rnd, "text", pc[more], pd[more])
        near = first | more
        pc, pd, total = pc[near], pd[near], total[near]
    keep = _top_k_per_group(pd, total, pc, k)
    return pc[keep], pd[keep], total[keep]


def _candidate_table(rnd: PreparedRound, pc: np.ndarray, pd: np.ndarray, names: list[str]) -> CandidatePairs:
    # parts of PAIR_CHUNK pairs on a few threads: the kernels are element-wise per pair, and the
    # row-wise dots chunk by PAIR_CHUNK themselves, so every value is the one a single call gives
    parts = [slice(start, start + PAIR_CHUNK) for start in range(0, pc.size, PAIR_CHUNK)]
    if len(parts) > 1 and names:
        scored = map_in_threads(
            lambda part: weighted(rnd, component_values(rnd, pc[part], pd[part], names)), parts
        )
        total = np.concatenate([part_total for part_total, _ in scored])
        contributions = {name: np.concatenate([part[name] for _, part in scored]) for name in names}
    else:
        total, contributions = weighted(rnd, component_values(rnd, pc, pd, names))
    order = np.lexsort((pc, -total, pd))
    return CandidatePairs(
        craftsman_ids=rnd.craftsmen.ids,
        demand_ids=rnd.demands.ids,
        craftsman=pc[order],
        demand=pd[order],
        total=total[order],
        components=MappingProxyType({name: value[order] for name, value in contributions.items()}),
        weights=MappingProxyType(rnd.config.normalised_weights),
        relevance=relevance_tiers(rnd, pc[order], pd[order]),
    )


def explain(contributions: Mapping[str, float], weights: Mapping[str, float]) -> dict:
    """One pair's breakdown for the UI: per component its raw value, weight and contribution, best first."""
    rows = []
    for name, contribution in contributions.items():
        weight = float(weights.get(name, 0.0))
        rows.append(
            {
                "component": name,
                "value": float(contribution) / weight if weight > 0 else 0.0,
                "weight": weight,
                "contribution": float(contribution),
            }
        )
    rows.sort(key=lambda row: -row["contribution"])
    return {"total": float(sum(r["contribution"] for r in rows)), "components": rows}
