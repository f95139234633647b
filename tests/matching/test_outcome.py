"""The round entry (`matching.outcome.run_round`): the same assignment as before track records existed, track
records that count, and explanations that name the skills and say why the runner-up lost."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from matching import RoundConfig
from matching.features import CraftsmanFeatures, DemandFeatures, TrackRecord, synthetic_features
from matching.outcome import RoundInputs, run_round

GOLDEN = Path(__file__).parent / "data" / "rounds_before_track_record.json"
CHENGDU = (30.5729, 104.0668)
PANZHIHUA = (26.5823, 101.7186)  # about 480 km from Chengdu


def _random_track_record(rng, craftsmen) -> TrackRecord:
    n = len(craftsmen) * 2
    skills = sp.random(n, craftsmen.skills.shape[1], density=0.02, random_state=rng, format="csr")
    skills.data[:] = 1.0
    rating = rng.integers(1, 6, n).astype(float)
    rating[rng.random(n) < 0.3] = np.nan
    owners = rng.integers(0, len(craftsmen), n)
    return TrackRecord(tuple(craftsmen.ids[i] for i in owners), skills, rating, rng.integers(0, 3, n))


@pytest.mark.parametrize("case", json.loads(GOLDEN.read_text()), ids=lambda case: f"seed{case['seed']}")
def test_track_record_weight_zero_gives_the_assignment_of_before(case):
    """Recorded with the code before track records (commit 48e7f8d): same pairs and objective, dense and sparse."""
    rng = np.random.default_rng(case["seed"])
    craftsmen, demands, history = synthetic_features(rng, case["craftsmen"], case["demands"])
    config = RoundConfig(weights={**case["weights"], "track_record": 0.0}, relevance=case["relevance"],
                         dense_budget_cells=case["dense_budget_cells"], top_k=10)
    record = _random_track_record(np.random.default_rng(99), craftsmen)
    outcome = run_round(RoundInputs(craftsmen, demands, config, history=history, track_record=record))
    assert sorted([a.craftsman, a.demand] for a in outcome.result.assignments) == case["assignments"]
    assert outcome.result.objective == pytest.approx(case["objective"], rel=1e-12, abs=1e-12)


# skills: 0 ERP (family root), 1 data governance (child of 0), 2 lacquer (root)
PARENT = np.array([-1, 0, -1])


def _two_craftsmen(levels, places=(CHENGDU, CHENGDU), remote=(True, True)):
    return CraftsmanFeatures.build(
        ("near", "other"), n_skills=3, n_industries=1,
        skills=sp.csr_matrix([[levels[0], 0, 0], [levels[1], 0, 0]], dtype=float),
        lat=np.array([places[0][0], places[1][0]]), lon=np.array([places[0][1], places[1][1]]),
        travel_radius_km=np.array([600.0, 600.0]), can_remote=np.array(remote),
    )


def _erp_demand(mode="onsite"):
    return DemandFeatures.build(
        ("erp",), n_skills=3, n_industries=1, required_skills=sp.csr_matrix([[3.0, 0, 0]]),
        lat=np.array([CHENGDU[0]]), lon=np.array([CHENGDU[1]]), mode=(mode,),
    )


def _winner(craftsmen, demands, weights, record=None):
    config = RoundConfig(weights={"skill": 0.35, "distance": 0.15, "track_record": weights})
    outcome = run_round(RoundInputs(craftsmen, demands, config, track_record=record, skill_parent=PARENT))
    return [a.craftsman for a in outcome.result.assignments]


def _record(owner: str, skill: int, ratings) -> TrackRecord:
    n = len(ratings)
    skills = sp.csr_matrix((np.ones(n), (np.arange(n), np.full(n, skill))), shape=(n, 3))
    return TrackRecord((owner,) * n, skills, np.array(ratings, dtype=float), np.zeros(n, dtype=np.int64))


def test_a_well_rated_track_record_in_the_same_family_raises_the_craftsman():
    craftsmen, demands = _two_craftsmen(levels=(5, 4)), _erp_demand()
    in_family = _record("other", 1, [5, 5])  # data governance: ERP's family
    assert _winner(craftsmen, demands, 0.0, in_family) == ["near"]  # weight 0: the higher ERP level wins
    assert _winner(craftsmen, demands, 0.5, in_family) == ["other"]
    assert _winner(craftsmen, demands, 0.5, _record("other", 2, [5, 5])) == ["near"]  # lacquer: another field
    assert _winner(craftsmen, demands, 0.5, _record("other", 1, [1, 1])) == ["near"]  # poorly rated


def test_the_explanation_names_the_skills_and_why_the_runner_up_lost():
    craftsmen = _two_craftsmen(levels=(4, 5), places=(CHENGDU, PANZHIHUA), remote=(True, False))
    outcome = run_round(RoundInputs(craftsmen, _erp_demand("hybrid"), RoundConfig(), skill_parent=PARENT,
                                    track_record=_record("near", 1, [5])))
    chosen, runner_up = outcome.proposals
    assert (chosen.craftsman, chosen.assigned, runner_up.craftsman, runner_up.alternate_rank) == \
        ("near", True, "other", 1)
    assert chosen.facts["skills"] == [{"column": 0, "level": 4.0, "importance": 3.0}]
    assert chosen.facts["track_record"]["services"] == 1 and chosen.facts["track_record"]["mean_rating"] == 5.0
    assert runner_up.facts["skills"] == [{"column": 0, "level": 5.0, "importance": 3.0}]
    assert runner_up.facts["distance_km"] == pytest.approx(480, abs=20)
    assert (runner_up.facts["can_onsite"], runner_up.facts["can_remote"]) == (True, False)
    assert runner_up.facts["lost_to"] == "near"
    assert runner_up.facts["lost"][0]["code"] == "distance"
    assert "far" in runner_up.flags and "far" not in chosen.flags


def test_an_alternate_whose_capacity_went_elsewhere_is_called_busy():
    """One ERP master, two ERP demands: he serves the one that needs him more; for the other he is 'busy'."""
    craftsmen = _two_craftsmen(levels=(5, 2))
    demands = DemandFeatures.build(
        ("urgent", "routine"), n_skills=3, n_industries=1, required_skills=sp.csr_matrix([[3.0, 0, 0], [3.0, 0, 0]]),
        lat=np.full(2, CHENGDU[0]), lon=np.full(2, CHENGDU[1]), priority=np.array([3.0, 1.0]),
    )
    outcome = run_round(RoundInputs(craftsmen, demands, RoundConfig(), skill_parent=PARENT))
    assert sorted(outcome.result.pairs) == [("near", "urgent"), ("other", "routine")]
    runner_up = next(p for p in outcome.proposals if p.demand == "routine" and p.alternate_rank == 1)
    assert runner_up.craftsman == "near"
    assert runner_up.facts["lost"][0] == {"code": "busy", "load": 1, "capacity": 1}
