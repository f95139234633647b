"""A round solved through the task queue, in real Chromium: the page waits without loading itself again while a
worker takes the round (the card and the badge change in place) and shows the proposals once they are stored."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import create_round
from tests.web.conftest import needs_redis, redis_url  # noqa: F401 - the fixture: a redis-server of the test's own
from web.models import MatchingRound
from web.services import jobs

pytestmark = [pytest.mark.e2e, needs_redis]


def test_a_queued_round_shows_its_proposals_when_the_worker_is_done(staff_page, live_server, redis_url,  # noqa: F811
                                                                    monkeypatch):
    from web.worker import SolveWorker

    monkeypatch.setitem(live_server.app.config, "REDIS_URL", redis_url)
    page = staff_page
    round_id = create_round(page, "排队求解轮次", "510100", "510100")
    with page.expect_navigation():
        page.locator("form[action*='/solve'] button[type=submit]").first.click()
    expect(page.locator("#progress")).to_have_attribute("data-status", "queued")
    queued_text = page.locator("#progress-state").inner_text()
    page.evaluate("window.stillTheSamePage = true")

    with live_server.session() as session:  # a worker takes the round
        session.get(MatchingRound, round_id).status = "solving"
        session.commit()
    expect(page.locator("#round-status")).to_have_attribute("data-status", "solving")
    expect(page.locator("#progress-state")).to_have_attribute("data-state", "solving")
    assert page.locator("#progress-state").inner_text() not in ("", queued_text)
    assert page.evaluate("window.stillTheSamePage === true")  # changed in place, not loaded again

    queue = jobs.queue(redis_url)
    assert SolveWorker([queue], connection=queue.connection).work(burst=True)
    queue.connection.close()
    expect(page.locator("#review")).to_be_visible()  # the page loaded itself once the round was solved
    expect(page.locator("#round-status")).to_have_attribute("data-status", "solved")
    assert page.evaluate("window.stillTheSamePage === undefined")
