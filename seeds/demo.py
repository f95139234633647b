"""Deterministic demo data: the three pools plus engagements and yearly targets.

``generate_demo()`` returns plain, JSON-able records (dates as ISO strings); the
web engineer's loader inserts them.  Real people and figures come from the seed
articles (``seeds.demo_content``); everything else is invented from one
``random.Random(seed)``, with the fixed reference date ``AS_OF``.
"""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta

from seeds import demo_content as content
from seeds.common import (
    AS_OF,
    CHONGQING,
    HONOUR_RANK,
    SICHUAN,
    SPECIALTIES,
    CreditCodes,
    PhoneBook,
    ReferenceIndex,
    TrackingCodes,
    availability_windows,
    invent_craftsman,
    invent_enterprise,
    iso,
    month_window,
    person_name,
    reference_index,
)

DEFAULT_SEED = 20250923
CRAFTSMEN_TOTAL = 320
INVENTED_STUDIOS = 23
ENTERPRISES_TOTAL = 60
DEMANDS_TOTAL = 100
OUTCOMES_TOTAL = 50
# statuses of the 90 generated demands; with the ten appendix demands every status appears
GENERATED_STATUSES = (
    ["submitted"] * 10
    + ["open"] * 32
    + ["matched"] * 8
    + ["in_service"] * 6
    + ["completed"] * 8
    + ["evaluated"] * 8
    + ["rejected"] * 6
    + ["withdrawn"] * 5
    + ["merged"] * 7
)
ENGAGED_STATUSES = ("in_service", "completed", "evaluated")
SUPPORT_BY_CATEGORY = {
    "tech_service": "现场指导与技术辅导",
    "tech_tackling": "短期合作、联合攻关",
    "management": "管理经验分享与现场辅导",
    "skills_training": "技能培训与考核",
    "apprenticeship": "签订师带徒协议，长期结对",
    "digital": "智改数转方案指导，分步实施",
    "safety": "进厂排查隐患并开展安全培训",
    "standards": "参与制定工艺规范和检验标准",
    "transfer": "成果推介对接与落地指导",
}
SPECIALTY_BY_KEY = {specialty.key: specialty for specialty in SPECIALTIES}
STUDIO_KINDS = ("劳模创新工作室", "技能大师工作室", "工匠人才创新工作室")
TARGETS_2026 = [
    {
        "region_code": SICHUAN,
        "year": 2026,
        "visits": 1200,
        "enterprises": 1000,
        "problems": 1000,
        "skill_upgrades": 10000,
    },
    {
        "region_code": CHONGQING,
        "year": 2026,
        "visits": 1000,
        "enterprises": 800,
        "problems": 900,
        "skill_upgrades": 8000,
    },
]


def generate_demo(seed: int = DEFAULT_SEED) -> dict[str, list[dict]]:
    rng = random.Random(seed)
    index = reference_index()
    phones = PhoneBook(rng)
    credit_codes = CreditCodes(rng)
    tracking = TrackingCodes(rng)

    craftsmen = _craftsmen(rng, index, phones)
    studios = _studios(rng, craftsmen)
    enterprises, specialty_of = _enterprises(rng, index, phones, credit_codes)
    demands = _appendix_demands(rng, index, enterprises, tracking)
    statuses = list(GENERATED_STATUSES)
    rng.shuffle(statuses)
    demands += template_demands(rng, index, enterprises, specialty_of, tracking, statuses)
    _merge_duplicates(rng, demands)
    engagements = _engagements(rng, demands, craftsmen)
    _standing_points(craftsmen)
    outcomes = _outcomes(rng, index, craftsmen, demands)
    return {
        "studios": studios,
        "craftsmen": craftsmen,
        "enterprises": enterprises,
        "demands": demands,
        "outcomes": outcomes,
        "engagements": engagements,
        "targets": [dict(target) for target in TARGETS_2026],
    }


