"""A coordinator's day in real Chromium: log in, import a sheet (preview, then confirm), create a matching
round, solve it, lock an alternate, re-solve and see that the lock held, publish, and find the engagements
and the notification outbox. Screenshots (desktop and 375 px) go to docs/screenshots/."""

from __future__ import annotations

import io
import re

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook
from playwright.sync_api import expect

from tests.e2e.conftest import DESKTOP_VIEWPORT, PHONE_VIEWPORT, create_round
from tests.factories import unique_number
from tests.web.test_import import HEADER_ZH, xlsx
from web.models import Craftsman, Engagement, EngagementMember, MatchingRound, Notification, Proposal

pytestmark = pytest.mark.e2e
REGION = "510100"  # 成都市: the round covers its open demands and craftsmen


def _sheet(tag: str) -> tuple[bytes, list[str]]:
    """Six good rows (SMT and mould-repair craftsmen in Chengdu) and one with a bad mobile number (row 8)."""
    rows, names = [], []
    for i in range(6):
        name = f"导入工匠{tag}{i}"
        names.append(name)
        skills = "SMT:5、Hand soldering:4" if i % 2 == 0 else "模具修复:5、铝合金压铸:3"
        rows.append([name, "男" if i % 2 else "女", f"186{int(tag) % 10_000:04d}{i:04d}", f"成都精密制造有限公司{i}",
                     "四川省成都市武侯区", "市级工匠", skills, "装备制造", "", "线下、线上"])
    rows.append([f"坏行工匠{tag}", "男", "12345", "成都某厂", "四川省成都市", "", "SMT", "", "", "线下"])
    return xlsx(rows, header=HEADER_ZH), names


def _shot(page, screenshots_dir, name: str, viewport: dict, *, full_page: bool = True) -> None:
    page.set_viewport_size(viewport)
    page.screenshot(path=str(screenshots_dir / name), full_page=full_page)
    page.set_viewport_size(DESKTOP_VIEWPORT)


def _click(page, action: str) -> None:
    """Press a round action (solve, publish) and wait for the page it redirects to."""
    with page.expect_navigation():
        page.locator(f"form[action*='/{action}'] button[type=submit]").first.click()


def _assigned(session, round_id: int) -> set[tuple[int, int]]:
    return set(session.execute(sa.select(Proposal.craftsman_id, Proposal.demand_id)
                               .where(Proposal.round_id == round_id, Proposal.assigned)).all())


