"""Importing a sheet of demands the office collected: preview (who and what), row errors in Chinese and
English, all or nothing; the same service behind the workspace page and ``craftmatch import demands``."""

from __future__ import annotations

import datetime as dt
import html
import io

import sqlalchemy as sa
from openpyxl import Workbook, load_workbook

from tests import factories
from tests.conftest import NOW, TEST_PASSWORD
from web.models import AuditLog, Demand, DemandStatusEvent, User
from web.services import demand_import
from web.services.importing import Resolver

HEADER = ["企业名称", "统一社会信用代码", "地区", "行业", "联系人", "手机", "需求类别", "标题", "描述", "所需技能",
          "团队分工", "人数", "服务方式", "地址", "紧急程度"]
HEADER_EN = ["enterprise name", "credit code", "region", "industry", "contact person", "phone", "category", "title",
             "description", "required skills", "team roles", "team size", "service mode", "address", "urgency"]
UPLOAD = "/workspace/intake/import"


def demand_row(n: int, **overrides) -> list:
    row = {"enterprise_name": f"成都精密制造有限公司{n}", "credit_code": factories.valid_credit_code(90_000 + n),
           "region": "四川省成都市锦江区", "industry": "装备制造", "contact_name": "王经理",
           "phone": factories.valid_mobile(90_000 + n), "category": "技术攻关", "title": f"压铸件气孔率偏高攻关{n}",
           "description": "新能源汽车铝合金壳体压铸件气孔率偏高，模具寿命不足两万模次，希望工匠现场诊断。",
           "skills": "焊接、数控铣", "roles": "焊接:1、数控铣:1、电气控制:1", "team_size": "", "mode": "线下",
           "address": "成都市锦江区工业园 3 号", "urgency": "高"}
    row.update(overrides)
    return list(row.values())


def sheet(rows, header=HEADER) -> bytes:
    book = Workbook()
    book.active.append(header)
    for row in rows:
        book.active.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def count(session) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(Demand))


