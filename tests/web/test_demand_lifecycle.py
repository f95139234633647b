"""Every demand status that is not final has a way forward that a coordinator can reach on screen.

One demand walks the whole life cycle through the pages a coordinator (and, for the rating, the enterprise)
uses; the test fails if a status is added without a way out, or if a step no longer moves the demand.
"""

from __future__ import annotations

import re

import sqlalchemy as sa

from tests.factories import make_craftsman, make_demand
from tests.web.test_demand_review import act
from web.clock import local_today  # the views use the wall clock
from web.models import Demand, DemandStatus, Engagement
from web.models.demands import FINAL_DEMAND_STATUSES


def _status(session, demand_id: int) -> str:
    session.expire_all()
    return session.get(Demand, demand_id).status


def _version(page: str) -> str:
    return re.search(r'name="version" value="(\d+)"', page).group(1)


def _run_a_round(browser) -> None:
    created = browser.submit("/workspace/rounds/new", {"name": "生命周期轮次", "min_score": "0", "load_penalty": "0",
                                                       **{f"weight_{k}": "0.2" for k in ("skill", "industry", "text",
                                                          "distance", "honour", "availability", "continuity")}})
    assert created.status_code == 302, created.get_data(as_text=True)[:1000]
    url = created.headers["Location"]
    browser.submit(f"{url}/solve", {"version": _version(browser.text(url))}, form_url=url)
    published = browser.submit(f"{url}/publish", {"version": _version(browser.text(url))}, form_url=url)
    assert published.status_code == 302


def _accept_and_complete(browser, url: str):
    accepted = browser.submit(f"{url}/accept", {"confirmed_by": "王经理"}, form_url=url)
    assert accepted.status_code in (302, 303)
    return browser.submit(f"{url}/complete", {"completed_on": local_today().isoformat(), "override_reason": "回访改为电话进行"},
                          form_url=url)


def _rate_as_the_enterprise(browser, code: str, last4: str):
    found = browser.submit("/demand/track", {"tracking_code": code, "last4": last4})
    assert found.status_code == 303
    return browser.submit(f"/demand/status/{code}/rate", {"rating": "5"}, form_url=f"/demand/status/{code}")


def test_a_demand_can_be_taken_from_each_open_status_to_the_next(session, coordinator_browser, browser):
    make_craftsman(session, skills={"weld": 4}, region_code="510100")
    demand = make_demand(session, skills={"weld": 3}, status="submitted")
    demand_id, code, phone = demand.id, demand.tracking_code, demand.contact_phone
    session.commit()
    engagement_url = None

    def engagement() -> str:
        session.expire_all()
        return f"/workspace/engagements/{session.scalar(sa.select(Engagement.id).where(Engagement.demand_id == demand_id))}"

    steps = {  # status → the step that moves it on, as the person who takes it does it
        DemandStatus.submitted: lambda: act(coordinator_browser, demand_id, "ask", text="请说明焊缝的材质。"),
        DemandStatus.needs_info: lambda: act(coordinator_browser, demand_id, "approve", note="信息已齐"),
        DemandStatus.open: lambda: _run_a_round(coordinator_browser),
        DemandStatus.matched: lambda: coordinator_browser.submit(f"{engagement_url}/start",
                                                                 {"started_on": local_today().isoformat()},
                                                                 form_url=engagement_url),
        DemandStatus.in_service: lambda: _accept_and_complete(coordinator_browser, engagement_url),
        DemandStatus.completed: lambda: _rate_as_the_enterprise(browser, code, phone[-4:]),
    }
    assert set(steps) == set(DemandStatus) - set(FINAL_DEMAND_STATUSES), "a non-final status has no way forward"

    visited = []
    status = _status(session, demand_id)
    while status not in FINAL_DEMAND_STATUSES:
        visited.append(status)
        if status == DemandStatus.matched:
            engagement_url = engagement()
        response = steps[DemandStatus(status)]()
        assert response is None or response.status_code in (302, 303), (status, re.findall(r"class=\"(?:error|flash[^\"]*)\"[^>]*>([^<]+)", response.get_data(as_text=True)))
        moved = _status(session, demand_id)
        assert moved != status, f"the step for {status!r} did not move the demand"
        status = moved
    assert visited == ["submitted", "needs_info", "open", "matched", "in_service", "completed"]
    assert status == DemandStatus.evaluated
