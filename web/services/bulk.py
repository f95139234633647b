"""Bulk actions of the demand inbox and the craftsman pool: one service call, and one audit entry, per record.

Each record goes through the same service as its own page (approve, reject, assign a liaison; pause, resume), so
the same rules apply. A record whose state does not allow the action is refused with the service's reason and
left unchanged; the others are changed. What applies to all (the reason, the liaison, the pause's end) is checked
once, before any record is touched: bad input changes nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from web.clock import local_today
from web.models import Craftsman, Demand, User
from web.schemas.common import load_or_raise
from web.schemas.demands import ReasonSchema
from web.services import craftsmen, demands
from web.services.errors import ServiceError

# The most records one bulk action changes (a page of "all matching" beyond it asks to narrow the filter).
MAX_RECORDS = 500
DEMAND_ACTIONS = {"approve": _l("Approve"), "reject": _l("Reject with a reason"), "liaison": _l("Assign a liaison")}
CRAFTSMAN_ACTIONS = {"pause": _l("Pause"), "resume": _l("Resume")}
Actor = User | str | None


@dataclasses.dataclass
class BulkResult:
    done: list[str] = dataclasses.field(default_factory=list)  # the records changed, by name or code
    refused: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (record, why not)


def selected(session: Session, base: sa.Select, model: type, ids: Sequence[int], *, everything: bool) -> list[Any]:
    """The records an action applies to: every row of ``base`` (the filtered, region-scoped list) when
    ``everything``, else the chosen ``ids`` among them (ids outside the user's regions are simply not found)."""
    query = base if everything else base.where(model.id.in_(sorted(set(ids))))
    count = session.scalar(sa.select(sa.func.count()).select_from(query.order_by(None).subquery())) or 0
    if count == 0:
        raise ServiceError(_l("Select at least one record."), field="ids")
    if count > MAX_RECORDS:
        raise ServiceError(_l("%(count)d records selected; one bulk action changes at most %(max)d. Narrow the "
                              "filter.", count=count, max=MAX_RECORDS), field="ids")
    return list(session.scalars(query.order_by(model.id)))


def _each(records: Sequence[Any], name: Callable[[Any], str], change: Callable[[Any], Any]) -> BulkResult:
    result = BulkResult()
    for record in records:
        try:
            change(record)
        except ServiceError as error:  # the services check before they change anything
            result.refused.append((name(record), str(error.message)))
        else:
            result.done.append(name(record))
    return result


def demand_action(session: Session, records: Sequence[Demand], action: str, data: dict[str, Any], *,
                  actor: Actor, now: dt.datetime) -> BulkResult:
    """``action``: "approve", "reject" (``data["reason"]``, read by each enterprise) or "liaison"
    (``data["liaison_id"]``, None clears it)."""
    if action == "approve":
        def change(demand):
            return demands.approve(session, demand, actor=actor, now=now)
    elif action == "reject":
        reason = load_or_raise(ReasonSchema(), {"text": data.get("reason") or ""})["text"]

        def change(demand):
            return demands.reject(session, demand, {"text": reason}, actor=actor, now=now)
    elif action == "liaison":
        liaison_id = data.get("liaison_id")
        demands.check_liaison(session, liaison_id)

        def change(demand):
            if demand.liaison_id == liaison_id:
                raise ServiceError(_l("Already has this liaison."))
            return demands.assign_liaison(session, demand, liaison_id, actor=actor, now=now)
    else:
        raise ServiceError(_l("Choose an action."), field="action")
    return _each(records, lambda demand: demand.tracking_code, change)


def craftsman_action(session: Session, records: Sequence[Craftsman], action: str, data: dict[str, Any], *,
                     actor: Actor, now: dt.datetime) -> BulkResult:
    """``action``: "pause" (``data["until"]`` a date or None, ``data["reason"]``) or "resume"."""
    if action == "pause":
        until, reason = data.get("until"), (data.get("reason") or "").strip()
        if until is not None and until < local_today(now):
            raise ServiceError(_l("The pause must end today or later."), field="until")
        if len(reason) > 200:
            raise ServiceError(_l("At most %(count)d characters.", count=200), field="reason")

        def change(craftsman):
            if craftsman.status == "paused":
                raise ServiceError(_l("Already paused."))
            return craftsmen.pause_craftsman(session, craftsman, until=until, reason=reason, actor=actor, now=now)
    elif action == "resume":
        def change(craftsman):
            return craftsmen.resume_craftsman(session, craftsman, actor=actor, now=now)
    else:
        raise ServiceError(_l("Choose an action."), field="action")
    return _each(records, lambda craftsman: f"{craftsman.name}（{craftsman.employer}）", change)
