"""A coordinator's week in real Chromium (issue 14, item 10): two needs entered by hand for enterprises that
phoned, ten imported from the office's sheet, all twelve approved in one bulk action, a round over 渝北区 solved
and published, the messages sent (after confirming their number) into a real SMTP server (aiosmtpd), and on
one engagement a follow-up and a long-term agreement with its signed document. Screenshots of each new page
go to the screenshots folder (docs/screenshots/ when refreshing the documentation)."""

from __future__ import annotations

import email
import re
import socket
from email.policy import default as default_policy

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from playwright.sync_api import expect

from tests.e2e.conftest import DESKTOP_VIEWPORT, PHONE_VIEWPORT, create_round, fill_staff_demand
from tests.factories import unique_number, valid_credit_code, valid_mobile
from tests.web.test_demand_import import HEADER, sheet
from web.models import Agreement, Craftsman, CraftsmanSkill, Demand, Engagement, Notification, Region, Skill

pytestmark = pytest.mark.e2e
YUBEI = ("500000", "500112")  # 重庆市 › 渝北区: the round takes its demands and all Chongqing craftsmen
CATEGORIES = ("技术服务", "技术攻关", "技能培训")
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


class Inbox:
    """What the SMTP server received: (recipients, parsed message)."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], email.message.EmailMessage]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append((list(envelope.rcpt_tos), email.message_from_bytes(envelope.content,
                                                                                policy=default_policy)))
        return "250 OK"


@pytest.fixture()
def smtp_inbox(live_server, monkeypatch):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    for key, value in (("MAIL_SERVER", "127.0.0.1"), ("MAIL_PORT", port),
                       ("MAIL_DEFAULT_SENDER", "outbox@craftmatch.test")):
        monkeypatch.setitem(live_server.app.config, key, value)
    try:
        yield inbox
    finally:
        controller.stop()


def _shot(page, screenshots_dir, name: str, *, phone: bool = False) -> None:
    page.screenshot(path=str(screenshots_dir / f"{name}-desktop.png"), full_page=True)
    if phone:
        page.set_viewport_size(PHONE_VIEWPORT)
        page.screenshot(path=str(screenshots_dir / f"{name}-375.png"), full_page=True)
        page.set_viewport_size(DESKTOP_VIEWPORT)


def _chongqing_skills(live_server, count: int) -> list[str]:
    """Skill codes that active Chongqing craftsmen hold at their best, one each."""
    with live_server.session() as session:
        rows = session.execute(
            sa.select(Skill.code).join(CraftsmanSkill, CraftsmanSkill.skill_id == Skill.id)
            .join(Craftsman, Craftsman.id == CraftsmanSkill.craftsman_id).join(Region, Region.id == Craftsman.region_id)
            .where(Craftsman.status == "active", Craftsman.can_onsite, Region.code.like("50%"),
                   Skill.parent_id.is_not(None))
            .order_by(CraftsmanSkill.proficiency.desc(), Craftsman.id)).scalars().all()
    return list(dict.fromkeys(rows))[:count]


def _enter_by_hand(page, tag: str, n: int, skill_code: str, skill_name: str) -> None:
    fill_staff_demand(page, enterprise=f"重庆来电企业{tag}-{n}有限公司", category="tech_service",
                      title=f"来电需求{tag}-{n}：{skill_name}", contact="钱经理", regions=YUBEI,
                      description=f"企业来电：生产中遇到{skill_name}方面的问题，希望工匠上门指导。")
    page.fill("input[name=contact_email]", f"enterprise-{tag}-{n}@example.test")
    page.fill("[data-skill-filter]", skill_name)
    page.check(f"input[name=skills][value='{skill_code}']")
    page.fill("[data-skill-filter]", "")
    page.check("input[name=channel][value=phone]")
    page.check("input[name=consent]")
    with page.expect_navigation():
        page.click("form[data-intake-form] [type=submit]")
    assert re.search(r"/workspace/intake/\d+/entered$", page.url), page.url


def test_a_coordinators_week(staff_page, live_server, smtp_inbox, screenshots_dir, tmp_path):
    page, tag = staff_page, str(unique_number())
    skills = _chongqing_skills(live_server, 12)
    with live_server.session() as session:
        names = dict(session.execute(sa.select(Skill.code, Skill.name_zh).where(Skill.code.in_(skills))).all())

    # --- two needs that came in by phone, entered by hand
    for n in range(2):
        _enter_by_hand(page, tag, n, skills[n], names[skills[n]])
    _shot(page, screenshots_dir, "staff-intake-receipt")
    page.goto("/workspace/intake/new")
    _shot(page, screenshots_dir, "staff-intake-form", phone=True)

    # --- ten from the office's sheet: preview who and what, then confirm (no approval yet)
    rows = []
    for n in range(10):
        rows.append([f"重庆表格企业{tag}-{n}有限公司", valid_credit_code(), YUBEI[1], "装备制造", "孙主任",
                     valid_mobile(), CATEGORIES[n % 3], f"表格需求{tag}-{n}：{names[skills[n + 2]]}",
                     f"{names[skills[n + 2]]}方面的技术难题。", skills[n + 2], "", "1", "线下", "重庆市渝北区", "中"])
    sheet_path = tmp_path / "needs.xlsx"
    sheet_path.write_bytes(sheet(rows, header=HEADER))
    page.goto("/workspace/intake/import")
    _shot(page, screenshots_dir, "demand-import")
    page.set_input_files("input[type=file][name=file]", str(sheet_path))
    with page.expect_navigation():
        page.click("form[enctype='multipart/form-data'] [type=submit]")
    expect(page.locator("[data-count=create]")).to_have_text("10")
    _shot(page, screenshots_dir, "demand-import-preview", phone=True)
    with page.expect_navigation():
        page.locator("main form.card [type=submit]").click()
    expect(page.locator(".flash-success")).to_be_visible()

    # --- all twelve approved in one bulk action over the inbox's filter
    page.goto(f"/workspace/demands/?q={tag}")
    expect(page.locator("#all_matching")).to_be_visible()
    page.select_option("#bulk-form select[name=action]", "approve")
    page.check("#all_matching")
    _shot(page, screenshots_dir, "inbox-bulk")
    with page.expect_navigation():
        page.click("#bulk-form [type=submit]")
    with live_server.session() as session:
        ours = session.scalars(sa.select(Demand).where(Demand.title.like(f"%需求{tag}-%"))).all()
        assert len(ours) == 12 and {d.status for d in ours} == {"open"}, {d.status for d in ours}

    # --- a round over 渝北区's needs and Chongqing's craftsmen, solved and published
    round_id = create_round(page, f"渝北周轮次{tag}", YUBEI[1], YUBEI[0])
    for action in ("solve", "publish"):
        with page.expect_navigation():
            page.locator(f"form[action*='/{action}'] button[type=submit]").first.click()
    expect(page.locator("#round-status")).to_have_attribute("data-status", "published")
    with live_server.session() as session:
        engaged = {e.demand_id: e.id for e in session.scalars(sa.select(Engagement).where(
            Engagement.round_id == round_id, Engagement.demand_id.in_([d.id for d in ours])))}
        assert len(engaged) == 12, f"{len(engaged)} of our 12 needs were matched"
        pending = session.scalar(sa.select(sa.func.count()).select_from(Notification)
                                 .where(Notification.round_id == round_id, Notification.status == "pending"))

    # --- the messages: asked first with their number, then sent; e-mails arrive in the SMTP server
    page.goto(f"/workspace/rounds/outbox?round={round_id}")
    page.click("#send-pending")
    expect(page.locator("#send-count")).to_have_attribute("data-count", str(pending))
    page.get_by_role("button", name=re.compile(str(pending))).click()
    expect(page.locator('#outbox [data-status="sent"]')).to_have_count(pending)
    _shot(page, screenshots_dir, "outbox-sent")
    by_hand = [d for d in ours if d.title.startswith(f"来电需求{tag}-")]
    for n, demand in enumerate(by_hand):
        received = [message for to, message in smtp_inbox.messages if f"enterprise-{tag}-{n}@example.test" in to]
        round_mail = [m for m in received if m["Subject"] and f"渝北周轮次{tag}" in m["Subject"]]
        assert round_mail, [m["Subject"] for m in received]
        body = round_mail[0].get_content()
        with live_server.session() as session:
            engagement = session.get(Engagement, engaged[demand.id])
            craftsman_names = [member.craftsman.name for member in engagement.members]
        assert any(name in body for name in craftsman_names), body

    # --- one engagement: the service starts, the two-week follow-up, then a long-term agreement
    engagement_id = engaged[by_hand[0].id]
    page.goto(f"/workspace/engagements/{engagement_id}")
    page.locator("#start-form button[type=submit]").click()
    page.wait_for_load_state()
    page.locator(f"#follow-ups a[href$='/{engagement_id}/follow-ups/check_2w']").click()
    page.wait_for_load_state()
    page.fill("input[name=problems_solved]", "1")
    page.fill("textarea[name=note]", "两周回访：问题已现场解决，企业希望长期合作。")
    page.locator("#follow-up-form button[type=submit]").click()
    page.wait_for_load_state()
    expect(page.locator(".flash-success")).to_be_visible()
    _shot(page, screenshots_dir, "engagement", phone=True)

    document = tmp_path / "agreement.pdf"
    document.write_bytes(PDF)
    page.goto(f"/workspace/engagements/{engagement_id}/agreements/new")
    page.fill("input[name=starts_on]", "2026-12-01")
    page.fill("input[name=ends_on]", "2027-11-30")
    page.fill("textarea[name=scope]", "长期技术指导与师徒结对，每季度上门一次。")
    page.set_input_files("input[type=file][name=document]", str(document))
    _shot(page, screenshots_dir, "agreement-form")
    with page.expect_navigation():
        page.locator("main form [type=submit]").last.click()
    assert re.search(r"/workspace/agreements/\d+$", page.url), page.url
    _shot(page, screenshots_dir, "agreement", phone=True)
    with live_server.session() as session:
        agreement = session.scalar(sa.select(Agreement).where(Agreement.engagement_id == engagement_id))
        assert agreement is not None and agreement.document_name
        enterprise_id = agreement.enterprise_id
    page.goto(f"/workspace/engagements/{engagement_id}")
    expect(page.locator("main")).to_contain_text("长期技术指导")
    page.goto(f"/workspace/enterprises/{enterprise_id}")
    expect(page.locator("main")).to_contain_text("长期技术指导")
    _shot(page, screenshots_dir, "enterprise")
    page.goto("/workspace/agreements/")
    _shot(page, screenshots_dir, "agreements")
