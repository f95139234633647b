"""The enterprise's rating of a completed demand: once, 1–5 with a comment; the demand becomes ``evaluated``.

The engagement follows at once (``engagements.on_feedback``: evaluated, points for a rating of 4–5).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from web.models import Demand, DemandStatusEvent, Engagement, Feedback, User
from web.schemas.common import load_or_raise
from web.schemas.demands import FeedbackSchema
from web.services import audit, engagements
from web.services.demands import snapshot
from web.services.errors import Conflict


def feedback_for(session: Session, demand: Demand) -> Feedback | None:
    return session.scalar(sa.select(Feedback).where(Feedback.demand_id == demand.id))


def can_rate(session: Session, demand: Demand) -> bool:
    return demand.status == "completed" and feedback_for(session, demand) is None


def rate_demand(session: Session, demand: Demand, data: dict[str, Any], *, now: dt.datetime,
                actor: User | str | None = "public") -> Feedback:
    values = load_or_raise(FeedbackSchema(), data)
    if feedback_for(session, demand) is not None or demand.status == "evaluated":
        raise Conflict(_l("This service has already been rated. Thank you!"))
    if demand.status != "completed":
        raise Conflict(_l("A demand can be rated once its service is completed."))
    engagement_id = session.scalar(
        sa.select(Engagement.id).where(Engagement.demand_id == demand.id, Engagement.status != "cancelled")
        .order_by(Engagement.id.desc()).limit(1))
    feedback = Feedback(demand_id=demand.id, engagement_id=engagement_id, rating=values["rating"],
                        comment=values["comment"], created_at=now)
    try:
        with session.begin_nested():  # the unique demand_id decides between two concurrent ratings
            session.add(feedback)
            session.flush()
    except IntegrityError:
        raise Conflict(_l("This service has already been rated. Thank you!")) from None
    before = snapshot(demand)
    demand.status = "evaluated"
    demand.updated_at = now
    session.add(DemandStatusEvent(demand_id=demand.id, from_status="completed", to_status="evaluated", at=now,
                                  actor_id=actor.id if isinstance(actor, User) else None, public=True))
    audit.record(session, actor=actor, action="feedback.create", entity=feedback, now=now,
                 after={"rating": feedback.rating, "comment": feedback.comment, "demand_id": demand.id})
    audit.record(session, actor=actor, action="demand.evaluate", entity=demand, now=now, before=before,
                 after=snapshot(demand))
    engagements.on_feedback(session, feedback, actor=actor, now=now)
    session.flush()
    return feedback
