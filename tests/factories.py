"""Small builders for tests: valid rows with sane defaults, every field overridable.

Each returns a flushed ORM object. Unique values (credit codes, phones, tracking codes)
come from a counter so that builders can be called any number of times in one test.
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
from stdnum.cn import uscc

from tests.conftest import NOW
from web.models import (
    Availability,
    Craftsman,
    CraftsmanHonour,
    CraftsmanSkill,
    Demand,
    DemandCategory,
    DemandSkill,
    DemandStatusEvent,
    Engagement,
    EngagementMember,
    Enterprise,
    HonourLevel,
    Industry,
    Region,
    Skill,
)

_counter = itertools.count(1)


def unique_number() -> int:
    return next(_counter)


def valid_credit_code(n: int | None = None) -> str:
    """A unified social credit code with a correct check digit (91 = enterprise, 510100 = Chengdu)."""
    n = unique_number() if n is None else n
    body = "91510100" + _base31(n).rjust(9, "0")
    return body + uscc.calc_check_digit(body)


def _base31(n: int) -> str:
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    digits = ""
    while True:
        n, remainder = divmod(n, 31)
        digits = alphabet[remainder] + digits
        if n == 0:
            return digits


def valid_mobile(n: int | None = None) -> str:
    n = unique_number() if n is None else n
    return f"139{n:08d}"


def tracking_code(n: int | None = None) -> str:
    n = unique_number() if n is None else n
    alphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
    chars = "".join(alphabet[(n // len(alphabet) ** i) % len(alphabet)] for i in range(6))
    return f"SC-2026-{chars}"


def region(session: Session, code: str = "510100") -> Region:
    return session.scalar(sa.select(Region).where(Region.code == code))


def _by_code(session: Session, model: type, codes: list[str]) -> list[Any]:
    rows = {row.code: row for row in session.scalars(sa.select(model).where(model.code.in_(codes)))}
    missing = [code for code in codes if code not in rows]
    assert not missing, f"unknown {model.__tablename__} codes in a factory: {missing}"
    return [rows[code] for code in codes]


def some_codes(session: Session, model: type, count: int, *, leaves_only: bool = True) -> list[str]:
    """The first ``count`` codes of a reference table (leaf rows for trees), for tests that need any."""
    query = sa.select(model.code).order_by(model.code)
    if leaves_only and hasattr(model, "parent_id"):
        parent = sa.orm.aliased(model)
        query = query.where(~sa.exists().where(parent.parent_id == model.id))
    return list(session.scalars(query.limit(count)))


def make_enterprise(session: Session, **overrides: Any) -> Enterprise:
    n = unique_number()
    values: dict[str, Any] = {
        "name": f"测试精密制造有限公司{n}", "credit_code": valid_credit_code(n), "type": "zjtx",
        "region": region(session, overrides.pop("region_code", "510100")), "employees": 120,
        "address": "高新区天府大道 1 号", "contact_name": "王经理", "contact_phone": valid_mobile(n),
        "created_at": NOW,
    }
    values.update(overrides)
    enterprise = Enterprise(**values)
    session.add(enterprise)
    session.flush()
    return enterprise


def make_craftsman(session: Session, *, skills: dict[str, int] | None = None, honours: list[str] | None = None,
                   industries: list[str] | None = None, availability: list[tuple[dt.date, dt.date]] | None = None,
                   **overrides: Any) -> Craftsman:
    """A craftsman; ``skills`` maps skill codes to proficiency, ``honours`` lists honour codes."""
    n = unique_number()
    values: dict[str, Any] = {
        "name": f"工匠{n}", "gender": "M", "phone": valid_mobile(n), "employer": "东方电气集团东方锅炉股份有限公司",
        "region": region(session, overrides.pop("region_code", "510100")), "bio": "焊接与压力容器制造工艺",
        "can_onsite": True, "can_remote": True, "travel_radius_km": 300, "yearly_capacity": 6,
        "round_capacity": 2, "status": "active", "points_balance": 0, "created_at": NOW, "updated_at": NOW,
    }
    values.update(overrides)
    craftsman = Craftsman(**values)
    skill_levels = skills if skills is not None else {code: 4 for code in some_codes(session, Skill, 2)}
    craftsman.skills = [CraftsmanSkill(skill=row, proficiency=skill_levels[row.code])
                        for row in _by_code(session, Skill, list(skill_levels))]
    craftsman.honours = [CraftsmanHonour(honour=row, year=2024)
                         for row in _by_code(session, HonourLevel, honours or ["municipal_craftsman"])]
    craftsman.industries = _by_code(session, Industry, industries or some_codes(session, Industry, 1))
    windows = availability if availability is not None else [(dt.date(2026, 1, 1), dt.date(2027, 12, 31))]
    craftsman.availability = [Availability(starts_on=start, ends_on=end) for start, end in windows]
    session.add(craftsman)
    session.flush()
    return craftsman


def make_demand(session: Session, enterprise: Enterprise | None = None, *, skills: dict[str, int] | None = None,
                industries: list[str] | None = None, category_code: str = "tech_tackling",
                **overrides: Any) -> Demand:
    """A demand (status "open" unless overridden); ``skills`` maps skill codes to importance 1–3."""
    enterprise = enterprise or make_enterprise(session)
    n = unique_number()
    title = overrides.pop("title", f"压力容器焊缝一次合格率提升{n}")
    description = overrides.pop("description", "新招焊工20余名，压力容器焊缝一次合格率偏低，希望焊接领域工匠现场指导。")
    values: dict[str, Any] = {
        "tracking_code": tracking_code(n), "enterprise": enterprise, "title": title, "description": description,
        "original_title": title, "original_description": description,
        "category": _by_code(session, DemandCategory, [category_code])[0], "team_size": 1, "mode": "onsite",
        "region": region(session, overrides.pop("region_code", "510100")), "address": "",
        "window_start": dt.date(2026, 12, 1), "window_end": dt.date(2027, 3, 31), "urgency": "medium",
        "contact_name": "王经理", "contact_phone": enterprise.contact_phone or valid_mobile(n),
        "consent_given_at": NOW, "status": "open", "submitted_at": NOW, "updated_at": NOW,
    }
    values.update(overrides)
    demand = Demand(**values)
    skill_importance = skills if skills is not None else {code: 2 for code in some_codes(session, Skill, 1)}
    demand.skills = [DemandSkill(skill=row, importance=skill_importance[row.code])
                     for row in _by_code(session, Skill, list(skill_importance))]
    demand.industries = _by_code(session, Industry, industries or some_codes(session, Industry, 1))
    demand.events = [DemandStatusEvent(from_status=None, to_status="submitted", at=values["submitted_at"])]
    session.add(demand)
    session.flush()
    return demand


def make_engagement(session: Session, demand: Demand, craftsmen: list[Craftsman], **overrides: Any) -> Engagement:
    values: dict[str, Any] = {"demand": demand, "status": "scheduled", "created_at": NOW, "updated_at": NOW}
    values.update(overrides)
    engagement = Engagement(**values)
    engagement.members = [EngagementMember(craftsman=craftsman, status="assigned") for craftsman in craftsmen]
    session.add(engagement)
    session.flush()
    return engagement


def insert_engagement_in_sql(session: Session, demand_id: int, craftsman_ids: list[int], *, status: str = "scheduled",
                             member_status: str = "assigned", **dates: dt.date) -> int:
    """An engagement and its members by plain INSERTs, for migration tests at an old revision: the model has
    columns that later migrations add (``engagement.version``, 0016)."""
    values = {"demand_id": demand_id, "status": status, "created_at": NOW, "updated_at": NOW, **dates}
    engagement_id = session.scalar(sa.text(f"INSERT INTO engagement ({', '.join(values)}) "
                                           f"VALUES ({', '.join(':' + name for name in values)}) RETURNING id"), values)
    for craftsman_id in craftsman_ids:
        session.execute(sa.text("INSERT INTO engagement_member (engagement_id, craftsman_id, status) "
                                "VALUES (:e, :c, :s)"), {"e": engagement_id, "c": craftsman_id, "s": member_status})
    return engagement_id


__all__ = [
    "make_craftsman", "make_demand", "make_engagement", "make_enterprise", "region", "some_codes",
    "tracking_code", "unique_number", "valid_credit_code", "valid_mobile",
]


def make_solved_weld_round(session: Session, name: str, *, craftsmen: int = 8, demands: int = 4,
                           levels: int = 5) -> Any:
    """A solved round of ``craftsmen`` welders (levels 1 to ``levels``, capacity 1 or 2) over ``demands`` welding
    demands in one city."""
    from web.services import rounds

    for i in range(craftsmen):
        make_craftsman(session, skills={"weld": 1 + i % levels}, region_code="510100", round_capacity=1 + i % 2)
    for _ in range(demands):
        make_demand(session, skills={"weld": 3})
    rnd = rounds.create_round(session, name=name, actor="test", now=NOW)
    rounds.solve_round(session, rnd, actor="test", now=NOW)
    return rnd
