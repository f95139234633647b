"""Per-region service figures count only the enterprises and visits of engagements started in the period."""

from __future__ import annotations

import datetime as dt

from tests.web.test_reports import build_dataset
from web.services import reports


def test_an_enterprise_served_only_outside_the_period_is_not_counted_in_it(session):
    build_dataset(session)
    february = reports.Period(dt.date(2026, 2, 1), dt.date(2026, 2, 28))
    chengdu = next(r for r in reports.by_region(session, february) if r["name"] == "成都市")
    # 成都's two enterprises: one engagement started on 25 January (outside), one on 10 February with one member
    assert (chengdu.get("enterprises"), chengdu.get("visits")) == (1, 1)
