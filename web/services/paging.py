"""One page of a query: the rows, the total, and the page clamped to the ones that exist (every list uses it)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session


@dataclasses.dataclass(frozen=True)
class Page:
    items: list[Any]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return _page_count(self.total, self.per_page)


def paginate(session: Session, query: sa.Select, *, page: int, per_page: int, total: int | None = None,
             rows: bool = False) -> Page:
    """Page ``page`` (1-based; past the last one, the last one) of the ordered ``query``.

    ``total`` may be given when the caller counted already; ``rows`` returns result rows instead of scalars.
    """
    if total is None:
        total = session.scalar(sa.select(sa.func.count()).select_from(query.order_by(None).subquery())) or 0
    page = _clamp(int(total), page, per_page)
    chosen = query.offset((page - 1) * per_page).limit(per_page)
    items = list(session.execute(chosen).all() if rows else session.scalars(chosen))
    return Page(items=items, total=int(total), page=page, per_page=per_page)


def page_of(items: Sequence[Any], *, page: int, per_page: int) -> Page:
    """`paginate` for rows already in memory and in order."""
    page = _clamp(len(items), page, per_page)
    return Page(items=list(items[(page - 1) * per_page:page * per_page]), total=len(items), page=page,
                per_page=per_page)


def _clamp(total: int, page: int, per_page: int) -> int:
    """Page ``page`` when it exists, else the nearest one (the first of an empty list)."""
    return min(max(1, page), _page_count(total, per_page))


def _page_count(total: int, per_page: int) -> int:
    return max(1, -(-total // per_page))
