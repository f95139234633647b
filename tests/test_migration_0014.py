"""Migration 0014 on a database with engagements: the overdue counts per coordinator and day are built from the
follow-ups already open, and kept from then on (on every backend)."""

from __future__ import annotations

import random

import sqlalchemy as sa
from sqlalchemy.orm import Session

from tests.conftest import NOW, TEST_PASSWORD
from tests.web.test_overdue_count import DAYS, _counted
from tests.web.test_report_exactness import seed
from web import migrate
from web.db import make_engine
from web.models import Engagement, FollowUp
from web.services import followups, seeding
from web.services.users import create_user


def test_the_overdue_counts_are_built_from_the_open_follow_ups(fresh_database_url):
    # seeded through today's models at the head, then taken back to 0013: the models have columns that later
    # migrations add (engagement.version, 0016), and the data set is the one the reports' tests use
    migrate.upgrade(fresh_database_url)
    engine = make_engine(fresh_database_url)
    with Session(bind=engine) as session:
        seeding.load_reference(session)
        seed(session, random.Random(5))
        user = create_user(session, username="coordinator", password=TEST_PASSWORD, role="coordinator",
                           actor="test", now=NOW)
        session.execute(sa.update(Engagement).where(Engagement.id % 2 == 0).values(coordinator_id=user.id))
        session.commit()
        user_id = user.id
    migrate.downgrade(fresh_database_url, "0013")
    with engine.connect() as connection:
        assert "open_follow_up_day" not in sa.inspect(connection).get_table_names()
    migrate.upgrade(fresh_database_url)
    with Session(bind=engine) as session:
        assert followups.overdue_count(session, DAYS[-1], user_id) > 0
        for today in DAYS:
            for coordinator_id in (user_id, None):
                assert followups.overdue_count(session, today, coordinator_id) == \
                    _counted(session, today, coordinator_id), (today, coordinator_id)
        session.execute(sa.update(FollowUp).values(done_on=None))  # the triggers keep it from then on
        for coordinator_id in (user_id, None):
            assert followups.overdue_count(session, DAYS[-1], coordinator_id) == \
                _counted(session, DAYS[-1], coordinator_id)
    engine.dispose()