def upload(browser, content: bytes, name: str = "needs.xlsx"):
    response = browser.submit(UPLOAD, {"file": (io.BytesIO(content), name)}, content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return response.headers["Location"]


def test_preview_errors_by_row_and_column_then_confirm(coordinator_browser, session):
    rows = [demand_row(1), demand_row(2, mode="飞鸽传书"), demand_row(3), demand_row(4, roles="焊接:1、绣花:2"),
            demand_row(5, phone="12345")]
    before = count(session)
    preview_url = upload(coordinator_browser, sheet(rows))
    page = html.unescape(coordinator_browser.text(preview_url))
    assert count(session) == before  # the preview writes nothing
    # who and what will be added
    assert "成都精密制造有限公司1" in page and "压铸件气孔率偏高攻关3" in page and "新企业 / new enterprise" in page
    # row-level errors naming row, column and the bad value, in Chinese and English
    assert "第 3 行，「服务方式」列" in page and "Row 3, column \"service mode\"" in page and "飞鸽传书" in page
    assert "第 5 行，「团队分工」列" in page and "绣花" in page
    assert "第 6 行，「手机」列" in page and "Row 6, column \"phone\"" in page
    assert "请至少选择一种服务方式" not in page

    response = coordinator_browser.submit(preview_url, {})  # errors, skip not ticked: nothing written
    assert response.status_code == 422 and count(session) == before
    response = coordinator_browser.submit(preview_url, {"skip_invalid": "y"})
    assert response.status_code == 302 and count(session) == before + 2

    coordinator = session.scalar(sa.select(User).where(User.username == "coordinator1"))
    demands = session.scalars(sa.select(Demand).where(Demand.title.like("压铸件气孔率偏高攻关%"))).all()
    assert sorted(d.title for d in demands) == ["压铸件气孔率偏高攻关1", "压铸件气孔率偏高攻关3"]
    for demand in demands:
        assert (demand.status, demand.mode, demand.urgency, demand.team_size) == ("submitted", "onsite", "high", 3)
        assert sorted(link.skill.code for link in demand.skills) == ["machining.cnc_milling", "weld"]
        event = session.scalar(sa.select(DemandStatusEvent).where(DemandStatusEvent.demand_id == demand.id))
        assert event.actor_id == coordinator.id
    entry = session.scalar(sa.select(AuditLog).where(AuditLog.action == "demand.import"))
    assert entry.actor_label == "coordinator1" and entry.after["created"] == 2 and entry.after["skipped_rows"] == 3


def test_confirm_with_approval_opens_the_demands_for_matching(coordinator_browser, session):
    preview_url = upload(coordinator_browser, sheet([demand_row(11), demand_row(12, category="safety")]))
    assert coordinator_browser.submit(preview_url, {"approve": "y"}).status_code == 302
    statuses = session.scalars(sa.select(Demand.status).where(Demand.title.like("压铸件气孔率偏高攻关1_"))).all()
    assert statuses == ["open", "open"]


def test_english_headers_codes_and_a_second_import_adds_nothing(session):
    rows = [demand_row(21, region="510104", industry="sc.equipment", category="tech_tackling",
                       skills="weld, machining.cnc_milling", mode="hybrid", urgency="low", roles="")]
    content = sheet(rows, header=HEADER_EN)
    first = demand_import.apply_demands(session, content, "en.xlsx", skip_invalid=False, approve=False,
                                        actor="test", now=NOW)
    assert (first.create, first.unchanged) == (1, 0)
    demand = session.scalar(sa.select(Demand).where(Demand.title == "压铸件气孔率偏高攻关21"))
    assert (demand.mode, demand.urgency, demand.team_size) == ("hybrid", "low", 1)
    again = demand_import.preview_demands(session, content, "en.xlsx")
    assert (again.create, again.unchanged, again.entries[0]["verdict"]) == (0, 1, "unchanged")
    demand_import.apply_demands(session, content, "en.xlsx", skip_invalid=False, approve=False, actor="test", now=NOW)
    assert session.scalar(sa.select(sa.func.count()).select_from(Demand)
                          .where(Demand.title == "压铸件气孔率偏高攻关21")) == 1


def test_a_province_twice_in_a_sheet_and_another_regions_rows_are_row_errors(session):
    from web.policy import region_subtree

    rows = [demand_row(31, region="四川省"), demand_row(32), demand_row(32), demand_row(33, region="重庆市渝中区")]
    scope = region_subtree(factories.region(session, "510100").id, session)
    report = demand_import.preview_demands(session, sheet(rows), "x.xlsx", scope=scope)
    assert [(e.row, e.column) for e in report.errors] == [(2, "region"), (4, "title"), (5, "region")]
    assert "outside your area" in report.errors[2].text_en and report.create == 1


def test_the_demand_templates_example_row_is_never_imported(coordinator_browser, session):
    page = coordinator_browser.text(UPLOAD)
    assert "/workspace/intake/import/template.xlsx" in page
    template = coordinator_browser.get("/workspace/intake/import/template.xlsx")
    assert template.status_code == 200
    report = demand_import.preview_demands(session, template.data, "template.xlsx")
    assert (report.rows, report.create, report.errors) == (0, 0, [])
    book = load_workbook(io.BytesIO(template.data))
    header = [cell.value for cell in book.worksheets[0][1]]
    assert header[:2] == ["企业名称 / enterprise name", "统一社会信用代码 / credit code"]
    book.worksheets[0].append(demand_row(41) + [""] * (len(header) - len(HEADER)))
    buffer = io.BytesIO()
    book.save(buffer)
    before = count(session)
    preview_url = upload(coordinator_browser, buffer.getvalue())
    assert coordinator_browser.submit(preview_url, {}).status_code == 302
    assert count(session) == before + 1
    assert session.scalar(sa.select(Demand).where(Demand.title == "行车吊运钢水作业安全排查")) is None


def test_team_roles_become_the_demands_roles(session):
    cells = dict(zip(demand_import.TEMPLATE_ORDER, demand_row(51, roles="焊接:1、数控铣:2、electrical.control"),
                     strict=False))
    data, problems = demand_import.row_to_data(cells, Resolver(session))
    assert problems == [] and data["roles"] == [
        {"skill": "weld", "count": 1}, {"skill": "machining.cnc_milling", "count": 2},
        {"skill": "electrical.control", "count": 1}]
    report = demand_import.apply_demands(session, sheet([demand_row(51, roles="焊接:1、数控铣:2、电气控制")]),
                                         "r.xlsx", skip_invalid=False, approve=False, actor="test", now=NOW)
    assert report.create == 1
    demand = session.scalar(sa.select(Demand).where(Demand.title == "压铸件气孔率偏高攻关51"))
    assert demand.team_size == 4  # the roles' total, as the public form counts it
    assert sorted((role.skill.code, role.count) for role in demand.roles) == [
        ("electrical.control", 1), ("machining.cnc_milling", 2), ("weld", 1)]
    bad = demand_import.preview_demands(session, sheet([demand_row(52, roles="焊接:1、焊接:2"),
                                                       demand_row(53, roles="焊接:十")]), "b.xlsx")
    assert [(e.row, e.column) for e in bad.errors] == [(2, "roles"), (3, "roles")]


def test_a_viewer_cannot_import(browser, make_user):
    make_user("viewer1", "viewer")
    browser.login("viewer1", TEST_PASSWORD)
    assert browser.get(UPLOAD).status_code == 403


def test_a_web_upload_takes_at_most_a_thousand_demands(coordinator_browser, session):
    """Each row goes through the public form's service; the command line takes longer sheets."""
    page = coordinator_browser.text(UPLOAD)
    assert "1,000" in page
    content = sheet([demand_row(1000 + n) for n in range(1001)])
    response = coordinator_browser.submit(UPLOAD, {"file": (io.BytesIO(content), "big.xlsx")},
                                          content_type="multipart/form-data")
    assert response.status_code == 422 and "1,000" in response.get_data(as_text=True)
    assert demand_import.preview_demands(session, content, "big.xlsx").rows == 1001


def test_date_cells_and_optional_columns(session):
    header = [*HEADER, "期望开始", "期望结束", "电子邮箱", "企业类型"]
    row = demand_row(61) + [dt.datetime(2026, 12, 1), dt.date(2027, 3, 31), "boss@example.com", "专精特新"]
    report = demand_import.apply_demands(session, sheet([row], header=header), "d.xlsx", skip_invalid=False,
                                         approve=False, actor="test", now=NOW)
    assert report.create == 1, report.as_dict()
    demand = session.scalar(sa.select(Demand).where(Demand.title == "压铸件气孔率偏高攻关61"))
    assert (demand.window_start, demand.window_end) == (dt.date(2026, 12, 1), dt.date(2027, 3, 31))
    assert (demand.enterprise.type, demand.enterprise.contact_email) == ("zjtx", "boss@example.com")
