"""axe-core (bundled by axe-playwright-python) in real Chromium on every page state, in Chinese and English:
no violation of WCAG 2.1 A/AA nor of axe's best practices.

A page state is a row of ``PAGE_STATES``: a name, how to reach it (a path, or a function of the live server's
data that returns one), whether it needs the coordinator's login, and what to do on the page before the check
(e.g. send the empty demand form to see its error state). A new page joins the check by adding one row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from axe_playwright_python.sync_playwright import Axe

from tests.conftest import NOW
from tests.e2e.conftest import LiveServer, login
from web.models import Agreement, Craftsman, Demand, Engagement, Enterprise, MatchingRound, RoundDemand
from web.services import rounds as round_service

pytestmark = pytest.mark.e2e
AXE_OPTIONS = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]},
               "resultTypes": ["violations"]}
LOCALES = ("zh_CN", "en")


@dataclass(frozen=True)
class PageState:
    name: str
    path: str | Callable[[LiveServer], str]
    staff: bool = True
    before: Callable[[object, LiveServer], None] | None = None  # runs after login, before the page is opened
    after: Callable[[object], None] | None = None  # runs on the opened page, before axe

    def url(self, live_server: LiveServer) -> str:
        return self.path if isinstance(self.path, str) else self.path(live_server)


def _first(live_server: LiveServer, query: sa.Select) -> int:
    with live_server.session() as session:
        return session.scalar(query.limit(1))


def _a_tracked_demand(page, live_server: LiveServer) -> None:
    """The status page is shown to a browser that looked the demand up with its code and mobile digits."""
    code, phone = _tracking(live_server)
    page.goto("/demand/track")
    page.fill("input[name=tracking_code]", code)
    page.fill("input[name=last4]", phone[-4:])
    with page.expect_navigation():
        page.click("form [type=submit]")


def _tracking(live_server: LiveServer) -> tuple[str, str]:
    with live_server.session() as session:
        return session.execute(sa.select(Demand.tracking_code, Demand.contact_phone)
                               .where(Demand.status == "completed").order_by(Demand.id).limit(1)).one()


def _status_page(live_server: LiveServer) -> str:
    return f"/demand/status/{_tracking(live_server)[0]}"


def _solved_round(live_server: LiveServer) -> str:
    """A solved round over Chengdu's open demands (made once per live server)."""
    with live_server.session() as session:
        round_id = session.scalar(sa.select(MatchingRound.id).where(MatchingRound.name == "a11y round"))
        if round_id is None:
            rnd = round_service.create_round(session, name="a11y round", demand_filters={"region": "510100"},
                                             actor="a11y-test", now=NOW)
            round_service.solve_round(session, rnd, actor="a11y-test", now=NOW)
            session.commit()
            round_id = rnd.id
    return f"/workspace/rounds/{round_id}"


def _place_page(live_server: LiveServer) -> str:
    """The pool search of the solved round's first demand."""
    round_path = _solved_round(live_server)
    round_id = int(round_path.rsplit("/", 1)[1])
    demand_id = _first(live_server, sa.select(RoundDemand.demand_id).where(RoundDemand.round_id == round_id)
                       .order_by(RoundDemand.demand_id))
    return f"{round_path}/demands/{demand_id}/place"


def _send_empty_form(page) -> None:
    with page.expect_navigation():
        page.click("form[data-intake-form] [type=submit]")


