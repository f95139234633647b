"""The exact top-k allowed craftsmen per demand, without a dense C × D matrix (see :func:`candidate_pairs`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import scipy.sparse as sp

from matching.config import COMPONENTS, RoundConfig
from matching.features import CraftsmanFeatures, DemandFeatures, History
from matching.groups import (
    SCORE_MARGIN,
    CraftsmanGroups,
    group_craftsmen,
    group_of_craftsman,
    members_of,
    off_support_bounds,
    record_caps,
    sharing_bounds,
)
from matching.groupwise import kth_best, top_k_per_group
from matching.kernels import (
    PAIR_CHUNK,
    _component,
    component_values,
    relevance_tiers,
    weighted,
)
from matching.prepared import PreparedRound, prepare
from matching.rules import ALLOWED, possible_craftsmen, rule_codes
from matching.threads import map_in_threads

LEAD_FACTOR = 4  # candidate search: pairs scored exactly first, per demand, as a multiple of k


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

    # text and distance are bounded by their weight until computed, availability and track record by
    # each craftsman's caps
    slack = sum(norm[n] for n in names if n in ("text", "distance"))
    caps = _PairCaps.of(rnd)

    groups = group_craftsmen(rnd)
    group_of = group_of_craftsman(groups, n_c)
    honour_or_continuity = [name for name in ("honour", "continuity") if norm[name] > 0]

    # per demand mode, the craftsmen the mode and activity rules may allow: the product's only rows
    by_mode = {}
    right = _SharingProduct.sorted_right(rnd)
    for mode in np.unique(rnd.mode_d):
        rows = possible_craftsmen(rnd, int(mode))
        by_mode[int(mode)] = (rows, _SharingProduct.of(rnd, rows, right), group_of[rows])

    def settle(chunk: tuple[int, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Best pairs of the demands settled by their sharing craftsmen, and the demands still open."""
        mode, cols = chunk
        rows, product, group_of_row = by_mode[mode]
        shared = product.of_demands(rnd, cols)  # (demands, craftsmen)
        row, value = shared.indices, shared.data
        local = np.repeat(np.arange(cols.size), np.diff(shared.indptr))
        # an upper bound of each pair's total: its skill + industry part plus its group's bound of the rest
        # (-inf where the rules forbid the craftsman's whole group)
        bound = sharing_bounds(rnd, groups, group_of_row, cols, best_continuity[cols], row, local, value)
        # exact scores for the most promising pairs give each demand a k-th best to beat ...
        lead = np.flatnonzero(_at_least_top(local, np.maximum(bound, 0.0), LEAD_FACTOR * k, cols.size))
        lead_c, lead_d = rows[row[lead]], cols[local[lead]]
        best_c, best_d, best_t = _best_of_pairs(
            rnd, lead_c, lead_d, _base_of_pairs(rnd, lead_c, lead_d, names, value[lead]), k
        )
        # ... and only the pairs whose bound beats it are scored too (gathered once, then narrowed)
        floor = kth_best(best_d, best_t, k, n_d)
        reach = floor[cols] - 1e-9  # the same per-pair thresholds as ``floor[pd] - 1e-9``
        rest = bound >= reach[local]
        rest[lead] = False
        rest = np.flatnonzero(rest)
        rest_local, rest_v = local[rest], value[rest]
        rest_c, rest_d = rows[row[rest]], cols[rest_local]
        # the same with the pair's own honour, continuity, caps and exact distance (text at its weight)
        tight = caps.bound(rest_c, rest_d)
        tight += rest_v
        tight += slack
        for name in honour_or_continuity:
            tight += norm[name] * _component(rnd, name, rest_c, rest_d)
        rest_reach = reach[rest_local]
        capped = np.flatnonzero(tight >= rest_reach)  # distance still at 1: the caps rule out many
        rest_c, rest_d, rest_reach, rest_v, tight = (
            part[capped] for part in (rest_c, rest_d, rest_reach, rest_v, tight)
        )
        near = _with_exact_distance(rnd, rest_c, rest_d, tight) >= rest_reach
        rest_c, rest_d, rest_v = rest_c[near], rest_d[near], rest_v[near]
        more_c, more_d, more_t = _best_of_pairs(
            rnd, rest_c, rest_d, _base_of_pairs(rnd, rest_c, rest_d, names, rest_v), k, floor
        )
        pc, pd, total = (
            np.concatenate(pair) for pair in ((best_c, more_c), (best_d, more_d), (best_t, more_t))
        )
        keep = top_k_per_group(pd, total, pc, k)
        pc, pd, total = pc[keep], pd[keep], total[keep]
        kth = kth_best(pd, total, k, n_d)[cols]
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
            rnd,
            groups,
            caps,
            cols,
            floor[cols],
            best_continuity[cols],
            best_c[sharing],
            best_d[sharing],
            k,
            names,
        )

    blocks = [unsettled[start : start + step] for start in range(0, unsettled.size, step)]
    second = map_in_threads(search, blocks)
    chosen_c = [best_c[done]] + [pc for pc, _ in second]
    chosen_d = [best_d[done]] + [pd for _, pd in second]
    return _candidate_table(rnd, np.concatenate(chosen_c), np.concatenate(chosen_d), names)


