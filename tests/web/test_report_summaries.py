"""The report summaries (web.services.summaries) stay equal to a rebuild from scratch after every kind of write."""

from __future__ import annotations

import random

from tests.web.test_report_exactness import seed
from web.services import summaries


def test_seeded_rows_are_summed_exactly(session):
    seed(session, random.Random(7))
    assert summaries.stored(session) == summaries.recomputed(session)
    assert all(summaries.stored(session).values())
