"""The enterprise fills the demand form in Chinese in real Chromium, gets a tracking code, and the
coordinator finds the demand in the inbox. Also: the form without JavaScript, and screenshots
(375-px phone and desktop) for docs/screenshots/."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from tests.e2e.conftest import DESKTOP_VIEWPORT, PHONE_VIEWPORT, login
from tests.factories import valid_credit_code
from web.models import Demand

pytestmark = pytest.mark.e2e
CODE = re.compile(r"^(CQ|SC)-\d{4}-[2-9A-HJKMNP-Z]{6}$")


def _fill_common(page, n: int, *, title: str) -> None:
    page.fill("input[name=enterprise_name]", f"德阳重型压力容器有限公司{n}")
    page.fill("input[name=credit_code]", valid_credit_code(900_000 + n))
    page.select_option("select[name=industry_code]", "sc.equipment")
    page.select_option("select[name=category_code]", "skills_training")
    page.fill("input[name=title]", title)
    page.fill("textarea[name=description]",
              "新招焊工20余名，压力容器焊缝一次合格率偏低。希望焊接领域工匠现场指导并签订师带徒协议，半年内培养3到5名骨干。")
    page.fill("input[name=contact_name]", "李经理")
    page.fill("input[name=contact_phone]", f"1390000{n:04d}")
    page.check("input[name=consent]")


def _shot(page, screenshots_dir, name: str, viewport: dict, *, full_page: bool = True) -> None:
    page.set_viewport_size(viewport)
    page.screenshot(path=str(screenshots_dir / name), full_page=full_page)


def test_enterprise_submits_in_chinese_and_coordinator_finds_it(page, chromium, live_server, screenshots_dir):
    page.goto("/demand/new")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    expect(page.locator("[data-cascade]")).to_be_visible()  # the JS region picker replaced the long list
    expect(page.locator("select[name=region_code]")).to_be_hidden()
    _fill_common(page, 1, title="压力容器焊缝一次合格率提升")
    page.select_option("#region_level_0", "510000")
    page.select_option("#region_level_1", "510600")   # 德阳市
    page.select_option("#region_level_2", "510603")   # 旌阳区
    assert page.locator("select[name=region_code]").input_value() == "510603"
    page.fill("[data-skill-filter]", "氩弧")
    page.check("input[name=skills][value='weld.argon_arc']")
    page.fill("[data-skill-filter]", "")
    page.check("input[name=skills][value=weld]")
    expect(page.locator("[data-skill-chips] .chip")).to_have_count(2)
    page.fill("input[name=other_skills]", "无损检测")
    page.check("input[name=urgency][value=high]")
    page.check("input[name=mode][value=onsite]")
    page.fill("input[name=window_start]", "2026-12-01")
    page.fill("input[name=window_end]", "2027-05-31")
    page.fill("input[name=address]", "德阳市旌阳区工业园 8 号")
    _shot(page, screenshots_dir, "intake-form-375.png", PHONE_VIEWPORT)
    _shot(page, screenshots_dir, "intake-form-desktop.png", DESKTOP_VIEWPORT)

    page.click("[data-submit]")
    page.wait_for_url(re.compile(r"/demand/submitted/"))
    code = page.locator("[data-tracking-code]").inner_text().strip()
    assert CODE.match(code), code
    _shot(page, screenshots_dir, "intake-confirmation-375.png", PHONE_VIEWPORT)
    page.click(f"a[href='/demand/status/{code}']")
    expect(page.locator(".status-now [data-status=submitted]")).to_be_visible()
    _shot(page, screenshots_dir, "intake-status-375.png", PHONE_VIEWPORT)

    with live_server.session() as session:
        demand = session.scalar(sa.select(Demand).where(Demand.tracking_code == code))
        assert demand.region.code == "510603" and demand.urgency == "high"
        assert sorted(link.skill.code for link in demand.skills) == ["weld", "weld.argon_arc"]

    staff = chromium.new_context(base_url=live_server.url, locale="zh-CN", viewport=DESKTOP_VIEWPORT)
    try:
        coordinator = staff.new_page()
        login(coordinator)
        coordinator.goto("/workspace/demands/")
        expect(coordinator.locator(f"tr[data-demand='{code}']")).to_be_visible()  # newest first, on page 1
        _shot(coordinator, screenshots_dir, "inbox-desktop.png", DESKTOP_VIEWPORT)
        _shot(coordinator, screenshots_dir, "inbox-375.png", {"width": 375, "height": 1400}, full_page=False)
        coordinator.set_viewport_size(DESKTOP_VIEWPORT)
        coordinator.fill("input[name=q]", code)
        coordinator.click(".filters [type=submit]")
        coordinator.wait_for_url(re.compile(r"q="))
        rows = coordinator.locator("tr[data-demand]")
        expect(rows).to_have_count(1)
        assert code in rows.first.inner_text()
        coordinator.click(f"tr[data-demand='{code}'] td a")
        expect(coordinator.locator("[data-action=approve]")).to_be_visible()
        _shot(coordinator, screenshots_dir, "inbox-review-desktop.png", DESKTOP_VIEWPORT)
        coordinator.set_viewport_size(DESKTOP_VIEWPORT)
        coordinator.click("[data-action=approve] [type=submit]")
        expect(coordinator.locator(".status-now [data-status=open]")).to_be_visible()
    finally:
        staff.close()


def test_form_works_without_javascript(chromium, live_server):
    context = chromium.new_context(base_url=live_server.url, locale="zh-CN", java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto("/demand/new")
        expect(page.locator("select[name=region_code]")).to_be_visible()  # the grouped list, no cascade
        _fill_common(page, 2, title="无脚本也能提交的需求")
        page.select_option("select[name=region_code]", "500110")  # 重庆市綦江区
        page.locator("details.skill-group", has=page.locator("input[value='weld.argon_arc']")).locator(
            "summary").click()
        page.check("input[name=skills][value='weld.argon_arc']")
        page.click("[data-submit]")
        page.wait_for_url(re.compile(r"/demand/submitted/"))
        code = page.locator("[data-tracking-code]").inner_text().strip()
        assert code.startswith("CQ-")
    finally:
        context.close()


def test_errors_show_next_to_fields_and_keep_input(page):
    page.goto("/demand/new")
    page.fill("input[name=title]", "只填了标题")
    page.fill("input[name=credit_code]", "91510100MA61234567")
    page.click("[data-submit]")
    expect(page.locator(".field.has-error input[name=credit_code]")).to_have_count(1)
    assert page.locator("input[name=title]").input_value() == "只填了标题"
    assert page.locator(".field.has-error .error").count() >= 4


def test_a_replayed_form_page_works_in_chromium(chromium, live_server):
    """The production cache on: after Flask's first answers the page comes from the replay (a gzip member
    spliced per request) and Chromium reads it, shows it, and submits it."""
    from flask import request, request_started

    from web.services import reference

    app = live_server.app
    app.config["REFERENCE_CACHE_SECONDS"] = 3600
    reference.invalidate()
    app.wsgi_app.forget()
    handled: list[str] = []
    context = chromium.new_context(base_url=live_server.url, locale="zh-CN", java_script_enabled=False)
    try:
        with request_started.connected_to(lambda _app, **_extra: handled.append(request.path), app):
            page = context.new_page()
            for _ in range(4):
                page.goto("/demand/new")
            assert handled.count("/demand/new") == 3  # the fourth was replayed
        expect(page.locator("select[name=region_code]")).to_be_visible()
        _fill_common(page, 3, title="从重放页面提交的需求")
        page.select_option("select[name=region_code]", "500110")
        page.click("[data-submit]")
        page.wait_for_url(re.compile(r"/demand/submitted/"))
        assert page.locator("[data-tracking-code]").inner_text().strip().startswith("CQ-")
    finally:
        context.close()
        app.wsgi_app.forget()
        reference.invalidate()
        del app.config["REFERENCE_CACHE_SECONDS"]
