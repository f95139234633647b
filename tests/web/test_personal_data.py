"""Personal data on a need-to-know basis: viewers see masked mobile numbers and cannot export them; every
export and every outbox send is in the audit log."""

from __future__ import annotations

import io
import json

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from tests.browser import Browser
from tests.conftest import NOW, TEST_PASSWORD
from tests.factories import make_craftsman, make_demand, region
from web.models import AuditLog, MatchingRound, Notification

PHONE, MASKED = "13812341234", "138****1234"


@pytest.fixture()
def chengdu_records(session):
    craftsman = make_craftsman(session, region_code="510104", phone=PHONE)
    demand = make_demand(session, region_code="510104", contact_phone="13912345678", status="submitted")
    rnd = MatchingRound(name="成都", status="published", region_id=region(session, "510100").id, created_at=NOW)
    session.add(rnd)
    session.flush()
    session.add(Notification(round_id=rnd.id, recipient_kind="craftsman", recipient_id=craftsman.id,
                             address=PHONE, subject="任务", status="sent", created_at=NOW,
                             # as write_outbox words a craftsman's task: the enterprise's contact, to call
                             body=f"【1】{demand.title}\n企业联系人：王经理，电话 13912345678\n查询码：{demand.tracking_code}"))
    session.commit()
    return {"profile": f"/workspace/craftsmen/{craftsman.id}", "review": f"/workspace/demands/{demand.id}",
            "outbox": "/workspace/rounds/outbox"}


def _as(browser: Browser, make_user, role: str, region_code: str | None = "510100") -> Browser:
    make_user(f"{role}-user", role, region_code=region_code)
    assert browser.login(f"{role}-user", TEST_PASSWORD).status_code == 302
    return browser


def test_a_viewer_sees_masked_mobile_numbers_everywhere(browser, make_user, chengdu_records):
    viewer = _as(browser, make_user, "viewer")
    for page in chengdu_records.values():
        text = viewer.text(page)
        assert PHONE not in text and "13912345678" not in text, page
    assert MASKED in viewer.text(chengdu_records["profile"]) and MASKED in viewer.text(chengdu_records["outbox"])
    assert "139****5678" in viewer.text(chengdu_records["review"])
    assert "电话 139****5678" in viewer.text(chengdu_records["outbox"])  # in the messages' text too


@pytest.mark.parametrize(("role", "region_code"), [("coordinator", "510100"), ("admin", None)])
def test_coordinators_of_the_region_and_admins_see_full_numbers(browser, make_user, chengdu_records, role,
                                                               region_code):
    user = _as(browser, make_user, role, region_code)
    assert PHONE in user.text(chengdu_records["profile"]) and PHONE in user.text(chengdu_records["outbox"])
    assert "13912345678" in user.text(chengdu_records["review"])
    assert "电话 13912345678" in user.text(chengdu_records["outbox"])


def test_a_viewer_cannot_download_personal_data(browser, make_user, chengdu_records, session):
    viewer = _as(browser, make_user, "viewer")
    assert "export.xlsx" not in viewer.text("/workspace/craftsmen/")  # no button that answers 403
    for url in ("/workspace/craftsmen/export.xlsx", "/workspace/rounds/outbox.xlsx"):
        assert viewer.get(url).status_code == 403
    assert session.scalar(sa.select(sa.func.count()).select_from(AuditLog)
                          .where(AuditLog.action.like("export.%"))) == 0


def test_exports_are_audited_with_who_what_and_how_many_rows(browser, make_user, chengdu_records, session):
    coordinator = _as(browser, make_user, "coordinator")
    response = coordinator.get("/workspace/craftsmen/export.xlsx?status=active")
    assert response.status_code == 200
    rows = load_workbook(io.BytesIO(response.data)).active.max_row - 1
    assert rows == 1 and coordinator.get("/workspace/rounds/outbox.xlsx").status_code == 200
    entries = session.scalars(sa.select(AuditLog).where(AuditLog.action.like("export.%"))
                              .order_by(AuditLog.id)).all()
    assert [(e.action, e.actor_label, e.entity_type, e.after) for e in entries] == [
        ("export.craftsmen", "coordinator-user", "user_account",
         {"export": "craftsmen", "rows": 1, "filters": {"status": "active"}}),
        ("export.outbox", "coordinator-user", "user_account", {"export": "outbox", "rows": 1, "filters": {}}),
    ]
    assert all(e.at is not None for e in entries)


def test_a_viewer_cannot_find_a_craftsman_by_mobile_number(browser, make_user, chengdu_records, session):
    """A search by digits would reveal the masked number; names and employers are still searched."""
    link = f'href="{chengdu_records["profile"]}"'
    viewer = _as(browser, make_user, "viewer")
    assert link not in viewer.text("/workspace/craftsmen/?q=12341234")
    assert link in viewer.text("/workspace/craftsmen/?q=东方电气")
    browser.submit("/auth/logout", {}, form_url="/workspace/")
    coordinator = _as(browser, make_user, "coordinator")
    assert link in coordinator.text("/workspace/craftsmen/?q=12341234")


def test_why_a_craftsman_declined_stays_with_the_staff(browser, session):
    """The coordinator records why a craftsman declined (his health, his family): the reason was the public note
    of the demand's return to "open", so the enterprise read it on its status page and in the API's history."""
    from web.models import Engagement, EngagementMember
    from web.services import rounds

    make_craftsman(session, skills={"weld": 4}, region_code="510100", round_capacity=1)
    demand = make_demand(session, skills={"weld": 3}, contact_phone="13955556666")
    rnd = rounds.create_round(session, name="十二月", actor="test", now=NOW)
    rounds.solve_round(session, rnd, actor="test", now=NOW)
    rounds.publish_round(session, rnd, actor="test", now=NOW)
    member = session.scalars(sa.select(EngagementMember)).one()
    rounds.decline_member(session, member, reason="家中老人住院", actor="test", now=NOW)
    session.commit()
    assert session.get(Engagement, member.engagement_id).cancel_reason == "家中老人住院"  # kept for the staff

    found = browser.client.post("/api/v1/demands/status", json={"tracking_code": demand.tracking_code,
                                                                 "last4": "6666"})
    assert found.status_code == 200 and found.get_json()["status"] == "open"
    assert "住院" not in json.dumps(found.get_json(), ensure_ascii=False)
    assert found.get_json()["history"][-1]["note"]  # the enterprise is told, in general words
