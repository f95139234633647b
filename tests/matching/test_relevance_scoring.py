"""Relevance tiers from the skill taxonomy (issue 11.1): the rule, and dense and sparse scoring agree
on every pair bit for bit."""

import numpy as np
import scipy.sparse as sp

from matching import RoundConfig, build_problem, solve
from matching.candidates import candidate_pairs
from matching.features import CraftsmanFeatures, DemandFeatures, synthetic_features
from matching.scoring import prepare, relevance_tiers, score

# skills: 0 welding (root), 1 argon-arc welding (child of 0), 2 gas welding (child of 0), 3 CNC (root)
PARENT = np.array([-1, 0, 0, -1])


def features():
    craftsmen = CraftsmanFeatures.build(
        ["exact", "sibling", "other", "industry"],
        n_skills=4,
        n_industries=2,
        skills=sp.csr_matrix(np.array([[0, 4, 0, 0], [0, 0, 5, 0], [0, 0, 0, 5], [0, 0, 0, 0]], float)),
        industries=sp.csr_matrix(np.array([[0, 0], [0, 0], [0, 0], [1, 0]], float)),
        capacity=np.full(4, 2),
    )
    demands = DemandFeatures.build(
        ["argon", "by_industry", "nothing"],
        n_skills=4,
        n_industries=2,
        required_skills=sp.csr_matrix(np.array([[0, 3, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]], float)),
        industries=sp.csr_matrix(np.array([[0, 0], [1, 0], [0, 0]], float)),
    )
    return craftsmen, demands


def test_tiers_follow_the_taxonomy():
    craftsmen, demands = features()
    rnd = prepare(craftsmen, demands, RoundConfig(), skill_parent=PARENT)
    ci, di = np.arange(4)[:, None], np.arange(3)[None, :]
    tiers = relevance_tiers(rnd, ci, di)
    # exact holder 2, same family 1, other family 0; the skill-less demand goes by industry;
    # a demand naming nothing leaves everyone at 1
    assert tiers.tolist() == [[2, 0, 1], [1, 0, 1], [0, 0, 1], [0, 2, 1]]
    without_taxonomy = relevance_tiers(prepare(craftsmen, demands, RoundConfig()), ci, di)
    assert without_taxonomy[:, 0].tolist() == [2, 0, 0, 0]


def test_dense_and_sparse_tiers_agree_bit_for_bit():
    rng = np.random.default_rng(7)
    crafts, dems, history = synthetic_features(rng, 300, 80, n_skills=40)
    parent = np.where(np.arange(40) % 5 == 0, -1, np.arange(40) // 5 * 5)
    config = RoundConfig(top_k=12)
    rnd = prepare(crafts, dems, config, history=history, skill_parent=parent)
    table = score(crafts, dems, prepared=rnd)
    sparse = candidate_pairs(crafts, dems, prepared=rnd)
    assert np.array_equal(sparse.relevance, table.relevance[sparse.craftsman, sparse.demand])
    assert set(np.unique(table.relevance)) == {0, 1, 2}


def test_build_problem_carries_tiers_and_the_round_setting():
    craftsmen, demands = features()
    for relevance in ("first", "only", "off"):
        problem = build_problem(
            craftsmen, demands, RoundConfig(relevance=relevance, min_score=0.0), skill_parent=PARENT
        )
        assert problem.relevance_mode == relevance
        assert problem.relevance.shape == (4, 3)
        result = solve(problem)
        for a in result.assignments:
            c, d = problem.craftsmen.index(a.craftsman), problem.demands.index(a.demand)
            assert a.tier == problem.relevance[c, d]
        if relevance == "only":
            assert all(a.relevant for a in result.assignments)
