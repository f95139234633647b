"""Two actions on one engagement at the same moment: the later one is told, it does not overwrite.

Before the engagement had a version, a start and a cancel sent together both read it as scheduled; the later write
won, and the engagement ended "in service" with a cancel in its history while its demand was open again for the next
round: one demand, two fates. Here another request's change is a second session on the
test's connection, committed between this request's read and its write; the page a coordinator reads is tested on
PostgreSQL with real connections (test_publish_concurrency.py).
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from tests.conftest import NOW
from web.models import Engagement
from web.services import engagements


def _cancel_elsewhere(connection: sa.Connection, engagement_id: int) -> None:
    """Another request cancels the engagement and commits."""
    with Session(bind=connection, join_transaction_mode="create_savepoint") as other:
        engagements.cancel_engagement(other, other.get(Engagement, engagement_id), {"reason": "企业取消"},
                                      actor="other", now=NOW)
        other.commit()


def test_a_start_on_an_engagement_cancelled_meanwhile_is_refused(session, connection, engagement_id):
    held = session.get(Engagement, engagement_id)
    assert held.status == "scheduled"  # what this request read
    session.commit()  # its read ends here (the harness's savepoints nest: the other change must not be inside it)
    _cancel_elsewhere(connection, engagement_id)
    with pytest.raises(StaleDataError):
        engagements.start_engagement(session, held, {"started_on": NOW.date().isoformat()}, actor="test", now=NOW)
    session.rollback()
    session.expire_all()
    engagement = session.get(Engagement, engagement_id)
    assert (engagement.status, engagement.demand.status) == ("cancelled", "open")
    assert engagement.follow_ups == []
