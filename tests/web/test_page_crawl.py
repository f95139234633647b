"""Every GET page, as every kind of visitor, with real and bogus ids and hostile query strings: never a 5xx.

The demo pool is loaded once per backend into a transaction shared by the module's tests, so that pages render with
real data; each test's own writes (its user, its session) roll back.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from tests.browser import Browser
from tests.conftest import TEST_PASSWORD, seeded_once
from tests.web.conftest import demo_with_rounds
from web.models import (
    Agreement,
    Attachment,
    Craftsman,
    Demand,
    Engagement,
    Enterprise,
    FollowUp,
    MatchingRound,
    Outcome,
)
from web.services.engagements import KIND_LABELS

HOSTILE_QUERIES = (
    "",
    "?page=-1&per_page=100000&sort=nope&status=bogus&region=%00&q=%27%22%3C",
    "?page=abc&region=999999&industry=x&skill=-1&honour=0&from=2026-13-45&to=yesterday&lang=xx",
    "?q=" + "工" * 3000,
)
BOGUS_ID = 987654321


def _first_id(session, column) -> int:
    return session.scalar(sa.select(sa.func.min(column))) or BOGUS_ID


seeded_transaction, seeded_data, connection = seeded_once(demo_with_rounds)  # once per backend, not per role


@pytest.fixture()
def demo_session(session, seeded_data):  # this module's: the shared data set (tests/web/conftest.py's is per test)
    return session


def _urls(app, session) -> Iterator[str]:
    real = {
        "craftsman_id": _first_id(session, Craftsman.id),
        "demand_id": _first_id(session, Demand.id),
        "engagement_id": _first_id(session, Engagement.id),
        "follow_up_id": _first_id(session, FollowUp.id),
        "attachment_id": _first_id(session, Attachment.id),
        "round_id": _first_id(session, MatchingRound.id),
        "outcome_id": _first_id(session, Outcome.id),
        "agreement_id": _first_id(session, Agreement.id),
        "enterprise_id": _first_id(session, Enterprise.id),
    }
    every_round = session.scalars(sa.select(MatchingRound.id)).all()  # draft, solved and published
    tracking_code = session.scalar(sa.select(Demand.tracking_code).limit(1))
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint == "static":
            continue
        names = sorted(rule.arguments)
        variants: list[dict] = [{}]
        for name in names:
            if name == "code":
                values = [tracking_code, "ZZ-0000-XXXXXX", "%00"]
            elif name == "kind":
                values = [*KIND_LABELS, "bogus"]
            elif name == "token":
                values = ["bogus-token"]
            elif name == "version":  # the versioned region tree: an outdated version is sent on
                values = ["0", "%00"]
            else:
                values = [*(every_round if name == "round_id" else [real[name]]), BOGUS_ID]
            variants = [dict(v, **{name: value}) for v in variants for value in values]
        for args in variants:
            path = rule.rule
            for name, value in args.items():
                path = re.sub(rf"<(?:\w+:)?{name}>", str(value), path)
            for query in HOSTILE_QUERIES:
                yield path + query


@pytest.mark.parametrize("role", [None, "viewer", "coordinator", "admin"])
def test_no_page_answers_a_server_error(app, connection, demo_session, make_user, role):
    browser = Browser(app.test_client())
    if role:
        make_user(f"crawler_{role}", role)
        assert browser.login(f"crawler_{role}", TEST_PASSWORD).status_code == 302
    failures = []
    visited = 0
    for url in _urls(app, demo_session):
        response = browser.get(url)
        visited += 1
        if response.status_code >= 500:
            failures.append(f"{url[:120]} → {response.status_code}")
    assert visited > 100
    assert failures == []
