"""Building blocks shared by the demo and synthetic generators.

Everything here draws from a ``random.Random`` passed in by the caller; nothing
uses the global random state or the clock, so generators stay reproducible.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache

from stdnum.cn import uscc

from seeds import reference

AS_OF = date(2026, 11, 1)
SICHUAN = "510000"
CHONGQING = "500000"
PROVINCE_NAMES = {SICHUAN: "四川省", CHONGQING: "重庆市"}
TRACKING_PREFIX = {SICHUAN: "SC", CHONGQING: "CQ"}
# unambiguous alphabet for tracking codes: no 0/O, 1/I/L
TRACKING_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


def words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


MOBILE_PREFIXES = words(
    "130 131 132 133 134 135 136 137 138 139 150 151 152 153 155 156 157 158 159 "
    "166 172 173 175 176 177 178 180 181 182 183 184 185 186 187 188 189 191 193 195 198 199"
)

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程"
    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏付方白邹孟熊秦邱江尹薛段雷侯龙史陶黎贺顾毛郝龚"
    "邵万严覃武戴向汤文冉游敬蒲税母"
)
# the first surnames are the most frequent ones: weight them accordingly
SURNAME_WEIGHTS = [max(1, 40 - index) for index in range(len(SURNAMES))]
GIVEN_MALE = "伟强军平刚勇杰涛明超斌鹏磊辉波华建国志林峰东海兵宇浩俊凯文龙成德全祥飞彬坤川渝江松"
GIVEN_FEMALE = "芳娟敏静丽燕艳玲霞红梅琴英慧婷雪莉倩颖佳蓉琳洁萍兰秀春晓瑶丹欣璐"
GIVEN_NEUTRAL = "小晓永新清远长云家春立光继德世"

BRANDS = words(
    "华川 蜀峰 渝丰 恒远 天府 嘉陵 岷江 锦程 长江 金沙 峨眉 青城 巴山 三峡 涪江 沱江 明月 龙泉 玉垒 "
    "缙云 歌乐 铜锣 华蓥 米仓 剑门 蒙顶 凤凰 川恒 渝通 蜀达 安宁 雅砻 大渡 乌江 綦南 合力 精工 鼎信 "
    "瑞丰 宏川 启航 众诚 博创 卓越 聚能 汇川 华鼎 泰和 兴隆 盛达 永联 中渝 西成 成渝 川南 渝西 嘉州"
)
STREETS = words(
    "工业大道 科技路 创新大道 兴业路 园区一路 园区二路 滨江路 迎宾大道 金桥路 长兴路 "
    "嘉陵路 龙腾大道 高新大道 锦绣路 学府路 鸿运路 富民路 经开大道 物流大道 西环路"
)

# Industrial districts get most craftsmen and enterprises; other counties appear now and then.
INDUSTRIAL_COUNTIES = {
    SICHUAN: words(
        "510104 510105 510106 510107 510108 510112 510113 510114 510115 510116 510117 510302 510311 "
        "510402 510411 510502 510504 510603 510681 510682 510703 510704 510781 510802 510903 510981 "
        "511011 511102 511111 511112 511302 511322 511402 511403 511502 511504 511602 511702 511723 "
        "511802 511902 512002 513401"
    ),
    CHONGQING: words(
        "500101 500102 500104 500105 500106 500107 500108 500109 500110 500111 500112 500113 500115 "
        "500116 500117 500118 500120 500151 500153 500154"
    ),
}


@dataclass(frozen=True)
class Specialty:
    """A craftsman's trade: the skill group they master and the industries they serve."""

    key: str
    label: str
    skill_group: str
    related_skills: tuple[str, ...]
    industries: tuple[str, ...]
    employer_words: tuple[str, ...]
    roles: tuple[str, ...]


