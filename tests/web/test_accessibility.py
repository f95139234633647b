"""What a screen reader needs that axe cannot judge: repeated controls named by whom and what they act on,
ids unique on the page, charts with their values in words, the consent error with the others."""

from __future__ import annotations

import re
from collections import Counter

import sqlalchemy as sa

from tests.web.test_intake_flow import submit
from web.models import Craftsman, MatchingRound
from web.services import charts


def _ids(page: str) -> Counter:
    return Counter(re.findall(r'\sid="([^"]+)"', page))


def _names(page: str, attribute: str = "aria-label") -> list[str]:
    return re.findall(rf'{attribute}="([^"]*)"', page)


def test_the_round_review_names_every_repeated_control(request, coordinator_browser):
    session = request.getfixturevalue("demo_session")
    round_id = session.scalar(sa.select(MatchingRound.id).where(MatchingRound.name == "crawl-solved"))
    page = coordinator_browser.text(f"/workspace/rounds/{round_id}?lang=zh_CN")
    names = _names(page)
    locks = [name for name in names if name.startswith("锁定 ")]
    excludes = [name for name in names if name.startswith("排除 ")]
    capacities = [name for name in names if name.endswith("的服务容量") and not name.startswith("修改")]
    changes = [name for name in names if name.startswith("修改 ") and name.endswith("的服务容量")]
    assert locks and excludes and capacities and changes
    for group in (locks, excludes):
        assert len(set(group)) == len(group), group  # each names its craftsman and demand
    loads = page[page.index('id="loads"'):]
    in_rows = re.findall(r'<tr data-craftsman="\d+"><td>([^<]+)</td>', loads)  # each capacity row's craftsman, as the table shows him
    assert capacities == [f"{name}的服务容量" for name in in_rows]
    assert changes == [f"修改 {name}的服务容量" for name in in_rows]
    assert all("（需求“" in name for name in locks + excludes)  # demo titles repeat: the tracking code tells them apart
    assert page.count(">锁定</button>") == len(locks)  # the visible word starts the name (label in name)


def test_outcomes_edit_links_name_their_outcome(request, coordinator_browser):
    request.getfixturevalue("demo_session")
    page = coordinator_browser.text("/workspace/outcomes/?lang=en")
    edits = [name for name in _names(page) if name.startswith("Edit “")]
    assert len(edits) > 5 and len(set(edits)) == len(edits)


def test_no_id_twice_on_the_reports_and_a_profile(request, coordinator_browser):
    session = request.getfixturevalue("demo_session")
    craftsman_id = session.scalar(sa.select(Craftsman.id).where(Craftsman.status == "active").limit(1))
    for path in ("/workspace/reports/", f"/workspace/craftsmen/{craftsman_id}", "/demand/new"):
        repeated = {ident: n for ident, n in _ids(coordinator_browser.text(path)).items()
                    if n > 1 and ident != "csrf_token"}
        assert repeated == {}, path


def test_a_chart_tells_its_values_in_words():
    bars = str(charts.bars([("成都市", 14), ("璧山区", 12.5)], title="Demands by region"))
    assert "<title>Demands by region</title><desc>成都市: 14; 璧山区: 12.5</desc>" in bars
    lines = str(charts.lines(["2026-01", "2026-02"], [("Demands", [3, 0])], title="Trend"))
    assert "<desc>Demands: 2026-01 3, 2026-02 0</desc>" in lines


def test_the_consent_error_comes_with_the_others_on_the_first_try(browser):
    page = submit(browser, title="", consent="").get_data(as_text=True)
    for field in ("title", "consent"):
        assert re.search(rf'name="{field}"[^>]*aria-invalid="true"|aria-invalid="true"[^>]*name="{field}"', page), field
    summary = re.search(r'<div class="error-summary"[\s\S]*?</div>', page).group()
    assert 'href="#title"' in summary and 'href="#consent"' in summary
