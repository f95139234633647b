"""Load the reference data and the demo/synthetic pools from ``seeds/`` (idempotent, bulk inserts).

Natural keys make a second load a no-op: region/industry/skill/category/honour codes,
studio names, credit codes, craftsman phones, tracking codes and outcome keys.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import zlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from seeds import reference
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
    Feedback,
    FollowUp,
    FollowUpNote,
    HonourLevel,
    Industry,
    Outcome,
    PointsEntry,
    Region,
    RegionTarget,
    Skill,
    Studio,
    User,
    craftsman_industry,
    demand_industry,
    enterprise_industry,
    outcome_industry,
)
from web.services import engagements as engagements_service
from web.services import points
from web.services import reference as reference_cache
from web.services.reports import MATCHED_OR_LATER
from web.services.users import create_user

DEMO_PASSWORD = "gongjiang-2026"
DEMO_USERS = (("demo", "coordinator", "演示协调员"), ("viewer", "viewer", "演示查看员"))
OPENING_BALANCE_EXPLANATION = "入库时的积分（来自工匠库原有记录）"


@dataclasses.dataclass
class LoadReport:
    created: dict[str, int] = dataclasses.field(default_factory=dict)

    def add(self, name: str, count: int) -> None:
        self.created[name] = self.created.get(name, 0) + count

    def summary(self) -> str:
        parts = [f"{name} +{count}" for name, count in self.created.items()]
        return "loaded: " + (", ".join(parts) if parts else "nothing new")


def has_pool_data(session: Session) -> bool:
    return session.scalar(sa.select(sa.func.count()).select_from(Craftsman)) > 0


def load_demo(session: Session, *, now: dt.datetime) -> LoadReport:
    """The demo pools; their engagements are the demo coordinator's when that login exists already
    (``ensure_demo_users`` first, as ``craftmatch seed demo`` does)."""
    from seeds.demo import generate_demo

    report = load_reference(session)
    coordinator_id = session.scalar(sa.select(User.id).where(User.username == DEMO_USERS[0][0]))
    load_pool(session, generate_demo(), now=now, report=report, coordinator_id=coordinator_id)
    return report


def load_synthetic(session: Session, *, n_craftsmen: int, n_demands: int, seed: int, now: dt.datetime) -> LoadReport:
    from seeds.synthetic import generate_synthetic

    report = load_reference(session)
    load_pool(session, generate_synthetic(n_craftsmen, n_demands, seed), now=now, report=report)
    return report


def demo_users_exist(session: Session) -> bool:
    return session.scalar(sa.select(User.id).where(User.username == DEMO_USERS[0][0])) is not None


def ensure_demo_users(session: Session, *, now: dt.datetime, production: bool) -> list[tuple[str, str, str]]:
    """Create the demo logins once; never in production. Returns (username, password, role) created."""
    if production:
        return []
    created = []
    for username, role, display_name in DEMO_USERS:
        if session.scalar(sa.select(User.id).where(User.username == username)) is None:
            create_user(session, username=username, password=DEMO_PASSWORD, role=role, actor="seed", now=now,
                        display_name=display_name)
            created.append((username, DEMO_PASSWORD, role))
    return created


# --- reference data -------------------------------------------------------------------------


def load_reference(session: Session) -> LoadReport:
    report = LoadReport()
    regions = list(reference.load_regions())
    functional_areas = getattr(reference, "load_functional_areas", lambda: [])()
    _upsert_tree(session, Region, _region_rows(regions) + _functional_area_rows(functional_areas), report, "regions")
    _upsert_tree(session, Industry, [
        {"code": r["code"], "name_zh": r["name_zh"], "name_en": r["name_en"], "group": r["group"],
         "gbt4754_section": r.get("gbt4754_section") or None, "parent_code": r.get("parent_code")}
        for r in reference.load_industries()
    ], report, "industries")
    _upsert_tree(session, Skill, [
        {"code": r["code"], "name_zh": r["name_zh"], "name_en": r["name_en"], "parent_code": r.get("parent_code")}
        for r in reference.load_skills()
    ], report, "skills")
    _upsert_flat(session, DemandCategory, [
        {"code": r["code"], "name_zh": r["name_zh"], "name_en": r["name_en"], "sort": int(r["sort"])}
        for r in reference.load_demand_categories()
    ], report, "categories")
    _upsert_flat(session, HonourLevel, [
        {"code": r["code"], "name_zh": r["name_zh"], "name_en": r["name_en"], "kind": r["kind"],
         "rank": int(r["rank"]), "province_code": _province_prefix(r.get("province_code"))}
        for r in reference.load_honour_levels()
    ], report, "honour levels")
    reference_cache.invalidate()
    return report


def _region_rows(regions: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"code": str(r["code"]), "name": r["name"], "name_en": r.get("name_en") or "", "level": r["level"],
         "parent_code": _str_or_none(r.get("parent_code")),
         "province_code": _province_prefix(r["province_code"]), "latitude": r.get("lat"), "longitude": r.get("lon")}
        for r in regions
    ]


def _functional_area_rows(areas: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for area in areas:
        parent = _str_or_none(area.get("county_code"))
        rows.append({"code": str(area["code"]), "name": area["name"], "name_en": area.get("name_en") or "",
                     "level": "functional_area",
                     "parent_code": parent, "province_code": _province_prefix(area["province_code"]),
                     "latitude": area.get("lat"), "longitude": area.get("lon")})
    return rows


def _province_prefix(code: Any) -> str | None:
    """GB/T 2260 codes are 6 digits; the province is the first two ("510000" → "51")."""
    text = _str_or_none(code)
    return text[:2] if text else None


def _str_or_none(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return str(value)


def _upsert_flat(session: Session, model: type, rows: Sequence[dict[str, Any]], report: LoadReport, name: str) -> None:
    existing = dict(session.execute(sa.select(model.code, model.id)).all())
    new_rows = [row for row in rows if row["code"] not in existing]
    if new_rows:
        session.execute(sa.insert(model), new_rows)
    report.add(name, len(new_rows))


def _upsert_tree(session: Session, model: type, rows: Sequence[dict[str, Any]], report: LoadReport, name: str) -> None:
    """Insert rows whose parents are listed by code, parents first (rows may come in any order)."""
    existing = dict(session.execute(sa.select(model.code, model.id)).all())
    pending = [row for row in rows if row["code"] not in existing]
    inserted = 0
    while pending:
        ready = [row for row in pending if row["parent_code"] is None or row["parent_code"] in existing]
        if not ready:
            missing = sorted({row["parent_code"] for row in pending})[:5]
            raise ValueError(f"{model.__tablename__}: unknown parent codes {missing}")
        values = [{**{k: v for k, v in row.items() if k != "parent_code"},
                   "parent_id": existing.get(row["parent_code"])} for row in ready]
        ids = session.scalars(sa.insert(model).returning(model.id, sort_by_parameter_order=True), values).all()
        existing.update({row["code"]: new_id for row, new_id in zip(ready, ids, strict=True)})
        ready_codes = {row["code"] for row in ready}
        pending = [row for row in pending if row["code"] not in ready_codes]
        inserted += len(ready)
    report.add(name, inserted)


# --- pools -------------------------------------------------------------------------------------


class _Codes:
    """code → id lookups for the reference tables, loaded once per load."""

    def __init__(self, session: Session) -> None:
        def lookup(model: type) -> dict[str, int]:
            return dict(session.execute(sa.select(model.code, model.id)).all())

        self.region = lookup(Region)
        self.industry = lookup(Industry)
        self.skill = lookup(Skill)
        self.category = lookup(DemandCategory)
        self.honour = lookup(HonourLevel)


def load_pool(session: Session, data: dict[str, list[dict[str, Any]]], *, now: dt.datetime,
              report: LoadReport, coordinator_id: int | None = None) -> None:
    """Insert what is new. Every point balance is explained by the ledger: an opening entry for the points
    a craftsman brings, then the points of the seeded engagements (completion, rating) as the services
    award them, so ``craftmatch followup check-points`` finds nothing afterwards."""
    codes = _Codes(session)
    studio_ids = _load_studios(session, data.get("studios", []), codes, report)
    enterprise_ids = _load_enterprises(session, data.get("enterprises", []), codes, now, report)
    craftsman_ids = _load_craftsmen(session, data.get("craftsmen", []), codes, studio_ids, now, report)
    demand_ids = _load_demands(session, data.get("demands", []), codes, enterprise_ids, now, report)
    _load_outcomes(session, data.get("outcomes", []), codes, studio_ids, craftsman_ids, now, report)
    _load_engagements(session, data.get("engagements", []), demand_ids, craftsman_ids, now, report,
                      coordinator_id=coordinator_id)
    _load_targets(session, data.get("targets", []), codes, report)
    session.flush()


def _insert_new(
    session: Session,
    model: type,
    key_column: sa.Column,
    records: Sequence[dict[str, Any]],
    record_key: Callable[[dict[str, Any]], str],
    to_row: Callable[[dict[str, Any]], dict[str, Any]],
    report: LoadReport,
    name: str,
) -> tuple[dict[str, int], list[tuple[dict[str, Any], int]]]:
    """Insert the records whose natural key is new. Returns (key → id for all, [(record, id)] inserted)."""
    keys = [record_key(record) for record in records]
    existing: dict[str, int] = {}
    for chunk_start in range(0, len(keys), 500):
        chunk = keys[chunk_start:chunk_start + 500]
        existing.update(session.execute(sa.select(key_column, model.id).where(key_column.in_(chunk))).all())
    new_records = [record for record, key in zip(records, keys, strict=True) if key not in existing]
    inserted: list[tuple[dict[str, Any], int]] = []
    if new_records:
        ids = session.scalars(sa.insert(model).returning(model.id, sort_by_parameter_order=True),
                              [to_row(record) for record in new_records]).all()
        inserted = list(zip(new_records, ids, strict=True))
        existing.update({record_key(record): new_id for record, new_id in inserted})
    report.add(name, len(new_records))
    return existing, inserted


def _insert_links(session: Session, target: sa.Table | type, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(sa.insert(target), rows)


def _date(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


def _datetime(value: str | None, default: dt.datetime) -> dt.datetime:
    """Naive UTC from an ISO string (a "+08:00" offset is converted, not dropped)."""
    if not value:
        return default
    parsed = dt.datetime.fromisoformat(value)
    return parsed.astimezone(dt.UTC).replace(tzinfo=None) if parsed.tzinfo else parsed


def _load_studios(session, studios, codes: _Codes, report) -> dict[str, int]:
    by_name, _ = _insert_new(
        session, Studio, Studio.name, studios, lambda s: s["name"],
        lambda s: {"name": s["name"], "level": s["level"], "region_id": codes.region.get(s.get("region_code"))},
        report, "studios",
    )
    return {studio["key"]: by_name[studio["name"]] for studio in studios}


def _load_enterprises(session, enterprises, codes: _Codes, now, report) -> dict[str, int]:
    ids, inserted = _insert_new(
        session, Enterprise, Enterprise.credit_code, enterprises, lambda e: e["credit_code"],
        lambda e: {"name": e["name"], "credit_code": e["credit_code"], "type": e["type"],
                   "region_id": codes.region[e["region_code"]], "employees": e.get("employees"),
                   "address": e.get("address", ""), "contact_name": e.get("contact_name", ""),
                   "contact_phone": e.get("contact_phone", ""), "created_at": now},
        report, "enterprises",
    )
    _insert_links(session, enterprise_industry, [
        {"enterprise_id": new_id, "industry_id": codes.industry[code]}
        for record, new_id in inserted for code in dict.fromkeys(record.get("industries", []))
    ])
    return ids


def _load_craftsmen(session, craftsmen, codes: _Codes, studio_ids, now, report) -> dict[str, int]:
    by_phone, inserted = _insert_new(
        session, Craftsman, Craftsman.phone, craftsmen, lambda c: c["phone"],
        lambda c: {
            "name": c["name"], "gender": c["gender"], "phone": c["phone"], "employer": c["employer"],
            "region_id": codes.region[c["region_code"]], "studio_id": studio_ids.get(c.get("studio_key")),
            "bio": c.get("bio", ""), "can_onsite": "onsite" in c["modes"], "can_remote": "remote" in c["modes"],
            "travel_radius_km": c["travel_radius_km"], "yearly_capacity": c["yearly_capacity"],
            "round_capacity": c["round_capacity"], "status": c["status"],
            "paused_until": _date(c.get("paused_until")), "exit_reason": c.get("exit_reason"),
            "exited_on": _date(c.get("exited_on")), "points_balance": c.get("points", 0),
            "created_at": now, "updated_at": now,
        },
        report, "craftsmen",
    )
    _insert_links(session, CraftsmanHonour, [
        {"craftsman_id": new_id, "honour_level_id": codes.honour[h["code"]], "year": h.get("year")}
        for record, new_id in inserted for h in record.get("honours", [])
    ])
    _insert_links(session, CraftsmanSkill, [
        {"craftsman_id": new_id, "skill_id": codes.skill[s["code"]], "proficiency": s["proficiency"]}
        for record, new_id in inserted for s in record.get("skills", [])
    ])
    _insert_links(session, craftsman_industry, [
        {"craftsman_id": new_id, "industry_id": codes.industry[code]}
        for record, new_id in inserted for code in dict.fromkeys(record.get("industries", []))
    ])
    _insert_links(session, Availability, [
        {"craftsman_id": new_id, "starts_on": _date(w["start"]), "ends_on": _date(w["end"])}
        for record, new_id in inserted for w in record.get("availability", [])
    ])
    _insert_links(session, PointsEntry, [
        {"craftsman_id": new_id, "delta": record["points"], "rule": "opening_balance",
         "explanation": OPENING_BALANCE_EXPLANATION, "created_at": now}
        for record, new_id in inserted if record.get("points")
    ])
    return {c["key"]: by_phone[c["phone"]] for c in craftsmen}


def _load_demands(session, demands, codes: _Codes, enterprise_ids, now, report) -> dict[str, int]:
    contacts = _enterprise_contacts(session, {d["enterprise_credit_code"] for d in demands})
    demands = [{**d, "contact_name": d.get("contact_name") or contacts.get(d["enterprise_credit_code"], ("", ""))[0],
                "contact_phone": d.get("contact_phone") or contacts.get(d["enterprise_credit_code"], ("", ""))[1]}
               for d in demands]
    # A merged demand must name its target when it is inserted (a CHECK says so): targets go first.
    ids: dict[str, int] = {}
    for batch in ([d for d in demands if not d.get("merged_into")], [d for d in demands if d.get("merged_into")]):
        batch_ids, inserted = _insert_new(
            session, Demand, Demand.tracking_code, batch, lambda d: d["tracking_code"],
            lambda d: _demand_row(d, codes, enterprise_ids, ids, now), report, "demands",
        )
        ids.update(batch_ids)
        _insert_demand_details(session, inserted, codes, now)
    return ids


def _demand_row(d: dict[str, Any], codes: _Codes, enterprise_ids: dict[str, int], demand_ids: dict[str, int],
                now: dt.datetime) -> dict[str, Any]:
    submitted_at = _datetime(d.get("submitted_at"), now)
    return {
        "tracking_code": d["tracking_code"], "enterprise_id": enterprise_ids[d["enterprise_credit_code"]],
        "title": d["title"], "description": d["description"], "original_title": d["title"],
        "original_description": d["description"], "category_id": codes.category[d["category_code"]],
        "team_size": d["team_size"], "mode": d["mode"], "region_id": codes.region[d["region_code"]],
        "address": d.get("address", ""), "window_start": _date(d.get("window_start")),
        "window_end": _date(d.get("window_end")), "urgency": d["urgency"],
        "support_needed": d.get("support_needed", ""), "contact_name": d["contact_name"] or "联系人",
        "contact_phone": d["contact_phone"] or "", "consent_given_at": submitted_at, "status": d["status"],
        "review_note": d.get("review_note"), "merged_into_id": demand_ids.get(d.get("merged_into") or ""),
        "submitted_at": submitted_at, "updated_at": submitted_at,
        "reviewed_at": None if d["status"] == "submitted" else submitted_at + dt.timedelta(days=2),
        "matched_at": submitted_at + dt.timedelta(days=_days_to_match(d["tracking_code"]))
        if d["status"] in MATCHED_OR_LATER else None,
    }


def _days_to_match(tracking_code: str) -> int:
    """4–24 days, stable per demand (the programme reports matching within a few weeks of the order)."""
    return 4 + zlib.crc32(tracking_code.encode()) % 21


def _insert_demand_details(session, inserted, codes: _Codes, now) -> None:
    _insert_links(session, DemandSkill, [
        {"demand_id": new_id, "skill_id": codes.skill[s["code"]], "importance": s["importance"]}
        for record, new_id in inserted for s in record.get("skills", [])
    ])
    _insert_links(session, demand_industry, [
        {"demand_id": new_id, "industry_id": codes.industry[code]}
        for record, new_id in inserted for code in dict.fromkeys(record.get("industries", []))
    ])
    events = []
    for record, new_id in inserted:
        submitted_at = _datetime(record.get("submitted_at"), now)
        events.append({"demand_id": new_id, "from_status": None, "to_status": "submitted", "at": submitted_at,
                       "public": True})
        if record["status"] != "submitted":
            events.append({"demand_id": new_id, "from_status": "submitted", "to_status": record["status"],
                           "at": submitted_at + dt.timedelta(days=2), "note": record.get("review_note"),
                           "public": True})
    _insert_links(session, DemandStatusEvent, events)


def _enterprise_contacts(session: Session, credit_codes: set[str]) -> dict[str, tuple[str, str]]:
    rows = session.execute(sa.select(Enterprise.credit_code, Enterprise.contact_name, Enterprise.contact_phone)
                           .where(Enterprise.credit_code.in_(credit_codes))).all()
    return {code: (name, phone) for code, name, phone in rows}


def _load_outcomes(session, outcomes, codes: _Codes, studio_ids, craftsman_ids, now, report) -> None:
    _, inserted = _insert_new(
        session, Outcome, Outcome.seed_key, outcomes, lambda o: o["key"],
        lambda o: {"seed_key": o["key"], "kind": o["kind"], "title": o["title"],
                   "description": o.get("description", ""), "craftsman_id": craftsman_ids.get(o.get("craftsman_key")),
                   "studio_id": studio_ids.get(o.get("studio_key")), "value_wan": o.get("value_wan"),
                   "year": o.get("year"), "reference": o.get("reference"), "created_at": now},
        report, "outcomes",
    )
    _insert_links(session, outcome_industry, [
        {"outcome_id": new_id, "industry_id": codes.industry[code]}
        for record, new_id in inserted for code in dict.fromkeys(record.get("industries", []))
    ])


def _load_engagements(session, engagements, demand_ids, craftsman_ids, now, report, *,
                      coordinator_id: int | None) -> None:
    already = set(session.scalars(sa.select(Engagement.demand_id)).all())
    count = 0
    for record in engagements:
        demand_id = demand_ids[record["demand_tracking_code"]]
        if demand_id in already:
            continue
        matched_at = _datetime(record.get("matched_at"), now)
        completed_at = _datetime(record.get("completed_at") or record.get("completed_on"), now) \
            if record.get("completed_on") else None
        feedback = record.get("feedback")
        rated_at = _datetime(feedback.get("rated_at"), completed_at or now) if feedback else None
        engagement = Engagement(
            demand_id=demand_id, status=record["status"], started_on=_date(record.get("started_on")),
            completed_on=_date(record.get("completed_on")), created_at=matched_at,
            updated_at=rated_at or completed_at or matched_at, coordinator_id=coordinator_id,
            acceptance_confirmed_by="企业负责人" if completed_at else None, acceptance_at=completed_at,
        )
        engagement.members = [EngagementMember(craftsman_id=craftsman_ids[key], status="served")
                              for key in record["craftsman_keys"]]
        engagement.follow_ups = [
            FollowUp(kind=f["kind"], due_on=_date(f["due_on"]), done_on=_date(f.get("done_on")),
                     problems_solved=f.get("problems_solved"), value_created_wan=f.get("value_created_wan"),
                     workers_trained=f.get("workers_trained"), apprentices=f.get("apprentices"),
                     agreement_signed=f.get("agreement_signed"), agreement_term_months=f.get("agreement_term_months"),
                     recorded_at=_datetime(f.get("done_on"), now) if f.get("done_on") else None,
                     notes=[FollowUpNote(body=f["notes"], created_at=_datetime(f.get("done_on"), now))]
                     if f.get("notes") else [])
            for f in record.get("follow_ups", [])
        ]
        session.add(engagement)
        session.flush()
        if completed_at is not None:
            points.award_completion(session, engagement, actor="seed", now=completed_at)
        if feedback:
            rating = Feedback(demand_id=demand_id, engagement_id=engagement.id, rating=feedback["rating"],
                              comment=feedback.get("comment", ""), created_at=rated_at)
            session.add(rating)
            session.flush()
            engagements_service.on_feedback(session, rating, actor="seed", now=rated_at)
        count += 1
    report.add("engagements", count)


def _load_targets(session, targets, codes: _Codes, report) -> None:
    existing = set(session.execute(sa.select(RegionTarget.region_id, RegionTarget.year)).all())
    rows = [
        {"region_id": codes.region[t["region_code"]], "year": t["year"], "visits": t["visits"],
         "enterprises": t["enterprises"], "problems": t["problems"], "skill_upgrades": t["skill_upgrades"]}
        for t in targets if (codes.region[t["region_code"]], t["year"]) not in existing
    ]
    _insert_links(session, RegionTarget, rows)
    report.add("targets", len(rows))
