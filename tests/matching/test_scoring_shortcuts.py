"""The dense scoring's shortcuts give the straightforward way's bits (issue 15, a province round's score stage): the
total's first term taken as it is, honour by rank rows, the tiers from the components' signs and the industry's
way only where no skill is required, a chunk's rows sliced, empty tables not looked up, the first window's days
written as they are, a component alike for every pair (no continuity, no track record) one broadcast value."""

from dataclasses import replace

import numpy as np
import pytest
import scipy.sparse as sp

from matching.config import COMPONENTS, RoundConfig
from matching.features import CraftsmanFeatures, DemandFeatures, TrackRecord, synthetic_features
from matching.kernels import _cross, component_values, relevance_tiers, same_signs
from matching.prepared import PreparedRound, prepare
from matching.rules import ALLOWED, rule_codes, score_and_mask
from matching.scoring import block_indices, score


def straightforward(rnd: PreparedRound) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Total, tiers and allowed mask of the whole block the plain way: every component but the text, the tiers and
    the rules pair by pair (the pairs' code shares none of the blocks' shortcuts), the text by a product of rows
    picked one by one, the total summed from zeros."""
    n_c, n_d = rnd.shape
    pc, pd = np.divmod(np.arange(n_c * n_d), n_d)
    norm = rnd.config.normalised_weights
    values = component_values(rnd, pc, pd, [name for name in COMPONENTS if norm[name] > 0 and name != "text"])
    if norm["text"] > 0:
        values["text"] = np.minimum(rnd.text.left[np.arange(n_c)] @ rnd.text.right_dense_t, 1.0).ravel()
    total = np.zeros(n_c * n_d)
    for name in COMPONENTS:
        if name in values:
            total += values[name] * norm[name]
    tiers = relevance_tiers(rnd, pc, pd)
    allowed = rule_codes(rnd, pc, pd) == ALLOWED
    return total.reshape(rnd.shape), tiers.reshape(rnd.shape), allowed.reshape(rnd.shape)


def assert_as_straightforward(rnd: PreparedRound) -> None:
    total, tiers, allowed = straightforward(rnd)
    table = score(rnd.craftsmen, rnd.demands, prepared=rnd)
    np.testing.assert_array_equal(table.total, total)  # bit for bit: assert_array_equal compares exactly
    np.testing.assert_array_equal(table.relevance, tiers)
    scored, scored_allowed, _ = score_and_mask(rnd, with_components=False, order="F", with_codes=False)
    np.testing.assert_array_equal(scored.total, total)
    np.testing.assert_array_equal(scored.relevance, tiers)
    np.testing.assert_array_equal(scored_allowed, allowed)


@pytest.mark.parametrize(
    "weights",
    [
        {},
        {"skill": 0.0},  # the tiers compute the held product themselves
        {"skill": 0.0, "industry": 0.0, "text": 0.0},  # the sum starts at distance
        {name: (1.0 if name == "honour" else 0.0) for name in COMPONENTS},
        {"skill": 5e-324, "industry": 5e-324},  # scaled, most round to 0: the signs are taken before scaling
    ],
)
@pytest.mark.parametrize("seed", range(2))
def test_dense_scores_and_tiers_equal_the_straightforward_way(seed, weights):
    rng = np.random.default_rng(seed)
    # several row chunks; craftsmen with 0-3 availability windows, conflicts, history
    crafts, dems, history = synthetic_features(rng, 700, 300, n_skills=40)
    parent = np.where(np.arange(40) % 5 == 0, -1, np.arange(40) // 5 * 5)
    config = RoundConfig(weights={**RoundConfig().weights, **weights})
    assert_as_straightforward(prepare(crafts, dems, config, history=history, skill_parent=parent))


def test_a_round_with_exclusions_a_track_record_and_provinces_apart():
    rng = np.random.default_rng(5)
    crafts, dems, history = synthetic_features(rng, 400, 150, n_skills=40)
    # every fifth demand requires no skill: its tiers go by its industries, or 1 when it names none either
    skill_less = np.arange(150) % 5 == 0
    industry_less = np.arange(150) % 10 == 0
    dems = replace(dems, required_skills=sp.diags((~skill_less).astype(float)) @ dems.required_skills,
                   industries=sp.diags((~industry_less).astype(float)) @ dems.industries)
    services = sp.csr_matrix((np.ones(600), (np.arange(600), rng.integers(0, 40, 600))), shape=(600, 40))
    record = TrackRecord(tuple(rng.choice(crafts.ids, 600)), services, rng.integers(1, 6, 600).astype(float),
                         rng.integers(0, 2, 600))
    exclusions = [(crafts.ids[i], dems.ids[j]) for i, j in zip(rng.integers(0, 400, 50), rng.integers(0, 150, 50), strict=True)]
    rnd = prepare(crafts, dems, RoundConfig(cross_province_allowed=False), history=history, track_record=record,
                  exclusions=exclusions)
    assert rnd.track.left.nnz and rnd.excluded.nnz and rnd.links.nnz
    assert_as_straightforward(rnd)
    tiers = score(crafts, dems, prepared=rnd).relevance
    assert set(np.unique(tiers[:, skill_less & ~industry_less])) == {0, 2}
    assert set(np.unique(tiers[:, industry_less])) == {1}


def test_a_block_of_rows_not_in_a_row():
    crafts, dems, history = synthetic_features(np.random.default_rng(6), 60, 40)
    rnd = prepare(crafts, dems, RoundConfig(), history=history)
    rows = np.array([5, 3, 4, 40, 41, 42])
    for name in ("skill", "text", "continuity"):
        block = component_values(rnd, *block_indices(rows, np.arange(40)), [name])[name]
        whole = component_values(rnd, *block_indices(np.arange(60), np.arange(40)), [name])[name]
        np.testing.assert_array_equal(block, whole[rows], err_msg=name)


def tiny_skill_round() -> PreparedRound:
    """A craftsman who holds skill 0 so faintly, for a demand that wants it so little, that their skill product
    rounds to 0 although he holds a required skill (tier 2)."""
    crafts = CraftsmanFeatures.build(
        ["faint", "strong"], n_skills=2, n_industries=1,
        skills=sp.csr_matrix(np.array([[1e-300, 0.0], [0.0, 5.0]])),
    )
    dems = DemandFeatures.build(
        ["d0", "d1"], n_skills=2, n_industries=1,
        required_skills=sp.csr_matrix(np.array([[1e-300, 3.0], [0.0, 2.0]])),
    )
    return prepare(crafts, dems, RoundConfig())


def test_a_skill_product_rounding_to_zero_keeps_its_tier():
    rnd = tiny_skill_round()
    assert not same_signs(rnd, "skill")
    assert same_signs(rnd, "industry")
    ci, di = block_indices(np.arange(2), np.arange(2))
    assert _cross(rnd.skill, ci, di)[0, 0] == 0.0  # the case the shortcut must not take
    assert_as_straightforward(rnd)
    assert score(rnd.craftsmen, rnd.demands, prepared=rnd).relevance[0, 0] == 2


def test_the_skill_signs_are_taken_on_a_usual_round():
    crafts, dems, _ = synthetic_features(np.random.default_rng(3), 50, 20)
    assert same_signs(prepare(crafts, dems, RoundConfig()), "skill")