@dataclass(frozen=True)
class _SharingProduct:
    """``w_skill·skill + w_industry·industry`` of a chunk's demands and one mode's possible craftsmen.

    Its sums are the scores' own: ``w·(left @ right.T)`` adds a pair's terms in the craftsman row's
    order.  When the craftsman rows are canonical (sorted, no duplicate), the product is taken the
    other way round, demand rows (sorted copies) times the craftsmen's transposed rows: the same terms
    in the same ascending order, but the work follows the few demands of a chunk instead of scanning
    every craftsman row for each chunk (about half the time of the two products).
    """

    left: tuple[sp.csr_matrix, sp.csr_matrix]  # skill, industry: (K, rows) transposed, or (rows, K)
    right: tuple[sp.csr_matrix, sp.csr_matrix] | None  # sorted copies of the demand rows; None: rows first

    @staticmethod
    def sorted_right(rnd: PreparedRound) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        """The skill and industry demand rows with sorted indices (the same for every mode: sorted once)."""
        return tuple(product.right.sorted_indices() for product in (rnd.skill, rnd.industry))

    @classmethod
    def of(cls, rnd: PreparedRound, rows: np.ndarray, right: tuple[sp.csr_matrix, sp.csr_matrix]) -> _SharingProduct:
        """The product for craftsmen ``rows``; ``right``: `sorted_right` of the round."""
        products = (rnd.skill, rnd.industry)
        if all(product.left.has_canonical_format for product in products) and all(
            matrix.has_canonical_format for matrix in right
        ):
            return cls(tuple(sp.csr_matrix(product.left[rows].T) for product in products), right)
        return cls(tuple(product.left[rows] for product in products), None)

    def of_demands(self, rnd: PreparedRound, cols: np.ndarray) -> sp.csr_matrix:
        """(len(cols), rows) CSR of the weighted skill + industry of every sharing pair."""
        norm = rnd.config.normalised_weights
        if self.right is None:
            skill = rnd.skill.right[cols].T
            industry = rnd.industry.right[cols].T
            return sp.csr_matrix(
                (norm["skill"] * (self.left[0] @ skill) + norm["industry"] * (self.left[1] @ industry)).T
            )
        skill, industry = (right[cols] @ left for right, left in zip(self.right, self.left, strict=True))
        return sp.csr_matrix(norm["skill"] * skill + norm["industry"] * industry)


@dataclass(frozen=True)
class _PairCaps:
    """Per-craftsman caps of availability and track record, so bounds need not count them at 1.

    A craftsman's windows cover at most their own days of a demand's window (availability ≤
    min(1, days / window length); 1 without a calendar), and his track record component is at
    most ``groups.record_caps``.
    """

    weights: tuple[float, float]  # normalised weights of availability and track record
    calendar_days: np.ndarray  # (C,) days in the craftsman's windows; inf without a calendar
    window_days: np.ndarray  # (D,)
    record: np.ndarray  # (C,)

    @classmethod
    def of(cls, rnd: PreparedRound) -> _PairCaps:
        windows = rnd.craftsmen.availability
        days = np.bincount(windows.owners, weights=windows.end - windows.start + 1, minlength=rnd.shape[0])
        days = days.astype(np.float64)  # an empty bincount is integer
        days[windows.count == 0] = np.inf
        norm = rnd.config.normalised_weights
        return cls((norm["availability"], norm["track_record"]), days, rnd.window_length_d, record_caps(rnd))

    def bound(self, pc: np.ndarray, pd: np.ndarray) -> np.ndarray:
        """The weighted availability + track record of pairs can be no more than this."""
        availability, track = self.weights
        cap = np.divide(self.calendar_days[pc], self.window_days[pd])
        np.minimum(cap, 1.0, out=cap)
        cap *= availability
        cap += track * self.record[pc]
        return cap


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


def _with_exact_distance(rnd: PreparedRound, pc: np.ndarray, pd: np.ndarray, bound: np.ndarray) -> np.ndarray:
    """Pairs' ``bound`` that counted distance at its maximum (1), with the exact distance instead.

    -inf where a rule needing no lookup forbids the pair (inactive, mode, travel radius, province):
    such a pair never enters a top k; the others keep a valid upper bound of their total.
    """
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
    caps: _PairCaps,
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
    bound = off_support_bounds(rnd, groups, cols, best_continuity)
    group, local = np.nonzero(bound >= floor[None, :] - SCORE_MARGIN)
    pc, pd = members_of(groups, group, cols[local])
    # per member, the same bound with its exact distance (and the cheap rules) instead of the group's best
    norm = rnd.config.normalised_weights
    member_local = np.repeat(local, groups.sizes[group])
    member_bound = caps.bound(pc, pd)
    member_bound += (
        norm["text"]
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
        first = base >= kth_best(pd, base, k, n_d)[pd]  # every pair of a demand with fewer than k
        total = np.full(base.shape, -np.inf)
        total[first] = base[first] + text_weight * _component(rnd, "text", pc[first], pd[first])
        floor_now = kth_best(pd[first], total[first], k, n_d)
        if floor is not None:
            np.maximum(floor_now, floor, out=floor_now)
        more = ~first & (base >= floor_now[pd] - text_weight - 1e-9)
        total[more] = base[more] + text_weight * _component(rnd, "text", pc[more], pd[more])
        near = first | more
        pc, pd, total = pc[near], pd[near], total[near]
    keep = top_k_per_group(pd, total, pc, k)
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
