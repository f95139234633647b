"""Reference data and demo/synthetic generators in ``seeds``."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import datetime

import pytest
from stdnum.cn import uscc

from seeds import reference
from seeds.demo import generate_demo
from seeds.synthetic import generate_synthetic

SICHUAN = "510000"
CHONGQING = "500000"
APPENDIX_SKILLS = [
    "机电维修",
    "真空系统",
    "国产化替代",
    "数据治理",
    "信息系统部署",
    "三维地质建模",
    "粉末冶金",
    "增材制造",
    "钒钛材料",
    "能源管理",
    "能耗分析",
    "班组管理",
    "焊接",
    "压力容器焊接工艺",
    "无损检测",
    "起重作业安全",
    "行车操作",
    "安全培训",
    "模具设计",
    "铝合金压铸",
    "钳工",
    "工业互联网",
    "PLC",
    "设备预测性维护",
    "农产品烘干",
    "品质分级",
    "包装",
    "微组装工艺",
    "金丝键合",
    "工艺文件编写",
]


def codes(rows: list[dict]) -> set[str]:
    return {row["code"] for row in rows}


# ---------------------------------------------------------------- reference data


def test_regions_cover_both_provinces_and_all_units():
    regions = reference.load_regions()
    assert len(codes(regions)) == len(regions)
    counts = Counter((region["province_code"], region["level"]) for region in regions)
    assert counts[(SICHUAN, "province")] == 1
    assert counts[(CHONGQING, "province")] == 1
    assert counts[(SICHUAN, "prefecture")] == 21
    assert counts[(CHONGQING, "county")] == 38
    assert counts[(SICHUAN, "county")] >= 180
    assert counts[(CHONGQING, "prefecture")] == 0


def test_regions_are_well_formed():
    regions = reference.load_regions()
    by_code = {region["code"]: region for region in regions}
    for region in regions:
        assert re.fullmatch(r"\d{6}", region["code"])
        assert 97.0 < region["lon"] < 111.0 and 26.0 < region["lat"] < 35.0, region
        if region["level"] == "province":
            assert region["parent_code"] is None
        else:
            parent = by_code[region["parent_code"]]
            assert parent["province_code"] == region["province_code"]
    for region in regions:
        if region["province_code"] == CHONGQING and region["level"] == "county":
            assert region["parent_code"] == CHONGQING


def test_demo_places_exist():
    names = {region["name"]: region["code"] for region in reference.load_regions()}
    for code, name in [
        ("500112", "渝北区"),
        ("511111", "沙湾区"),
        ("510603", "旌阳区"),
        ("510402", "东区"),
        ("500120", "璧山区"),
        ("500110", "綦江区"),
        ("511723", "开江县"),
        ("510107", "武侯区"),
    ]:
        assert names[name] == code
    region_codes = codes(reference.load_regions())
    areas = {area["name"]: area for area in reference.load_functional_areas()}
    assert areas["重庆两江新区"]["county_code"] == "500112"
    assert areas["成都高新技术产业开发区"]["county_code"] in region_codes
    assert all(area["county_code"] in region_codes for area in areas.values())


def test_industries_tree_and_sections():
    industries = reference.load_industries()
    by_code = {industry["code"]: industry for industry in industries}
    assert len(by_code) == len(industries)
    for industry in industries:
        assert industry["gbt4754_section"] in set("ABCDEFGHIJKLMNOPQRST")
        assert industry["parent_code"] is None or industry["parent_code"] in by_code
    names = {industry["name_zh"] for industry in industries}
    assert len(names) == len(industries)  # the pickers and the import know an industry by its name
    assert len({industry["name_en"] for industry in industries}) == len(industries)
    for name in [
        "电子信息",
        "装备制造",
        "食品轻纺",
        "能源化工",
        "先进材料",
        "医药健康",
        "新材料",
        "人工智能",
        "物联网",
        "芯片制造",
        "智能设备",
        "智能网联新能源汽车",
        "汽车零部件",
        "压力容器",
        "齿轮",
    ]:
        assert name in names


def test_skills_tree_has_enough_leaves_and_appendix_skills():
    skills = reference.load_skills()
    by_code = {skill["code"]: skill for skill in skills}
    assert len(by_code) == len(skills)
    groups = [skill for skill in skills if skill["parent_code"] is None]
    assert 12 <= len(groups) <= 18
    assert all(skill["parent_code"] in by_code for skill in skills if skill["parent_code"])
    assert len(reference.leaf_skill_codes()) >= 150
    names = {skill["name_zh"] for skill in skills}
    missing = [name for name in APPENDIX_SKILLS if name not in names]
    assert not missing


def test_categories_and_honours():
    categories = reference.load_demand_categories()
    assert [category["code"] for category in categories] == [
        "tech_service",
        "tech_tackling",
        "management",
        "skills_training",
        "apprenticeship",
        "digital",
        "safety",
        "standards",
        "transfer",
    ]
    honours = {honour["code"]: honour for honour in reference.load_honour_levels()}
    assert honours["great_craftsman"]["rank"] == 4
    assert honours["sichuan_craftsman"]["province_code"] == SICHUAN
    assert honours["bayu_craftsman"]["province_code"] == CHONGQING
    assert honours["trainee"]["kind"] == "trainee"
    assert honours["national_model_worker"]["kind"] == "model_worker"


def test_loaders_return_fresh_lists():
    first = reference.load_regions()
    first[0]["name"] = "changed"
    assert reference.load_regions()[0]["name"] != "changed"


@pytest.mark.parametrize("loader", [reference.load_regions, reference.load_skills, reference.load_industries])
def test_loaders_do_not_depend_on_cwd(loader, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert loader()


# ---------------------------------------------------------------- generated records

PHONE = re.compile(r"1[3-9]\d{9}")
TRACKING = re.compile(r"(CQ|SC)-20\d\d-[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{6}")
ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
CRAFTSMAN_FIELDS = {
    "key",
    "name",
    "gender",
    "phone",
    "employer",
    "region_code",
    "honours",
    "studio_key",
    "skills",
    "industries",
    "modes",
    "travel_radius_km",
    "yearly_capacity",
    "round_capacity",
    "availability",
    "status",
    "paused_until",
    "exit_reason",
    "exited_on",
    "bio",
    "points",
}
ENTERPRISE_FIELDS = {
    "credit_code",
    "name",
    "type",
    "region_code",
    "industries",
    "employees",
    "address",
    "contact_name",
    "contact_phone",
}
DEMAND_FIELDS = {
    "tracking_code",
    "enterprise_credit_code",
    "title",
    "description",
    "category_code",
    "industries",
    "skills",
    "team_size",
    "mode",
    "region_code",
    "address",
    "window_start",
    "window_end",
    "urgency",
    "support_needed",
    "status",
    "submitted_at",
    "review_note",
    "merged_into",
}
DEMAND_STATUSES = {
    "submitted",
    "open",
    "matched",
    "in_service",
    "completed",
    "evaluated",
    "rejected",
    "withdrawn",
    "merged",
}


@pytest.fixture(scope="module")
def known():
    return {
        "regions": codes(reference.load_regions()),
        "industries": codes(reference.load_industries()),
        "skills": set(reference.leaf_skill_codes()),
        "categories": codes(reference.load_demand_categories()),
        "honours": codes(reference.load_honour_levels()),
    }


def check_craftsmen(craftsmen: list[dict], known: dict, studio_keys: set[str]) -> None:
    assert len({c["key"] for c in craftsmen}) == len(craftsmen)
    for craftsman in craftsmen:
        assert set(craftsman) == CRAFTSMAN_FIELDS
        assert craftsman["gender"] in ("M", "F")
        assert craftsman["region_code"] in known["regions"]
        assert craftsman["honours"] and {h["code"] for h in craftsman["honours"]} <= known["honours"]
        assert craftsman["studio_key"] is None or craftsman["studio_key"] in studio_keys
        assert craftsman["skills"] and {s["code"] for s in craftsman["skills"]} <= known["skills"]
        assert all(1 <= s["proficiency"] <= 5 for s in craftsman["skills"])
        assert craftsman["industries"] and set(craftsman["industries"]) <= known["industries"]
        assert craftsman["modes"] in (["onsite"], ["remote"], ["onsite", "remote"])
        assert craftsman["status"] in ("active", "paused", "exited")
        assert (craftsman["status"] == "paused") == (craftsman["paused_until"] is not None)
        assert (craftsman["status"] == "exited") == (craftsman["exited_on"] is not None)
        for window in craftsman["availability"]:
            assert ISO_DAY.fullmatch(window["start"]) and window["start"] <= window["end"]


def check_enterprises(enterprises: list[dict], known: dict) -> None:
    credit_codes = [e["credit_code"] for e in enterprises]
    assert len(set(credit_codes)) == len(credit_codes)
    for enterprise in enterprises:
        assert set(enterprise) == ENTERPRISE_FIELDS
        assert uscc.is_valid(enterprise["credit_code"]), enterprise["credit_code"]
        assert enterprise["type"] in ("zjtx", "smme", "large", "other")
        assert enterprise["region_code"] in known["regions"]
        assert set(enterprise["industries"]) <= known["industries"]


def check_demands(demands: list[dict], known: dict, credit_codes: set[str]) -> None:
    tracking_codes = [d["tracking_code"] for d in demands]
    assert len(set(tracking_codes)) == len(tracking_codes)
    for demand in demands:
        assert set(demand) == DEMAND_FIELDS
        assert TRACKING.fullmatch(demand["tracking_code"]), demand["tracking_code"]
        province = "CQ" if demand["region_code"].startswith("50") else "SC"
        assert demand["tracking_code"].startswith(province)
        assert demand["tracking_code"][3:7] == demand["submitted_at"][:4]
        assert demand["enterprise_credit_code"] in credit_codes
        assert demand["category_code"] in known["categories"]
        assert set(demand["industries"]) <= known["industries"]
        assert {s["code"] for s in demand["skills"]} <= known["skills"]
        assert all(1 <= s["importance"] <= 3 for s in demand["skills"])
        assert demand["region_code"] in known["regions"]
        assert demand["mode"] in ("onsite", "remote", "hybrid")
        assert demand["urgency"] in ("low", "medium", "high")
        assert demand["status"] in DEMAND_STATUSES
        assert 1 <= demand["team_size"] <= 4
        assert demand["window_start"] <= demand["window_end"]
        datetime.fromisoformat(demand["submitted_at"])
        if demand["merged_into"] is not None:
            assert demand["status"] == "merged" and demand["merged_into"] in tracking_codes


def check_phones(*groups: list[str]) -> None:
    phones = [phone for group in groups for phone in group]
    assert all(PHONE.fullmatch(phone) for phone in phones)
    assert len(set(phones)) == len(phones)


@pytest.fixture(scope="module")
def demo():
    return generate_demo()


def test_demo_is_deterministic_and_json_able(demo):
    assert generate_demo() == demo
    assert json.loads(json.dumps(demo)) == demo
    assert generate_demo(seed=7) != demo


def test_demo_counts(demo):
    assert len(demo["craftsmen"]) >= 300
    assert len(demo["enterprises"]) == 60
    assert len(demo["demands"]) == 100
    assert len(demo["outcomes"]) == 50
    assert len(demo["engagements"]) >= 6
    assert {(t["region_code"], t["year"]) for t in demo["targets"]} == {(SICHUAN, 2026), (CHONGQING, 2026)}


def test_demo_references_resolve(demo, known):
    studio_keys = {studio["key"] for studio in demo["studios"]}
    assert len(studio_keys) == len(demo["studios"])
    assert all(studio["region_code"] in known["regions"] for studio in demo["studios"])
    assert {studio["level"] for studio in demo["studios"]} == {"national", "provincial", "municipal"}
    check_craftsmen(demo["craftsmen"], known, studio_keys)
    check_enterprises(demo["enterprises"], known)
    check_demands(demo["demands"], known, {e["credit_code"] for e in demo["enterprises"]})
    check_phones([c["phone"] for c in demo["craftsmen"]], [e["contact_phone"] for e in demo["enterprises"]])
    craftsman_keys = {c["key"] for c in demo["craftsmen"]}
    for outcome in demo["outcomes"]:
        assert outcome["kind"] in ("patent", "method", "small_innovation", "standard", "course")
        assert outcome["craftsman_key"] is None or outcome["craftsman_key"] in craftsman_keys
        assert outcome["studio_key"] is None or outcome["studio_key"] in studio_keys
        assert set(outcome["industries"]) <= known["industries"]
    assert len({o["key"] for o in demo["outcomes"]}) == len(demo["outcomes"])


def test_demo_demands_cover_statuses_categories_and_appendix(demo):
    demands = demo["demands"]
    assert {d["status"] for d in demands} == DEMAND_STATUSES
    assert {d["category_code"] for d in demands} == codes(reference.load_demand_categories())
    assert any(2 <= d["team_size"] <= 4 for d in demands)
    assert demands[0]["description"].startswith("冲压自动线上的进口真空发生器故障频发")
    assert demands[9]["description"].startswith("微波组件产线芯片贴装和金丝键合一致性差")
    assert demands[0]["region_code"] == "500112" and demands[0]["tracking_code"].startswith("CQ-")
    assert demands[2]["team_size"] == 3 and demands[2]["region_code"] == "511111"


def test_demo_real_craftsmen_first(demo):
    names = [c["name"] for c in demo["craftsmen"][:7]]
    assert names == ["刘源", "夏元友", "孔建伟", "江勇", "李颖凡", "金国平", "韩世海"]
    honours = Counter(h["code"] for c in demo["craftsmen"] for h in c["honours"])
    assert honours["great_craftsman"] < honours["sichuan_craftsman"] + honours["bayu_craftsman"]
    assert honours["sichuan_craftsman"] + honours["bayu_craftsman"] < honours["municipal_craftsman"]
    assert (
        honours["trainee"] > 0 and honours["national_model_worker"] + honours["provincial_model_worker"] > 0
    )
    provinces = Counter(c["region_code"][:2] for c in demo["craftsmen"])
    assert provinces["51"] > 100 and provinces["50"] > 100
    assert Counter(c["status"] for c in demo["craftsmen"]).most_common(1)[0][0] == "active"


def test_demo_engagements_follow_their_demands(demo):
    demands = {d["tracking_code"]: d for d in demo["demands"]}
    craftsman_keys = {c["key"] for c in demo["craftsmen"]}
    for engagement in demo["engagements"]:
        demand = demands[engagement["demand_tracking_code"]]
        assert demand["status"] == engagement["status"] in ("in_service", "completed", "evaluated")
        assert engagement["craftsman_keys"] and set(engagement["craftsman_keys"]) <= craftsman_keys
        assert (engagement["completed_on"] is None) == (engagement["status"] == "in_service")
        assert (engagement["feedback"] is not None) == (engagement["status"] == "evaluated")
        kinds = [f["kind"] for f in engagement["follow_ups"]]
        assert kinds[0] == "check_2w" and set(kinds) <= {"check_2w", "result", "review_3m", "review_6m"}
        for follow_up in engagement["follow_ups"]:
            assert follow_up["agreement_signed"] == (follow_up["agreement_term_months"] is not None)
            assert follow_up["done_on"] is None or follow_up["done_on"] <= "2026-11-01"
    engaged = {
        d["tracking_code"] for d in demo["demands"] if d["status"] in ("in_service", "completed", "evaluated")
    }
    assert engaged == {e["demand_tracking_code"] for e in demo["engagements"]}


# ---------------------------------------------------------------- synthetic generator


def test_synthetic_shape_and_uniqueness(known):
    data = generate_synthetic(500, 200, seed=3)
    assert set(data) == {"craftsmen", "enterprises", "demands"}
    assert len(data["craftsmen"]) == 500 and len(data["demands"]) == 200
    assert 60 <= len(data["enterprises"]) <= 70
    check_craftsmen(data["craftsmen"], known, set())
    check_enterprises(data["enterprises"], known)
    check_demands(data["demands"], known, {e["credit_code"] for e in data["enterprises"]})
    check_phones([c["phone"] for c in data["craftsmen"]], [e["contact_phone"] for e in data["enterprises"]])
    assert {d["status"] for d in data["demands"]} == {"open"}
    assert generate_synthetic(500, 200, seed=3) == data


def test_synthetic_small_sizes():
    assert generate_synthetic(0, 0, seed=1) == {"craftsmen": [], "enterprises": [], "demands": []}
    tiny = generate_synthetic(3, 1, seed=1)
    assert len(tiny["craftsmen"]) == 3 and len(tiny["enterprises"]) == 1 and len(tiny["demands"]) == 1
