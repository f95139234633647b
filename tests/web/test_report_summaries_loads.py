"""The report summaries stay exact after loads into a database without them: the demo seeding, and a bulk load
with the triggers suspended (then rebuilt). The other writes: test_report_summaries.py, on a shared data set."""

from __future__ import annotations

import random

import sqlalchemy as sa

from tests.conftest import NOW
from tests.web.test_report_exactness import seed
from tests.web.test_report_summaries import _same
from web.models import FollowUp
from web.services import seeding, summaries


def test_seeding_keeps_the_summaries_exact(session):
    seeding.load_demo(session, now=NOW)
    assert session.scalar(sa.select(sa.func.count()).select_from(FollowUp).where(FollowUp.done_on.is_not(None)))
    _same(session)


def test_a_bulk_load_with_the_triggers_suspended_ends_exact(session):
    with summaries.suspended(session):
        assert summaries.installed_triggers(session) == set()
        seed(session, random.Random(5))
    assert summaries.installed_triggers(session) == summaries.trigger_names()
    assert all(summaries.stored(session).values())
    _same(session)
