"""The dense scoring's shortcuts give the straightforward way's bits: the total summed from a zeroed array, honour
divided cell by cell, and the relevance tiers from their own three products (issue 15, a province round's score
stage)."""

import numpy as np
import pytest
import scipy.sparse as sp

from matching.config import COMPONENTS, RoundConfig
from matching.features import CraftsmanFeatures, DemandFeatures, synthetic_features
from matching.kernels import _component, _cross, same_signs
from matching.prepared import PreparedRound, prepare
from matching.rules import score_and_mask
from matching.scoring import block_indices, score


def straightforward(rnd: PreparedRound) -> tuple[np.ndarray, np.ndarray]:
    """Total and tiers of the whole block, computed without any of the shortcuts."""
    ci, di = block_indices(np.arange(rnd.shape[0]), np.arange(rnd.shape[1]))
    norm = rnd.config.normalised_weights
    total = np.zeros(rnd.shape)
    for name in COMPONENTS:
        if norm[name] > 0:
            value = np.minimum(rnd.rank_c[ci] / rnd.target_d[di], 1.0) if name == "honour" else _component(
                rnd, name, ci, di)
            total += value * norm[name]
    exact = _cross(rnd.held, ci, di) > 0
    family = _cross(rnd.family, ci, di) > 0
    industry = _cross(rnd.industry, ci, di) > 0
    by_skill = np.where(exact, 2, np.where(family, 1, 0))
    by_industry = np.where(rnd.names_industry_d[di], np.where(industry, 2, 0), 1)
    return total, np.where(rnd.names_skill_d[di], by_skill, by_industry).astype(np.int8)


def assert_as_straightforward(rnd: PreparedRound) -> None:
    total, tiers = straightforward(rnd)
    table = score(rnd.craftsmen, rnd.demands, prepared=rnd)
    np.testing.assert_array_equal(table.total, total)  # bit for bit: assert_array_equal compares exactly
    np.testing.assert_array_equal(table.relevance, tiers)
    scored, _, _ = score_and_mask(rnd, with_components=False, order="F", with_codes=False)
    np.testing.assert_array_equal(scored.total, total)
    np.testing.assert_array_equal(scored.relevance, tiers)


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
    crafts, dems, history = synthetic_features(rng, 700, 300, n_skills=40)  # several row chunks
    parent = np.where(np.arange(40) % 5 == 0, -1, np.arange(40) // 5 * 5)
    config = RoundConfig(weights={**RoundConfig().weights, **weights})
    assert_as_straightforward(prepare(crafts, dems, config, history=history, skill_parent=parent))


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
