"""Resolve reference codes (regions, industries, skills, …) to rows, with clear errors for unknown ones;
and a per-process cache of the reference tables for the public pages (``cached``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from web.models import DemandCategory, HonourLevel, Industry, Region, Skill
from web.services.errors import UnknownReference

T = TypeVar("T")


def region_name_column(english: bool) -> sa.ColumnElement[str]:
    """The region's name in English (when it has one) or Chinese, as a column."""
    return sa.case((Region.name_en != "", Region.name_en), else_=Region.name) if english else Region.name


def filter_regions(session: Session, *, english: bool = False) -> list[tuple[str, str, str]]:
    """(code, name, level) of the provinces, Sichuan's prefectures and Chongqing's districts, by code:
    the places a coordinator filters by (a filter on a place covers the places under it)."""
    parent = sa.orm.aliased(Region)
    return [tuple(row) for row in session.execute(
        sa.select(Region.code, region_name_column(english), Region.level)
        .outerjoin(parent, parent.id == Region.parent_id)
        .where(sa.or_(Region.level.in_(("province", "prefecture")),
                      sa.and_(Region.level == "county", parent.level == "province")))
        .order_by(Region.code))]


def filter_industries(session: Session) -> list[Industry]:
    """The industries a list is filtered by, each sector followed by its sub-industries (``sectors_first``)."""
    return sectors_first(session.scalars(sa.select(Industry).order_by(Industry.id)).all())


def sectors_first(rows: Sequence[Any]) -> list[Any]:
    """Industry rows (with ``id`` and ``parent_id``), each sector followed by its sub-industries, in their order:
    a template indenting those with a ``parent_id`` shows them under their own sector."""
    children: dict[int, list[Any]] = {}
    for row in rows:
        if row.parent_id is not None:
            children.setdefault(row.parent_id, []).append(row)
    return [item for row in rows if row.parent_id is None for item in (row, *children.get(row.id, ()))]


def industry_ids_under(code: str) -> sa.ScalarSelect[Any] | sa.Select[Any]:
    """The ids of the industry ``code`` and of its sub-industries: a filter on a sector covers them, as a filter
    on a place covers the places under it."""
    parent = sa.select(Industry.id).where(Industry.code == code).scalar_subquery()
    return sa.select(Industry.id).where(sa.or_(Industry.code == code, Industry.parent_id == parent))


# ``known``: the cached reference data (``cached``) of the caller, which then gets its plain rows (id, code, … as
# in ``ReferenceData``) instead of ORM rows, without a query; a code it lacks (added since) is read from the database.


def region(session: Session, code: str, *, field: str = "region_code", known: ReferenceData | None = None) -> Any:
    row = known.by_code("regions").get(code) if known is not None else None
    if row is None:
        row = session.scalar(sa.select(Region).where(Region.code == code))
    if row is None:
        raise UnknownReference(_l("Unknown region: %(code)s.", code=code), field=field)
    return row


def category(session: Session, code: str, *, field: str = "category_code", known: ReferenceData | None = None) -> Any:
    row = known.by_code("categories").get(code) if known is not None else None
    if row is None:
        row = session.scalar(sa.select(DemandCategory).where(DemandCategory.code == code))
    if row is None:
        raise UnknownReference(_l("Unknown demand category: %(code)s.", code=code), field=field)
    return row


def industries(session: Session, codes: Iterable[str], *, field: str = "industries",
               known: ReferenceData | None = None) -> list[Industry]:
    return _many(session, Industry, codes, field, _l("Unknown industry: %(code)s."),
                 known.by_code("industries") if known is not None else None)


def skills(session: Session, codes: Iterable[str], *, field: str = "skills",
           known: ReferenceData | None = None) -> list[Skill]:
    return _many(session, Skill, codes, field, _l("Unknown skill: %(code)s."),
                 known.by_code("skills") if known is not None else None)


def skills_by_code_or_name(session: Session, texts: Iterable[str], *, field: str = "skills") -> list[Skill]:
    """Skills named by code ("weld"), Chinese name ("焊接") or English name ("welding", any case), in order."""
    wanted = list(texts)
    if not wanted:
        return []
    folded = {text.casefold() for text in wanted}
    rows = session.scalars(sa.select(Skill).where(sa.or_(
        Skill.code.in_(wanted), Skill.name_zh.in_(wanted), sa.func.lower(Skill.name_en).in_(folded)))).all()
    index: dict[str, Skill] = {}
    for row in rows:  # a code wins over a name that happens to spell the same
        index.setdefault(row.name_en.casefold(), row)
        index[row.name_zh] = row
        index[row.code] = row
    found = []
    for text in wanted:
        row = index.get(text) or index.get(text.casefold())
        if row is None:
            raise UnknownReference(_l("Unknown skill: %(code)s.", code=text), field=field)
        found.append(row)
    return found


def honours(session: Session, codes: Iterable[str], *, field: str = "honours") -> list[HonourLevel]:
    return _many(session, HonourLevel, codes, field, _l("Unknown honour level: %(code)s."))


