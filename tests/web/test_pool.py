"""The craftsman pool as a coordinator uses it: list with filters, profile, add, edit, pause, exit, export."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from tests.conftest import NOW, TEST_PASSWORD
from tests.factories import make_craftsman, make_demand, make_engagement, valid_mobile
from web.models import AuditLog, Craftsman, Demand, DemandStatusEvent
from web.services import craftsmen as pool
from web.services.exporting import safe_cell


def _craftsman_form(**overrides):
    data = {"name": "李焊", "gender": "M", "phone": valid_mobile(), "employer": "德阳锅炉厂",
            "region": "四川省德阳市旌阳区", "honours": "四川工匠", "skills": "焊接:5", "industries": "装备制造",
            "studio": "李焊创新工作室", "can_onsite": "y", "travel_radius_km": "150", "yearly_capacity": "6",
            "round_capacity": "1", "bio": "压力容器焊接"}
    data.update(overrides)
    return data


def test_list_filters_and_search(coordinator_browser, session):
    a = make_craftsman(session, name="甲焊工", region_code="510100", honours=["great_craftsman"])
    b = make_craftsman(session, name="乙钳工", region_code="500103", honours=["municipal_craftsman"])
    session.commit()
    page = coordinator_browser.text("/workspace/craftsmen/?honour=great_craftsman")
    assert a.name in page and b.name not in page
    page = coordinator_browser.text("/workspace/craftsmen/?region=500000")
    assert b.name in page and a.name not in page
    assert '<option value="500000" selected>' in page  # the region is picked by name from a list
    page = coordinator_browser.text("/workspace/craftsmen/?q=乙钳")
    assert b.name in page and a.name not in page


def test_a_sector_filter_finds_the_craftsmen_of_its_sub_industries(coordinator_browser, session):
    rail = make_craftsman(session, name="丙轨道", industries=["sub.rail_equipment"])  # under 装备制造
    food = make_craftsman(session, name="丁食品", industries=["sc.food_textile"])
    session.commit()
    page = coordinator_browser.text("/workspace/craftsmen/?industry=sc.equipment")
    assert rail.name in page and food.name not in page
    options = re.findall(r'<option value="([^"]*)"', page[page.index('name="industry"'):].split("</select>")[0])
    # the sub-industry is offered, under its own sector
    assert options.index("sc.equipment") < options.index("sub.rail_equipment") < options.index("sc.food_textile")
    page = coordinator_browser.text("/workspace/craftsmen/?industry=sub.rail_equipment")
    assert rail.name in page and food.name not in page


def test_add_edit_and_errors_next_to_the_field(coordinator_browser, session):
    response = coordinator_browser.submit("/workspace/craftsmen/new", _craftsman_form(phone="12345"))
    assert response.status_code == 200
    assert "11" in response.get_data(as_text=True)  # the mobile message, shown on the form
    assert session.scalar(sa.select(sa.func.count()).select_from(Craftsman).where(Craftsman.name == "李焊")) == 0
    response = coordinator_browser.submit("/workspace/craftsmen/new", _craftsman_form(skills="不存在的技能:3"))
    assert "不存在的技能" in response.get_data(as_text=True)
    response = coordinator_browser.submit("/workspace/craftsmen/new", _craftsman_form())
    assert response.status_code == 302
    craftsman = session.scalar(sa.select(Craftsman).where(Craftsman.name == "李焊"))
    assert craftsman.region.code == "510603" and craftsman.studio.name == "李焊创新工作室"
    url = f"/workspace/craftsmen/{craftsman.id}/edit"
    form = coordinator_browser.text(url)
    assert "焊接:5" in form
    response = coordinator_browser.submit(url, _craftsman_form(phone=craftsman.phone, employer="东方电气"))
    assert response.status_code == 302
    session.expire_all()
    assert session.get(Craftsman, craftsman.id).employer == "东方电气"
    actions = session.scalars(sa.select(AuditLog.action).where(AuditLog.entity_id == craftsman.id,
                                                               AuditLog.entity_type == "craftsman")).all()
    assert {"craftsman.create", "craftsman.update"} <= set(actions)
    # kept skills change level in place, new ones are added (the unique (craftsman, skill) pair holds)
    response = coordinator_browser.submit(url, _craftsman_form(phone=craftsman.phone, skills="焊接:3、无损检测:2"))
    assert response.status_code == 302
    session.expire_all()
    levels = {link.skill.name_zh: link.proficiency for link in session.get(Craftsman, craftsman.id).skills}
    assert levels == {"焊接": 3, "无损检测": 2}


def _new_profile(session):
    craftsman = make_craftsman(session)
    session.commit()
    return craftsman, f"/workspace/craftsmen/{craftsman.id}"


def test_pause_resume_and_exit_keep_history(coordinator_browser, session):
    craftsman, profile = _new_profile(session)
    response = coordinator_browser.submit(f"{profile}/pause", {"until": "2099-01-31", "reason": "出国"},
                                          form_url=profile)
    assert response.status_code == 302
    session.expire_all()
    assert craftsman.status == "paused" and craftsman.paused_until == dt.date(2099, 1, 31)
    coordinator_browser.submit(f"{profile}/resume", {}, form_url=profile)
    session.expire_all()
    assert craftsman.status == "active"
    coordinator_browser.submit(f"{profile}/exit", {"reason": "退休", "on": "2026-11-01"}, form_url=profile)
    session.expire_all()
    assert craftsman.status == "exited" and craftsman.exit_reason == "退休"
    assert session.get(Craftsman, craftsman.id) is not None  # kept
    assert "退休" in coordinator_browser.text(profile)
    actions = set(session.scalars(sa.select(AuditLog.action).where(AuditLog.entity_id == craftsman.id)))
    assert {"craftsman.pause", "craftsman.resume", "craftsman.exit"} <= actions


def test_an_exit_with_scheduled_engagements_declines_them_only_when_asked(coordinator_browser, session):
    """He left the pool while booked on a published demand: the enterprise kept expecting a craftsman the pool no
    longer had (the engagement stayed scheduled, the demand "matched"). The exit now names his engagements and
    records him gone only with them declined, each demand open again."""
    craftsman = make_craftsman(session, region_code="510100")
    demand = make_demand(session, status="matched")
    engagement = make_engagement(session, demand, [craftsman])
    session.commit()
    profile = f"/workspace/craftsmen/{craftsman.id}"
    page = coordinator_browser.text(f"{profile}?lang=en")
    assert f"Scheduled to serve {demand.tracking_code}." in page and 'name="decline_scheduled"' in page
    assert f"A pause keeps the engagements already scheduled or in service ({demand.tracking_code})" in page

    response = coordinator_browser.submit(f"{profile}/exit?lang=en", {"reason": "调离", "on": "2026-11-01"},
                                          form_url=profile, follow_redirects=True)
    assert f"This craftsman is scheduled to serve {demand.tracking_code}." in response.get_data(as_text=True)
    session.expire_all()
    assert craftsman.status == "active" and engagement.status == "scheduled"  # nothing changed

    coordinator_browser.submit(f"{profile}/exit", {"reason": "调离", "on": "2026-11-01", "decline_scheduled": "y"},
                               form_url=profile)
    session.expire_all()
    assert craftsman.status == "exited" and engagement.status == "cancelled"
    assert engagement.members[0].status == "declined" and session.get(Demand, demand.id).status == "open"
    exit_entry = session.scalars(sa.select(AuditLog).where(AuditLog.action == "craftsman.exit")).one()
    assert exit_entry.after["declined"] == [engagement.id]
    assert "调离" not in (session.scalars(sa.select(DemandStatusEvent.note).where(
        DemandStatusEvent.demand_id == demand.id, DemandStatusEvent.public)).all()[-1] or "")  # his own matter


def test_nobody_leaves_the_pool_in_the_middle_of_a_service(session):
    craftsman = make_craftsman(session, region_code="510100")
    demand = make_demand(session, status="matched")
    engagement = make_engagement(session, demand, [craftsman], status="in_service")
    with pytest.raises(pool.ServiceError, match=demand.tracking_code):
        pool.exit_craftsman(session, craftsman, reason="退休", on=NOW.date(), actor="test", now=NOW,
                            decline_scheduled=True)
    assert craftsman.status == "active" and engagement.status == "in_service"


def test_a_refused_pause_or_exit_keeps_what_was_typed_and_says_why_at_the_field(coordinator_browser, session):
    craftsman, profile = _new_profile(session)
    refused = coordinator_browser.submit(f"{profile}/pause", {"until": "2020-01-31", "reason": "出国进修半年"},
                                         form_url=profile)
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert re.search(r'id="pause_reason"[^>]*value="出国进修半年"|value="出国进修半年"[^>]*id="pause_reason"', page)
    assert re.search(r'field\s+has-error">\s*<label for="until"', page)
    # an exit refused by the service (the reason is whitespace) keeps the date typed
    refused = coordinator_browser.submit(f"{profile}/exit", {"reason": "  ", "on": "2026-11-01"}, form_url=profile)
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert 'value="2026-11-01"' in page and re.search(r'field\s+has-error">\s*<label for="exit_reason"', page)
    session.expire_all()
    assert craftsman.status == "active"


def test_exit_needs_a_reason(session):
    craftsman = make_craftsman(session)
    try:
        pool.exit_craftsman(session, craftsman, reason=" ", on=NOW.date(), actor="test", now=NOW)
    except pool.ServiceError as error:
        assert error.field == "reason"
    else:
        raise AssertionError("an exit without reason was accepted")


def test_region_limited_coordinator_sees_only_the_region(browser, make_user, session):
    inside = make_craftsman(session, name="成都工匠", region_code="510104")
    outside = make_craftsman(session, name="重庆工匠", region_code="500103")
    session.commit()
    make_user("chengdu", "coordinator", region_code="510100")
    browser.login("chengdu", TEST_PASSWORD)
    page = browser.text("/workspace/craftsmen/")
    assert inside.name in page and outside.name not in page
    assert browser.get(f"/workspace/craftsmen/{outside.id}").status_code == 403


def test_viewer_reads_only(browser, make_user, session):
    craftsman = make_craftsman(session)
    session.commit()
    make_user("viewer1", "viewer")
    browser.login("viewer1", TEST_PASSWORD)
    assert browser.get(f"/workspace/craftsmen/{craftsman.id}").status_code == 200
    assert browser.get("/workspace/craftsmen/new").status_code == 403
    assert browser.get("/workspace/craftsmen/import").status_code == 403


def test_export_neutralises_formulas(coordinator_browser, session):
    make_craftsman(session, name="=HYPERLINK(\"http://x\")", employer="@SUM(A1)")
    session.commit()
    response = coordinator_browser.get("/workspace/craftsmen/export.xlsx?q=HYPERLINK")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data)).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert len(rows) == 2
    assert rows[1][0].startswith("'=") and rows[1][3].startswith("'@")


def test_safe_cell():
    assert safe_cell("-1+2") == "'-1+2" and safe_cell("+86") == "'+86" and safe_cell("ok") == "ok"
    assert safe_cell(-5) == -5 and safe_cell(None) is None


def test_export_is_the_filtered_list_of_the_own_region(browser, make_user, session):
    make_craftsman(session, name="+成都工匠", region_code="510104", employer="-负号单位")
    make_craftsman(session, name="重庆导出工匠", region_code="500103")
    session.commit()
    make_user("chengdu", "coordinator", region_code="510100")
    browser.login("chengdu", TEST_PASSWORD)
    rows = list(load_workbook(io.BytesIO(browser.get("/workspace/craftsmen/export.xlsx").data))
                .worksheets[0].iter_rows(min_row=2, values_only=True))
    names = [row[0] for row in rows]
    assert "'+成都工匠" in names and "重庆导出工匠" not in names
    assert next(row for row in rows if row[0] == "'+成都工匠")[3] == "'-负号单位"
