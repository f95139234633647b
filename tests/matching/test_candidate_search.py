"""Exactness of the pruning inside the sparse candidate search (``candidate_pairs``).

Every rule that skips pairs must only skip pairs that cannot reach a demand's
top k: each bound is checked against the exact scores of every pair it covers,
and the whole search against the dense top k on rounds built to stress it
(no skills, no industries, everyone in one place, heavy ties, one province).
"""

from dataclasses import replace

import numpy as np
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from matching.candidates import (
    _at_least_top,
    _base_of_pairs,
    _best_of_pairs,
    _PairCaps,
    _SharingProduct,
    _with_exact_distance,
    candidate_pairs,
)
from matching.config import RoundConfig
from matching.features import TrackRecord, synthetic_features
from matching.groups import (
    group_craftsmen,
    group_of_craftsman,
    members_of,
    off_support_bounds,
    record_caps,
    sharing_bounds,
)
from matching.groupwise import kth_best, top_k_per_group
from matching.kernels import block_indices, component_values
from matching.prepared import prepare
from matching.rules import ALLOWED, possible_craftsmen, rule_codes, score_and_mask
from tests.matching.test_scoring import dense_top_k

WEIGHTS = (
    None,  # the defaults
    {
        "text": 1.0,
        "distance": 1.0,
        "honour": 1.0,
    },  # shared skills do not count: every demand searched off support
    {"skill": 0.2, "distance": 2.0, "availability": 0.5, "continuity": 1.0},
    {"industry": 1.0, "honour": 3.0},  # honour decides: many exact ties, broken by craftsman index
)


def stressed_round(seed: int, n_c: int, n_d: int, *, one_place: bool, no_skills: bool, no_industries: bool):
    """A synthetic round, optionally squeezed into one place or stripped of skills / industries."""
    crafts, dems, history = synthetic_features(
        np.random.default_rng(seed), n_c, n_d, n_skills=12, n_industries=4
    )
    if one_place:  # the groups cannot be told apart by place; unknown places stay unknown
        same = {"lat": 30.67, "lon": 104.07}
        crafts = replace(
            crafts, **{key: np.where(np.isnan(crafts.lat), np.nan, v) for key, v in same.items()}
        )
        dems = replace(dems, **{key: np.where(np.isnan(dems.lat), np.nan, v) for key, v in same.items()})
    if no_skills:
        dems = replace(dems, required_skills=sp.csr_matrix(dems.required_skills.shape))
    if no_industries:
        dems = replace(dems, industries=sp.csr_matrix(dems.industries.shape))
    return crafts, dems, history


def prepared_round(seed, n_c, n_d, *, one_place, no_skills, no_industries, cross, weights):
    """A stressed round prepared under its config: (craftsmen, demands, config, prepared round)."""
    crafts, dems, history = stressed_round(
        seed, n_c, n_d, one_place=one_place, no_skills=no_skills, no_industries=no_industries
    )
    config = RoundConfig(**({"weights": weights} if weights else {}), cross_province_allowed=cross)
    return crafts, dems, config, prepare(crafts, dems, config, history=history)


def exact_totals(rnd, config, pc, pd):
    """Every weighted component of the pairs (pc, pd) and their exact totals."""
    norm = config.normalised_weights
    values = component_values(rnd, pc, pd, [n for n in norm if norm[n] > 0])
    return values, sum(norm[name] * value for name, value in values.items())


