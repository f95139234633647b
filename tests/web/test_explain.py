"""A proposal's "why" in words, the same on the review page, in the export and in both languages; the track
record loaded from past engagements, their ratings and accepted outcomes."""

from __future__ import annotations

import datetime as dt
import json
import re

import numpy as np
import sqlalchemy as sa

from tests.conftest import NOW
from tests.factories import make_craftsman, make_demand, make_engagement, make_enterprise
from web.models import Feedback, FollowUp, Outcome, Proposal, Skill
from web.services import explain, features, rounds
from web.services.round_report import round_report


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


def test_a_model_worker_is_named_as_one_not_by_the_rank_his_honour_raises(session, coordinator_browser):
    # The rank counts a 劳模 honour one level up: a 全国劳模 with no craftsman's title ranked as a trainee, a 市级工匠
    # who is a 省部级劳模 as a provincial craftsman, and the "why" named those titles.
    make_craftsman(session, name="全劳模", skills={"weld": 5}, region_code="510100",
                                honours=["national_model_worker"])
    make_craftsman(session, name="市劳模", skills={"weld": 5}, region_code="510100",
                          honours=["municipal_craftsman", "provincial_model_worker"])
    for _ in range(2):
        make_demand(session, skills={"weld": 3}, region_code="510100")
    rnd = rounds.create_round(session, name="劳模", demand_filters={"region": "510100"},
                              craftsman_filters={"region": "510100"}, config={}, default_capacity=None,
                              actor="test", now=NOW)
    rounds.solve_round(session, rnd, actor="test", now=NOW)
    session.commit()
    said = re.findall(r'<p class="why-text">(.*?)</p>', coordinator_browser.text(f"/workspace/rounds/{rnd.id}"))
    assert any("荣誉：劳模；" in why for why in said) and any("荣誉：市级工匠、劳模；" in why for why in said), said
    assert not any("工匠培育对象" in why or "省级工匠" in why for why in said), said
    english = coordinator_browser.text(f"/workspace/rounds/{rnd.id}?lang=en")
    assert "honour: municipal craftsman, model worker;" in english and "honour: model worker;" in english


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


def test_a_sentence_is_in_the_language_asked_for_whatever_the_pages_and_in_the_pages_by_default(app):
    from web.i18n import catalogue_fixed

    facts = {"skills": [{"column": 0, "level": 5, "importance": 3, "name": {"zh": "焊接", "en": "Welding"}}],
             "distance_km": 38.2, "mode": "onsite", "can_onsite": True, "honour_rank": 3, "availability": 0.5}
    for page in ("zh_CN", "en"):
        with app.test_request_context(f"/?lang={page}"), catalogue_fixed():  # as within a page's render
            asked = {locale: explain.describe(facts, locale) for locale in ("en", "zh_CN", None)}
        assert asked["en"].startswith("Holds Welding level 5; 38 km away, on site; honour: provincial craftsman")
        assert asked["zh_CN"].startswith("具备所需技能：焊接 5级；距离 38 公里")
        assert asked[None] == asked[page]


# A solve's facts name skills and industries by the round's columns; here columns 0-3 are skills 11-14, 0-1 are
# industries 21-22 (skill 14 has no English name).
COLUMN_FACTS = {"skills": [{"column": 0, "level": 5, "importance": 3}],
                "family_skills": [{"column": 1, "via": 2, "level": 4}], "missing": [3], "industries": [0, 1],
                "distance_km": 12.4, "mode": "onsite", "can_onsite": True, "can_remote": True, "honour_rank": 3,
                "availability": 0.8, "role": 0, "lost": [{"code": "busy", "capacity": 1}]}
NAMES = explain.Vocabulary([(11, "焊接", "Welding"), (12, "铆接", "Riveting"), (13, "钣金", "Sheet metal"),
                            (14, "喷涂", None)], [(21, "汽车", "Automotive"), (22, "航空航天", "Aerospace")])


def _name(zh, en=None):
    return {"zh": zh, "en": en or zh}


# The same facts as rounds stored them before ids were stored: every skill and industry named in the row.
STORED_WITH_NAMES = {**COLUMN_FACTS, "skills": [{**COLUMN_FACTS["skills"][0], "name": _name("焊接", "Welding")}],
                     "family_skills": [{**COLUMN_FACTS["family_skills"][0], "name": _name("铆接", "Riveting"),
                                        "via_name": _name("钣金", "Sheet metal")}],
                     "missing": [_name("喷涂")], "industries": [_name("汽车", "Automotive"), _name("航空航天", "Aerospace")],
                     "role_name": _name("焊接", "Welding")}


