"""Enterprises: register once per unified social credit code."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from web.models import Enterprise, User, enterprise_industry
from web.schemas.common import load_or_raise
from web.schemas.enterprises import EnterpriseSchema
from web.services import audit, reference
from web.services.errors import Conflict

AUDITED_FIELDS = ("name", "credit_code", "type", "region_id", "employees", "address", "contact_name")


def find_by_credit_code(session: Session, credit_code: str) -> Enterprise | None:
    return session.scalar(sa.select(Enterprise).where(Enterprise.credit_code == credit_code))


def register_enterprise(session: Session, data: dict[str, Any], *, actor: User | str | None,
                        now: dt.datetime) -> Enterprise:
    """Validate and create an enterprise; a credit code already in the pool is refused."""
    values = load_or_raise(EnterpriseSchema(), data)
    if find_by_credit_code(session, values["credit_code"]) is not None:
        raise Conflict(_l("An enterprise with this unified social credit code is already registered."),
                       field="credit_code")
    return create_checked(session, values, actor=actor, now=now)


def create_checked(session: Session, values: dict[str, Any], *, actor: User | str | None, now: dt.datetime,
                   region: Any = None, industries: Sequence[Any] | None = None) -> Enterprise:
    """A new enterprise of ``values`` loaded by ``EnterpriseSchema`` or a contract at least as strict (the demand's),
    whose credit code is not registered; ``region`` and ``industries`` (rows with an ``id``) when the caller has
    resolved ``values``' codes already. Flushed, with its audit entry."""
    region = region if region is not None else reference.region(session, values["region_code"])
    if industries is None:
        industries = reference.industries(session, values["industries"])
    # The region and industries by id: their rows need not be loaded as objects, nor join the flush.
    enterprise = Enterprise(
        name=values["name"], credit_code=values["credit_code"], type=values["type"], region_id=region.id,
        employees=values["employees"], address=values["address"], contact_name=values["contact_name"],
        contact_phone=values["contact_phone"], contact_email=values["contact_email"], created_at=now,
    )
    session.add(enterprise)
    session.flush()
    if industries:
        session.execute(sa.insert(enterprise_industry), [
            {"enterprise_id": enterprise.id, "industry_id": industry.id} for industry in industries])
    audit.record(session, actor=actor, action="enterprise.create", entity=enterprise, now=now,
                 after=audit.snapshot(enterprise, AUDITED_FIELDS))
    return enterprise
