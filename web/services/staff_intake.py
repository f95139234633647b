"""Demands a coordinator enters on an enterprise's behalf (taken by phone, on paper, in WeChat, at a visit).

The same contract and checks as the public form (``demands.submit_demand``), recorded as the coordinator's
(status event and audit entry), and the enterprise still gets its tracking code: printed for it, and queued
in the outbox to its contact.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from web.models import Demand, Notification, Region, User
from web.policy import covers
from web.services import audit
from web.services.demands import submit_demand
from web.services.errors import ServiceError
from web.services.notifications import queue_tracking_code

INTAKE_CHANNELS = {"phone": _l("Phone call"), "paper": _l("Paper form"), "wechat": _l("WeChat"),
                   "visit": _l("Visit or meeting")}


def enter_demand(session: Session, data: dict[str, Any], *, channel: str, notify: bool, actor: User,
                 now: dt.datetime) -> tuple[Demand, Notification | None]:
    """Submit ``data`` (the public form's contract) as ``actor``; with ``notify`` the tracking code is queued
    for the enterprise's contact. Returns the demand and the queued message."""
    if channel not in INTAKE_CHANNELS:
        raise ServiceError(_l("Choose how the demand came in."), field="channel")
    region_id = session.scalar(sa.select(Region.id).where(Region.code == str(data.get("region_code") or "")))
    if region_id is not None and not covers(actor, region_id, session):  # as the demand import refuses such a row
        raise ServiceError(_l("This region is outside your area: enter demands of your own region only."),
                           field="region_code")
    note = str(_l("Entered by the union office on the enterprise's behalf (%(channel)s).",
                  channel=INTAKE_CHANNELS[channel]))
    key = data.get("submission_key")
    already = bool(key) and session.scalar(sa.select(Demand.id).where(Demand.submission_key == key)) is not None
    demand = submit_demand(session, data, now=now, actor=actor, note=note)  # the same form sent twice: no new one
    message = queue_tracking_code(session, demand, now=now) if notify and not already else None
    if not already:
        audit.record(session, actor=actor, action="demand.enter", entity=demand, now=now,
                     after={"channel": channel, "tracking_code_queued": message is not None})
    session.flush()
    return demand, message
