"""Keyboard-only journeys in real Chromium (Tab, Shift+Tab, Enter, Space and the arrow keys of a <select>, never
the mouse): the skip link, the staff login, and the public demand form from a failed first try (focus on the
error summary, every invalid field marked and described, the consent error at once) to its confirmation."""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import DEMO_PASSWORD, DEMO_USER
from tests.factories import unique_number, valid_credit_code, valid_mobile

pytestmark = pytest.mark.e2e
MAX_TABS = 120


def focused(page, expression: str = "el") -> str:
    """``expression`` of the focused element (``el``), e.g. ``el.name``."""
    return page.evaluate(f"(() => {{ const el = document.activeElement; return {expression}; }})()")


def tab_to(page, selector: str) -> None:
    """Press Tab until the element matching ``selector`` has the focus."""
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


def choose(page, value: str) -> None:
    """Move the focused <select> to ``value`` with the arrow key, as a keyboard user does."""
    for _ in range(400):
        if focused(page, "el.value") == value:
            return
        page.keyboard.press("ArrowDown")
    raise AssertionError(f"no option {value} in {focused(page, 'el.id')}")


def test_the_skip_link_is_the_first_stop_and_moves_to_the_content(page):
    page.goto("/")
    page.keyboard.press("Tab")
    assert focused(page, "el.className") == "skip-link"
    assert page.locator(".skip-link").bounding_box()["x"] >= 0  # shown while focused
    outline = focused(page, "getComputedStyle(el).outlineStyle")
    assert outline == "solid"
    page.keyboard.press("Enter")
    assert focused(page, "el.id") == "main"
    page.keyboard.press("Tab")
    assert focused(page, "el.closest('main') !== null")


def _luminance(rgb: str) -> float:
    channels = [int(value) / 255 for value in re.findall(r"\d+", rgb)[:3]]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(first: str, second: str) -> float:
    light, dark = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_the_focus_ring_stands_out_on_the_red_header_and_on_the_page(page):
    page.goto("/")
    for selector, background in ((".main-nav a", ".site-header"), ("main a", "body")):
        tab_to(page, selector)
        ring = focused(page, "[getComputedStyle(el).outlineStyle, getComputedStyle(el).outlineWidth, "
                             "getComputedStyle(el).outlineColor]")
        behind = page.evaluate("s => getComputedStyle(document.querySelector(s)).backgroundColor", background)
        assert ring[0] == "solid" and float(ring[1].rstrip("px")) >= 2, ring
        assert contrast(ring[2], behind) >= 3, (selector, ring, behind)


def test_login_with_the_keyboard_only(page):
    page.goto("/auth/login")
    assert focused(page, "el.name") == "username"  # the page starts in the first field
    page.keyboard.type(DEMO_USER)
    page.keyboard.press("Tab")
    assert focused(page, "el.name") == "password"
    page.keyboard.type("wrong password")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "/auth/login" in page.url
    tab_to(page, "input[name=password]")
    page.keyboard.type(DEMO_PASSWORD)
    tab_to(page, "form button[type=submit]")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith("/workspace/"), page.url


def test_the_demand_form_with_the_keyboard_only(page):
    page.goto("/demand/new")
    tab_to(page, "input[name=enterprise_name]")
    with page.expect_navigation():
        page.keyboard.press("Enter")  # sends the empty form

    # the reader starts at the list of what to correct, the consent among them on this first try
    assert focused(page, "el.id") == "error-summary"
    summary = page.locator("#error-summary").inner_text()
    assert "I agree" in summary or "同意" in summary
    for name in ("enterprise_name", "contact_phone", "consent", "title"):
        field = page.locator(f"[name={name}]")
        assert field.get_attribute("aria-invalid") == "true", name
        described = field.get_attribute("aria-describedby").split()
        assert any(page.locator(f"#{ident}").get_attribute("class") == "error" for ident in described), name
    region = page.locator("#region_level_0")  # the cascade took over the region: it carries the error
    assert region.get_attribute("aria-invalid") == "true" and region.evaluate("el => el.required")

    # a summary link leads to its field
    page.keyboard.press("Tab")
    assert focused(page, "el.getAttribute('href')") == "#enterprise_name"
    page.keyboard.press("Enter")
    assert focused(page, "el.name") == "enterprise_name"

    n = unique_number()
    page.keyboard.type(f"键盘测试机械有限公司{n}")
    page.keyboard.press("Tab")
    page.keyboard.type(valid_credit_code(n))
    page.keyboard.press("Tab")
    assert focused(page, "el.id") == "region_level_0"
    choose(page, "510000")
    page.keyboard.press("Tab")
    choose(page, "510100")
    tab_to(page, "select[name=industry_code]")
    page.keyboard.press("ArrowDown")
    tab_to(page, "select[name=category_code]")
    page.keyboard.press("ArrowDown")
    tab_to(page, "input[name=title]")
    page.keyboard.type("键盘完成的需求标题")
    tab_to(page, "textarea[name=description]")
    page.keyboard.type("只用键盘填写整张表单：焊缝合格率偏低，希望工匠现场指导。")
    tab_to(page, "summary")  # the first skill group opens with Enter and its first box ticks with Space
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    page.keyboard.press("Space")
    assert focused(page, "el.type + ':' + el.checked") == "checkbox:true"
    tab_to(page, "input[name=contact_name]")
    page.keyboard.type("键盘先生")
    page.keyboard.press("Tab")
    page.keyboard.type(valid_mobile(n))
    tab_to(page, "input[name=consent]")
    page.keyboard.press("Space")
    tab_to(page, "button[data-submit]")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "/demand/submitted/" in page.url, page.locator("#error-summary").all_inner_texts()