def test_facts_are_stored_by_id_and_read_as_the_facts_stored_with_names_did(app):
    stored = explain.fact_identifier((11, 12, 13, 14), (21, 22))(COLUMN_FACTS)
    assert stored["skills"] == [{"level": 5, "importance": 3, "skill": 11}]
    assert stored["family_skills"] == [{"via": 13, "level": 4, "skill": 12}]
    assert (stored["missing"], stored["industries"], stored["role"]) == ([14], [21, 22], 11)
    assert "name" not in json.dumps(stored) and "Welding" not in json.dumps(stored)
    with app.app_context():
        for locale in ("en", "zh_CN"):
            before = explain.describe(STORED_WITH_NAMES, locale)
            assert explain.describe(stored, locale, NAMES) == before
            assert explain.describe(STORED_WITH_NAMES, locale, NAMES) == before  # names stored win
        english = explain.describe(stored, "en", NAMES)
    for words in ("Fills the role Welding", "holds Welding level 5", "for Riveting, a skill of the same family: Sheet "
                  "metal level 4", "lacks 喷涂", "works in Automotive, Aerospace"):
        assert words in english, english


def test_a_column_beyond_the_vocabulary_and_an_unknown_id_read_as_placeholders(app):
    stored = explain.fact_identifier((11,), (21,))({"skills": [{"column": 4, "level": 2, "importance": 1}],
                                                   "industries": [0], "missing": [11]})
    assert stored["skills"][0]["skill"] == {"zh": "#4", "en": "#4"}
    with app.app_context():
        english = explain.describe(stored, "en", NAMES)
    assert english.startswith("Holds #4 level 2; lacks #11; works in Automotive;"), english


def _as_stored_before(facts, ids, names):
    """Id facts as a solve stored them before ids were: by the round's columns, each skill and industry named."""
    skills, industries = ids
    named = explain.with_names(facts, names)
    return {**named, "skills": [{"column": skills.index(s["skill"]), "level": s["level"], "importance": s["importance"],
                                 "name": s["name"]} for s in named["skills"]],
            "family_skills": [{"column": skills.index(s["skill"]), "via": skills.index(s["via"]), "level": s["level"],
                               "name": s["name"], "via_name": s["via_name"]} for s in named["family_skills"]],
            **({"role": skills.index(facts["role"])} if facts.get("role") is not None else {})}


def _shown(browser, rnd) -> list[bytes]:
    """The round's review page in both languages and its export, as a coordinator gets them (CSRF tokens aside)."""
    pages = [browser.get(f"/workspace/rounds/{rnd.id}?lang={lang}").get_data() for lang in ("en", "zh_CN")]
    export = [browser.get(f"/workspace/rounds/{rnd.id}/export?format=csv&lang={lang}").get_data() for lang in ("en", "zh")]
    return [re.sub(rb'value="[^"]*" name="csrf_token"|name="csrf_token"[^>]*value="[^"]*"', b"", page)
            for page in pages] + export


def test_rows_stored_with_names_before_read_as_they_did(session, coordinator_browser):
    rnd, near, _far, _demand = _erp_round(session)
    session.commit()
    proposals = session.scalars(sa.select(Proposal).where(Proposal.round_id == rnd.id)).all()
    assert proposals and all(isinstance(p.breakdown["facts"]["skills"][0]["skill"], int) for p in proposals)
    with_ids = (_shown(coordinator_browser, rnd), round_report(session, rnd))
    assert b"ERP implementation level 4" in with_ids[0][0]
    ids, names = explain.vocabulary_ids(session), explain.vocabulary(session)
    for proposal in proposals:
        proposal.breakdown = {**proposal.breakdown,
                              "facts": _as_stored_before(proposal.breakdown["facts"], ids, names)}
    session.commit()
    session.expire_all()
    assert all("name" in p.breakdown["facts"]["skills"][0] for p in proposals)
    assert (_shown(coordinator_browser, rnd), round_report(session, rnd)) == with_ids


def test_a_renamed_skill_reads_with_its_new_name_without_solving_again(session, coordinator_browser):
    rnd, near, _far, _demand = _erp_round(session)
    assert explain.describe_proposal(_proposal(session, rnd, near), "en").startswith("Holds ERP implementation level 4;")
    session.execute(sa.update(Skill).where(Skill.code == "digital.erp").values(name_en="ERP rollout"))
    session.commit()
    session.expire_all()
    assert explain.describe_proposal(_proposal(session, rnd, near), "en").startswith("Holds ERP rollout level 4;")
    page = coordinator_browser.get(f"/workspace/rounds/{rnd.id}?lang=en").get_data(as_text=True)
    assert "Holds ERP rollout level 4;" in page and "ERP implementation" not in page