# ---------------------------------------------------------------- craftsmen and studios


def _craftsmen(rng: random.Random, index: ReferenceIndex, phones: PhoneBook) -> list[dict]:
    craftsmen = []
    for real in content.REAL_CRAFTSMEN:
        record = {
            key: value
            for key, value in real.items()
            if key not in ("honours", "skills", "industries", "modes")
        }
        record.update(
            honours=[dict(honour) for honour in real["honours"]],
            skills=[dict(skill) for skill in real["skills"]],
            industries=list(real["industries"]),
            modes=list(real["modes"]),
            phone=phones.new(),
            availability=availability_windows(rng),
            points=0,
        )
        craftsmen.append(_ordered_craftsman(record))
    for number in range(len(craftsmen) + 1, CRAFTSMEN_TOTAL + 1):
        province = SICHUAN if rng.random() < 0.55 else CHONGQING
        craftsmen.append(invent_craftsman(rng, index, f"CM{number:04d}", province, phones))
    return craftsmen


CRAFTSMAN_FIELDS = (
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
)


def _ordered_craftsman(record: dict) -> dict:
    return {field: record[field] for field in CRAFTSMAN_FIELDS}


def _top_rank(craftsman: dict) -> int:
    return max(HONOUR_RANK[honour["code"]] for honour in craftsman["honours"])


def _studios(rng: random.Random, craftsmen: list[dict]) -> list[dict]:
    """Real studios plus studios led by the most honoured invented craftsmen; some members join them."""
    studios = [dict(studio) for studio in content.REAL_STUDIOS]
    invented = [c for c in craftsmen[len(content.REAL_CRAFTSMEN) :] if c["status"] == "active"]
    leaders = sorted(invented, key=lambda c: (-_top_rank(c), c["key"]))[:INVENTED_STUDIOS]
    for number, leader in enumerate(leaders, start=len(studios) + 1):
        rank = _top_rank(leader)
        level = "national" if rank == 4 else "provincial" if rank == 3 and rng.random() < 0.6 else "municipal"
        studio = {
            "key": f"ST{number:03d}",
            "name": leader["name"] + rng.choice(STUDIO_KINDS),
            "level": level,
            "region_code": leader["region_code"],
        }
        studios.append(studio)
        leader["studio_key"] = studio["key"]
        members = [
            c for c in invented if c["studio_key"] is None and c["region_code"] == leader["region_code"]
        ]
        for member in members[: rng.randint(0, 3)]:
            member["studio_key"] = studio["key"]
    return studios


# ---------------------------------------------------------------- enterprises and demands


def _enterprises(rng, index, phones, credit_codes) -> tuple[list[dict], dict[str, str]]:
    """Appendix enterprises first, then invented ones; also returns credit code -> specialty key."""
    enterprises = []
    for name, kind, region_code, industries, employees, address, legal_form in content.APPENDIX_ENTERPRISES:
        enterprises.append(
            {
                "credit_code": credit_codes.new(region_code, legal_form),
                "name": name,
                "type": kind,
                "region_code": region_code,
                "industries": list(industries),
                "employees": employees,
                "address": address,
                "contact_name": _contact_name(rng),
                "contact_phone": phones.new(),
            }
        )
    invented, specialty_of = invent_enterprises(
        rng,
        index,
        phones,
        credit_codes,
        ENTERPRISES_TOTAL - len(enterprises),
        {e["name"] for e in enterprises},
    )
    return enterprises + invented, specialty_of


def invent_enterprises(rng, index, phones, credit_codes, count: int, taken_names: set[str]):
    """``count`` invented enterprises alternating Sichuan/Chongqing, cycling through the specialties the
    demand templates need; also returns credit code -> specialty key so demands fit their enterprise."""
    enterprises = []
    specialty_of: dict[str, str] = {}
    template_specialties = sorted({template[0] for template in content.DEMAND_TEMPLATES})
    for number in range(count):
        specialty = SPECIALTY_BY_KEY[template_specialties[number % len(template_specialties)]]
        province = SICHUAN if number % 2 == 0 else CHONGQING
        enterprise = invent_enterprise(rng, index, province, phones, credit_codes, taken_names, specialty)
        specialty_of[enterprise["credit_code"]] = specialty.key
        enterprises.append(enterprise)
    return enterprises, specialty_of


