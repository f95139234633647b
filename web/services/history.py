"""Continuity data for the scorer: past (craftsman, enterprise, rating) of served engagements.

``matching.features.History`` takes string ids; an unrated engagement has rating NaN.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import sqlalchemy as sa
from sqlalchemy.orm import Session

from matching.features import History
from web.models import Demand, Engagement, EngagementMember, Feedback
from web.services.summaries import SERVED_ENGAGEMENTS, SERVING_MEMBERS


def past_services(session: Session, *, craftsman_ids: Iterable[int] | None = None,
                  enterprise_ids: Iterable[int] | None = None) -> list[tuple[int, int, int | None]]:
    """(craftsman id, enterprise id, rating or None), one per served engagement and member, oldest first."""
    query = (sa.select(EngagementMember.craftsman_id, Demand.enterprise_id, Feedback.rating)
             .join(Engagement, Engagement.id == EngagementMember.engagement_id)
             .join(Demand, Demand.id == Engagement.demand_id)
             .outerjoin(Feedback, Feedback.engagement_id == Engagement.id)
             .where(Engagement.status.in_(SERVED_ENGAGEMENTS), EngagementMember.status.in_(SERVING_MEMBERS))
             .order_by(Engagement.id, EngagementMember.craftsman_id))
    if craftsman_ids is not None:
        query = query.where(EngagementMember.craftsman_id.in_(list(craftsman_ids)))
    if enterprise_ids is not None:
        query = query.where(Demand.enterprise_id.in_(list(enterprise_ids)))
    return [(c, e, r) for c, e, r in session.execute(query)]


def build_history(session: Session, **filters) -> History:
    rows = past_services(session, **filters)
    if not rows:
        return History.empty()
    return History(craftsman_id=tuple(str(c) for c, _, _ in rows), enterprise_id=tuple(str(e) for _, e, _ in rows),
                   rating=np.array([np.nan if r is None else float(r) for _, _, r in rows], dtype=np.float64))