def test_import_round_lock_resolve_publish(staff_page, live_server, screenshots_dir, tmp_path):
    page = staff_page
    tag = str(unique_number())
    content, names = _sheet(tag)
    sheet_path = tmp_path / "craftsmen.xlsx"
    sheet_path.write_bytes(content)

    # --- the pool, the template, the import preview (nothing written yet), then confirm
    page.goto("/workspace/craftsmen/")
    expect(page.locator("#craftsmen tbody tr").first).to_be_visible()
    _shot(page, screenshots_dir, "pool-list-desktop.png", DESKTOP_VIEWPORT)
    with page.expect_download() as download:
        page.locator("a[href$='/import/template.xlsx']").first.click()
    assert download.value.suggested_filename.endswith(".xlsx")
    template = load_workbook(io.BytesIO(download.value.path().read_bytes())).worksheets[0]
    assert str(template.cell(1, 1).value).startswith("姓名")
    page.locator("a[href$='/workspace/craftsmen/import']").first.click()
    page.set_input_files("input[type=file][name=file]", str(sheet_path))
    with page.expect_navigation():
        page.click("form[enctype='multipart/form-data'] [type=submit]")
    assert re.search(r"/import/[\w-]+\.xlsx$", page.url), page.url
    expect(page.locator("[data-count=create]")).to_have_text("6")
    expect(page.locator("[data-count=errors]")).to_have_text("1")
    error_row = page.locator("#import-errors tbody tr")
    expect(error_row).to_have_count(1)
    assert "第 8 行" in error_row.inner_text() and "Row 8" in error_row.inner_text()
    with live_server.session() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Craftsman)
                              .where(Craftsman.name.in_(names))) == 0  # a dry run writes nothing
    _shot(page, screenshots_dir, "import-preview-desktop.png", DESKTOP_VIEWPORT)
    _shot(page, screenshots_dir, "import-preview-375.png", PHONE_VIEWPORT)
    page.check("input[name=skip_invalid]")
    with page.expect_navigation():
        page.locator("main form.card [type=submit]").click()
    expect(page.locator(".flash-success")).to_be_visible()
    page.goto(f"/workspace/craftsmen/?q=导入工匠{tag}")
    expect(page.locator("#craftsmen tbody tr")).to_have_count(6)

    # --- a round over Chengdu's open demands and craftsmen
    round_id = create_round(page, f"成都十二月轮次{tag}", REGION, REGION)
    expect(page.locator("#round-status")).to_have_attribute("data-status", "draft")
    with live_server.session() as session:
        rnd = session.get(MatchingRound, round_id)
        assert rnd.region_id is None and rnd.filters["demands"] == {"region": REGION}

    _click(page, "solve")
    expect(page.locator("#round-status")).to_have_attribute("data-status", "solved")
    expect(page.locator("#review tbody tr").first).to_be_visible()
    with live_server.session() as session:
        first = _assigned(session, round_id)
    assert first and int(page.locator("#assigned-count").inner_text()) == len(first)

    # --- lock an alternate: the re-solve must move it into the proposal and keep it there
    row = page.locator("#review tbody tr[data-demand]", has=page.locator(".alternate form")).first
    expect(row).to_be_visible()
    lock = row.locator(".alternate form").first
    craftsman_id = int(lock.locator("input[name=craftsman_id]").input_value())
    demand_id = int(lock.locator("input[name=demand_id]").input_value())
    assert (craftsman_id, demand_id) not in first
    with page.expect_navigation():
        lock.locator("button[type=submit]").click()
    expect(page.locator(".flash-warning")).to_be_visible()  # pending: re-solve before publishing
    expect(page.locator("form[action*='/publish']")).to_have_count(0)
    _click(page, "solve")
    expect(page.locator("#round-status")).to_have_attribute("data-status", "solved")
    locked = page.locator(f"#review tr[data-demand='{demand_id}'] .proposal[data-craftsman='{craftsman_id}']")
    expect(locked).to_have_count(1)
    expect(locked.locator(".badge").first).to_contain_text("🔒")
    with live_server.session() as session:
        locked_name = session.get(Craftsman, craftsman_id).name
    change = page.locator(f"#changes li[data-change=added][data-craftsman='{craftsman_id}'][data-demand='{demand_id}']")
    expect(change).to_contain_text(locked_name)  # what changed, by name
    with live_server.session() as session:
        second = _assigned(session, round_id)
        metrics = session.get(MatchingRound, round_id).metrics
    assert (craftsman_id, demand_id) in second and second != first
    assert metrics["incremental"] and [craftsman_id, demand_id] in metrics["changes"]["added"]
    _shot(page, screenshots_dir, "round-review-desktop.png", DESKTOP_VIEWPORT)
    _shot(page, screenshots_dir, "round-review-375.png", PHONE_VIEWPORT)

    # --- publish: one engagement per demand, one member per proposed pair, the lock included
    _click(page, "publish")
    expect(page.locator("#round-status")).to_have_attribute("data-status", "published")
    expect(page.locator("#engagements tbody tr")).to_have_count(len(second))
    with live_server.session() as session:
        members = set(session.execute(
            sa.select(EngagementMember.craftsman_id, Engagement.demand_id).join(Engagement)
            .where(Engagement.round_id == round_id)).all())
        engagements = session.scalar(sa.select(sa.func.count()).select_from(Engagement)
                                     .where(Engagement.round_id == round_id))
        notices = session.scalar(sa.select(sa.func.count()).select_from(Notification)
                                 .where(Notification.round_id == round_id))
    assert members == second and engagements == len({d for _, d in second})
    page.goto("/workspace/engagements/?who=all")
    listed = page.locator("#engagements tbody").inner_text()
    with live_server.session() as session:
        made = session.scalars(sa.select(Engagement).where(Engagement.round_id == round_id)).all()
        assert made and all(e.demand.tracking_code in listed for e in made)

    page.goto(f"/workspace/rounds/outbox?round={round_id}")
    expect(page.locator("#outbox tbody tr")).to_have_count(notices)
    assert notices >= 2
    _shot(page, screenshots_dir, "outbox-desktop.png", DESKTOP_VIEWPORT)
    page.click("#send-pending")  # sending asks first, with the number
    expect(page.locator("#send-count")).to_have_attribute("data-count", str(notices))
    _shot(page, screenshots_dir, "outbox-confirm-desktop.png", DESKTOP_VIEWPORT)
    page.get_by_role("button", name=re.compile(str(notices))).click()
    expect(page.locator('#outbox [data-status="sent"]')).to_have_count(notices)
