"""Personal data on a need-to-know basis: an audit entry for every disclosure
(exports of the pools, messages sent from the outbox)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from web.models import MatchingRound, Notification, User
from web.services import audit
from web.services.notifications import Backend, RetryPolicy, deliver_messages, deliver_pending, due


def record_export(session: Session, *, what: str, rows: int, filters: dict[str, Any], actor: User,
                  now: dt.datetime) -> None:
    """Audit an export: who (the actor, also the entry's entity), when, which file, its filters, how many rows."""
    audit.record(session, actor=actor, action=f"export.{what}", entity=session.get(User, actor.id), now=now,
                 after={"export": what, "rows": rows, "filters": {k: v for k, v in filters.items() if v}})
    session.flush()


def send_outbox(session: Session, visible: sa.ColumnElement[bool], *, round_id: int | None, backend: Backend,
                actor: User | str, now: dt.datetime, retry: RetryPolicy | None = None) -> tuple[int, int]:
    """Send the due messages the actor may see (``visible``), of one round or of all; audit each round's
    batch (who, how many sent and failed, which round), and the messages outside a round (tracking codes)
    as one batch naming the staff member who sent them, or, sent by a command-line actor (cron), one entry
    per message. Returns (sent, failed)."""
    where = sa.and_(visible, Notification.round_id == round_id) if round_id else visible
    batches = session.scalars(sa.select(Notification.round_id).where(due(now), where)
                              .distinct()).all()
    sent = failed = 0
    for batch in sorted(batches, key=lambda value: (value is None, value)):
        in_batch = sa.and_(where, Notification.round_id.is_(None) if batch is None
                           else Notification.round_id == batch)
        if batch is None and not isinstance(actor, User):
            batch_sent, batch_failed = _send_each(session, in_batch, backend=backend, actor=actor, now=now,
                                                  retry=retry)
        else:
            batch_sent, batch_failed = deliver_pending(session, backend=backend, now=now, retry=retry,
                                                        where=in_batch)
            entity = session.get(MatchingRound, batch) if batch is not None else session.get(User, actor.id)
            audit.record(session, actor=actor, action="outbox.send", entity=entity, now=now,
                         after={"round": batch, "sent": batch_sent, "failed": batch_failed})
        sent, failed = sent + batch_sent, failed + batch_failed
    session.flush()
    return sent, failed


def _send_each(session: Session, where: sa.ColumnElement[bool], *, backend: Backend, actor: str,
               now: dt.datetime, retry: RetryPolicy | None) -> tuple[int, int]:
    """Send the due messages matching ``where`` and audit each one (an entry needs an entity, and a
    command-line actor has no user row to name)."""
    messages = session.scalars(sa.select(Notification).where(due(now), where).order_by(Notification.id)).all()
    counts = deliver_messages(session, messages, backend=backend, now=now, retry=retry)
    for message in messages:  # as sent: their status and attempts after this try
        audit.record(session, actor=actor, action="outbox.send", entity=message, now=now,
                     after={"round": None, "status": message.status, "attempts": message.attempts})
    return counts
