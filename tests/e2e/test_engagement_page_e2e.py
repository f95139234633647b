"""The engagement page complete, in real Chromium at a phone's width (375 px), in Chinese and English: no page
of the engagement, its agreement, the enterprise, the agreements list or the bulk forms is wider than the screen.
Then a coordinator records an agreement through the form with its document. Screenshots go to docs/screenshots/."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from tests.conftest import NOW
from tests.e2e.conftest import PHONE_VIEWPORT
from tests.factories import make_craftsman, make_demand, make_engagement, unique_number
from web.models import Agreement, Engagement, Feedback, User
from web.services import engagements, followups

PDF = b"%PDF-1.4\n" + b"0" * 500


@pytest.fixture()
def engagement_ids(live_server) -> dict[str, int]:
    """A started engagement with no agreed window, a rating with a long comment, a recorded follow-up with a
    note, and an agreement: every part of the page filled."""
    with live_server.session() as session:
        actor = session.scalar(sa.select(User).where(User.username == "demo"))
        n = unique_number()
        demand = make_demand(session, status="matched", title=f"压力容器焊缝一次合格率提升与焊工骨干培养（师带徒）{n}",
                             window_start=None, window_end=None, region_code="510100",
                             description="进口真空发生器型号 VGX-300-HD-2024-ABCDEFGHIJKLMNOPQRSTUV 故障频发，资料见 "
                                         "https://example.com/documents/vacuum-generator/maintenance-manual.pdf")
        craftsman = make_craftsman(session, name="孔建伟", region_code="510100")
        engagement = make_engagement(session, demand, [craftsman])
        start = NOW.date() - dt.timedelta(days=40)
        engagements.start_engagement(session, engagement, {"started_on": start.isoformat()}, actor=actor,
                                     now=NOW.replace(tzinfo=None))
        check = next(f for f in engagement.follow_ups if f.kind == "check_2w")
        followups.record_follow_up(session, check, {"done_on": (start + dt.timedelta(days=14)).isoformat(),
                                                    "note": "两周回访：焊缝返修率下降，企业希望延长合作并签订师带徒协议。"},
                                   actor=actor, now=NOW.replace(tzinfo=None))
        session.add(Feedback(demand_id=demand.id, engagement_id=engagement.id, rating=5, created_at=NOW,
                             comment="孔师傅现场指导非常耐心，焊工一次合格率从 82% 提升到 96%，希望长期合作。" * 2))
        agreement = Agreement(engagement_id=engagement.id, enterprise_id=demand.enterprise_id,
                              craftsman_id=craftsman.id, union_name="成都市总工会", starts_on=NOW.date(),
                              ends_on=NOW.date() + dt.timedelta(days=365), created_at=NOW,
                              scope="压力容器焊接工艺指导与焊工骨干培养，半年内培养 3–5 名能独立承担关键焊缝的骨干。")
        session.add(agreement)
        session.commit()
        demo = session.execute(sa.select(Engagement.status, sa.func.min(Engagement.id)).group_by(Engagement.status))
        return {"engagement": engagement.id, "agreement": agreement.id, "enterprise": demand.enterprise_id,
                "follow_up": check.id, **{f"demo_{status}": ident for status, ident in demo}}


def _pages(ids: dict[str, int]) -> list[str]:
    return [f"/workspace/engagements/{ids['engagement']}", f"/workspace/agreements/{ids['agreement']}",
            f"/workspace/engagements/{ids['engagement']}/agreements/new",
            f"/workspace/engagements/follow-ups/{ids['follow_up']}",
            f"/workspace/enterprises/{ids['enterprise']}", "/workspace/agreements/", "/workspace/demands/",
            "/workspace/craftsmen/", "/workspace/",
            *(f"/workspace/engagements/{ident}" for key, ident in ids.items() if key.startswith("demo_"))]


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_no_page_is_wider_than_a_phone(staff_page, engagement_ids, screenshots_dir, lang):
    page = staff_page
    page.set_viewport_size(PHONE_VIEWPORT)
    page.goto(f"/workspace/?lang={lang}")
    widths = {}
    for path in _pages(engagement_ids):
        page.goto(path)
        widths[path] = page.evaluate("document.documentElement.scrollWidth")
    page.goto(_pages(engagement_ids)[0])
    page.screenshot(path=str(screenshots_dir / f"engagement-375-{lang}.png"), full_page=True)
    assert {path: width for path, width in widths.items() if width > PHONE_VIEWPORT["width"]} == {}


def test_coordinator_records_an_agreement_with_its_document(staff_page, engagement_ids, screenshots_dir, tmp_path,
                                                            live_server):
    page = staff_page
    page.goto(f"/workspace/engagements/{engagement_ids['engagement']}")
    assert "未约定" in page.locator("#service-window").inner_text()
    assert "希望长期合作" in page.locator("#rating").inner_text()
    page.locator("a[href$='/agreements/new']").first.click()
    page.wait_for_load_state()
    page.fill("input[name=ends_on]", (NOW.date() + dt.timedelta(days=20)).isoformat())
    document = tmp_path / "师带徒协议.pdf"
    document.write_bytes(PDF)
    page.set_input_files("input[name=document]", str(document))
    page.screenshot(path=str(screenshots_dir / "agreement-form.png"), full_page=True)
    page.locator("#agreement-form button[type=submit]").click()
    page.wait_for_load_state()
    assert page.locator(".flash-success").count() == 1
    assert "师带徒协议.pdf" in page.locator("#agreement").inner_text()
    page.screenshot(path=str(screenshots_dir / "agreement.png"), full_page=True)
    page.goto("/workspace/")
    assert int(page.locator("#agreements-expiring .stat-value").inner_text()) >= 1