def _contact_name(rng: random.Random) -> str:
    return person_name(rng, rng.choice("MF"))


def _submitted_at(rng: random.Random, day: date) -> str:
    moment = datetime.combine(day, time(rng.randint(8, 20), rng.randrange(60)))
    return moment.isoformat(timespec="minutes") + "+08:00"


def _demand(rng, index, tracking, enterprise, submitted_on: date, **fields) -> dict:
    province = index.regions[enterprise["region_code"]]["province_code"]
    return {
        "tracking_code": tracking.new(province, submitted_on.year),
        "enterprise_credit_code": enterprise["credit_code"],
        "title": fields["title"],
        "description": fields["description"],
        "category_code": fields["category_code"],
        "industries": fields["industries"],
        "skills": [{"code": code, "importance": importance} for code, importance in fields["skills"]],
        "team_size": fields["team_size"],
        "mode": fields["mode"],
        "region_code": enterprise["region_code"],
        "address": enterprise["address"],
        "window_start": fields["window_start"],
        "window_end": fields["window_end"],
        "urgency": fields["urgency"],
        "support_needed": fields["support_needed"],
        "status": fields["status"],
        "submitted_at": _submitted_at(rng, submitted_on),
        "review_note": fields.get("review_note"),
        "merged_into": None,
    }


def _appendix_demands(rng, index, enterprises, tracking) -> list[dict]:
    demands = []
    for spec in content.APPENDIX_DEMANDS:
        window_start, window_end = month_window(*spec["window"])
        submitted_on = date.fromisoformat(window_start) - timedelta(days=rng.randint(18, 40))
        fields = {key: value for key, value in spec.items() if key not in ("enterprise", "window")}
        fields["industries"] = list(spec["industries"])
        demands.append(
            _demand(
                rng,
                index,
                tracking,
                enterprises[spec["enterprise"]],
                submitted_on,
                window_start=window_start,
                window_end=window_end,
                review_note="已审核，纳入川渝劳模工匠助企行需求清单。",
                **fields,
            )
        )
    return demands


def _dates_for_status(rng: random.Random, status: str) -> tuple[date, date, date]:
    """(submitted_on, window_start, window_end) consistent with where the demand is in its life."""
    if status in ("completed", "evaluated"):
        submitted = AS_OF - timedelta(days=rng.randint(200, 480))
        start = submitted + timedelta(days=rng.randint(20, 45))
        end = min(start + timedelta(days=rng.randint(30, 150)), AS_OF - timedelta(days=20))
    elif status == "in_service":
        submitted = AS_OF - timedelta(days=rng.randint(60, 160))
        start = submitted + timedelta(days=rng.randint(20, 40))
        end = AS_OF + timedelta(days=rng.randint(30, 150))
    else:
        submitted = AS_OF - timedelta(days=rng.randint(1, 75))
        start = max(submitted, AS_OF) + timedelta(days=rng.randint(7, 90))
        end = start + timedelta(days=rng.randint(30, 180))
    return submitted, start, end


def _review_note(rng: random.Random, status: str) -> str | None:
    if status == "submitted":
        return None
    if status == "rejected":
        return rng.choice(content.REJECTION_NOTES)
    if status == "withdrawn":
        return rng.choice(content.WITHDRAWAL_NOTES)
    return rng.choice(content.APPROVAL_NOTES)


