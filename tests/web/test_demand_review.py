"""Coordinators review demands: inbox (filters, search, counts, pagination, flags) and audited actions."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa

from tests import factories
from tests.browser import Browser
from tests.conftest import NOW, TEST_PASSWORD
from web import policy
from web.extensions import db
from web.models import AuditLog, Demand, DemandStatusEvent, User
from web.services import demands as service

INBOX = "/workspace/demands/"


@pytest.fixture()
def make_demand(app, connection):
    """Create a committed demand (in the test's transaction) and return its id and tracking code."""

    def make(**overrides):
        with app.app_context():
            enterprise = overrides.pop("enterprise_id", None)
            enterprise_row = db.session.get(factories.Enterprise, enterprise) if enterprise else None
            overrides.setdefault("status", "submitted")
            demand = factories.make_demand(db.session, enterprise_row, **overrides)
            db.session.commit()
            return demand.id, demand.tracking_code, demand.enterprise_id

    return make


def reload(app, demand_id: int) -> Demand:
    with app.app_context():
        demand = db.session.get(Demand, demand_id)
        db.session.expunge(demand)
        return demand


def act(browser: Browser, demand_id: int, action: str, **fields):
    review_url = f"/workspace/demands/{demand_id}"
    page = browser.text(review_url)
    version = re.search(rf'id="{action}-version"[^>]*value="([^"]+)"|name="{action}-version"[^>]*value="([^"]+)"',
                        page)
    data = {f"{action}-{name}": value for name, value in fields.items()}
    if version:
        data.setdefault(f"{action}-version", version.group(1) or version.group(2))
    return browser.submit(f"/workspace/demands/{demand_id}/{action}", data, form_url=review_url)


def audit_entries(app, demand_id: int, action: str) -> list[AuditLog]:
    with app.app_context():
        return list(db.session.scalars(sa.select(AuditLog).where(
            AuditLog.entity_type == "demand", AuditLog.entity_id == demand_id, AuditLog.action == action)))


def test_inbox_needs_login(browser):
    response = browser.get(INBOX)
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


def test_inbox_lists_counts_filters_and_searches(app, coordinator_browser, make_demand):
    first_id, first_code, _ = make_demand(title="铝合金压铸件气孔率偏高", urgency="high", category_code="tech_tackling")
    make_demand(title="车间能耗台账建立", urgency="low", category_code="management", status="open")
    make_demand(title="重庆綦江机床联网", region_code="500110", category_code="digital")

    page = coordinator_browser.text(INBOX)
    assert first_code in page and "车间能耗台账建立" in page
    assert re.search(r'data-count-status="submitted"[\s\S]*?class="count">(\d+)<', page)

    def codes(query: str) -> str:
        return coordinator_browser.text(INBOX + query)

    assert "铝合金压铸件" in codes("?urgency=high") and "车间能耗台账建立" not in codes("?urgency=high")
    assert "车间能耗台账建立" in codes("?status=open") and "铝合金压铸件" not in codes("?status=open")
    assert "车间能耗台账建立" in codes("?category=management")
    assert "重庆綦江机床联网" in codes("?region=500000") and "铝合金压铸件" not in codes("?region=500000")
    assert "铝合金压铸件" in codes("?region=510000")  # the province covers Chengdu (510100)
    assert "铝合金压铸件" in codes(f"?q={first_code.lower()}")
    assert "铝合金压铸件" in codes("?q=气孔率") and "车间能耗台账建立" not in codes("?q=气孔率")
    with app.app_context():
        name = db.session.get(Demand, first_id).enterprise.name
    assert "铝合金压铸件" in codes(f"?q={name}")
    assert "铝合金压铸件" in codes("?from=2026-11-23&to=2026-11-23")
    assert "铝合金压铸件" not in codes("?from=2026-11-24")
    assert "Ignored the date" in codes("?from=garbage&lang=en")
    assert coordinator_browser.get(INBOX + "?page=abc&status=nonsense").status_code == 200


def test_inbox_industry_filter_lists_each_sub_industry_under_its_own_sector(coordinator_browser, make_demand):
    make_demand(title="轨道车辆转向架焊接", industries=["sub.rail_equipment"])  # 轨道交通装备, under 装备制造
    page = coordinator_browser.text(INBOX)
    select = page[page.index('name="industry"'):].split("</select>")[0]
    options = re.findall(r'<option value="([^"]*)"[^>]*>(\u3000?)', select)
    order = [code for code, _ in options]
    indented = {code for code, mark in options if mark}
    # listed after all the sectors, 轨道交通装备 read as a branch of the last one (种植养殖)
    assert order.index("sc.equipment") < order.index("sub.rail_equipment") < order.index("sc.food_textile")
    assert "sub.rail_equipment" in indented and "sc.equipment" not in indented
    assert "轨道车辆转向架焊接" in coordinator_browser.text(INBOX + "?industry=sc.equipment")


def test_counts_are_per_status(app, coordinator_browser, make_demand):
    with app.app_context():
        before = dict(db.session.execute(sa.select(Demand.status, sa.func.count()).group_by(Demand.status)).all())
    for _ in range(2):
        make_demand(status="needs_info")
    page = coordinator_browser.text(INBOX)
    count = re.search(r'data-count-status="needs_info"[\s\S]*?class="count">(\d+)<', page)
    assert int(count.group(1)) == before.get("needs_info", 0) + 2


def test_pagination(app, coordinator_browser, make_demand):
    for n in range(27):
        make_demand(title=f"分页测试需求第{n:02d}号", submitted_at=NOW + dt.timedelta(minutes=n))
    first = coordinator_browser.text(INBOX + "?q=分页测试")
    second = coordinator_browser.text(INBOX + "?q=分页测试&page=2")
    assert "分页测试需求第26号" in first and "分页测试需求第00号" not in first
    assert "分页测试需求第00号" in second and "page=1" in second


def test_ageing_and_possible_duplicates_are_flagged(app, coordinator_browser, make_demand):
    old = NOW - dt.timedelta(days=6)
    old_id, old_code, enterprise_id = make_demand(title="茶叶加工工艺标准化", submitted_at=old, updated_at=old)
    make_demand(title="茶叶加工工艺标准化（补充）", enterprise_id=enterprise_id)
    make_demand(title="完全不同的安全培训需求", enterprise_id=enterprise_id)
    page = coordinator_browser.text(INBOX + "?q=茶叶加工")
    row = re.search(rf'data-demand="{old_code}"[\s\S]*?</tr>', page).group(0)
    assert 'data-flag="ageing"' in row and 'data-flag="duplicate"' in row
    other = coordinator_browser.text(INBOX + "?q=安全培训")
    assert 'data-flag="duplicate"' not in other
    assert old_code in coordinator_browser.text(INBOX + "?ageing=1")


def test_ageing_counts_working_days():
    monday = dt.datetime(2026, 11, 23, 10, 0)
    assert service.ageing_cutoff(monday) == dt.datetime(2026, 11, 19, 10, 0)  # Thu: Fri + Mon passed
    tuesday = monday + dt.timedelta(days=1)
    assert service.ageing_cutoff(tuesday) == dt.datetime(2026, 11, 20, 10, 0)


def test_ageing_follows_the_chinese_working_calendar_in_beijing_time():
    after_national_day = dt.datetime(2026, 10, 8, 10, 0)  # Thursday 18:00 in Beijing, the first working day
    assert service.ageing_cutoff(after_national_day) == dt.datetime(2026, 9, 29, 10, 0)  # Oct 1–7 are holidays
    make_up_sunday = dt.datetime(2026, 10, 12, 10, 0)  # Monday; Saturday Oct 10 was a 调休 working day
    assert service.ageing_cutoff(make_up_sunday) == dt.datetime(2026, 10, 9, 10, 0)
    late_evening = dt.datetime(2026, 11, 23, 17, 0)  # Tuesday 01:00 in Beijing: Monday already counts
    assert service.ageing_cutoff(late_evening) == dt.datetime(2026, 11, 19, 17, 0)  # Friday 01:00 in Beijing
    from web import clock

    assert clock.local_today(dt.datetime(2026, 11, 30, 16, 30)) == dt.date(2026, 12, 1)
    assert clock.is_working_day(dt.date(2040, 1, 2)) and not clock.is_working_day(dt.date(2040, 1, 7))


def test_approve_opens_the_demand_with_event_and_audit(app, coordinator_browser, make_demand):
    demand_id, code, _ = make_demand()
    response = act(coordinator_browser, demand_id, "approve", note="")
    assert response.status_code == 303
    assert reload(app, demand_id).status == "open"
    [entry] = audit_entries(app, demand_id, "demand.approve")
    assert entry.before["status"] == "submitted" and entry.after["status"] == "open"
    assert entry.actor_label == "coordinator1"
    with app.app_context():
        events = db.session.scalars(sa.select(DemandStatusEvent.to_status)
                                    .where(DemandStatusEvent.demand_id == demand_id)).all()
    assert events[-1] == "open"
    again = act(coordinator_browser, demand_id, "approve", note="")
    assert again.status_code in (200, 409) and "approve-note" not in again.get_data(as_text=True)


def test_reject_needs_a_reason_that_the_enterprise_reads(app, coordinator_browser, make_demand):
    demand_id, _code, _ = make_demand()
    empty = act(coordinator_browser, demand_id, "reject", text="")
    assert empty.status_code == 422 and 'class="error"' in empty.get_data(as_text=True)
    assert reload(app, demand_id).status == "submitted"
    done = act(coordinator_browser, demand_id, "reject", text="属于产品采购需求，不在服务范围。")
    assert done.status_code == 303
    demand = reload(app, demand_id)
    assert demand.status == "rejected" and demand.review_note == "属于产品采购需求，不在服务范围。"


def test_ask_then_enterprise_answers(app, coordinator_browser, make_demand):
    demand_id, _code, _ = make_demand()
    assert act(coordinator_browser, demand_id, "ask", text="请提供模具的材料牌号。").status_code == 303
    demand = reload(app, demand_id)
    assert demand.status == "needs_info" and demand.info_request == "请提供模具的材料牌号。"
    with app.test_request_context("/"):
        service.answer_info(db.session, db.session.get(Demand, demand_id), {"answer": "H13 热作模具钢。"}, now=NOW)
        db.session.commit()
    page = coordinator_browser.text(f"/workspace/demands/{demand_id}")
    assert "H13 热作模具钢。" in page and 'data-status="submitted"' in page


def test_edit_keeps_the_original_text_and_is_audited(app, coordinator_browser, make_demand):
    demand_id, _code, _ = make_demand(title="焊缝不合格", description="焊缝合格率低，请帮忙看看怎么办。")
    edit_url = f"/workspace/demands/{demand_id}/edit"
    form = coordinator_browser.text(edit_url)
    version = re.search(r'name="version"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="version"', form)
    data = {"title": "压力容器焊缝一次合格率提升", "description": "新招焊工压力容器焊缝一次合格率偏低，需现场指导。",
            "category_code": "skills_training", "skills": ["weld", "weld.argon_arc"], "other_skills": "",
            "team_size": "2", "urgency": "high", "mode": "onsite",
            "version": version.group(1) or version.group(2)}
    bad = coordinator_browser.submit(edit_url, {**data, "title": "<b>x</b>"})
    assert bad.status_code == 422
    response = coordinator_browser.submit(edit_url, data)
    assert response.status_code == 303
    demand = reload(app, demand_id)
    assert demand.title == "压力容器焊缝一次合格率提升" and demand.original_title == "焊缝不合格"
    assert demand.team_size == 2 and demand.urgency == "high"
    [entry] = audit_entries(app, demand_id, "demand.edit")
    assert entry.before["title"] == "焊缝不合格" and entry.after["title"] == "压力容器焊缝一次合格率提升"
    assert entry.after["skills"] == ["weld", "weld.argon_arc"]
    page = coordinator_browser.text(f"/workspace/demands/{demand_id}")
    assert "data-compare" in page and "焊缝不合格" in page and "压力容器焊缝一次合格率提升" in page


def test_assign_liaison_and_merge(app, coordinator_browser, make_demand, make_user):
    liaison_id = make_user("liaison1", "coordinator")
    demand_id, code, enterprise_id = make_demand(title="数控机床联网方案")
    keep_id, keep_code, _ = make_demand(title="数控机床联网与故障预警", enterprise_id=enterprise_id)

    assert act(coordinator_browser, demand_id, "liaison", liaison_id=str(liaison_id)).status_code == 303
    assert reload(app, demand_id).liaison_id == liaison_id
    assert audit_entries(app, demand_id, "demand.assign_liaison")

    assert act(coordinator_browser, demand_id, "merge", target_code="SC-2026-ZZZZZZ").status_code == 422
    assert act(coordinator_browser, demand_id, "merge", target_code=code).status_code == 422
    assert act(coordinator_browser, demand_id, "merge", target_code=keep_code.lower()).status_code == 303
    demand = reload(app, demand_id)
    assert demand.status == "merged" and demand.merged_into_id == keep_id
    assert code in coordinator_browser.text(f"/workspace/demands/{keep_id}")


def _status_page(app, browser, demand_id: int, code: str) -> str:
    """The status page as the enterprise reads it, after looking the demand up with the last four digits."""
    phone = reload(app, demand_id).contact_phone
    assert browser.submit("/demand/track?lang=en", {"tracking_code": code, "last4": phone[-4:]},
                          form_url="/demand/track").status_code == 303
    return browser.text(f"/demand/status/{code}?lang=en")


def test_a_demand_merged_into_another_enterprises_does_not_show_its_code(app, coordinator_browser, browser,
                                                                         make_demand):
    """The enterprise's status page named the code it continues under: another enterprise's demand's code, whose
    status that enterprise can look up with four digits. Within one enterprise the code is still shown."""
    own_id, own_code, enterprise_id = make_demand(title="数控机床联网方案")
    _other_id, other_code, _ = make_demand(title="数控机床联网与故障预警")
    assert act(coordinator_browser, own_id, "merge", target_code=other_code).status_code == 303
    page = _status_page(app, browser, own_id, own_code)
    assert "another enterprise" in page and other_code not in page
    second_id, second_code, _ = make_demand(title="数控机床联网二期", enterprise_id=enterprise_id)
    third_id, third_code, _ = make_demand(title="数控机床联网三期", enterprise_id=enterprise_id)
    assert act(coordinator_browser, third_id, "merge", target_code=second_code).status_code == 303
    page = _status_page(app, browser, third_id, third_code)
    assert second_code in page and "another enterprise" not in page


def test_withdraw(app, coordinator_browser, make_demand):
    demand_id, _code, _ = make_demand(status="open")
    assert act(coordinator_browser, demand_id, "withdraw", text="企业电话告知问题已自行解决。").status_code == 303
    assert reload(app, demand_id).status == "withdrawn"


def test_stale_form_is_refused(app, coordinator_browser, make_demand):
    demand_id, _code, _ = make_demand()
    stale = act(coordinator_browser, demand_id, "approve", version="2000-01-01T00:00:00")
    assert stale.status_code == 409
    assert reload(app, demand_id).status == "submitted"


def test_missing_csrf_changes_nothing(app, coordinator_browser, make_demand):
    demand_id, _code, _ = make_demand()
    response = coordinator_browser.client.post(f"/workspace/demands/{demand_id}/approve", data={"approve-note": ""})
    assert response.status_code == 400
    assert reload(app, demand_id).status == "submitted"


def test_viewer_reads_only(app, browser, make_user, make_demand):
    demand_id, code, _ = make_demand()
    make_user("viewer1", "viewer")
    browser.login("viewer1", TEST_PASSWORD)
    assert code in browser.text(INBOX)
    page = browser.text(f"/workspace/demands/{demand_id}")
    assert 'data-action="approve"' not in page
    response = browser.submit(f"/workspace/demands/{demand_id}/approve", {}, form_url=INBOX)
    assert response.status_code == 403
    assert reload(app, demand_id).status == "submitted"


def test_region_coordinator_sees_only_own_region(app, browser, make_user, make_demand):
    chengdu_id, chengdu_code, _ = make_demand(region_code="510104")  # a district of Chengdu
    cq_id, cq_code, _ = make_demand(region_code="500110")
    make_user("chengdu1", "coordinator", region_code="510100")
    browser.login("chengdu1", TEST_PASSWORD)
    page = browser.text(INBOX)
    assert chengdu_code in page and cq_code not in page
    assert browser.get(f"/workspace/demands/{cq_id}").status_code == 404
    assert browser.get(f"/workspace/demands/{chengdu_id}").status_code == 200
    assert act(browser, chengdu_id, "merge", target_code=cq_code).status_code == 422
    assert browser.submit(f"/workspace/demands/{cq_id}/approve", {}, form_url=INBOX).status_code == 404
    assert reload(app, chengdu_id).status == "submitted" and reload(app, cq_id).status == "submitted"
    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.username == "chengdu1"))
        assert policy.covers(user, db.session.get(Demand, chengdu_id).region_id)
        assert not policy.covers(user, db.session.get(Demand, cq_id).region_id)


