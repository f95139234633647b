"""Personal data on a need-to-know basis: masked mobile numbers, and an audit entry for every disclosure
(exports of the pools, messages sent from the outbox)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from web.models import MatchingRound, Notification, User
from web.services import audit
from web.services.notifications import Backend, RetryPolicy, deliver_pending, due


def mask_phone(phone: str | None) -> str:
    """13812341234 → 138****1234: enough to tell numbers apart, not enough to call."""
    phone = phone or ""
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 8 else "****"


def record_export(session: Session, *, what: str, rows: int, filters: dict[str, Any], actor: User,
                  now: dt.datetime) -> None:
    """Audit an export: who (the actor, also the entry's entity), when, which file, its filters, how many rows."""
    audit.record(session, actor=actor, action=f"export.{what}", entity=session.get(User, actor.id), now=now,
                 after={"export": what, "rows": rows, "filters": {k: v for k, v in filters.items() if v}})
    session.flush()


def send_outbox(session: Session, visible: sa.ColumnElement[bool], *, round_id: int | None, backend: Backend,
                actor: User | str, now: dt.datetime, retry: RetryPolicy | None = None) -> tuple[int, int]:
    """Send the due messages the actor may see (``visible``), of one round or of all; audit each round's
    batch (who, how many sent and failed, which round). Returns (sent, failed). A command-line actor (a
    string) sends round messages only: their audit entry names the round."""
    where = sa.and_(visible, Notification.round_id == round_id) if round_id else visible
    batches = session.scalars(sa.select(Notification.round_id).where(due(now), where)
                              .distinct()).all()
    sent = failed = 0
    for batch in sorted(batches, key=lambda value: (value is None, value)):
        in_batch = Notification.round_id.is_(None) if batch is None else Notification.round_id == batch
        batch_sent, batch_failed = deliver_pending(session, backend=backend, now=now, retry=retry,
                                                    where=sa.and_(where, in_batch))
        entity = session.get(MatchingRound, batch) if batch is not None else session.get(User, actor.id)
        audit.record(session, actor=actor, action="outbox.send", entity=entity, now=now,
                     after={"round": batch, "sent": batch_sent, "failed": batch_failed})
        sent, failed = sent + batch_sent, failed + batch_failed
    session.flush()
    return sent, failed