def template_demands(rng, index, enterprises, specialty_of, tracking, statuses: list[str]) -> list[dict]:
    """One demand per status, from the templates, each sent by an enterprise of the template's trade."""
    by_specialty: dict[str, list[dict]] = {}
    for enterprise in enterprises:
        if enterprise["credit_code"] in specialty_of:
            by_specialty.setdefault(specialty_of[enterprise["credit_code"]], []).append(enterprise)
    templates = [template for template in content.DEMAND_TEMPLATES if template[0] in by_specialty]
    rng.shuffle(templates)
    demands = []
    for number, status in enumerate(statuses):
        specialty_key, category, title, description, n_range, skills, mode, team_sizes = templates[
            number % len(templates)
        ]
        enterprise = rng.choice(by_specialty[specialty_key])
        submitted, start, end = _dates_for_status(rng, status)
        specialty = SPECIALTY_BY_KEY[specialty_key]
        industries = sorted(set(enterprise["industries"]) | {rng.choice(specialty.industries)})
        demands.append(
            _demand(
                rng,
                index,
                tracking,
                enterprise,
                submitted,
                title=title,
                description=description.format(n=rng.randint(*n_range)),
                category_code=category,
                industries=industries,
                skills=skills,
                team_size=rng.choice(team_sizes),
                mode=mode if rng.random() < 0.8 else "hybrid",
                window_start=iso(start),
                window_end=iso(end),
                urgency=rng.choices(("low", "medium", "high"), weights=(3, 5, 2))[0],
                support_needed=rng.choice(
                    ("现场指导", "现场指导+培训", "联合攻关", "远程咨询+现场复核", "师带徒")
                ),
                status=status,
                review_note=_review_note(rng, status),
            )
        )
    return demands


def _merge_duplicates(rng: random.Random, demands: list[dict]) -> None:
    """A merged demand repeats an earlier, live demand of the same enterprise and points at it."""
    live = [d for d in demands if d["status"] in ("open", "matched", "in_service")]
    for demand in demands:
        if demand["status"] != "merged":
            continue
        target = rng.choice([d for d in live if d["tracking_code"][:2] == demand["tracking_code"][:2]])
        for field in (
            "enterprise_credit_code",
            "category_code",
            "industries",
            "skills",
            "region_code",
            "address",
            "mode",
            "window_start",
            "window_end",
        ):
            demand[field] = (
                target[field]
                if not isinstance(target[field], list)
                else [dict(item) if isinstance(item, dict) else item for item in target[field]]
            )
        demand["title"] = target["title"] + "（补充）"
        demand["description"] = "同一需求再次提交并补充现场情况：" + target["description"]
        demand["merged_into"] = target["tracking_code"]
        demand["review_note"] = f"与 {target['tracking_code']} 为同一需求，已合并。"


# ---------------------------------------------------------------- engagements


def _province(record: dict) -> str:
    return record["region_code"][:2] + "0000"


def _best_craftsmen(
    rng, demand: dict, craftsmen: list[dict], count: int, exclude: set[str], specialty_key: str | None = None
) -> list[str]:
    """Active craftsmen of the demand's province ranked by overlap with the wanted skills."""
    wanted = {skill["code"] for skill in demand["skills"]}
    if specialty_key:
        wanted |= set(reference_index().leaves_by_group[SPECIALTY_BY_KEY[specialty_key].skill_group])
    province = _province(demand)
    scored = []
    for craftsman in craftsmen[len(content.REAL_CRAFTSMEN) :]:
        if craftsman["status"] != "active" or craftsman["key"] in exclude or _province(craftsman) != province:
            continue
        overlap = len(wanted & {skill["code"] for skill in craftsman["skills"]})
        scored.append((-overlap, rng.random(), craftsman["key"]))
    scored.sort()
    return [key for _, _, key in scored[:count]]