SPECIALTIES = (
    Specialty(
        "welding",
        "焊接",
        "weld",
        ("quality.ndt", "lean.mentoring", "materials.heat_treatment"),
        ("sc.equipment", "sub.pressure_vessel", "sub.boiler", "sub.rail_equipment"),
        ("重型机械", "锅炉", "压力容器", "钢结构"),
        ("焊接特级技师", "电焊工首席技师", "焊接班组长"),
    ),
    Specialty(
        "machining",
        "数控加工",
        "machining",
        ("quality.cmm", "fitting.precision_assembly"),
        ("sc.equipment", "sub.machine_tools", "sub.aerospace", "cq.smart_equipment"),
        ("精密机械", "机床", "航空部件"),
        ("数控车工高级技师", "数控铣工首席技师", "机加车间主任"),
    ),
    Specialty(
        "fitting",
        "装配钳工",
        "fitting",
        ("quality.cmm", "maint.fault_diagnosis"),
        ("sc.equipment", "sub.special_equipment", "sub.rail_equipment", "cq.power_equipment"),
        ("装备", "机械", "动力机械"),
        ("装配钳工特级技师", "钳工班长", "总装首席技师"),
    ),
    Specialty(
        "electrical",
        "电气",
        "electrical",
        ("safety.electrical", "automation.plc"),
        ("sub.power_grid", "sub.hydropower", "cq.new_energy_storage"),
        ("电力", "供电", "水电"),
        ("变电检修首席技师", "高级电工技师", "继电保护专责"),
    ),
    Specialty(
        "maintenance",
        "设备维修",
        "maint",
        ("automation.plc", "electrical.maintenance_electrician"),
        ("sub.auto_parts", "cq.icv_nev", "sc.equipment", "cq.motorcycle"),
        ("汽车", "机电", "摩托车"),
        ("机电维修高级技师", "设备维修首席技师", "维修班组长"),
    ),
    Specialty(
        "automation",
        "智能制造",
        "automation",
        ("digital.data_analysis", "maint.fault_diagnosis"),
        ("cq.smart_equipment", "np.smart_devices", "np.iot", "cq.ai_robotics", "cq.smart_mfg_equipment"),
        ("智能装备", "自动化", "机器人"),
        ("自动化首席技师", "工业机器人调试技师", "智能产线工程师"),
    ),
    Specialty(
        "mould",
        "模具",
        "mould",
        ("fitting.bench", "machining.edm"),
        ("sub.moulds", "cq.icv_nev", "cq.motorcycle", "cq.light_alloy"),
        ("模具", "压铸", "精密成型"),
        ("模具钳工特级技师", "压铸工艺首席技师", "模具车间主任"),
    ),
    Specialty(
        "materials",
        "材料",
        "materials",
        ("quality.management", "energy.consumption_analysis"),
        (
            "sc.advanced_materials",
            "np.new_materials",
            "sub.vanadium_titanium",
            "sub.steelmaking",
            "sub.powder_metallurgy",
            "cq.advanced_materials",
        ),
        ("钢铁", "新材料", "钒钛"),
        ("炼钢高级技师", "热处理首席技师", "材料工艺主管"),
    ),
    Specialty(
        "chemical",
        "化工",
        "chem",
        ("safety.hazardous_chemicals", "energy.waste_heat"),
        ("sc.energy_chem", "sub.natural_gas_chem", "cq.synthetic_materials", "sub.pharma"),
        ("化工", "天然气化工", "精细化工"),
        ("化工总控工高级技师", "装置班长", "工艺首席技师"),
    ),
    Specialty(
        "energy",
        "能源管理",
        "energy",
        ("lean.cost_control", "electrical.motor_drive"),
        ("sc.energy_chem", "cq.new_energy_storage", "sub.metallurgy", "sub.hydropower"),
        ("能源", "新能源", "冶金"),
        ("能源管理师", "节能技术主管", "动力车间主任"),
    ),
    Specialty(
        "food",
        "食品加工",
        "food",
        ("quality.management", "lean.six_s"),
        ("sc.food_textile", "sub.agri_processing", "cq.food_agri", "sub.baijiu", "sub.tea"),
        ("食品", "酒业", "茶业", "农业开发"),
        ("酿酒高级技师", "食品检验技师", "生产技术主管"),
    ),
    Specialty(
        "quality",
        "质量检测",
        "quality",
        ("lean.production", "machining.gear_cutting"),
        ("sub.auto_parts", "sub.gears", "sc.equipment", "cq.sensors"),
        ("齿轮", "汽车零部件", "仪器仪表"),
        ("质量工程师", "无损检测高级技师", "计量检定员"),
    ),
    Specialty(
        "lean",
        "精益管理",
        "lean",
        ("quality.management", "safety.hazard_inspection"),
        ("sc.equipment", "cq.icv_nev", "sc.food_textile", "sub.textile"),
        ("机械", "汽车", "纺织"),
        ("班组长", "精益生产推进主管", "车间主任"),
    ),
    Specialty(
        "safety",
        "安全生产",
        "safety",
        ("lean.team_management", "electrical.electrician"),
        ("sub.steelmaking", "sub.mining", "sub.construction", "sub.oil_gas"),
        ("钢铁", "矿业", "建设"),
        ("安全总监", "行车班长", "安全培训师"),
    ),
    Specialty(
        "electronics",
        "电子装联",
        "electronics",
        ("quality.process_docs", "quality.spc"),
        (
            "sc.electronic_info",
            "np.chips",
            "cq.electronics_mfg",
            "sub.microwave_components",
            "cq.power_semi",
            "cq.new_display",
        ),
        ("电子", "微电子", "光电"),
        ("微组装工艺师", "电子装接高级技师", "SMT工艺主管"),
    ),
    Specialty(
        "digital",
        "数字化",
        "digital",
        ("automation.iiot", "automation.mes"),
        (
            "cq.software",
            "np.ai",
            "np.iot",
            "sub.industrial_software",
            "sub.cybersecurity",
            "sub.geological_survey",
        ),
        ("信息技术", "软件", "数智科技"),
        ("信息安全专家", "数据工程师", "信息化主管"),
    ),
    Specialty(
        "construction",
        "建筑测绘",
        "construction",
        ("safety.work_at_height", "digital.gis"),
        ("sub.construction", "sub.geological_survey", "sub.mining"),
        ("建设", "地质勘查", "路桥"),
        ("测量首席技师", "钢结构高级技师", "隧道施工技师"),
    ),
    Specialty(
        "craft",
        "传统技艺",
        "craft",
        ("food.fermentation", "quality.management"),
        ("sub.tcm", "sc.medicine_health", "cq.modern_tcm", "sub.textile"),
        ("中药", "文旅", "工艺品"),
        ("中药炮制技师", "非遗传承人", "工艺美术师"),
    ),
)