def test_a_duplicate_in_another_region_stays_in_its_region(app, browser, make_user, make_demand):
    """One enterprise asks the same in Chengdu and in Chongqing: the Chengdu coordinator's review page listed the
    Chongqing demand as a possible duplicate (tracking code, title, status), and the inbox flagged it, though its
    page answers 404. A province-wide coordinator still sees both."""
    chengdu_id, _, enterprise_id = make_demand(region_code="510104", title="焊缝合格率提升")
    cq_id, cq_code, _ = make_demand(region_code="500110", title="焊缝合格率提升", enterprise_id=enterprise_id)
    make_user("chengdu1", "coordinator", region_code="510100")
    make_user("province1", "coordinator")
    for username, sees in (("chengdu1", False), ("province1", True)):
        user = Browser(app.test_client())
        assert user.login(username, TEST_PASSWORD).status_code == 302
        review, inbox = user.text(f"/workspace/demands/{chengdu_id}"), user.text(INBOX)
        assert (cq_code in review) == sees and ('data-flag="duplicate"' in review) == sees, username
        assert ('data-flag="duplicate"' in inbox) == sees and (cq_code in inbox) == sees, username



def test_one_page_helper_clamps_and_counts(session):
    from tests.factories import make_demand as build
    from web.models import Demand as DemandRow
    from web.services.paging import paginate

    ids = sorted(build(session, title=f"分页助手测试{i}").id for i in range(5))
    query = sa.select(DemandRow).where(DemandRow.id.in_(ids)).order_by(DemandRow.id)
    second = paginate(session, query, page=2, per_page=2)
    assert [d.id for d in second.items] == ids[2:4] and (second.total, second.pages) == (5, 3)
    beyond = paginate(session, query, page=99, per_page=2)
    assert beyond.page == 3 and [d.id for d in beyond.items] == ids[4:]
    assert paginate(session, query, page=-4, per_page=2).page == 1
