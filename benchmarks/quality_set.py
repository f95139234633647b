"""The labelled evaluation set of `bench_quality.py`, as matching features.

Built from the demo pools (`seeds.demo.generate_demo`: 320 craftsmen, among them the real ones
of the seed articles, and 100 demands, among them the appendix's real needs) plus invented
demands the demo lacks: 跨界攻关小组 teams that state roles, and remote versions of digital and
management needs.  Every demand is open in the evaluation, whatever its demo status, and its
service window starts today (the demo's windows, mostly in the past, keep their length); craftsmen
keep their status (paused and exited ones are in the pool but not eligible).

The labels are the taxonomy's: a craftsman is *relevant* to a demand when he holds one of its
required skills or a skill of the same family (a demand naming no skill: works in one of its
industries); a role wants its own speciality.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from matching.features import CraftsmanFeatures, DemandFeatures, Windows
from seeds.demo import DEFAULT_SEED, generate_demo

# the round's own readings of the pools, so that the evaluation scores demands as a round in the app does
from web.services.features import DEFAULT_WINDOW_DAYS, DIFFICULTY, EPOCH, URGENCY
from web.services.rounds import PRIORITY_BY_URGENCY

REFERENCE = Path(__file__).resolve().parent.parent / "seeds" / "reference"
TODAY = dt.date(2026, 12, 1)

# Invented 跨界攻关小组 needs: (title, county, industry, category, roles as (skill code, count)).
TEAM_DEMANDS = (
    ("智能产线改造跨界攻关小组", "510116", "sc.equipment", "tech_tackling",
     (("weld", 1), ("machining.cnc_milling", 1), ("electrical", 1))),
    ("汽车焊装线机器人节拍提升", "500112", "cq.icv_nev", "tech_tackling",
     (("weld", 1), ("automation", 1))),
    ("钒钛电炉冶炼能耗攻关", "510411", "sc.advanced_materials", "tech_tackling",
     (("materials.vanadium_titanium", 1), ("materials.electric_furnace", 1), ("energy", 1))),
    ("数控机床精度恢复与电气改造", "510703", "sc.equipment", "tech_service",
     (("maint.cnc_repair", 1), ("electrical", 1))),
    ("模具寿命提升联合攻关", "500113", "sub.auto_parts", "tech_tackling",
     (("mould", 1), ("materials", 1), ("quality", 1))),
    ("白酒酿造车间数字化改造", "510500", "sc.food_textile", "digital",
     (("food", 1), ("digital", 1), ("automation", 1))),
    ("电子装联质量提升小组", "510107", "sc.electronic_info", "tech_service",
     (("electronics", 1), ("quality", 1))),
    ("化工装置安全与节能诊断", "510600", "sc.energy_chem", "safety",
     (("chem", 1), ("safety", 1), ("energy", 1))),
    ("精益班组建设与设备维护", "500106", "sc.equipment", "management",
     (("lean", 1), ("maint", 2))),
    ("桥梁钢结构焊接与检测", "500103", "sc.equipment", "tech_tackling",
     (("weld", 2), ("quality", 1))),
    ("传统漆器工坊工艺传承", "510104", "sc.food_textile", "apprenticeship",
     (("craft", 2),)),
    ("装配线工装夹具设计制造", "510903", "sub.auto_parts", "tech_service",
     (("fitting", 1), ("machining", 1), ("mould", 1))),
)
REMOTE_CATEGORIES = ("digital", "management", "standards")
REMOTE_COPIES = 12


@dataclass(frozen=True)
class DemandLabel:
    """What a reader needs to judge one demand's proposals."""

    title: str
    source: str  # "demo" (real appendix needs and templates) or "team" / "remote" (invented here)
    required: tuple[str, ...]  # skill codes
    roles: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class EvaluationSet:
    craftsmen: CraftsmanFeatures
    demands: DemandFeatures
    roles: tuple[tuple[str, int, int], ...]  # (demand id, skill column, count), as build_problem takes them
    skill_parent: np.ndarray
    skill_codes: tuple[str, ...]
    craftsman_names: dict[str, str]
    labels: dict[str, DemandLabel]


