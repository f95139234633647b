"""The outcome pool (创新成果库): browse/search, create and edit outcomes (each change audited)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session, selectinload

from web.models import Craftsman, Outcome, Studio, User, outcome_industry
from web.models.outcomes import OUTCOME_KINDS
from web.schemas.common import load_or_raise
from web.schemas.outcomes import OutcomeSchema
from web.services import audit, reference
from web.services.errors import PermissionDenied, ServiceError
from web.services.paging import Page, paginate

AUDITED_FIELDS = ("kind", "title", "craftsman_id", "studio_id", "value_wan", "year", "reference")
PAGE_SIZE = 50


def filtered_query(session: Session, filters: dict[str, Any], *, scope: list[int] | None) -> sa.Select:
    """Outcomes by text (title, description, reference), kind, industry, year, craftsman, studio, region scope."""
    query = sa.select(Outcome)
    if scope is not None:
        query = query.where(sa.or_(
            Outcome.craftsman_id.in_(sa.select(Craftsman.id).where(Craftsman.region_id.in_(scope))),
            Outcome.studio_id.in_(sa.select(Studio.id).where(Studio.region_id.in_(scope)))))
    text = (filters.get("q") or "").strip()
    if text:
        like = f"%{text}%"
        query = query.where(sa.or_(Outcome.title.like(like), Outcome.description.like(like),
                                   Outcome.reference.like(like)))
    if filters.get("kind") in OUTCOME_KINDS:
        query = query.where(Outcome.kind == filters["kind"])
    if filters.get("industry"):
        query = query.where(Outcome.id.in_(sa.select(outcome_industry.c.outcome_id).where(
            outcome_industry.c.industry_id.in_(reference.industry_ids_under(filters["industry"])))))
    if str(filters.get("year") or "").isdigit():
        query = query.where(Outcome.year == int(filters["year"]))
    if str(filters.get("craftsman") or "").isdigit():
        query = query.where(Outcome.craftsman_id == int(filters["craftsman"]))
    if filters.get("studio"):
        query = query.where(Outcome.studio_id.in_(sa.select(Studio.id).where(Studio.name.contains(filters["studio"]))))
    if filters.get("source") == "follow_up":
        query = query.where(Outcome.follow_up_id.is_not(None))
    return query.options(selectinload(Outcome.craftsman), selectinload(Outcome.studio),
                         selectinload(Outcome.industries))


def list_outcomes(session: Session, filters: dict[str, Any], *, scope: list[int] | None,
                  page: int = 1) -> Page:
    return paginate(session, filtered_query(session, filters, scope=scope).order_by(Outcome.id.desc()),
                    page=page, per_page=PAGE_SIZE)


def _apply(session: Session, outcome: Outcome, values: dict[str, Any], scope: list[int] | None) -> None:
    craftsman = None
    if values["craftsman_id"] is not None:
        craftsman = session.get(Craftsman, values["craftsman_id"])
        if craftsman is None:
            raise ServiceError(_l("No craftsman has this number."), field="craftsman_id")
    studio = None
    if values["studio"]:
        studio = session.scalar(sa.select(Studio).where(Studio.name == values["studio"]))
        if studio is None:
            raise ServiceError(_l("No studio has this name."), field="studio")
    if craftsman is None and studio is None:
        raise ServiceError(_l("Link the outcome to a craftsman or a studio."), field="craftsman_id")
    if scope is not None and not ((craftsman and craftsman.region_id in scope)
                                  or (studio and studio.region_id in scope)):
        raise PermissionDenied(_l("You may only record outcomes of your own region."))
    outcome.kind = values["kind"]
    outcome.title = values["title"]
    outcome.description = values["description"]
    outcome.reference = values["reference"] or None
    outcome.value_wan = values["value_wan"]
    outcome.year = values["year"]
    outcome.craftsman = craftsman
    outcome.studio = studio
    outcome.industries = reference.industries(session, values["industries"])


def create_outcome(session: Session, data: dict[str, Any], *, scope: list[int] | None = None,
                   actor: User | str | None, now: dt.datetime) -> Outcome:
    values = load_or_raise(OutcomeSchema(), data)
    outcome = Outcome(created_at=now)
    _apply(session, outcome, values, scope)
    session.add(outcome)
    session.flush()
    audit.record(session, actor=actor, action="outcome.create", entity=outcome, now=now,
                 after=audit.snapshot(outcome, AUDITED_FIELDS))
    return outcome


def update_outcome(session: Session, outcome: Outcome, data: dict[str, Any], *, scope: list[int] | None = None,
                   actor: User | str | None, now: dt.datetime) -> Outcome:
    values = load_or_raise(OutcomeSchema(), data)
    before = audit.snapshot(outcome, AUDITED_FIELDS)
    _apply(session, outcome, values, scope)
    session.flush()
    audit.record(session, actor=actor, action="outcome.update", entity=outcome, now=now, before=before,
                 after=audit.snapshot(outcome, AUDITED_FIELDS))
    return outcome


def form_data(outcome: Outcome) -> dict[str, Any]:
    return {"kind": outcome.kind, "title": outcome.title, "description": outcome.description or "",
            "reference": outcome.reference or "", "value_wan": outcome.value_wan, "year": outcome.year,
            "craftsman_id": outcome.craftsman_id, "studio": outcome.studio.name if outcome.studio else "",
            "industries": [i.code for i in outcome.industries]}
