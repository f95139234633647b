"""Groups of similar craftsmen, so the sparse candidate search bounds whole groups at once.

A pair *off support* (the craftsman shares no skill and no industry with the
demand) scores only ``w_text·text + w_distance·distance + w_honour·honour +
w_availability·availability + w_continuity·continuity + w_track_record·track_record``.  Craftsmen are
grouped by place (a grid cell), effective honour rank, service modes and (when
the round keeps matches inside a province) province.  For one group and one
demand:

- honour is the same for every member (same rank), so it is exact;
- distance is at most the decay at the group's *nearest possible* member:
  great-circle distance to the group's centre minus the group's spread (the
  triangle inequality on the sphere);
- text, availability and continuity are bounded by their maxima (1, 1 and the
  best continuity anyone has with the demand's enterprise), the track record by
  the best any member can reach (:func:`record_caps`).

The hard rules that depend only on the group's keys (service mode, province,
a travel radius that even the nearest member's largest radius cannot reach)
forbid the whole group.  Inactive craftsmen and those who can work neither on
site nor remotely are never allowed, so they are in no group.

Every bound is loosened by a margin far wider than floating-point rounding,
so a pair that can reach a threshold is never dropped: the search stays exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from matching.groupwise import number_runs
from matching.kernels import km_from_dot
from matching.prepared import TRACK_NEUTRAL, UNKNOWN_DISTANCE_SCORE, PreparedRound
from matching.rules import must_travel, other_province, wrong_mode

GRID_DEGREES = 0.25  # cell side: a fraction of the shortest distance scale (75 km ≈ 0.7°)
# km.  The chord formula is ill-conditioned near 0: a dot product off by a few ulps
# (~4e-16) moves a tiny distance by up to 2·R·sqrt(4e-16) ≈ 3e-4 km.  Ten metres cover
# that on the centre, the spread and the exact distance alike, and prune nothing real.
KM_MARGIN = 0.01
SCORE_MARGIN = 1e-9  # scores are sums of a few terms in [0, 1]: rounding ~1e-15


@dataclass(frozen=True)
class CraftsmanGroups:
    """Usable craftsmen sorted by group; per group its shared keys and the extent of its places."""

    members: np.ndarray  # (M,) craftsman indices, group by group
    start: np.ndarray  # (G + 1,) group g is members[start[g]:start[g + 1]]
    unit: np.ndarray  # (G, 3) centre on the unit sphere (0 if the places are unknown)
    known: np.ndarray  # (G,) places known (a group is all known or all unknown)
    spread_km: np.ndarray  # (G,) farthest member from the centre, plus KM_MARGIN
    max_radius_km: np.ndarray  # (G,) largest travel radius of a member
    rank: np.ndarray  # (G,) effective honour rank of every member
    can_onsite: np.ndarray  # (G,)
    can_remote: np.ndarray  # (G,)
    province: np.ndarray  # (G,) province index, or -1 (unknown, or provinces do not matter)
    record_cap: np.ndarray  # (G,) the most a member's track record component can be (record_caps)

    @property
    def sizes(self) -> np.ndarray:
        return np.diff(self.start)


def _chord_km(dot: np.ndarray) -> np.ndarray:
    """Great-circle km from the dot product of unit vectors (``great_circle_km``'s formula, on a copy)."""
    return km_from_dot(np.array(dot, dtype=np.float64))


def group_craftsmen(rnd: PreparedRound) -> CraftsmanGroups:
    c = rnd.craftsmen
    usable = np.flatnonzero(c.active & (c.can_onsite | c.can_remote))
    known = rnd.known_c[usable]
    # unknown places share one sentinel cell; their distance component is the fixed neutral value
    lat_cell = np.where(known, np.floor(np.nan_to_num(c.lat[usable]) / GRID_DEGREES), -1e9)
    lon_cell = np.where(known, np.floor(np.nan_to_num(c.lon[usable]) / GRID_DEGREES), -1e9)
    province = rnd.province_c[usable] if not rnd.config.cross_province_allowed else np.zeros(usable.size)
    keys = np.column_stack(
        [lat_cell, lon_cell, rnd.rank_c[usable], c.can_onsite[usable], c.can_remote[usable], province]
    ).astype(np.float64)
    if usable.size == 0:
        keys = np.zeros((0, 6))
    _, group_of = np.unique(keys, axis=0, return_inverse=True)
    group_of = group_of.ravel()
    n_groups = int(group_of.max(initial=-1)) + 1
    order = np.argsort(group_of, kind="stable")
    members, group_of = usable[order], group_of[order]
    start = np.r_[0, np.cumsum(np.bincount(group_of, minlength=n_groups))].astype(np.int64)
    first = members[start[:-1]]

    sums = np.column_stack(
        [np.bincount(group_of, weights=rnd.unit_c[members, axis], minlength=n_groups) for axis in range(3)]
    )
    length = np.linalg.norm(sums, axis=1, keepdims=True)
    # the normalised mean place; any member's place would do (a looser bound) if the mean vanished
    unit = np.where(length > 1e-6, sums / np.maximum(length, 1e-300), rnd.unit_c[first])
    group_known = rnd.known_c[first]
    unit[~group_known] = 0.0
    member_km = _chord_km(np.einsum("ij,ij->i", rnd.unit_c[members], unit[group_of]))
    spread = np.maximum.reduceat(member_km, start[:-1]) if n_groups else np.zeros(0)
    max_radius = np.maximum.reduceat(rnd.radius_c[members], start[:-1]) if n_groups else np.zeros(0)
    return CraftsmanGroups(
        members=members,
        start=start,
        unit=unit,
        known=group_known,
        spread_km=np.where(group_known, spread + KM_MARGIN, 0.0),
        max_radius_km=max_radius,
        rank=rnd.rank_c[first],
        can_onsite=c.can_onsite[first],
        can_remote=c.can_remote[first],
        province=rnd.province_c[first] if not rnd.config.cross_province_allowed else np.full(n_groups, -1),
        record_cap=np.maximum.reduceat(record_caps(rnd)[members], start[:-1]) if n_groups else np.zeros(0),
    )


def record_caps(rnd: PreparedRound) -> np.ndarray:
    """(C,) an upper bound of each craftsman's track record component over every demand.

    The component is ``neutral + Σ_f share[d,f]·deviation[c,f]`` (clipped to [0, 1]) with shares
    that sum to at most 1, so it is at most ``neutral + max(0, max_f deviation[c,f])``: exactly the
    neutral value for the craftsmen without a record (the scores' margin covers rounding).
    """
    best = np.asarray(rnd.track.left.max(axis=1).todense()).ravel() if rnd.track.left.nnz else 0.0
    return np.minimum(TRACK_NEUTRAL + np.maximum(best, 0.0) + np.zeros(rnd.shape[0]), 1.0)


def off_support_bounds(
    rnd: PreparedRound, groups: CraftsmanGroups, cols: np.ndarray, best_continuity: np.ndarray
) -> np.ndarray:
    """(G, len(cols)) upper bound of every member's off-support total; -inf where rules forbid the group.

    ``best_continuity[j]``: the largest continuity any craftsman has with demand ``cols[j]``'s enterprise.
    """
    norm = rnd.config.normalised_weights
    g_rank = groups.rank[:, None]
    mode, known_d = rnd.mode_d[cols][None, :], rnd.known_d[cols][None, :]
    honour = np.minimum(g_rank / rnd.target_d[cols][None, :], 1.0)

    both_known = groups.known[:, None] & known_d
    centre_km = _chord_km(groups.unit @ rnd.unit_d[cols].T)
    nearest_km = np.maximum(centre_km - groups.spread_km[:, None], 0.0)
    decay = np.where(
        both_known, np.exp(-nearest_km / rnd.distance_scale_d[cols][None, :]), UNKNOWN_DISTANCE_SCORE
    )
    slope = rnd.distance_slope_d[cols][None, :]
    distance = slope * decay + (1.0 - slope)

    bound = (
        norm["text"]
        + norm["availability"]
        + norm["track_record"] * groups.record_cap[:, None]  # a family record needs no shared skill
        + norm["continuity"] * best_continuity[None, :]
        + norm["distance"] * distance
        + norm["honour"] * honour
    )
    onsite, remote = groups.can_onsite[:, None], groups.can_remote[:, None]
    beyond_reach = must_travel(mode, remote) & both_known & (nearest_km > groups.max_radius_km[:, None])
    elsewhere = other_province(groups.province[:, None], rnd.province_d[cols][None, :])
    bound[wrong_mode(mode, onsite, remote) | beyond_reach | elsewhere] = -np.inf
    return bound


def members_of(
    groups: CraftsmanGroups, group: np.ndarray, demand: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Expand (group, demand) pairs into (craftsman, demand) pairs."""
    pair, within = number_runs(groups.sizes[group])
    return groups.members[groups.start[group][pair] + within], demand[pair]


def group_of_craftsman(groups: CraftsmanGroups, n_craftsmen: int) -> np.ndarray:
    """(C,) each craftsman's group; ``G`` (one past the last) for those in no group (never allowed)."""
    n_groups = groups.sizes.size
    group_of = np.full(n_craftsmen, n_groups, dtype=np.int64)
    group_of[groups.members] = np.repeat(np.arange(n_groups), groups.sizes)
    return group_of


def sharing_bounds(
    rnd: PreparedRound,
    groups: CraftsmanGroups,
    group_of: np.ndarray,
    cols: np.ndarray,
    best_continuity: np.ndarray,
    pc: np.ndarray,
    local: np.ndarray,
    shared: np.ndarray,
) -> np.ndarray:
    """Upper bound of the total of pairs (``pc``, ``cols[local]``) whose skill + industry part is ``shared``.

    The rest of a pair's total is what an off-support pair scores, so the bound of the
    craftsman's group (:func:`off_support_bounds`) covers it; -inf where the rules forbid the
    whole group or the craftsman is in no group (inactive, or neither on site nor remote).
    """
    table = np.full((groups.sizes.size + 1, cols.size), -np.inf)  # the last row: in no group
    table[:-1] = off_support_bounds(rnd, groups, cols, best_continuity)
    key = group_of[pc]  # a fresh array: built up in place (the search calls this on millions of pairs)
    key *= cols.size
    key += local
    bound = table.ravel()[key]
    bound += shared
    return bound