@dataclass
class ReferenceIndex:
    """Reference data arranged for quick random picks."""

    regions: dict[str, dict]
    counties_by_province: dict[str, list[str]]
    leaves_by_group: dict[str, list[str]]
    skill_names: dict[str, str]
    industry_names: dict[str, str]
    industrial_counties: dict[str, list[str]] = field(default_factory=dict)

    def prefecture_name(self, county_code: str) -> str:
        region = self.regions[county_code]
        if region["province_code"] == CHONGQING:
            return ""
        return self.regions[region["parent_code"]]["name"]

    def short_place(self, county_code: str) -> str:
        """A place word for a firm name: 重庆 for Chongqing, the city name without 市/州 in Sichuan."""
        region = self.regions[county_code]
        if region["province_code"] == CHONGQING:
            return "重庆"
        name = self.prefecture_name(county_code)
        for suffix in ("藏族羌族自治州", "藏族自治州", "彝族自治州", "市"):
            if name.endswith(suffix):
                return name[: -len(suffix)]
        return name

    def full_place(self, county_code: str) -> str:
        region = self.regions[county_code]
        return PROVINCE_NAMES[region["province_code"]] + self.prefecture_name(county_code) + region["name"]


@cache
def reference_index() -> ReferenceIndex:
    regions = {region["code"]: region for region in reference.load_regions()}
    counties: dict[str, list[str]] = {SICHUAN: [], CHONGQING: []}
    for region in regions.values():
        if region["level"] == "county":
            counties[region["province_code"]].append(region["code"])
    skills = reference.load_skills()
    leaves: dict[str, list[str]] = {}
    for skill in skills:
        if skill["parent_code"]:
            leaves.setdefault(skill["parent_code"], []).append(skill["code"])
    return ReferenceIndex(
        regions=regions,
        counties_by_province=counties,
        leaves_by_group=leaves,
        skill_names={skill["code"]: skill["name_zh"] for skill in skills},
        industry_names={industry["code"]: industry["name_zh"] for industry in reference.load_industries()},
        industrial_counties={province: list(codes) for province, codes in INDUSTRIAL_COUNTIES.items()},
    )


