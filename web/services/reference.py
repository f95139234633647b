"""Resolve reference codes (regions, industries, skills, …) to rows, with clear errors for unknown ones."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TypeVar

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from web.models import DemandCategory, HonourLevel, Industry, Region, Skill
from web.services.errors import UnknownReference

T = TypeVar("T")


def filter_regions(session: Session) -> list[tuple[str, str, str]]:
    """(code, name, level) of the provinces, Sichuan's prefectures and Chongqing's districts, by code:
    the places a coordinator filters by (a filter on a place covers the places under it)."""
    parent = sa.orm.aliased(Region)
    return [tuple(row) for row in session.execute(
        sa.select(Region.code, Region.name, Region.level).outerjoin(parent, parent.id == Region.parent_id)
        .where(sa.or_(Region.level.in_(("province", "prefecture")),
                      sa.and_(Region.level == "county", parent.level == "province")))
        .order_by(Region.code))]


def region(session: Session, code: str, *, field: str = "region_code") -> Region:
    row = session.scalar(sa.select(Region).where(Region.code == code))
    if row is None:
        raise UnknownReference(_l("Unknown region: %(code)s.", code=code), field=field)
    return row


def category(session: Session, code: str, *, field: str = "category_code") -> DemandCategory:
    row = session.scalar(sa.select(DemandCategory).where(DemandCategory.code == code))
    if row is None:
        raise UnknownReference(_l("Unknown demand category: %(code)s.", code=code), field=field)
    return row


def industries(session: Session, codes: Iterable[str], *, field: str = "industries") -> list[Industry]:
    return _many(session, Industry, codes, field, _l("Unknown industry: %(code)s."))


def skills(session: Session, codes: Iterable[str], *, field: str = "skills") -> list[Skill]:
    return _many(session, Skill, codes, field, _l("Unknown skill: %(code)s."))


def honours(session: Session, codes: Iterable[str], *, field: str = "honours") -> list[HonourLevel]:
    return _many(session, HonourLevel, codes, field, _l("Unknown honour level: %(code)s."))


def _many(session: Session, model: type[T], codes: Iterable[str], field: str, message) -> list[T]:
    wanted: Sequence[str] = list(dict.fromkeys(codes))
    if not wanted:
        return []
    rows = {row.code: row for row in session.scalars(sa.select(model).where(model.code.in_(wanted)))}
    for code in wanted:
        if code not in rows:
            # lazy_gettext strings format on str(); keep the code for the message
            raise UnknownReference(message % {"code": code}, field=field)
    return [rows[code] for code in wanted]
