"""The notification outbox: written on publish (one message per enterprise and per craftsman), sent by a
pluggable backend. The default backend only logs; an SMS or e-mail gateway is a class with ``send``.

``CRAFTMATCH_NOTIFICATION_BACKEND`` = "log" (default) or "module.path:ClassName".
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session

from web.models import Craftsman, Demand, Enterprise, MatchingRound, Notification

log = logging.getLogger("craftmatch.notifications")


class Backend(Protocol):
    def send(self, notification: Notification) -> None: ...


class LogBackend:
    """Writes each message to the log and marks it sent (development, demos, tests)."""

    def send(self, notification: Notification) -> None:
        log.info("notification %s to %s %s via %s: %s", notification.id, notification.recipient_kind,
                 notification.recipient_id, notification.channel, notification.subject)


def backend_from_setting(setting: str | None) -> Backend:
    if not setting or setting == "log":
        return LogBackend()
    module_name, _, class_name = setting.partition(":")
    return getattr(importlib.import_module(module_name), class_name)()


def write_outbox(session: Session, rnd: MatchingRound, by_demand: Mapping[int, Sequence[Any]], *,
                 now: dt.datetime) -> int:
    """One pending message per enterprise and per craftsman of the published assignments."""
    demand_ids = list(by_demand)
    demands = session.execute(sa.select(Demand.id, Demand.title, Demand.enterprise_id, Demand.tracking_code)
                              .where(Demand.id.in_(demand_ids))).all()
    enterprises = {row.id: row for row in session.execute(
        sa.select(Enterprise.id, Enterprise.name, Enterprise.contact_phone)
        .where(Enterprise.id.in_({d.enterprise_id for d in demands})))}
    craftsman_ids = sorted({row.craftsman_id for rows in by_demand.values() for row in rows})
    craftsmen = {row.id: row for row in session.execute(
        sa.select(Craftsman.id, Craftsman.name, Craftsman.phone).where(Craftsman.id.in_(craftsman_ids)))}
    titles_by_enterprise: dict[int, list[str]] = {}
    codes_by_enterprise: dict[int, list[str]] = {}
    demands_by_craftsman: dict[int, list[str]] = {}
    demand_by_id = {d.id: d for d in demands}
    for demand in demands:
        titles_by_enterprise.setdefault(demand.enterprise_id, []).append(demand.title)
        codes_by_enterprise.setdefault(demand.enterprise_id, []).append(demand.tracking_code)
    for demand_id, rows in by_demand.items():
        for row in rows:
            demands_by_craftsman.setdefault(row.craftsman_id, []).append(demand_by_id[demand_id].title)
    messages = []
    for enterprise_id, titles in sorted(titles_by_enterprise.items()):
        enterprise = enterprises[enterprise_id]
        messages.append({
            "round_id": rnd.id, "recipient_kind": "enterprise", "recipient_id": enterprise_id, "channel": "sms",
            "address": enterprise.contact_phone or "", "subject": "劳模工匠助企行：您的需求已匹配工匠",
            "body": f"{enterprise.name}：您提交的需求（{'、'.join(titles)}）已匹配劳模工匠，工会联络人将与您联系安排服务。"
                    f"查询码：{'、'.join(codes_by_enterprise[enterprise_id])}",
            "status": "pending", "created_at": now})
    for craftsman_id, titles in sorted(demands_by_craftsman.items()):
        craftsman = craftsmen[craftsman_id]
        messages.append({
            "round_id": rnd.id, "recipient_kind": "craftsman", "recipient_id": craftsman_id, "channel": "sms",
            "address": craftsman.phone, "subject": "劳模工匠助企行：新的服务任务",
            "body": f"{craftsman.name}师傅：您已被安排服务以下企业需求：{'、'.join(titles)}。"
                    "如无法参加，请尽快告知工会联络人。",
            "status": "pending", "created_at": now})
    if messages:
        session.execute(sa.insert(Notification), messages)
    return len(messages)


def deliver_pending(session: Session, *, backend: Backend, now: dt.datetime, limit: int = 1000,
                    where: sa.ColumnElement[bool] | None = None) -> tuple[int, int]:
    """Send pending messages (those matching ``where``) through ``backend``; returns (sent, failed).
    A failure is recorded, not raised."""
    sent = failed = 0
    pending = session.scalars(sa.select(Notification)
                              .where(Notification.status == "pending", sa.true() if where is None else where)
                              .order_by(Notification.id).limit(limit)).all()
    for notification in pending:
        try:
            backend.send(notification)
        except Exception:  # noqa: BLE001 - one failing gateway call must not stop the others
            log.exception("notification %s failed", notification.id)
            notification.status = "failed"
            failed += 1
        else:
            notification.status = "sent"
            notification.sent_at = now
            sent += 1
    session.flush()
    return sent, failed
