"""Hard rules: each rule alone forbids exactly the right pairs, with its reason code."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matching import rules
from matching.config import RoundConfig
from matching.features import CraftsmanFeatures, DemandFeatures, FeatureError, synthetic_features
from matching.rules import ALLOWED, allowed_mask, allowed_pairs, reason_label, rule_codes, score_and_mask
from matching.scoring import block_indices, prepare, score

CHENGDU = (30.67, 104.07)
CHONGQING = (29.56, 106.55)  # about 267 km from Chengdu


def craftsmen(n: int, **values) -> CraftsmanFeatures:
    return CraftsmanFeatures.build([f"c{i}" for i in range(n)], n_skills=1, n_industries=1, **values)


def demands(n: int, **values) -> DemandFeatures:
    return DemandFeatures.build([f"d{i}" for i in range(n)], n_skills=1, n_industries=1, **values)


def codes_of(crafts, dems, config=None, exclusions=()) -> np.ndarray:
    allowed, codes = allowed_mask(crafts, dems, config, exclusions=exclusions)
    np.testing.assert_array_equal(allowed, codes == rules.ALLOWED)
    return codes


def test_everything_is_allowed_with_neutral_features():
    assert (codes_of(craftsmen(3), demands(2)) == rules.ALLOWED).all()


def test_inactive_craftsmen_are_forbidden_everywhere():
    codes = codes_of(craftsmen(3, active=[True, False, True]), demands(2))
    np.testing.assert_array_equal(codes, [[0, 0], [1, 1], [0, 0]])


def test_explicit_exclusions_forbid_only_that_pair():
    codes = codes_of(craftsmen(2), demands(2), exclusions=[("c1", "d0")])
    np.testing.assert_array_equal(codes, [[0, 0], [rules.EXCLUDED, 0]])


def test_unknown_exclusion_is_refused():
    with pytest.raises(FeatureError) as err:
        codes_of(craftsmen(1), demands(1), exclusions=[("nobody", "d0")])
    assert err.value.field == "exclusions"


def test_conflict_of_interest_by_employer_or_declared_link():
    crafts = craftsmen(3, employer_id=("E1", "", "E9"), conflict_enterprise_ids=((), ("E2",), ("E1",)))
    dems = demands(2, enterprise_id=("E1", "E2"))
    codes = codes_of(crafts, dems)
    c = rules.CONFLICT
    np.testing.assert_array_equal(codes, [[c, 0], [0, c], [c, 0]])


def test_mode_needs_the_matching_ability():
    crafts = craftsmen(
        4, can_onsite=[True, True, False, False], can_remote=[True, False, True, False]
    )  # both, on-site only, remote only, neither
    dems = demands(3, mode=("onsite", "remote", "hybrid"))
    m = rules.MODE
    np.testing.assert_array_equal(codes_of(crafts, dems), [[0, 0, 0], [0, m, 0], [m, 0, 0], [m, m, m]])


def test_travel_radius_binds_on_site_work_only():
    crafts = craftsmen(
        4,
        lat=[CHENGDU[0]] * 3 + [np.nan],
        lon=[CHENGDU[1]] * 3 + [np.nan],
        travel_radius_km=[300, 200, np.nan, 10],
        can_remote=[True, True, True, True],
    )
    dems = demands(3, lat=[CHONGQING[0]] * 3, lon=[CHONGQING[1]] * 3, mode=("onsite", "hybrid", "remote"))
    codes = codes_of(crafts, dems, RoundConfig(max_onsite_km_default=250))
    far = rules.TOO_FAR
    # radius 300 reaches; 200 and the 250 default do not (on-site); hybrid / remote can be served remotely;
    # an unknown place is never "too far"
    np.testing.assert_array_equal(codes, [[0, 0, 0], [far, 0, 0], [far, 0, 0], [0, 0, 0]])


def test_hybrid_beyond_the_radius_is_forbidden_for_who_cannot_work_remotely():
    crafts = craftsmen(1, lat=[CHENGDU[0]], lon=[CHENGDU[1]], travel_radius_km=[100], can_remote=[False])
    dems = demands(1, lat=[CHONGQING[0]], lon=[CHONGQING[1]], mode=("hybrid",))
    assert codes_of(crafts, dems)[0, 0] == rules.TOO_FAR


def test_cross_province_rule_is_optional_and_ignores_unknown_provinces():
    crafts = craftsmen(3, province=("51", "50", ""))
    dems = demands(2, province=("51", "50"))
    assert (codes_of(crafts, dems) == 0).all()
    codes = codes_of(crafts, dems, RoundConfig(cross_province_allowed=False))
    x = rules.CROSS_PROVINCE
    np.testing.assert_array_equal(codes, [[0, x], [x, 0], [0, 0]])


def test_no_overlapping_window_is_forbidden_but_no_calendar_is_not():
    crafts = craftsmen(3, availability=[[(0, 9)], [(40, 50)], []])
    dems = demands(2, window_start=[5, 30], window_end=[20, 39])
    u = rules.UNAVAILABLE
    np.testing.assert_array_equal(codes_of(crafts, dems), [[0, u], [u, u], [0, 0]])


def test_the_first_failing_rule_is_reported():
    crafts = craftsmen(1, active=[False], can_onsite=[False], employer_id=("E-d0",))
    codes = codes_of(crafts, demands(1), exclusions=[("c0", "d0")])
    assert codes[0, 0] == rules.INACTIVE
    crafts = craftsmen(1, can_onsite=[False], employer_id=("E-d0",), availability=[[(100, 101)]])
    assert codes_of(crafts, demands(1))[0, 0] == rules.CONFLICT


def test_every_reason_has_a_label_in_both_languages():
    assert reason_label(rules.TOO_FAR) == "beyond travel radius"
    assert reason_label(rules.TOO_FAR, "zh_CN") == "超出服务半径"
    assert set(rules.REASONS) == set(range(8))


@settings(max_examples=10, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**32 - 1), cross=st.booleans())
def test_pair_rules_equal_the_block_rules(seed, cross):
    crafts, dems, _ = synthetic_features(np.random.default_rng(seed), 30, 12)
    exclusions = [(crafts.ids[i], dems.ids[j]) for i, j in [(0, 0), (3, 5), (29, 11)]]
    rnd = prepare(crafts, dems, RoundConfig(cross_province_allowed=cross), exclusions=exclusions)
    block = rule_codes(rnd, *block_indices(np.arange(30), np.arange(12)))
    ci, di = np.divmod(np.arange(30 * 12), 12)
    np.testing.assert_array_equal(rule_codes(rnd, ci, di), block.ravel())
    assert block[0, 0] != 0 and block[3, 5] != 0
    assert len(set(np.unique(block)) - {0}) >= 3  # the synthetic round exercises several rules


def test_score_and_mask_in_one_pass_equal_the_separate_calls():
    crafts, dems, history = synthetic_features(np.random.default_rng(4), 300, 500)
    rnd = prepare(crafts, dems, RoundConfig(), history=history, exclusions=[(crafts.ids[1], dems.ids[2])])
    table, allowed, codes = score_and_mask(rnd)
    separate_allowed, separate_codes = allowed_mask(crafts, dems, prepared=rnd)
    np.testing.assert_array_equal(codes, separate_codes)
    np.testing.assert_array_equal(allowed, separate_allowed)
    alone = score(crafts, dems, prepared=rnd)
    np.testing.assert_array_equal(table.total, alone.total)
    for name in alone.components:
        np.testing.assert_array_equal(table.components[name], alone.components[name])


@pytest.mark.parametrize("cross", [False, True])
def test_the_allowed_mask_without_codes_is_the_one_of_the_codes(cross):
    crafts, dems, history = synthetic_features(np.random.default_rng(5), 300, 500)
    exclusions = [(crafts.ids[1], dems.ids[2]), (crafts.ids[7], dems.ids[0])]
    rnd = prepare(crafts, dems, RoundConfig(cross_province_allowed=cross), history=history, exclusions=exclusions)
    table, allowed, codes = score_and_mask(rnd, order="F")
    direct_table, direct_allowed, no_codes = score_and_mask(rnd, order="F", with_codes=False)
    assert no_codes is None and direct_allowed.flags.f_contiguous
    assert 0 < allowed.sum() < allowed.size and len(set(np.unique(codes)) - {ALLOWED}) >= 4
    np.testing.assert_array_equal(direct_allowed, allowed)
    np.testing.assert_array_equal(direct_table.total, table.total)
    np.testing.assert_array_equal(direct_table.relevance, table.relevance)
    ci, di = np.divmod(np.arange(300 * 500), 500)
    np.testing.assert_array_equal(allowed_pairs(rnd, ci, di), allowed.ravel())