PAGE_STATES: list[PageState] = [
    PageState("home", "/", staff=False),
    PageState("demand form", "/demand/new", staff=False),
    PageState("demand form with errors", "/demand/new", staff=False, after=_send_empty_form),
    PageState("tracking lookup", "/demand/track", staff=False),
    PageState("status page", _status_page, staff=False, before=_a_tracked_demand),
    PageState("receipt", lambda s: f"/demand/receipt/{_tracking(s)[0]}", staff=False, before=_a_tracked_demand),
    PageState("login", "/auth/login", staff=False),
    PageState("workspace", "/workspace/"),
    PageState("demand inbox", "/workspace/demands/"),
    PageState("demand", lambda s: f"/workspace/demands/{_first(s, sa.select(Demand.id).order_by(Demand.id))}"),
    PageState("craftsman pool", "/workspace/craftsmen/"),
    PageState("craftsman profile",
              lambda s: f"/workspace/craftsmen/{_first(s, sa.select(Craftsman.id).order_by(Craftsman.id))}"),
    PageState("new craftsman", "/workspace/craftsmen/new"),
    PageState("craftsman import", "/workspace/craftsmen/import"),
    PageState("points ledger", lambda s: "/workspace/engagements/craftsmen/"
              f"{_first(s, sa.select(Craftsman.id).order_by(Craftsman.id))}/points"),
    PageState("rounds", "/workspace/rounds/"),
    PageState("new round", "/workspace/rounds/new"),
    PageState("round review", _solved_round),
    PageState("engagements", "/workspace/engagements/"),
    PageState("engagement",
              lambda s: f"/workspace/engagements/{_first(s, sa.select(Engagement.id).order_by(Engagement.id))}"),
    PageState("craftsmen to look at", "/workspace/engagements/flags"),
    PageState("notification outbox", "/workspace/rounds/outbox"),
    PageState("outcomes", "/workspace/outcomes/"),
    PageState("new outcome", "/workspace/outcomes/new"),
    PageState("reports", "/workspace/reports/"),
    PageState("period report", "/workspace/reports/period"),
    PageState("API tokens (admin)", "/workspace/admin/tokens/"),
    PageState("password", "/auth/password"),
    PageState("staff intake form", "/workspace/intake/new"),
    PageState("demand import", "/workspace/intake/import"),
    PageState("agreements", "/workspace/agreements/"),
    PageState("agreement", lambda s: f"/workspace/agreements/{_first(s, sa.select(Agreement.id).order_by(Agreement.id))}"),
    PageState("new agreement", lambda s: "/workspace/engagements/"
              f"{_first(s, sa.select(Engagement.id).order_by(Engagement.id))}/agreements/new"),
    PageState("enterprise", lambda s: f"/workspace/enterprises/{_first(s, sa.select(Enterprise.id).order_by(Enterprise.id))}"),
    PageState("put a named craftsman on a demand", lambda s: _place_page(s) + "?q=%E5%B7%A5"),
]


def _violations(page) -> list[str]:
    """One line per violated rule: its id, impact and the first elements that break it."""
    results = Axe().run(page, options=AXE_OPTIONS).response["violations"]
    return [f"{rule['id']} ({rule['impact']}, {len(rule['nodes'])}×): "
            + " | ".join(" ".join(node["target"]) + " " + node.get("failureSummary", "").replace("\n", " ")[:160]
                         for node in rule["nodes"][:3])
            for rule in results]


@pytest.fixture(scope="module")
def staff_cookies(chromium, live_server: LiveServer) -> list[dict]:
    """The demo coordinator's login cookie, logged in once through the form for the module's staff pages (no test
    here logs out)."""
    context = chromium.new_context(base_url=live_server.url)
    try:
        login(context.new_page())
        return context.cookies()
    finally:
        context.close()


@pytest.mark.parametrize("state", PAGE_STATES, ids=[state.name for state in PAGE_STATES])
def test_no_accessibility_violations(page, live_server, staff_cookies, state: PageState):
    """Each language in turn on one page: a violation is reported with the language it was found in."""
    if state.staff:
        page.context.add_cookies(staff_cookies)
    found = []
    for locale in LOCALES:
        if state.before:
            state.before(page, live_server)
        url = state.url(live_server)
        page.goto(url + ("&" if "?" in url else "?") + f"lang={locale}")
        assert page.url.split("?")[0].endswith(url.split("?")[0]), f"{state.name} ({locale}): sent on to {page.url}"
        if state.after:
            state.after(page)
        page.wait_for_load_state("load")
        found += [f"{locale}: {violation}" for violation in _violations(page)]
    assert not found, "\n".join(found)
