"""Write audit entries: who changed what, with the before and after values."""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from web.models import AuditLog, User

_INSERT = sa.insert(AuditLog.__table__)


def snapshot(entity: Any, fields: Iterable[str]) -> dict[str, Any]:
    """A JSON-safe dict of ``fields`` of ``entity`` (dates as ISO strings)."""
    return {name: _json_safe(getattr(entity, name)) for name in fields}


def record(
    session: Session,
    *,
    actor: User | str | None,
    action: str,
    entity: Any,
    now: dt.datetime,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditLog:
    """Add an audit entry for ``entity`` (flushed first so that it has an id)."""
    if getattr(entity, "id", None) is None:
        session.flush()
    entry = AuditLog(**_entry(actor, action, entity, now, before, after))
    session.add(entry)
    return entry


def insert(session: Session, **fields: Any) -> None:
    """:func:`record`'s entry (same keywords) as one INSERT sent at once, for an ``entity`` that has its id: no
    object, no flush (a public submission's cost was mostly the ORM's)."""
    session.execute(_INSERT, [_entry(**fields)])


def _entry(actor: User | str | None, action: str, entity: Any, now: dt.datetime, before: dict[str, Any] | None = None,
           after: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "actor_id": actor.id if isinstance(actor, User) else None,
        "actor_label": actor.username if isinstance(actor, User) else (actor or "system"),
        "action": action, "entity_type": type(entity).__tablename__, "entity_id": entity.id,
        "before": before, "after": after, "at": now,
    }


def changed_fields(before: dict[str, Any], after: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {key: (before.get(key), after.get(key)) for key in after if before.get(key) != after.get(key)}


def _json_safe(value: Any) -> Any:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    return value