def _many(session: Session, model: type[T], codes: Iterable[str], field: str, message,
          known: dict[str, Any] | None = None) -> list[T]:
    wanted: Sequence[str] = list(dict.fromkeys(codes))
    if not wanted:
        return []
    rows = {code: known[code] for code in wanted if code in known} if known is not None else {}
    if missing := [code for code in wanted if code not in rows]:
        rows.update((row.code, row) for row in session.scalars(sa.select(model).where(model.code.in_(missing))))
    for code in wanted:
        if code not in rows:
            # lazy_gettext strings format on str(); keep the code for the message
            raise UnknownReference(message % {"code": code}, field=field)
    return [rows[code] for code in wanted]


# --- the per-process cache --------------------------------------------------------------------
# Reference tables change only when reference data is seeded (``seeding.load_reference`` calls
# ``invalidate``). Another process's seeding is noticed by a cheap fingerprint (row counts and
# largest ids: rows are only ever added) checked at most every ``max_age`` seconds.

CACHED_TABLES = (Region, Industry, Skill, DemandCategory)


@dataclasses.dataclass(frozen=True)
class ReferenceData:
    """The reference rows the public pages need, as plain immutable rows (no session attached)."""

    regions: tuple[Any, ...]  # id, code, name, name_en, level, parent_id, province_code; by code
    industries: tuple[Any, ...]  # id, code, name_zh, name_en, parent_id; by id
    skills: tuple[Any, ...]  # id, code, name_zh, name_en, parent_id; by id
    categories: tuple[Any, ...]  # id, code, name_zh, name_en; by sort
    version: str  # a hash of the content: names the versioned URLs and is their ETag
    _derived: dict[Any, Any] = dataclasses.field(default_factory=dict, compare=False, repr=False)

    def derived(self, key: Any, build: Callable[[ReferenceData], Any]) -> Any:
        """``build(self)`` computed once per key (e.g. per locale) for as long as this data is current."""
        if key not in self._derived:
            self._derived[key] = build(self)
        return self._derived[key]

    def derived_if_built(self, key: Any) -> Any:
        """What ``derived(key, ...)`` built already, or None: never builds."""
        return self._derived.get(key)

    def by_code(self, table: str) -> dict[str, Any]:
        """The rows of ``table`` ("regions", "industries", "skills", "categories") by code."""
        return self.derived(("by_code", table), lambda data: {row.code: row for row in getattr(data, table)})


@dataclasses.dataclass
class _Entry:
    fingerprint: tuple[Any, ...]
    data: ReferenceData
    checked: float


_cache: dict[str, _Entry] = {}


def invalidate() -> None:
    """Forget the cached reference data of this process (after reference rows were added)."""
    _cache.clear()


def cached(open_session: Callable[[], Session], *, key: str, max_age: float | None) -> ReferenceData:
    """The reference data of the database named ``key``, from this process's cache when its fingerprint was
    checked within ``max_age`` seconds (0: check on every call, one small query; None: no cache, load every
    time). ``open_session`` is called only when the database is read: a fresh cache hit opens no session."""
    if max_age is None:
        return _load(open_session())
    entry = _cache.get(key)
    now = time.monotonic()
    if entry is not None and now - entry.checked < max_age:
        return entry.data
    session = open_session()
    fingerprint = _fingerprint(session)
    if entry is None or entry.fingerprint != fingerprint:
        entry = _Entry(fingerprint, _load(session), now)
        _cache[key] = entry
    entry.checked = now
    return entry.data


def trusted(*, key: str, max_age: float | None) -> ReferenceData | None:
    """The cached reference data of the database named ``key`` if ``cached`` would return it without reading
    the database now (checked within ``max_age`` seconds); otherwise None, and nothing is read."""
    entry = _cache.get(key)
    if max_age is None or entry is None or time.monotonic() - entry.checked >= max_age:
        return None
    return entry.data


def _fingerprint(session: Session) -> tuple[Any, ...]:
    columns = []
    for model in CACHED_TABLES:
        columns += [sa.select(sa.func.count(model.id)).scalar_subquery(),
                    sa.select(sa.func.max(model.id)).scalar_subquery()]
    return tuple(session.execute(sa.select(*columns)).one())


def _load(session: Session) -> ReferenceData:
    def rows(statement) -> tuple[Any, ...]:
        return tuple(session.execute(statement).all())

    regions = rows(sa.select(Region.id, Region.code, Region.name, Region.name_en, Region.level, Region.parent_id,
                             Region.province_code).order_by(Region.code))
    industries = rows(sa.select(Industry.id, Industry.code, Industry.name_zh, Industry.name_en, Industry.parent_id)
                      .order_by(Industry.id))
    skills = rows(sa.select(Skill.id, Skill.code, Skill.name_zh, Skill.name_en, Skill.parent_id).order_by(Skill.id))
    categories = rows(sa.select(DemandCategory.id, DemandCategory.code, DemandCategory.name_zh,
                                DemandCategory.name_en).order_by(DemandCategory.sort, DemandCategory.id))
    content = json.dumps([[list(row) for row in table] for table in (regions, industries, skills, categories)],
                         ensure_ascii=False)
    version = hashlib.sha256(content.encode()).hexdigest()[:16]
    return ReferenceData(regions, industries, skills, categories, version)