ROUNDS = dict(
    seed=st.integers(0, 2**32 - 1),
    one_place=st.booleans(),
    no_skills=st.booleans(),
    no_industries=st.booleans(),
    cross=st.booleans(),
    weights=st.sampled_from(WEIGHTS),
)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(**ROUNDS)
def test_group_bounds_cover_every_allowed_off_support_pair(
    seed, one_place, no_skills, no_industries, cross, weights
):
    crafts, dems, config, rnd = prepared_round(seed, 70, 25, one_place=one_place, no_skills=no_skills,
                                               no_industries=no_industries, cross=cross, weights=weights)
    ci, di = block_indices(np.arange(len(crafts)), np.arange(len(dems)))
    _values, total = exact_totals(rnd, config, ci, di)
    allowed = rule_codes(rnd, ci, di) == ALLOWED
    off_support = ((rnd.skill.left @ rnd.skill.right.T).toarray() == 0) & (
        (rnd.industry.left @ rnd.industry.right.T).toarray() == 0
    )
    best_continuity = rnd.continuity.max(axis=0).toarray().ravel()[rnd.enterprise_d]
    groups = group_craftsmen(rnd)
    bound = off_support_bounds(rnd, groups, np.arange(len(dems)), best_continuity)
    group, demand = np.divmod(np.arange(bound.size), len(dems))
    pc, pd = members_of(groups, group, demand)
    pair_bound = np.repeat(bound.ravel(), groups.sizes[group])
    # every craftsman who may serve is in exactly one group
    usable = crafts.active & (crafts.can_onsite | crafts.can_remote)
    assert sorted(groups.members.tolist()) == np.flatnonzero(usable).tolist()
    covered = off_support[pc, pd] & allowed[pc, pd]
    assert (pair_bound[covered] >= total[pc, pd][covered] - 1e-12).all()
    # a group the rules forbid as a whole holds no allowed pair
    assert not allowed[pc, pd][np.isneginf(pair_bound)].any()
    assert not allowed[np.setdiff1d(np.arange(len(crafts)), groups.members)].any()


@settings(max_examples=20, deadline=None, derandomize=True)
@given(k=st.integers(1, 8), **ROUNDS)
def test_candidate_pairs_equal_the_dense_top_k_on_stressed_rounds(
    seed, k, one_place, no_skills, no_industries, cross, weights
):
    crafts, dems, history = stressed_round(
        seed, 80, 30, one_place=one_place, no_skills=no_skills, no_industries=no_industries
    )
    config = RoundConfig(
        **({"weights": weights} if weights else {}), top_k=k, chunk_cells=80 * 7, cross_province_allowed=cross
    )
    candidates = candidate_pairs(crafts, dems, config, history)
    expected = dense_top_k(crafts, dems, config, history, k)
    for d in range(len(dems)):
        np.testing.assert_array_equal(
            candidates.craftsman[candidates.demand == d], expected[d], err_msg=f"d{d}"
        )


@settings(max_examples=20, deadline=None, derandomize=True)
@given(**ROUNDS)
def test_exact_distance_tightening_keeps_a_bound_of_every_allowed_pair(
    seed, one_place, no_skills, no_industries, cross, weights
):
    crafts, dems, config, rnd = prepared_round(seed, 40, 20, one_place=one_place, no_skills=no_skills,
                                               no_industries=no_industries, cross=cross, weights=weights)
    norm = config.normalised_weights
    pc, pd = np.divmod(np.arange(len(crafts) * len(dems)), len(dems))
    values, total = exact_totals(rnd, config, pc, pd)
    distance = values.get("distance", np.zeros(pc.size))
    loose = total + norm["distance"] * (1.0 - distance)  # distance counted at its maximum
    tight = _with_exact_distance(rnd, pc, pd, loose)
    allowed = rule_codes(rnd, pc, pd) == ALLOWED
    np.testing.assert_allclose(tight[allowed], total[allowed], atol=1e-12)  # exact distance: the total again
    assert (tight[allowed] >= total[allowed] - 1e-12).all()
    cheap_codes = rule_codes(rnd, pc, pd, cheap_only=True)
    np.testing.assert_array_equal(np.isneginf(tight), cheap_codes != ALLOWED)
    assert not (allowed & (cheap_codes != ALLOWED)).any()  # the cheap rules never forbid an allowed pair