# ---------------------------------------------------------------- unique identifiers


class PhoneBook:
    """Invented, unique Chinese mobile numbers (11 digits, 1[3-9]x)."""

    def __init__(self, rng: random.Random, taken: set[str] | None = None) -> None:
        self.rng = rng
        self.issued: set[str] = set(taken or ())

    def new(self) -> str:
        while True:
            number = self.rng.choice(MOBILE_PREFIXES) + f"{self.rng.randrange(10**8):08d}"
            if number not in self.issued:
                self.issued.add(number)
                return number


def organisation_code_check(body: str) -> str:
    """Check character of a GB 11714 organisation code (8 digits)."""
    weights = (3, 7, 9, 10, 5, 8, 4, 2)
    remainder = 11 - sum(int(char) * weight for char, weight in zip(body, weights, strict=True)) % 11
    return {10: "X", 11: "0"}.get(remainder, str(remainder))


class CreditCodes:
    """Unique unified social credit codes (GB 32100-2015) with valid check characters."""

    # registration authority + entity type: 91 enterprise, 93 farmers' cooperative
    KIND_PREFIX = {"enterprise": "91", "cooperative": "93"}

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.issued: set[str] = set()

    def new(self, region_code: str, kind: str = "enterprise") -> str:
        while True:
            body = f"{self.rng.randrange(10**8):08d}"
            stem = self.KIND_PREFIX[kind] + region_code + body + organisation_code_check(body)
            code = stem + uscc.calc_check_digit(stem)
            if code not in self.issued:
                self.issued.add(code)
                return code


