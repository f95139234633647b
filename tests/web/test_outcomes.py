"""The outcome pool: add, edit, search, export, region scope; errors next to the field."""

from __future__ import annotations

import html
import io
import re

import sqlalchemy as sa
from openpyxl import load_workbook

from tests.conftest import TEST_PASSWORD
from tests.factories import make_craftsman
from web.models import AuditLog, Outcome


def _form(craftsman_id, **overrides):
    data = {"kind": "patent", "title": "一种真空发生器国产化替代装置", "description": "维修成本降低60%",
            "craftsman_id": str(craftsman_id), "studio": "", "industries": "装备制造", "value_wan": "120.5",
            "year": "2025", "reference": "ZL202510000001.1"}
    data.update(overrides)
    return data


def test_add_search_edit_export(coordinator_browser, session):
    craftsman = make_craftsman(session, name="刘源")
    session.commit()
    response = coordinator_browser.submit("/workspace/outcomes/new", _form(craftsman.id))
    assert response.status_code == 302
    outcome = session.scalar(sa.select(Outcome).where(Outcome.reference == "ZL202510000001.1"))
    assert outcome.craftsman_id == craftsman.id and [i.code for i in outcome.industries] == ["sc.equipment"]
    assert "真空发生器" in coordinator_browser.text("/workspace/outcomes/?q=真空")
    assert "真空发生器" not in coordinator_browser.text("/workspace/outcomes/?q=焊接&kind=patent")
    url = f"/workspace/outcomes/{outcome.id}/edit"
    assert "装备制造" in coordinator_browser.text(url)
    response = coordinator_browser.submit(url, _form(craftsman.id, kind="method", title="=CMD()"))
    assert response.status_code == 302
    session.expire_all()
    assert outcome.kind == "method"
    actions = set(session.scalars(sa.select(AuditLog.action).where(AuditLog.entity_type == "outcome",
                                                                   AuditLog.entity_id == outcome.id)))
    assert actions == {"outcome.create", "outcome.update"}
    sheet = load_workbook(io.BytesIO(coordinator_browser.get("/workspace/outcomes/export.xlsx").data)).worksheets[0]
    titles = [row[2] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert "'=CMD()" in titles


def test_an_outcome_is_added_from_the_craftsmans_page_without_knowing_his_number(coordinator_browser, session):
    # The form asks for "the number shown on the craftsman's page": the page shows it and leads to the form with it.
    craftsman = make_craftsman(session, name="刘源")
    session.commit()
    profile = coordinator_browser.text(f"/workspace/craftsmen/{craftsman.id}")
    assert re.search(rf'id="craftsman-number">{craftsman.id}<', profile)
    link = re.search(r'href="(/workspace/outcomes/new\?craftsman=\d+)"', profile)
    assert link, profile
    form = coordinator_browser.text(html.unescape(link.group(1)))
    assert re.search(rf'name="craftsman_id"[^>]*value="{craftsman.id}"|value="{craftsman.id}"[^>]*name="craftsman_id"',
                     form)
    data = _form(craftsman.id)
    response = coordinator_browser.submit(html.unescape(link.group(1)), data)
    assert response.status_code == 302
    assert data["title"] in coordinator_browser.text(f"/workspace/craftsmen/{craftsman.id}")


def test_the_outcome_form_does_not_call_the_outcome_a_demand(coordinator_browser):
    form = coordinator_browser.text("/workspace/outcomes/new")
    label = re.search(r'<label for="description">(.*?)</label>', form, re.S).group(1)
    assert "成果简介" in label and "需求" not in label


def test_errors_next_to_the_field_and_nothing_saved(coordinator_browser, session):
    response = coordinator_browser.submit("/workspace/outcomes/new", _form(999999))
    assert response.status_code == 200
    assert "craftsman" in response.get_data(as_text=True).lower()
    response = coordinator_browser.submit("/workspace/outcomes/new", _form("", studio="", industries="无此行业"))
    assert "无此行业" in response.get_data(as_text=True)
    assert session.scalar(sa.select(sa.func.count()).select_from(Outcome)
                          .where(Outcome.title == "一种真空发生器国产化替代装置")) == 0


def test_region_scope_and_viewer(browser, make_user, session):
    inside = make_craftsman(session, region_code="510104")
    outside = make_craftsman(session, region_code="500103")
    session.add_all([Outcome(kind="patent", title="成都成果", craftsman=inside, created_at=inside.created_at),
                     Outcome(kind="patent", title="重庆成果", craftsman=outside, created_at=inside.created_at)])
    session.commit()
    make_user("chengdu", "coordinator", region_code="510100")
    browser.login("chengdu", TEST_PASSWORD)
    page = browser.text("/workspace/outcomes/")
    assert "成都成果" in page and "重庆成果" not in page
    response = browser.submit("/workspace/outcomes/new", _form(outside.id))
    assert response.status_code == 200 and session.scalar(
        sa.select(sa.func.count()).select_from(Outcome).where(Outcome.craftsman_id == outside.id)) == 1


def test_viewer_reads_only(browser, make_user):
    make_user("viewer1", "viewer")
    browser.login("viewer1", TEST_PASSWORD)
    assert browser.get("/workspace/outcomes/").status_code == 200
    assert browser.get("/workspace/outcomes/new").status_code == 403


def test_region_coordinator_cannot_open_another_regions_outcome(browser, make_user, session):
    outside = make_craftsman(session, region_code="500103")
    outcome = Outcome(kind="patent", title="重庆专利", craftsman=outside, created_at=outside.created_at)
    session.add(outcome)
    session.commit()
    make_user("chengdu", "coordinator", region_code="510100")
    browser.login("chengdu", TEST_PASSWORD)
    assert browser.get(f"/workspace/outcomes/{outcome.id}/edit").status_code == 403
    sheet = load_workbook(io.BytesIO(browser.get("/workspace/outcomes/export.xlsx").data)).worksheets[0]
    assert "重庆专利" not in [row[2] for row in sheet.iter_rows(min_row=2, values_only=True)]


def test_export_is_the_search_and_neutralises_every_formula_start(coordinator_browser, session):
    craftsman = make_craftsman(session)
    for title in ("+SUM(A1)", "-2+3", "@cmd", "普通成果"):
        session.add(Outcome(kind="method", title=title, description="=1+1", craftsman=craftsman,
                            created_at=craftsman.created_at))
    session.commit()
    sheet = load_workbook(io.BytesIO(coordinator_browser.get(
        "/workspace/outcomes/export.xlsx?kind=method").data)).worksheets[0]
    rows = list(sheet.iter_rows(min_row=2, values_only=True))
    assert sorted(row[2] for row in rows) == sorted(["'+SUM(A1)", "'-2+3", "'@cmd", "普通成果"])
    assert {row[3] for row in rows} == {"'=1+1"}
    only = list(load_workbook(io.BytesIO(coordinator_browser.get(
        "/workspace/outcomes/export.xlsx?q=普通").data)).worksheets[0].iter_rows(min_row=2, values_only=True))
    assert [row[2] for row in only] == ["普通成果"]
