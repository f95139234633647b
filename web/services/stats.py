"""Counts for the home page and the workspace header (SQL aggregates only)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from web.models import Craftsman, Demand, Enterprise, Outcome, Studio

OPEN_DEMAND_STATUSES = ("submitted", "needs_info", "open")


def pool_counts(session: Session) -> dict[str, int]:
    """Sizes of the three pools; one round trip."""
    def count(model, *where) -> sa.ScalarSelect:
        return sa.select(sa.func.count()).select_from(model).where(*where).scalar_subquery()

    row = session.execute(
        sa.select(
            count(Craftsman, Craftsman.status == "active").label("craftsmen_active"),
            count(Craftsman).label("craftsmen"),
            count(Studio).label("studios"),
            count(Enterprise).label("enterprises"),
            count(Demand).label("demands"),
            count(Demand, Demand.status.in_(OPEN_DEMAND_STATUSES)).label("demands_waiting"),
            count(Outcome).label("outcomes"),
        )
    ).one()
    return dict(row._mapping)