class TrackingCodes:
    """Unique demand tracking codes such as ``CQ-2026-7K3M9P``."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.issued: set[str] = set()

    def new(self, province_code: str, year: int) -> str:
        while True:
            suffix = "".join(self.rng.choices(TRACKING_ALPHABET, k=6))
            code = f"{TRACKING_PREFIX[province_code]}-{year}-{suffix}"
            if code not in self.issued:
                self.issued.add(code)
                return code


# ---------------------------------------------------------------- names, places, dates


def person_name(rng: random.Random, gender: str) -> str:
    surname = rng.choices(SURNAMES, weights=SURNAME_WEIGHTS)[0]
    pool = GIVEN_MALE if gender == "M" else GIVEN_FEMALE
    if rng.random() < 0.3:
        return surname + rng.choice(pool)
    return surname + rng.choice(GIVEN_NEUTRAL + pool) + rng.choice(pool)


def pick_county(rng: random.Random, index: ReferenceIndex, province_code: str) -> str:
    if rng.random() < 0.85:
        return rng.choice(index.industrial_counties[province_code])
    return rng.choice(index.counties_by_province[province_code])


def street_address(rng: random.Random, index: ReferenceIndex, county_code: str) -> str:
    return f"{index.full_place(county_code)}{rng.choice(STREETS)}{rng.randint(1, 399)}号"


def iso(day: date) -> str:
    return day.isoformat()


def month_window(start: str, end: str) -> tuple[str, str]:
    """'2025-11', '2026-01' -> first day of the first month, last day of the last month."""
    first = date.fromisoformat(start + "-01")
    year, month = (int(part) for part in end.split("-"))
    following = date(year + month // 12, month % 12 + 1, 1)
    return iso(first), iso(following - timedelta(days=1))


def availability_windows(rng: random.Random) -> list[dict]:
    """One or two availability periods around the reference date."""
    start = AS_OF - timedelta(days=rng.randint(0, 75))
    first_end = start + timedelta(days=rng.randint(120, 300))
    windows = [{"start": iso(start), "end": iso(first_end)}]
    if rng.random() < 0.35:
        second_start = first_end + timedelta(days=rng.randint(20, 60))
        windows.append(
            {"start": iso(second_start), "end": iso(second_start + timedelta(days=rng.randint(60, 180)))}
        )
    return windows


# ---------------------------------------------------------------- record builders


def pick_skills(rng: random.Random, index: ReferenceIndex, specialty: Specialty, trainee: bool) -> list[dict]:
    core = rng.sample(index.leaves_by_group[specialty.skill_group], rng.randint(2, 4))
    side = rng.sample(specialty.related_skills, rng.randint(0, min(2, len(specialty.related_skills))))
    low, high = (2, 3) if trainee else (3, 5)
    skills = [{"code": code, "proficiency": rng.randint(low, high)} for code in core]
    skills += [
        {"code": code, "proficiency": rng.randint(2, 3 if trainee else 4)}
        for code in side
        if code not in core
    ]
    return skills


def firm_name(rng: random.Random, index: ReferenceIndex, county_code: str, trade_word: str) -> str:
    suffix = rng.choice(("有限公司", "有限公司", "有限责任公司", "股份有限公司"))
    return f"{index.short_place(county_code)}{rng.choice(BRANDS)}{trade_word}{rng.choice(('', '科技', '制造', '工业'))}{suffix}"


def service_modes(rng: random.Random) -> list[str]:
    roll = rng.random()
    if roll < 0.55:
        return ["onsite", "remote"]
    return ["onsite"] if roll < 0.92 else ["remote"]


def craftsman_status(rng: random.Random) -> dict:
    roll = rng.random()
    if roll < 0.9:
        return {"status": "active", "paused_until": None, "exit_reason": None, "exited_on": None}
    if roll < 0.96:
        until = AS_OF + timedelta(days=rng.randint(30, 180))
        return {"status": "paused", "paused_until": iso(until), "exit_reason": None, "exited_on": None}
    reason = rng.choice(
        ("退休后不再参与服务", "调离川渝地区", "连续两年未参与服务，按退出机制退出", "本人申请退出")
    )
    exited = AS_OF - timedelta(days=rng.randint(20, 300))
    return {"status": "exited", "paused_until": None, "exit_reason": reason, "exited_on": iso(exited)}


def capacity_for(rng: random.Random, top_rank: int) -> tuple[int, int]:
    """(yearly_capacity, round_capacity): the most honoured are the busiest, so they offer less."""
    yearly = {4: (4, 10), 3: (6, 16), 2: (8, 24), 1: (6, 18)}[top_rank]
    return rng.randint(*yearly), rng.choice((1, 1, 2, 2, 3)) if top_rank < 4 else 1


PROVINCIAL_HONOUR = {SICHUAN: "sichuan_craftsman", CHONGQING: "bayu_craftsman"}
ACHIEVEMENTS = (
    "主持完成技术革新项目{n}项",
    "累计带徒{n}名，多人成长为技术骨干",
    "获国家专利{n}项",
    "提出合理化建议{n}条被采纳",
    "牵头的“五小”成果获省级奖励{n}项",
    "多次在行业职业技能竞赛中获奖",
)


def draw_honours(rng: random.Random, province_code: str) -> list[dict]:
    """A realistic honour mix: few great craftsmen, some provincial, most municipal, some trainees."""
    roll = rng.random()
    if roll < 0.02:
        honours = [{"code": "great_craftsman", "year": rng.choice((2022, 2023, 2024, 2025))}]
    elif roll < 0.17:
        honours = [{"code": PROVINCIAL_HONOUR[province_code], "year": rng.choice((2018, 2020, 2022, 2024))}]
    elif roll < 0.80:
        honours = [{"code": "municipal_craftsman", "year": rng.randint(2017, 2025)}]
    else:
        return [{"code": "trainee", "year": rng.choice((2024, 2025, 2026))}]
    model_roll = rng.random()
    if model_roll < 0.03:
        honours.append({"code": "national_model_worker", "year": rng.choice((2015, 2020, 2025))})
    elif model_roll < 0.12:
        honours.append({"code": "provincial_model_worker", "year": rng.choice((2016, 2019, 2021, 2024))})
    return honours


HONOUR_RANK = {
    "great_craftsman": 4,
    "sichuan_craftsman": 3,
    "bayu_craftsman": 3,
    "municipal_craftsman": 2,
    "trainee": 1,
    "national_model_worker": 4,
    "provincial_model_worker": 3,
}


def invent_craftsman(
    rng: random.Random,
    index: ReferenceIndex,
    key: str,
    province_code: str,
    phones: PhoneBook,
    studio_key: str | None = None,
) -> dict:
    """An invented craftsman with the exact record shape the loader expects."""
    specialty = rng.choice(SPECIALTIES)
    gender = (
        "F"
        if rng.random() < (0.45 if specialty.key in ("electronics", "food", "quality", "craft") else 0.12)
        else "M"
    )
    region_code = pick_county(rng, index, province_code)
    honours = draw_honours(rng, province_code)
    top_rank = max(HONOUR_RANK[honour["code"]] for honour in honours)
    trainee = honours[0]["code"] == "trainee"
    employer = firm_name(rng, index, region_code, rng.choice(specialty.employer_words))
    role = rng.choice(specialty.roles)
    years = rng.randint(6, 14) if trainee else rng.randint(15, 38)
    achievement = rng.choice(ACHIEVEMENTS).format(n=rng.randint(3, 30))
    yearly, per_round = capacity_for(rng, top_rank)
    record = {
        "key": key,
        "name": person_name(rng, gender),
        "gender": gender,
        "phone": phones.new(),
        "employer": employer,
        "region_code": region_code,
        "honours": honours,
        "studio_key": studio_key,
        "skills": pick_skills(rng, index, specialty, trainee),
        "industries": rng.sample(specialty.industries, rng.randint(1, min(3, len(specialty.industries)))),
        "modes": service_modes(rng),
        "travel_radius_km": rng.choice((50, 80, 100, 150, 200, 300, 500)),
        "yearly_capacity": yearly,
        "round_capacity": per_round,
        "availability": availability_windows(rng),
        **craftsman_status(rng),
        "bio": f"{employer}{role}，从事{specialty.label}工作{years}年，{achievement}。",
        "points": rng.randint(0, 60) if trainee else rng.randint(20, 400) + 60 * (top_rank - 2),
    }
    return record


ENTERPRISE_TYPES = (("zjtx", 0.25), ("smme", 0.55), ("large", 0.1), ("other", 0.1))
EMPLOYEES_BY_TYPE = {"zjtx": (60, 800), "smme": (8, 300), "large": (1000, 12000), "other": (5, 120)}


def invent_enterprise(
    rng: random.Random,
    index: ReferenceIndex,
    province_code: str,
    phones: PhoneBook,
    credit_codes: CreditCodes,
    taken_names: set[str],
    specialty: Specialty | None = None,
) -> dict:
    specialty = specialty or rng.choice(SPECIALTIES)
    region_code = pick_county(rng, index, province_code)
    kind = rng.choices(
        [kind for kind, _ in ENTERPRISE_TYPES], weights=[weight for _, weight in ENTERPRISE_TYPES]
    )[0]
    name = firm_name(rng, index, region_code, rng.choice(specialty.employer_words))
    while name in taken_names:
        name = firm_name(rng, index, region_code, rng.choice(specialty.employer_words))
    taken_names.add(name)
    return {
        "credit_code": credit_codes.new(region_code),
        "name": name,
        "type": kind,
        "region_code": region_code,
        "industries": rng.sample(specialty.industries, rng.randint(1, 2)),
        "employees": rng.randint(*EMPLOYEES_BY_TYPE[kind]),
        "address": street_address(rng, index, region_code),
        "contact_name": person_name(rng, rng.choice("MF")),
        "contact_phone": phones.new(),
    }
