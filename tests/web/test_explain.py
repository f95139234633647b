"""A proposal's "why" in words, the same on the review page, in the export and in both languages; the track
record loaded from past engagements, their ratings and accepted outcomes."""

from __future__ import annotations

import datetime as dt

import numpy as np
import sqlalchemy as sa

from tests.conftest import NOW
from tests.factories import make_craftsman, make_demand, make_engagement, make_enterprise
from web.models import Feedback, FollowUp, Outcome, Proposal
from web.services import explain, features, rounds


def _erp_round(session, *, track_weight: float = 0.05):
    """"Near" (ERP 4, 成都, on site or remote, a 5-star data-governance service with an accepted outcome) and "far"
    (ERP 5, 攀枝花 ~480 km, on site only) for a hybrid ERP demand in 成都."""
    near = make_craftsman(session, name="张近", skills={"digital.erp": 4}, region_code="510100")
    far = make_craftsman(session, name="李远", skills={"digital.erp": 5}, region_code="510400",
                         can_remote=False, travel_radius_km=600)
    past = make_demand(session, skills={"digital.data_governance": 2}, status="evaluated")
    engagement = make_engagement(session, past, [near], status="evaluated")
    session.add(Feedback(demand_id=past.id, engagement_id=engagement.id, rating=5, created_at=NOW))
    follow_up = FollowUp(engagement_id=engagement.id, kind="result", due_on=dt.date(2025, 6, 1))
    session.add(follow_up)
    session.flush()
    session.add(Outcome(kind="method", title="数据治理工法", follow_up_id=follow_up.id, created_at=NOW))
    demand = make_demand(session, make_enterprise(session), skills={"digital.erp": 3}, mode="hybrid",
                         region_code="510100", title="ERP 数据治理")
    session.flush()
    config = {"weights": {**rounds.default_config()["weights"], "track_record": track_weight}}
    rnd = rounds.create_round(session, name="ERP 轮次", config=config, actor="test", now=NOW)
    rounds.solve_round(session, rnd, actor="test", now=NOW)
    return rnd, near, far, demand


def _proposal(session, rnd, craftsman):
    return session.scalar(sa.select(Proposal).where(Proposal.round_id == rnd.id, Proposal.craftsman_id == craftsman.id))


def test_the_track_record_is_loaded_in_one_query_with_ratings_outcomes_and_skills(session):
    rnd, near, _far, _demand = _erp_round(session)
    record = features.load_track_record(session, rnd.id)
    assert record.craftsman_id == (str(near.id),)
    assert record.rating.tolist() == [5.0] and record.outcomes.tolist() == [1]
    skill_col, _ = features._vocabulary(session, features.Skill)
    governance = session.scalar(sa.select(features.Skill.id).where(features.Skill.code == "digital.data_governance"))
    assert record.skills.nonzero()[1].tolist() == [skill_col[governance]]
    stored = features.track_record_from_snapshot(rnd.snapshot)
    assert stored.craftsman_id == record.craftsman_id and np.array_equal(stored.outcomes, record.outcomes)


def test_the_explanation_names_the_skills_and_why_the_runner_up_lost(session):
    rnd, near, far, _demand = _erp_round(session)
    chosen, runner_up = _proposal(session, rnd, near), _proposal(session, rnd, far)
    assert chosen.assigned and runner_up.alternate_rank == 1
    english = explain.describe_proposal(chosen, "en")
    assert english.startswith("Holds ERP implementation level 4;"), english
    assert "0 km away, serves on site and remotely" in english
    assert "track record in this field: engagements 1, mean rating 5.0, with an accepted outcome 1" in english
    lost = explain.describe_proposal(runner_up, "en")
    assert "Not proposed: has ERP implementation level 5 but is 4" in lost and "km away and serves on site only" in lost
    chinese = explain.describe_proposal(runner_up, "zh_CN")
    assert "未入选：具备ERP实施 5级，但距离 4" in chinese and "公里，且只能线下服务" in chinese
    assert "far" in runner_up.warnings


def test_review_page_and_export_say_the_same_why(session, coordinator_browser):
    rnd, near, _far, _demand = _erp_round(session)
    session.commit()
    chosen = explain.describe_proposal(_proposal(session, rnd, near), "en")
    page = coordinator_browser.get(f"/workspace/rounds/{rnd.id}?lang=en").get_data(as_text=True)
    assert chosen in page
    export = coordinator_browser.get(f"/workspace/rounds/{rnd.id}/export?format=csv")
    assert export.status_code == 200 and export.mimetype == "text/csv"
    text = export.get_data().decode("utf-8-sig")
    assert chosen in text and "Not proposed: has ERP implementation level 5" in text
    workbook = coordinator_browser.get(f"/workspace/rounds/{rnd.id}/export")
    assert workbook.status_code == 200 and workbook.data[:2] == b"PK"


def test_track_record_weight_zero_leaves_the_round_as_it_was(session):
    rnd, near, far, _demand = _erp_round(session, track_weight=0.0)
    chosen = _proposal(session, rnd, near)
    assert "track_record" not in chosen.breakdown and chosen.assigned  # not scored: distance decides
    # still shown: the coordinator sees the record even when the round does not weigh it
    assert "track record in this field: engagements 1" in explain.describe_proposal(chosen, "en")


def test_the_demands_mode_decides_how_the_service_is_described(app):
    facts = {"skills": [{"column": 0, "level": 5, "importance": 3, "name": {"zh": "焊接", "en": "Welding"}}],
             "distance_km": 38.2, "can_onsite": True, "can_remote": False, "honour_rank": 3, "availability": 0.5}
    with app.app_context():
        on_site = explain.describe({**facts, "mode": "onsite"}, "en")
        remote = explain.describe({**facts, "mode": "remote"}, "zh_CN")
        hybrid = explain.describe({**facts, "mode": "hybrid"}, "en")
    assert on_site.startswith("Holds Welding level 5; 38 km away, on site; honour: provincial craftsman; "
                              "available for 50% of the window; no track record in this field yet.")
    assert remote.startswith("具备所需技能：焊接 5级；距离 38 公里，远程服务；荣誉：省级工匠；可服务时间覆盖需求时间窗的 50％")
    assert "38 km away, serves on site only" in hybrid