def _follow_up(
    kind: str, due: date, done: date | None, figures: tuple | None = None, notes: str = ""
) -> dict:
    problems, value, trained, apprentices, signed, term = (
        figures[:6] if figures else (0, 0.0, 0, 0, False, None)
    )
    return {
        "kind": kind,
        "due_on": iso(due),
        "done_on": iso(done) if done else None,
        "problems_solved": problems,
        "value_created_wan": value,
        "workers_trained": trained,
        "apprentices": apprentices,
        "agreement_signed": signed,
        "agreement_term_months": term,
        "notes": notes,
    }


def _follow_ups(
    rng, started: date, completed: date | None, result: tuple | None, reviews: list[str]
) -> list[dict]:
    check_due = started + timedelta(days=14)
    follow_ups = [
        _follow_up(
            "check_2w",
            check_due,
            check_due if check_due <= AS_OF else None,
            notes="工匠已进场，问题清单已确认。",
        )
    ]
    if completed is None or result is None:
        return follow_ups
    follow_ups.append(
        _follow_up("result", completed, completed + timedelta(days=rng.randint(0, 5)), result, result[6])
    )
    for kind, days, note in zip(("review_3m", "review_6m"), (90, 180), [*reviews, "", ""], strict=False):
        due = completed + timedelta(days=days)
        done = due + timedelta(days=rng.randint(0, 7))
        follow_ups.append(
            _follow_up(kind, due, done if done <= AS_OF else None, notes=note if done <= AS_OF else "")
        )
    return follow_ups


def _engagements(rng, demands: list[dict], craftsmen: list[dict]) -> list[dict]:
    engagements = []
    for position, spec in content.APPENDIX_ENGAGEMENTS.items():
        demand = demands[position]
        keys: list[str] = []
        for wanted in spec["craftsmen"]:
            if wanted.startswith("CM"):
                keys.append(wanted)
            else:
                keys += _best_craftsmen(rng, demand, craftsmen, 1, set(keys), wanted)
        started = date.fromisoformat(spec["started_on"])
        completed = date.fromisoformat(spec["completed_on"]) if spec["completed_on"] else None
        engagements.append(
            _engagement(
                demand,
                keys,
                started,
                completed,
                _follow_ups(rng, started, completed, spec["result"], spec["reviews"]),
                spec["feedback"],
            )
        )
    for demand in demands[len(content.APPENDIX_DEMANDS) :]:
        if demand["status"] not in ENGAGED_STATUSES:
            continue
        keys = _best_craftsmen(rng, demand, craftsmen, demand["team_size"], set())
        started = date.fromisoformat(demand["window_start"])
        completed = None if demand["status"] == "in_service" else date.fromisoformat(demand["window_end"])
        result = None
        if completed:
            signed = rng.random() < 0.3
            result = (
                rng.randint(1, 5),
                round(rng.uniform(3, 150), 1),
                rng.randint(5, 60),
                rng.randint(0, 4),
                signed,
                rng.choice((12, 24)) if signed else None,
                rng.choice(content.RESULT_NOTES),
            )
        feedback = rng.choice(content.FEEDBACK_COMMENTS) if demand["status"] == "evaluated" else None
        engagements.append(
            _engagement(
                demand, keys, started, completed, _follow_ups(rng, started, completed, result, []), feedback
            )
        )
    return engagements


def _moment(rng: random.Random, day: date) -> str:
    """A time in office hours on ``day``, Beijing time."""
    return datetime.combine(day, time(rng.randint(9, 17), rng.randrange(60))).isoformat(timespec="minutes") + "+08:00"


def _engagement(demand, keys, started, completed, follow_ups, feedback) -> dict:
    """Times come from a generator of the engagement's own (seeded by its tracking code), so that adding
    them leaves the rest of the demo data unchanged: matched a few days before the start, rated a few
    days after the completion."""
    rng = random.Random(demand["tracking_code"])
    matched = _moment(rng, started - timedelta(days=rng.randint(3, 12)))
    return {
        "demand_tracking_code": demand["tracking_code"],
        "craftsman_keys": keys,
        "status": demand["status"],
        "matched_at": matched,
        "started_on": iso(started),
        "completed_on": iso(completed) if completed else None,
        "completed_at": _moment(rng, completed) if completed else None,
        "follow_ups": follow_ups,
        "feedback": {"rating": feedback[0], "comment": feedback[1],
                     "rated_at": _moment(rng, completed + timedelta(days=rng.randint(1, 10)))}
        if feedback else None,
    }


