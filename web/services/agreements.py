"""Long-term cooperation agreements (长期合作协议): signed out of an engagement, with their document.

"临时助企" → "长期惠企": an agreement names the enterprise (of the engagement's demand), a craftsman of the
engagement and/or his innovation studio, and the union; it runs from ``starts_on`` to ``ends_on`` (inclusive).
The signed document is stored like a follow-up's attachment (checked type and size, under UPLOAD_DIR).
"""

from __future__ import annotations

import calendar
import datetime as dt
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session, selectinload

from web.models import Agreement, Demand, Engagement, User
from web.schemas.agreements import AgreementSchema
from web.schemas.common import load_or_raise
from web.services import audit, followups
from web.services.errors import ServiceError

# Statuses of an engagement out of which an agreement can be signed (not before the service starts).
SIGNABLE_STATUSES = ("in_service", "completed", "evaluated")
EXPIRING_DAYS = 30  # "expiring soon": ends within this many days
FIELDS = ("engagement_id", "enterprise_id", "craftsman_id", "studio_id", "union_name", "starts_on", "ends_on",
          "scope")
DOCUMENT_FIELDS = ("document_name", "document_type", "document_size")
STATE_LABELS = {"upcoming": _l("Not started yet"), "active": _l("In force"), "expiring": _l("Expiring soon"),
                "ended": _l("Ended")}


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` later (the month's last day when it is shorter): a term "of 12 months"."""
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def state(agreement: Agreement, today: dt.date) -> str:
    if agreement.starts_on > today:
        return "upcoming"
    if agreement.ends_on < today:
        return "ended"
    return "expiring" if agreement.ends_on <= today + dt.timedelta(days=EXPIRING_DAYS) else "active"


def default_union_name(engagement: Engagement) -> str:
    """The union of the demand's region, as a suggestion for the form (e.g. 乐山市总工会)."""
    return f"{engagement.demand.region.name}总工会"


def create_agreement(session: Session, engagement: Engagement, data: dict[str, Any], *,
                     document: tuple[str, IO[bytes]] | None = None, actor: User | str | None,
                     now: dt.datetime) -> Agreement:
    """Record an agreement signed out of ``engagement``; ``document``: (file name, stream) of the signed copy."""
    values = load_or_raise(AgreementSchema(), data)
    if engagement.status not in SIGNABLE_STATUSES:
        raise ServiceError(_l("An agreement is recorded once the service has started."), field="status",
                           code="wrong_status")
    members = {m.craftsman_id: m.craftsman for m in engagement.members}
    if values["craftsman_id"] is not None and values["craftsman_id"] not in members:
        raise ServiceError(_l("Choose a craftsman of this engagement."), field="craftsman_id")
    studios = {c.studio_id for c in members.values() if c.studio_id}
    if values["studio_id"] is not None and values["studio_id"] not in studios:
        raise ServiceError(_l("Choose the studio of a craftsman of this engagement."), field="studio_id")
    agreement = Agreement(engagement_id=engagement.id, enterprise_id=engagement.demand.enterprise_id,
                          craftsman_id=values["craftsman_id"], studio_id=values["studio_id"],
                          union_name=values["union_name"], starts_on=values["starts_on"], ends_on=values["ends_on"],
                          scope=values["scope"], created_at=now,
                          created_by_id=actor.id if isinstance(actor, User) else None)
    if document is not None:
        _store(agreement, document, now)
    session.add(agreement)
    session.flush()
    audit.record(session, actor=actor, action="agreement.create", entity=agreement, now=now,
                 after=audit.snapshot(agreement, FIELDS + DOCUMENT_FIELDS))
    return agreement


def attach_document(session: Session, agreement: Agreement, filename: str, stream: IO[bytes], *,
                    actor: User | str | None, now: dt.datetime) -> Agreement:
    """Attach (or replace) the signed copy; the replaced file stays on disk, named in the audit entry."""
    before = audit.snapshot(agreement, DOCUMENT_FIELDS)
    _store(agreement, (filename, stream), now)
    session.flush()
    audit.record(session, actor=actor, action="agreement.document", entity=agreement, now=now, before=before,
                 after=audit.snapshot(agreement, DOCUMENT_FIELDS))
    return agreement


def _store(agreement: Agreement, document: tuple[str, IO[bytes]], now: dt.datetime) -> None:
    stored = followups.store_upload(document[0], document[1], now=now, field="document")
    agreement.document_name, agreement.document_type = stored.filename, stored.content_type
    agreement.document_size, agreement.document_key = stored.size_bytes, stored.storage_key


def document_path(agreement: Agreement) -> Path | None:
    return followups.upload_dir() / agreement.document_key if agreement.document_key else None


# ---------------------------------------------------------------- lists and counts
def _scoped(query: sa.Select, visible: sa.ColumnElement[bool] | None) -> sa.Select:
    """``visible``: a condition on the demand (a coordinator's region); None: every agreement (an agreement
    always has its engagement, and that its demand, so the joins would keep every row)."""
    if visible is None:
        return query
    return (query.join(Engagement, Engagement.id == Agreement.engagement_id)
            .join(Demand, Demand.id == Engagement.demand_id).where(visible))


def listed(session: Session, *, visible: sa.ColumnElement[bool] | None = None, enterprise_id: int | None = None,
           only: str | None = None, today: dt.date, limit: int = 500) -> list[Agreement]:
    """Agreements, newest first; ``only``: "active" (in force, expiring ones included) or "expiring"."""
    query = _scoped(sa.select(Agreement), visible)
    if enterprise_id is not None:
        query = query.where(Agreement.enterprise_id == enterprise_id)
    if only in ("active", "expiring"):
        query = query.where(Agreement.starts_on <= today, Agreement.ends_on >= today)
    if only == "expiring":
        query = query.where(Agreement.ends_on <= today + dt.timedelta(days=EXPIRING_DAYS))
    query = query.options(*(selectinload(party) for party in (Agreement.enterprise, Agreement.craftsman,
                                                               Agreement.studio)))  # the table names them all
    return list(session.scalars(query.order_by(Agreement.starts_on.desc(), Agreement.id.desc()).limit(limit)))


def counts(session: Session, today: dt.date, visible: sa.ColumnElement[bool] | None = None) -> dict[str, int]:
    """In force today, and of those the ones ending within EXPIRING_DAYS (one aggregate query)."""
    soon = today + dt.timedelta(days=EXPIRING_DAYS)
    row = session.execute(_scoped(sa.select(
        sa.func.count(Agreement.id), sa.func.count(sa.case((Agreement.ends_on <= soon, Agreement.id)))), visible)
        .where(Agreement.starts_on <= today, Agreement.ends_on >= today)).one()
    return {"active": row[0] or 0, "expiring": row[1] or 0}


def parties(agreement: Agreement) -> list[str]:
    """The signatories in words: enterprise, craftsman and/or studio, union."""
    names = [agreement.enterprise.name]
    if agreement.craftsman_id:
        names.append(agreement.craftsman.name)
    if agreement.studio_id:
        names.append(agreement.studio.name)
    return [*names, agreement.union_name]


