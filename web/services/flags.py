"""Craftsmen flagged for review (匹配、激励、退出的闭环): repeated low ratings, no-shows, no service for a year.

A coordinator pauses them or takes them out of the pool from the flag list; both reuse the pool's
pause/exit services, so the history (engagements, points) stays.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from flask import current_app, has_app_context
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from web.clock import local_today
from web.models import Craftsman, Engagement, EngagementMember, Feedback, User
from web.schemas.common import load_or_raise
from web.schemas.engagements import ReasonSchema
from web.services import audit
from web.services import craftsmen as pool
from web.services.errors import ServiceError

DEFAULT_FLAG_RULES = {
    "low_rating": 2,          # a rating at or below this is low
    "low_ratings_count": 2,   # flagged from this many low ratings
    "no_shows_count": 1,      # flagged from this many no-shows
    "idle_days": 365,         # flagged after this long without service
}
REASON_LABELS = {
    "low_ratings": _l("Repeated low ratings"),
    "no_shows": _l("No-shows"),
    "idle": _l("No service for 12 months"),
}
SERVING = ("assigned", "accepted", "served")


def rules() -> dict[str, int]:
    configured = current_app.config.get("FLAG_RULES", {}) if has_app_context() else {}
    return {**DEFAULT_FLAG_RULES, **configured}


def flagged(session: Session, today: dt.date, visible: sa.ColumnElement[bool] | None = None) -> list[Any]:
    """Every craftsman still in the pool (of those ``visible`` selects: a coordinator's region) who meets a
    flag rule, with the counts that explain it (SQL only)."""
    config = rules()
    cutoff = today - dt.timedelta(days=config["idle_days"])
    low = (sa.select(EngagementMember.craftsman_id, sa.func.count().label("n"))
           .join(Feedback, Feedback.engagement_id == EngagementMember.engagement_id)
           .where(Feedback.rating <= config["low_rating"], EngagementMember.status.in_(SERVING))
           .group_by(EngagementMember.craftsman_id).subquery())
    no_shows = (sa.select(EngagementMember.craftsman_id, sa.func.count().label("n"))
                .where(EngagementMember.status == "no_show").group_by(EngagementMember.craftsman_id).subquery())
    last = (sa.select(EngagementMember.craftsman_id,
                      sa.func.max(sa.func.coalesce(Engagement.completed_on, Engagement.started_on)).label("on"))
            .join(Engagement, Engagement.id == EngagementMember.engagement_id)
            .where(EngagementMember.status.in_(SERVING), Engagement.status != "cancelled")
            .group_by(EngagementMember.craftsman_id).subquery())
    busy = (sa.select(EngagementMember.craftsman_id)
            .join(Engagement, Engagement.id == EngagementMember.engagement_id)
            .where(EngagementMember.status.in_(SERVING), Engagement.status.in_(("scheduled", "in_service"))))
    low_n = sa.func.coalesce(low.c.n, 0)
    no_show_n = sa.func.coalesce(no_shows.c.n, 0)
    idle = sa.and_(Craftsman.created_at < cutoff, sa.or_(last.c.on.is_(None), last.c.on < cutoff),
                   Craftsman.id.not_in(busy))
    return list(session.execute(
        sa.select(Craftsman.id, Craftsman.name, Craftsman.status, Craftsman.points_balance,
                  low_n.label("low_ratings"), no_show_n.label("no_shows"), last.c.on.label("last_service"),
                  sa.case((idle, True), else_=False).label("idle"))
        .outerjoin(low, low.c.craftsman_id == Craftsman.id)
        .outerjoin(no_shows, no_shows.c.craftsman_id == Craftsman.id)
        .outerjoin(last, last.c.craftsman_id == Craftsman.id)
        .where(Craftsman.status != "exited", sa.true() if visible is None else visible,
               sa.or_(low_n >= config["low_ratings_count"], no_show_n >= config["no_shows_count"], idle))
        .order_by((low_n + no_show_n).desc(), Craftsman.id)
        .limit(500)
    ))


def decide(session: Session, craftsman: Craftsman, decision: str, data: dict[str, Any], *,
           actor: User | str | None, now: dt.datetime) -> Craftsman:
    """Pause (until further notice) or exit a flagged craftsman, with the reason."""
    values = load_or_raise(ReasonSchema(), data)
    if decision == "pause":
        if craftsman.status == "paused":
            raise ServiceError(_l("This craftsman is already paused."), field="status")
        pool.pause_craftsman(session, craftsman, until=None, reason=values["reason"], actor=actor, now=now)
    elif decision == "exit":
        pool.exit_craftsman(session, craftsman, reason=values["reason"], on=local_today(now), actor=actor, now=now)
    else:
        raise ServiceError(_l("Choose pause or exit."), field="decision")
    audit.record(session, actor=actor, action=f"flags.{decision}", entity=craftsman, now=now,
                 after={"reason": values["reason"]})
    return craftsman