def _standing_points(craftsmen: list[dict]) -> None:
    """Points the real craftsmen bring from their standing (the pool's records). The points of the demo
    engagements (completion, high ratings) are written by the loader through the points ledger."""
    by_key = {craftsman["key"]: craftsman for craftsman in craftsmen}
    for real in content.REAL_CRAFTSMEN:
        by_key[real["key"]]["points"] = 100 * _top_rank(real)


# ---------------------------------------------------------------- outcomes


def patent_number(rng: random.Random, year: int) -> str:
    """A Chinese utility-model patent number ZL + 12 digits + '.' + check character."""
    digits = f"{year}2{rng.randrange(10**7):07d}"
    weights = (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5)
    check = sum(int(digit) * weight for digit, weight in zip(digits, weights, strict=True)) % 11
    return f"ZL{digits}.{'X' if check == 10 else check}"


def _outcomes(rng, index: ReferenceIndex, craftsmen: list[dict], demands: list[dict]) -> list[dict]:
    outcomes = []

    def add(kind, title, description, craftsman_key, studio_key, industries, value, year, ref=None):
        outcomes.append(
            {
                "key": f"OC{len(outcomes) + 1:04d}",
                "kind": kind,
                "title": title,
                "description": description,
                "craftsman_key": craftsman_key,
                "studio_key": studio_key,
                "industries": list(industries),
                "value_wan": value,
                "year": year,
                "reference": ref,
            }
        )

    for (
        kind,
        title,
        description,
        craftsman_key,
        studio_key,
        industries,
        value,
        year,
    ) in content.ARTICLE_OUTCOMES:
        add(kind, title, description, craftsman_key, studio_key, industries, value, year)
    by_key = {craftsman["key"]: craftsman for craftsman in craftsmen}
    for position, kind, title, description, value in content.ENGAGEMENT_OUTCOMES:
        lead = content.APPENDIX_ENGAGEMENTS[position]["craftsmen"][0]
        studio = by_key[lead]["studio_key"] if lead.startswith("CM") else None
        add(
            kind,
            title,
            description,
            lead if lead.startswith("CM") else None,
            studio,
            demands[position]["industries"],
            value,
            2026,
        )
    invented = [c for c in craftsmen[len(content.REAL_CRAFTSMEN) :] if _top_rank(c) >= 2]
    for craftsman in rng.sample(invented, OUTCOMES_TOTAL - len(outcomes)):
        skill = index.skill_names[rng.choice(craftsman["skills"])["code"]]
        year = rng.randint(2021, 2026)
        kind = rng.choice(("patent", "patent", "method", "small_innovation", "standard", "course"))
        title, ref = {
            "patent": (f"一种用于{skill}的快速定位工装", patent_number(rng, year)),
            "method": (f"{craftsman['name']}{skill}操作法", None),
            "small_innovation": (f"{skill}工序防错小改造", None),
            "standard": (f"《{skill}作业指导书》企业标准", f"Q/{rng.randint(100, 999)}-{year}"),
            "course": (f"{skill}实训课程", None),
        }[kind]
        value = round(rng.uniform(2, 300), 1) if kind != "course" else None
        add(
            kind,
            title,
            f"{craftsman['employer']}{craftsman['name']}在{skill}岗位上总结形成，已在本单位推广应用。",
            craftsman["key"],
            craftsman["studio_key"],
            craftsman["industries"],
            value,
            year,
            ref,
        )
    return outcomes