def _rows(name: str) -> list[dict[str, str]]:
    with (REFERENCE / name).open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


class _Vocabulary:
    """Codes → columns; a child code also counts for its parent, as the web's features do."""

    def __init__(self, rows: list[dict[str, str]]):
        self.codes = tuple(row["code"] for row in rows)
        self.column = {code: i for i, code in enumerate(self.codes)}
        self.parent = np.array([self.column.get(row["parent_code"], -1) for row in rows], dtype=np.int64)

    def matrix(self, entries: list[list[tuple[str, float]]], *, with_parent: bool) -> sp.csr_matrix:
        dense = np.zeros((len(entries), len(self.codes)))
        for row, own in enumerate(entries):
            for code, value in own:
                column = self.column[code]
                dense[row, column] = max(dense[row, column], value)
                if with_parent and self.parent[column] >= 0:
                    dense[row, self.parent[column]] = max(dense[row, self.parent[column]], value)
        return sp.csr_matrix(dense)


def _day(value: str | dt.date | None, default: dt.date) -> int:
    if value is None:
        return (default - EPOCH).days
    return ((dt.date.fromisoformat(value) if isinstance(value, str) else value) - EPOCH).days


def _honours() -> tuple[dict[str, int], set[str]]:
    """Rank of each craftsman honour, and the 劳模 honours (a flag, one rank more), from the reference seeds."""
    rows = _rows("honour_levels.csv")
    return ({row["code"]: min(int(row["rank"]), 4) for row in rows if row["kind"] != "model_worker"},
            {row["code"] for row in rows if row["kind"] == "model_worker"})


def _craftsmen(records: list[dict], skills: _Vocabulary, industries: _Vocabulary, places) -> CraftsmanFeatures:
    honours = [[h["code"] for h in r["honours"]] for r in records]
    rank_of, model_worker_honours = _honours()
    return CraftsmanFeatures(
        ids=tuple(r["key"] for r in records),
        skills=skills.matrix([[(s["code"], s["proficiency"]) for s in r["skills"]] for r in records],
                             with_parent=True),
        industries=industries.matrix([[(code, 1.0) for code in r["industries"]] for r in records], with_parent=True),
        profile_text=tuple(r["bio"] or "" for r in records),
        lat=np.array([places[r["region_code"]][0] for r in records]),
        lon=np.array([places[r["region_code"]][1] for r in records]),
        province=tuple(r["region_code"][:2] for r in records),
        travel_radius_km=np.array([r["travel_radius_km"] or np.nan for r in records], dtype=float),
        honour_rank=np.array([max((rank_of.get(c, 0) for c in own), default=0) for own in honours], dtype=np.int8),
        model_worker=np.array([bool(model_worker_honours & set(own)) for own in honours]),
        can_onsite=np.array(["onsite" in r["modes"] for r in records]),
        can_remote=np.array(["remote" in r["modes"] for r in records]),
        availability=Windows.from_lists([[(_day(w["start"], TODAY), _day(w["end"], TODAY)) for w in r["availability"]]
                                         for r in records]),
        active=np.array([r["status"] == "active" for r in records]),
        employer_id=("",) * len(records),
        conflict_enterprise_ids=((),) * len(records),
        capacity=np.array([r["round_capacity"] for r in records], dtype=np.int64),
    )