@settings(max_examples=25, deadline=None, derandomize=True)
@given(**ROUNDS)
def test_sharing_bounds_cover_every_allowed_pair(seed, one_place, no_skills, no_industries, cross, weights):
    """Skill + industry plus the group's bound of the rest: never below an allowed pair's total."""
    crafts, dems, config, rnd = prepared_round(seed, 70, 25, one_place=one_place, no_skills=no_skills,
                                               no_industries=no_industries, cross=cross, weights=weights)
    norm = config.normalised_weights
    cols = np.random.default_rng(seed).permutation(len(dems))[:17]  # a chunk: columns in any order
    pc, local = np.divmod(np.arange(len(crafts) * cols.size), cols.size)
    pd = cols[local]
    values, total = exact_totals(rnd, config, pc, pd)
    shared = sum(norm[name] * values[name] for name in ("skill", "industry") if name in values) + np.zeros(
        pc.size
    )
    best_continuity = rnd.continuity.max(axis=0).toarray().ravel()[rnd.enterprise_d]
    groups = group_craftsmen(rnd)
    group_of = group_of_craftsman(groups, len(crafts))
    bound = sharing_bounds(rnd, groups, group_of, cols, best_continuity[cols], pc, local, shared)
    allowed = rule_codes(rnd, pc, pd) == ALLOWED
    assert (bound[allowed] >= total[allowed] - 1e-12).all()
    assert not allowed[np.isneginf(bound)].any()


@settings(max_examples=30, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1), m=st.integers(1, 12), ties=st.booleans())
def test_at_least_top_keeps_every_value_up_to_the_mth_best(seed, m, ties):
    rng = np.random.default_rng(seed)
    group = rng.integers(0, 6, 200)
    value = rng.integers(0, 4, 200) / 4 if ties else rng.random(200)
    taken = _at_least_top(group, value, m, 7)
    for g in range(7):
        mine = np.sort(value[group == g])[::-1]
        if mine.size <= m:
            assert taken[group == g].all()
        else:
            assert taken[(group == g) & (value >= mine[m - 1])].all()


@settings(max_examples=25, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1), k=st.integers(1, 6), weights=st.sampled_from(WEIGHTS[:2]))
def test_lazy_text_keeps_the_top_k(seed, k, weights):
    """Text computed only where the base reaches the floor minus w_text: the same top k as text everywhere."""
    rng = np.random.default_rng(seed)
    crafts, dems, history = stressed_round(
        seed, 60, 12, one_place=False, no_skills=False, no_industries=False
    )
    profiles = list(crafts.profile_text)
    for c in rng.choice(len(crafts), 20, replace=False):  # a demand's very words: text cosine 1
        profiles[c] = dems.description[rng.integers(len(dems))]
    crafts = replace(crafts, profile_text=tuple(profiles))
    config = RoundConfig(**({"weights": weights} if weights else {}))
    rnd = prepare(crafts, dems, config, history=history)
    w_text = config.normalised_weights["text"]
    pc, pd = np.divmod(np.arange(len(crafts) * len(dems)), len(dems))
    text = component_values(rnd, pc, pd, ["text"])["text"]
    # bases that make the total (level + 1e-6·text) hinge on pairs whose base is w_text below the rest
    base = rng.integers(0, 3, pc.size) / 4 - w_text * text + 1e-6 * text
    base[rng.random(pc.size) < 0.1] = -np.inf
    got_c, got_d, got_total = _best_of_pairs(rnd, pc, pd, base, k)
    total = base + w_text * text
    for d in range(len(dems)):
        mine = np.flatnonzero((pd == d) & np.isfinite(base))
        best = mine[np.lexsort((pc[mine], -total[mine]))][:k]
        np.testing.assert_array_equal(got_c[got_d == d], pc[best], err_msg=f"d{d}")
        np.testing.assert_array_equal(got_total[got_d == d], total[best])


