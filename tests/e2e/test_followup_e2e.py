"""From a published round to the dashboard, in real Chromium: start the service, record a follow-up with an
outcome, find the outcome in the outcome pool, and watch the dashboard's figures move. Screenshots of the
dashboard go to docs/screenshots/."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from tests.conftest import NOW
from tests.factories import make_craftsman, make_demand, unique_number
from web.models import Engagement, User

TITLE = "冲压线真空发生器国产替代（端到端）"


def _figure(page, name: str) -> float:
    text = page.locator(f'[data-figure="{name}"]').first.inner_text()
    return float(re.sub(r"[^0-9.]", "", text) or 0)


@pytest.fixture()
def published_engagement(live_server) -> int:
    """A demand and a fitting craftsman, put through a real matching round: create, solve, publish."""
    from web.services import rounds

    session = live_server.session()
    try:
        demand = make_demand(session, title=TITLE + str(unique_number()), status="open", region_code="510100")
        skill_levels = {row.skill.code: 5 for row in demand.skills}
        make_craftsman(session, name="刘源", region_code="510100", skills=skill_levels,
                       industries=[i.code for i in demand.industries])
        actor = session.scalar(sa.select(User).where(User.username == "demo"))
        now = NOW.replace(tzinfo=None)
        rnd = rounds.create_round(session, name="端到端匹配批次", demand_filters={"q": demand.title},
                                  actor=actor, now=now)
        rounds.solve_round(session, rnd, actor=actor, now=now)
        assert rounds.publish_round(session, rnd, actor=actor, now=now).created == 1
        engagement_id = session.scalar(sa.select(Engagement.id).where(Engagement.demand_id == demand.id))
        session.commit()
        return engagement_id
    finally:
        session.close()


def test_follow_up_with_outcome_moves_the_dashboard(staff_page, published_engagement, screenshots_dir):
    page = staff_page
    page.goto("/workspace/reports/")
    before = {name: _figure(page, name) for name in ("problems_solved", "value_created_wan", "workers_trained",
                                                     "outcomes", "enterprises_served")}

    page.goto(f"/workspace/engagements/{published_engagement}")
    assert page.locator("#engagement-status.status-scheduled").count() == 1
    page.locator("#start-form button[type=submit]").click()
    page.wait_for_load_state()
    assert page.locator("#engagement-status.status-in_service").count() == 1

    page.locator(f"#follow-ups a[href$='/{published_engagement}/follow-ups/check_2w']").click()
    page.wait_for_load_state()
    page.fill("input[name=problems_solved]", "2")
    page.fill("input[name=value_created_wan]", "15.5")
    page.fill("input[name=workers_trained]", "6")
    page.fill("textarea[name=note]", "两周回访：国产替代件已装机验证。")
    outcome_title = f"真空发生器国产替代维修工法 {published_engagement}"
    page.select_option("select[name='outcomes-0-kind']", "method")
    page.fill("input[name='outcomes-0-title']", outcome_title)
    page.locator("#follow-up-form button[type=submit]").click()
    page.wait_for_load_state()
    assert page.locator(".flash-success").count() == 1
    assert page.locator("#follow-ups a[href*='/follow-ups/check_2w']").count() == 0  # recorded: no second record

    page.goto("/workspace/outcomes/?q=" + outcome_title.split()[0])
    assert outcome_title in page.content()

    page.goto("/workspace/reports/")
    after = {name: _figure(page, name) for name in before}
    assert after["problems_solved"] == before["problems_solved"] + 2
    assert after["value_created_wan"] == pytest.approx(before["value_created_wan"] + 15.5)
    assert after["workers_trained"] == before["workers_trained"] + 6
    assert after["outcomes"] == before["outcomes"] + 1
    assert after["enterprises_served"] == before["enterprises_served"] + 1
    page.screenshot(path=str(screenshots_dir / "dashboard.png"), full_page=True)
    page.goto("/workspace/reports/?lang=en")
    page.screenshot(path=str(screenshots_dir / "dashboard-en.png"), full_page=True)
    page.goto("/workspace/reports/period?lang=zh_CN")
    assert page.locator('#headline [data-figure="problems_solved"]').inner_text() == str(int(after["problems_solved"]))
    page.screenshot(path=str(screenshots_dir / "dashboard-period-report.png"), full_page=True)