def _invented(demo_demands: list[dict], rng: np.random.Generator) -> list[dict]:
    invented = []
    for number, (title, county, industry, category, roles) in enumerate(TEAM_DEMANDS, start=1):
        invented.append({
            "tracking_code": f"TEAM-{number:02d}", "title": title, "description": title, "support_needed": "",
            "category_code": category, "industries": [industry],
            "skills": [{"code": code, "importance": 3} for code, _ in roles],
            "team_size": sum(count for _, count in roles), "mode": "onsite", "region_code": county,
            "window_start": None, "window_end": None, "urgency": "medium", "enterprise_credit_code": f"T{number}",
            "roles": roles, "source": "team",
        })
    remote_pool = [d for d in demo_demands if d["category_code"] in REMOTE_CATEGORIES]
    for number, index in enumerate(rng.choice(len(remote_pool), REMOTE_COPIES, replace=False), start=1):
        invented.append({**remote_pool[index], "tracking_code": f"REMOTE-{number:02d}", "mode": "remote",
                         "title": remote_pool[index]["title"] + "（远程）", "roles": (), "source": "remote"})
    return invented


def _window_days(record: dict) -> int:
    if record["window_start"] and record["window_end"]:
        return _day(record["window_end"], TODAY) - _day(record["window_start"], TODAY)
    return DEFAULT_WINDOW_DAYS


def _demands(records: list[dict], skills: _Vocabulary, industries: _Vocabulary, places) -> DemandFeatures:
    # every need is open now: the demo's (mostly past) windows keep their length but start today
    starts = [_day(TODAY, TODAY)] * len(records)
    ends = [starts[0] + _window_days(r) for r in records]
    return DemandFeatures(
        ids=tuple(r["tracking_code"] for r in records),
        enterprise_id=tuple(r["enterprise_credit_code"] for r in records),
        required_skills=skills.matrix([[(s["code"], s["importance"]) for s in r["skills"]] for r in records],
                                      with_parent=False),
        industries=industries.matrix([[(code, 1.0) for code in r["industries"]] for r in records], with_parent=False),
        description=tuple(" ".join(filter(None, [r["title"], r["description"], r.get("support_needed")]))
                          for r in records),
        lat=np.array([places[r["region_code"]][0] for r in records]),
        lon=np.array([places[r["region_code"]][1] for r in records]),
        province=tuple(r["region_code"][:2] for r in records),
        mode=tuple(r["mode"] for r in records),
        window_start=np.array(starts, dtype=np.int64),
        window_end=np.maximum(np.array(ends, dtype=np.int64), starts),
        difficulty=np.array([DIFFICULTY.get(r["category_code"], 0) for r in records], dtype=np.int64),
        urgency=np.array([URGENCY.get(r["urgency"], 1) for r in records], dtype=np.int64),
        slots=np.array([r["team_size"] for r in records], dtype=np.int64),
        priority=np.array([PRIORITY_BY_URGENCY.get(r["urgency"], 1.0) for r in records]),
    )


def evaluation_set(seed: int = DEFAULT_SEED) -> EvaluationSet:
    """The demo pools plus the invented team and remote demands, all open, as features."""
    demo = generate_demo(seed)
    skills, industries = _Vocabulary(_rows("skills.csv")), _Vocabulary(_rows("industries.csv"))
    places = {row["code"]: (float(row["lat"]), float(row["lon"])) for row in _rows("regions.csv")}
    demand_records = [{**d, "roles": (), "source": "demo"} for d in demo["demands"]]
    demand_records += _invented(demo["demands"], np.random.default_rng(seed))
    roles = tuple((d["tracking_code"], skills.column[code], count)
                  for d in demand_records for code, count in d["roles"])
    return EvaluationSet(
        craftsmen=_craftsmen(demo["craftsmen"], skills, industries, places),
        demands=_demands(demand_records, skills, industries, places),
        roles=roles,
        skill_parent=skills.parent,
        skill_codes=skills.codes,
        craftsman_names={r["key"]: r["name"] for r in demo["craftsmen"]},
        labels={d["tracking_code"]: DemandLabel(d["title"], d["source"], tuple(s["code"] for s in d["skills"]),
                                                tuple(d["roles"])) for d in demand_records},
    )