@settings(max_examples=25, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1), k=st.integers(1, 6), weights=st.sampled_from(WEIGHTS))
def test_a_known_floor_keeps_the_top_k(seed, k, weights):
    """Pairs below the k-th best total of other pairs are left out: with those, still the exact top k."""
    rng = np.random.default_rng(seed)
    crafts, dems, history = stressed_round(
        seed, 60, 12, one_place=False, no_skills=False, no_industries=False
    )
    config = RoundConfig(**({"weights": weights} if weights else {}))
    rnd = prepare(crafts, dems, config, history=history)
    norm = config.normalised_weights
    pc, pd = np.divmod(np.arange(len(crafts) * len(dems)), len(dems))
    base = _base_of_pairs(rnd, pc, pd, [n for n in norm if norm[n] > 0])
    total = base + norm["text"] * component_values(rnd, pc, pd, ["text"])["text"]
    lead = rng.random(pc.size) < 0.3  # any pairs will do: their k-th best total is a floor
    floor = kth_best(pd[lead & np.isfinite(total)], total[lead & np.isfinite(total)], k, len(dems))
    got_c, got_d, got_total = _best_of_pairs(rnd, pc[~lead], pd[~lead], base[~lead], k, floor)
    both_c, both_d = np.r_[pc[lead], got_c], np.r_[pd[lead], got_d]
    both_total = np.r_[total[lead], got_total]
    finite = np.isfinite(both_total)
    both_c, both_d, both_total = both_c[finite], both_d[finite], both_total[finite]
    keep = top_k_per_group(both_d, both_total, both_c, k)
    for d in range(len(dems)):
        mine = np.flatnonzero((pd == d) & np.isfinite(total))
        best = mine[np.lexsort((pc[mine], -total[mine]))][:k]
        np.testing.assert_array_equal(both_c[keep][both_d[keep] == d], pc[best], err_msg=f"d{d}")


@settings(max_examples=25, deadline=None, derandomize=True)
@given(**ROUNDS)
def test_no_craftsman_outside_the_possible_ones_is_allowed(
    seed, one_place, no_skills, no_industries, cross, weights
):
    """The product's rows per demand mode hold every craftsman the rules may allow."""
    crafts, dems, history = stressed_round(
        seed, 70, 25, one_place=one_place, no_skills=no_skills, no_industries=no_industries
    )
    rnd = prepare(crafts, dems, RoundConfig(cross_province_allowed=cross), history=history)
    allowed = rule_codes(rnd, *block_indices(np.arange(len(crafts)), np.arange(len(dems)))) == ALLOWED
    for mode in np.unique(rnd.mode_d):
        outside = np.setdiff1d(np.arange(len(crafts)), possible_craftsmen(rnd, int(mode)))
        assert not allowed[np.ix_(outside, np.flatnonzero(rnd.mode_d == mode))].any()


def round_with_a_track_record(seed: int, n_c: int, n_d: int, config: RoundConfig):
    """A synthetic round whose craftsmen carry track records (some glowing) in skill families."""
    rng = np.random.default_rng(seed)
    crafts, dems, history = synthetic_features(rng, n_c, n_d, n_skills=12, n_industries=4)
    parent = np.where(np.arange(12) < 4, -1, rng.integers(0, 4, 12))  # four families
    n_services = 2 * n_c
    services = sp.csr_matrix(
        (np.ones(n_services), (np.arange(n_services), rng.integers(0, 12, n_services))), shape=(n_services, 12)
    )
    rating = rng.integers(1, 6, n_services).astype(float)
    rating[rng.random(n_services) < 0.3] = np.nan
    record = TrackRecord(tuple(rng.choice(crafts.ids, n_services)), services, rating, rng.integers(0, 2, n_services))
    rnd = prepare(crafts, dems, config, history=history, track_record=record, skill_parent=parent)
    return crafts, dems, rnd


RECORD_WEIGHTS = (
    None,
    {"skill": 1.0, "availability": 2.0, "track_record": 2.0, "distance": 0.5},  # the caps decide
)


