"""The craftsman pool: create and update craftsmen (each change audited)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session, selectinload

from web.clock import local_today
from web.models import (
    Availability,
    Craftsman,
    CraftsmanHonour,
    CraftsmanSkill,
    Demand,
    Engagement,
    EngagementMember,
    HonourLevel,
    Region,
    Skill,
    Studio,
    User,
    craftsman_industry,
)
from web.models.craftsmen import CRAFTSMAN_STATUSES
from web.policy import region_subtree
from web.schemas.common import CONTROL_CHARACTERS_MESSAGE, has_control_characters, load_or_raise
from web.schemas.craftsmen import CraftsmanSchema
from web.services import audit, reference
from web.services.eligibility import BOOKED_MEMBER_STATUSES, lock_rows
from web.services.errors import Conflict, ServiceError
from web.services.paging import Page, paginate

AUDITED_FIELDS = (
    "name", "gender", "phone", "email", "employer", "region_id", "studio_id", "can_onsite", "can_remote",
    "travel_radius_km", "yearly_capacity", "round_capacity", "status",
)


def create_craftsman(session: Session, data: dict[str, Any], *, actor: User | str | None,
                     now: dt.datetime) -> Craftsman:
    values = load_or_raise(CraftsmanSchema(), data)
    if session.scalar(sa.select(Craftsman.id).where(Craftsman.phone == values["phone"])) is not None:
        raise Conflict(_l("A craftsman with this mobile number is already in the pool."), field="phone")
    craftsman = Craftsman(created_at=now, updated_at=now, points_balance=0)
    apply_profile(session, craftsman, values, now)
    session.add(craftsman)
    session.flush()
    audit.record(session, actor=actor, action="craftsman.create", entity=craftsman, now=now,
                 after=audit.snapshot(craftsman, AUDITED_FIELDS))
    return craftsman


def update_craftsman(session: Session, craftsman: Craftsman, data: dict[str, Any], *,
                     actor: User | str | None, now: dt.datetime) -> Craftsman:
    values = load_or_raise(CraftsmanSchema(), data)
    clash = session.scalar(sa.select(Craftsman.id).where(Craftsman.phone == values["phone"],
                                                         Craftsman.id != craftsman.id))
    if clash is not None:
        raise Conflict(_l("A craftsman with this mobile number is already in the pool."), field="phone")
    before = audit.snapshot(craftsman, AUDITED_FIELDS)
    apply_profile(session, craftsman, values, now)
    session.flush()
    after = audit.snapshot(craftsman, AUDITED_FIELDS)
    audit.record(session, actor=actor, action="craftsman.update", entity=craftsman, now=now,
                 before=before, after=after)
    follow_in_rounds(session, craftsman, before, actor=actor, now=now)
    return craftsman


def follow_in_rounds(session: Session, craftsman: Craftsman, before: dict[str, Any], *,
                     actor: User | str | None, now: dt.datetime) -> None:
    """What the rounds not published yet copied of his profile (``before``: its audit snapshot) follows an edit."""
    from web.services.rounds import follow_capacity_edit  # rounds imports this module

    follow_capacity_edit(session, craftsman.id, before["round_capacity"], craftsman.round_capacity, actor=actor,
                         now=now)


def find_or_create_studio(session: Session, name: str, region_id: int | None) -> Studio | None:
    if not name:
        return None
    studio = session.scalar(sa.select(Studio).where(Studio.name == name))
    if studio is None:
        studio = Studio(name=name, level="municipal", region_id=region_id)
        session.add(studio)
    return studio


def apply_profile(session: Session, craftsman: Craftsman, values: dict[str, Any], now: dt.datetime) -> None:
    """Set a craftsman's fields, region, honours, skills, industries and windows from validated ``values``.

    Used by create, update and the import (form and API go through create and update); the caller audits
    and flushes.
    """
    with session.no_autoflush:
        _apply_values(session, craftsman, values, now)


def _merged_links(links: list, target: str, rows: list, attribute: str, wanted: dict[str, Any], link_type: type) -> list:
    """The link rows for ``rows``, each carrying ``attribute`` = ``wanted[code]``.

    Existing links are kept and updated in place: replacing them would insert a (craftsman, honour or
    skill) pair before its old row is deleted and break the unique constraint on edit.
    """
    kept = {getattr(link, target).code: link for link in links if getattr(link, target).code in wanted}
    for code, link in kept.items():
        setattr(link, attribute, wanted[code])
    return [kept.get(row.code) or link_type(**{target: row, attribute: wanted[row.code]}) for row in rows]


def _apply_values(session: Session, craftsman: Craftsman, values: dict[str, Any], now: dt.datetime) -> None:
    region = reference.region(session, values["region_code"])
    honour_rows = reference.honours(session, [h["code"] for h in values["honours"]])
    skill_rows = reference.skills(session, [s["code"] for s in values["skills"]])
    craftsman.name = values["name"]
    craftsman.gender = values["gender"]
    craftsman.phone = values["phone"]
    if values["email"] is not None:
        craftsman.email = values["email"]
    craftsman.employer = values["employer"]
    craftsman.region = region
    craftsman.studio = find_or_create_studio(session, values["studio"], region.id)
    craftsman.bio = values["bio"]
    craftsman.can_onsite = values["can_onsite"]
    craftsman.can_remote = values["can_remote"]
    craftsman.travel_radius_km = values["travel_radius_km"]
    craftsman.yearly_capacity = values["yearly_capacity"]
    craftsman.round_capacity = values["round_capacity"]
    craftsman.industries = reference.industries(session, values["industries"])
    years = {h["code"]: h["year"] for h in values["honours"]}
    craftsman.honours = _merged_links(craftsman.honours, "honour", honour_rows, "year", years, CraftsmanHonour)
    levels = {s["code"]: s["proficiency"] for s in values["skills"]}
    craftsman.skills = _merged_links(craftsman.skills, "skill", skill_rows, "proficiency", levels, CraftsmanSkill)
    craftsman.availability = [Availability(starts_on=w["start"], ends_on=w["end"]) for w in values["availability"]]
    if craftsman.status != "exited":  # leaving the pool goes through the exit path, not an edit
        craftsman.status = values["status"] if values["status"] != "exited" else craftsman.status
    craftsman.updated_at = now


# ---------------------------------------------------------------- scope, list and filters
PAGE_SIZE = 50
FILTER_KEYS = ("region", "honour", "industry", "skill", "status", "studio", "q")


def filtered_query(session: Session, filters: dict[str, Any], *, scope: Collection[int] | None,
                   search_phones: bool = True) -> sa.Select:
    """``select(Craftsman)`` narrowed by the pool filters (region, honour, industry, skill, status, studio, q).

    ``scope``: the region ids of the user (``web.policy.scope``); None = every region. ``search_phones``:
    whether the text also matches mobile numbers (not for users who see them masked: a search would reveal them).
    """
    query = sa.select(Craftsman)
    if scope is not None:
        query = query.where(Craftsman.region_id.in_(sorted(scope)))
    region_code = (filters.get("region") or "").strip()
    if region_code:
        region_id = session.scalar(sa.select(Region.id).where(Region.code == region_code))
        query = query.where(Craftsman.region_id.in_(sorted(region_subtree(region_id, session)) if region_id else []))
    if filters.get("honour"):
        query = query.where(Craftsman.id.in_(
            sa.select(CraftsmanHonour.craftsman_id).join(HonourLevel)
            .where(HonourLevel.code == filters["honour"])))
    if filters.get("industry"):
        query = query.where(Craftsman.id.in_(
            sa.select(craftsman_industry.c.craftsman_id)
            .where(craftsman_industry.c.industry_id.in_(reference.industry_ids_under(filters["industry"])))))
    if filters.get("skill"):
        code = filters["skill"]
        query = query.where(Craftsman.id.in_(
            sa.select(CraftsmanSkill.craftsman_id).join(Skill)
            .where(sa.or_(Skill.code == code, Skill.code.like(f"{code}.%")))))
    if filters.get("status") in CRAFTSMAN_STATUSES:
        query = query.where(Craftsman.status == filters["status"])
    studio = (filters.get("studio") or "").strip()
    if studio == "yes":
        query = query.where(Craftsman.studio_id.is_not(None))
    elif studio == "no":
        query = query.where(Craftsman.studio_id.is_(None))
    elif studio:
        query = query.where(Craftsman.studio_id.in_(sa.select(Studio.id).where(Studio.name.contains(studio))))
    text = (filters.get("q") or "").strip()
    if text:
        like = f"%{text}%"
        query = query.where(sa.or_(Craftsman.name.like(like), Craftsman.employer.like(like),
                                   Craftsman.phone.like(like) if search_phones else sa.false()))
    return query


def list_craftsmen(session: Session, filters: dict[str, Any], *, scope: Collection[int] | None,
                   search_phones: bool = True, page: int = 1,
                   per_page: int = PAGE_SIZE, options: Sequence[Any] = ()) -> Page:
    """One page of the filtered pool and the total count (a SQL count, not a Python loop); ``options``: what else
    the page shows of each row, loaded with the rows."""
    query = filtered_query(session, filters, scope=scope, search_phones=search_phones)
    return paginate(session, query.options(
        *options, selectinload(Craftsman.region), selectinload(Craftsman.studio),
        selectinload(Craftsman.honours).selectinload(CraftsmanHonour.honour)).order_by(Craftsman.id),
        page=page, per_page=per_page)


# ---------------------------------------------------------------- pause, resume, exit
def _change_status(session: Session, craftsman: Craftsman, action: str, changes: dict[str, Any], *,
                   actor: User | str | None, now: dt.datetime, note: dict[str, Any] | None = None) -> Craftsman:
    fields_ = (*AUDITED_FIELDS, "paused_until", "exit_reason", "exited_on")
    before = audit.snapshot(craftsman, fields_)
    for name, value in changes.items():
        setattr(craftsman, name, value)
    craftsman.updated_at = now
    session.flush()
    audit.record(session, actor=actor, action=action, entity=craftsman, now=now, before=before,
                 after=audit.snapshot(craftsman, fields_) | (note or {}))
    return craftsman


def pause_craftsman(session: Session, craftsman: Craftsman, *, until: dt.date | None, reason: str = "",
                    actor: User | str | None, now: dt.datetime) -> Craftsman:
    """Take a craftsman out of matching until ``until`` (inclusive); an exited one cannot be paused."""
    if craftsman.status == "exited":
        raise ServiceError(_l("This craftsman has left the pool and cannot be paused."), field="status")
    if until is not None and until < local_today(now):
        raise ServiceError(_l("The pause must end today or later."), field="until")
    return _change_status(session, craftsman, "craftsman.pause", {"status": "paused", "paused_until": until},
                          actor=actor, now=now, note={"reason": reason})


def resume_craftsman(session: Session, craftsman: Craftsman, *, actor: User | str | None,
                     now: dt.datetime) -> Craftsman:
    if craftsman.status != "paused":
        raise ServiceError(_l("Only a paused craftsman can be resumed."), field="status")
    return _change_status(session, craftsman, "craftsman.resume", {"status": "active", "paused_until": None},
                          actor=actor, now=now)


def live_engagements(session: Session, craftsman: Craftsman, *,
                     lock: bool = False) -> list[tuple[EngagementMember, Engagement]]:
    """The engagements the craftsman is still booked on (scheduled or in service), oldest first, with his place;
    ``lock``: their rows locked and read afresh (a service started meanwhile is seen started)."""
    query = (sa.select(EngagementMember, Engagement).join(Engagement, Engagement.id == EngagementMember.engagement_id)
             .where(EngagementMember.craftsman_id == craftsman.id,
                    EngagementMember.status.in_(BOOKED_MEMBER_STATUSES),
                    Engagement.status.in_(("scheduled", "in_service")))
             .options(selectinload(Engagement.demand)).order_by(Engagement.id))
    if lock:
        query = query.with_for_update(of=(Engagement, EngagementMember)).execution_options(populate_existing=True)
    return [tuple(row) for row in session.execute(query)]


def exit_craftsman(session: Session, craftsman: Craftsman, *, reason: str, on: dt.date,
                   actor: User | str | None, now: dt.datetime, decline_scheduled: bool = False) -> Craftsman:
    """退出: the craftsman keeps the history (engagements, points) but is never matched again.

    Nobody leaves while an enterprise still expects him: an engagement in service is completed or cancelled
    first, and his scheduled ones are declined for him only when asked (``decline_scheduled``: each demand opens
    again for another round, as when he declines himself)."""
    reason = (reason or "").strip()
    if not reason:
        raise ServiceError(_l("Give the reason for leaving the pool."), field="reason")
    if has_control_characters(reason):
        raise ServiceError(CONTROL_CHARACTERS_MESSAGE, field="reason")
    if len(reason) > 200:
        raise ServiceError(_l("At most %(count)d characters.", count=200), field="reason")
    # locked in a publish's order, its demands before him (the other order deadlocked with a publish of a round
    # still proposing him there): a publish booking him meanwhile then waits and finds him gone, or is seen here
    demand_ids = list({engagement.demand_id for _, engagement in live_engagements(session, craftsman)})
    lock_rows(session, Demand, demand_ids)
    if session.scalar(sa.select(Craftsman.status).where(Craftsman.id == craftsman.id).with_for_update()) == "exited":
        raise ServiceError(_l("This craftsman has already left the pool."), field="status")
    live = live_engagements(session, craftsman, lock=True)
    if {engagement.demand_id for _, engagement in live} - set(demand_ids):
        raise Conflict(_l("This craftsman's engagements changed meanwhile: reload the page and try again."))
    serving = [engagement.demand.tracking_code for _, engagement in live if engagement.status == "in_service"]
    if serving:
        raise ServiceError(_l("This craftsman is serving %(codes)s: complete or cancel that engagement before "
                              "the exit.", codes="、".join(serving)), field="status")
    if live and not decline_scheduled:
        raise ServiceError(_l("This craftsman is scheduled to serve %(codes)s. The exit declines these engagements "
                              "only when asked (\"Decline the scheduled engagements\" on the craftsman's page); "
                              "each demand then opens again for another round.",
                              codes="、".join(engagement.demand.tracking_code for _, engagement in live)),
                           field="decline_scheduled")
    if live:
        from web.services.rounds import decline_member  # rounds imports this module

        for member, _ in live:
            decline_member(session, member, reason=str(_l("Left the pool: %(reason)s", reason=reason)),
                           actor=actor, now=now)
    return _change_status(session, craftsman, "craftsman.exit",
                          {"status": "exited", "exit_reason": reason, "exited_on": on, "paused_until": None},
                          actor=actor, now=now, note={"declined": [e.id for _, e in live]} if live else None)


def reactivate_expired_pauses(session: Session, *, today: dt.date) -> int:
    """Paused craftsmen whose pause ended before ``today`` count as active again (one UPDATE)."""
    result = session.execute(
        sa.update(Craftsman).where(Craftsman.status == "paused", Craftsman.paused_until.is_not(None),
                                   Craftsman.paused_until < today)
        .values(status="active", paused_until=None)
    )
    return result.rowcount or 0


def form_data(craftsman: Craftsman) -> dict[str, Any]:
    """The schema's input dict for an existing craftsman (edit form, import comparison)."""
    return {
        "name": craftsman.name, "gender": craftsman.gender, "phone": craftsman.phone, "email": craftsman.email,
        "employer": craftsman.employer, "region_code": craftsman.region.code,
        "studio": craftsman.studio.name if craftsman.studio else "", "bio": craftsman.bio or "",
        "honours": [{"code": h.honour.code, "year": h.year} for h in craftsman.honours],
        "skills": [{"code": s.skill.code, "proficiency": s.proficiency} for s in craftsman.skills],
        "industries": [i.code for i in craftsman.industries],
        "can_onsite": craftsman.can_onsite, "can_remote": craftsman.can_remote,
        "travel_radius_km": craftsman.travel_radius_km, "yearly_capacity": craftsman.yearly_capacity,
        "round_capacity": craftsman.round_capacity,
        "availability": [{"start": w.starts_on.isoformat(), "end": w.ends_on.isoformat()}
                         for w in craftsman.availability],
        "status": craftsman.status,
    }