@settings(max_examples=20, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1), weights=st.sampled_from(RECORD_WEIGHTS))
def test_pair_caps_cover_availability_and_track_record(seed, weights):
    config = RoundConfig(**({"weights": weights} if weights else {}))
    crafts, dems, rnd = round_with_a_track_record(seed, 60, 20, config)
    ci, di = block_indices(np.arange(len(crafts)), np.arange(len(dems)))
    values = component_values(rnd, ci, di, ["availability", "track_record"])
    norm = config.normalised_weights
    pc, pd = ci.repeat(len(dems), axis=1).ravel(), di.repeat(len(crafts), axis=0).ravel()
    capped = _PairCaps.of(rnd).bound(pc, pd).reshape(len(crafts), len(dems))
    weighted_values = norm["availability"] * values["availability"] + norm["track_record"] * values["track_record"]
    assert (capped >= weighted_values - 1e-12).all()
    assert (record_caps(rnd)[:, None] >= values["track_record"] - 1e-12).all()
    # the caps are more than the weights' sum somewhere: calendars and records do narrow the bounds
    assert (capped < norm["availability"] + norm["track_record"] - 1e-6).any()
    groups = group_craftsmen(rnd)
    member_group = group_of_craftsman(groups, len(crafts))[groups.members]
    assert (groups.record_cap[member_group] >= record_caps(rnd)[groups.members]).all()


@settings(max_examples=12, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1), k=st.integers(1, 8), weights=st.sampled_from(RECORD_WEIGHTS))
def test_candidate_pairs_with_track_records_equal_the_dense_top_k(seed, k, weights):
    config = RoundConfig(**({"weights": weights} if weights else {}), top_k=k, chunk_cells=80 * 7)
    crafts, dems, rnd = round_with_a_track_record(seed, 80, 30, config)
    candidates = candidate_pairs(crafts, dems, prepared=rnd)
    table, allowed, _ = score_and_mask(rnd)
    masked = np.where(allowed, table.total, -np.inf)
    for d in range(len(dems)):
        order = np.lexsort((np.arange(len(crafts)), -masked[:, d]))[:k]
        np.testing.assert_array_equal(
            candidates.craftsman[candidates.demand == d], order[np.isfinite(masked[order, d])], err_msg=f"d{d}"
        )


def test_craftsman_rows_out_of_order_take_the_craftsman_first_product():
    """Rows stored out of column order sum their terms in that order: the search keeps it, and stays exact."""
    crafts, dems, history = synthetic_features(np.random.default_rng(5), 90, 30, n_skills=12, n_industries=4)
    config = RoundConfig(top_k=5, chunk_cells=90 * 7)
    rnd = prepare(crafts, dems, config, history=history)
    skills = rnd.skill.left.copy()
    for row in range(skills.shape[0]):  # the same matrix, each row's entries stored backwards
        span = slice(skills.indptr[row], skills.indptr[row + 1])
        skills.indices[span], skills.data[span] = skills.indices[span][::-1].copy(), skills.data[span][::-1].copy()
    skills.has_sorted_indices = False
    rnd = replace(rnd, skill=replace(rnd.skill, left=skills))
    assert not rnd.skill.left.has_canonical_format
    assert _SharingProduct.of(rnd, np.arange(len(crafts)), _SharingProduct.sorted_right(rnd)).right is None
    candidates = candidate_pairs(crafts, dems, prepared=rnd)
    table, allowed, _ = score_and_mask(rnd)
    masked = np.where(allowed, table.total, -np.inf)
    for d in range(len(dems)):
        order = np.lexsort((np.arange(len(crafts)), -masked[:, d]))[:5]
        np.testing.assert_array_equal(
            candidates.craftsman[candidates.demand == d], order[np.isfinite(masked[order, d])], err_msg=f"d{d}"
        )
