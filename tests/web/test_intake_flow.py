"""The enterprise's journey through the public pages, driven like a browser (real forms, CSRF on)."""

from __future__ import annotations

import html
import re

import pytest
import sqlalchemy as sa

from tests import factories
from tests.conftest import NOW, TEST_PASSWORD
from tests.web.test_intake_service import valid_demand_data
from web.extensions import db
from web.models import Demand, Feedback, Studio
from web.services import demands as service

NEW = "/demand/new"


def count_demands(app) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(Demand))


def submit(browser, **overrides):
    return browser.submit(NEW, valid_demand_data(**overrides))


def tracking_code_of(response) -> str:
    match = re.search(r"/demand/submitted/([A-Z]{2}-\d{4}-[0-9A-Z]{6})", response.headers.get("Location", ""))
    assert match, (response.status_code, response.headers.get("Location"))
    return match.group(1)


def stored(app, code: str) -> Demand:
    with app.app_context():
        return db.session.scalar(sa.select(Demand).where(Demand.tracking_code == code))


def test_form_renders_with_regions_skills_and_one_time_key(browser):
    page = browser.text(NEW)
    assert 'name="csrf_token"' in page and 'name="submission_key"' in page
    assert re.search(r'name="submission_key"[^>]*value="[^"]{20,}"', page)
    assert '<option value="510104" data-p="510100">' in page  # a Chengdu district in the no-JS region list
    assert "data-provinces=" in page and "js/intake.js" in page
    assert 'name="skills" value="weld.argon_arc"' in page
    assert 'class="hp-field"' in page


def test_the_industry_list_shows_each_sub_industry_under_its_sector(browser):
    """The list was 67 industries in table order: 压力容器 came long after 装备制造, among unrelated sectors."""
    select = re.search(r'<select[^>]*name="industry_code".*?</select>', browser.text(NEW), re.S).group(0)
    codes = re.findall(r'<option value="([^"]*)"', select)
    equipment = codes.index("sc.equipment")
    assert codes[equipment + 1:equipment + 4] == ["sub.auto_parts", "sub.gears", "sub.pressure_vessel"]
    assert re.search(r'<option value="sub.gears">　齿轮</option>', select)  # indented under its sector
    assert len(codes) == len(set(codes)) == 68  # every industry once, and "choose an industry"


def test_submit_confirm_receipt_and_status(app, browser):
    data = valid_demand_data(contact_phone="13812345678")
    response = browser.submit(NEW, data)
    assert response.status_code == 303
    code = tracking_code_of(response)

    confirmation = browser.text(f"/demand/submitted/{code}")
    assert code in confirmation
    receipt = browser.text(f"/demand/receipt/{code}")
    assert code in receipt and data["title"] in receipt and data["credit_code"] in receipt
    assert "13812345678" not in receipt and "138****5678" in receipt
    status = browser.text(f"/demand/status/{code}")
    assert 'data-status="submitted"' in status and "13812345678" not in status
    assert re.search(r'data-status-help>[^<]{10,}<', status)  # what happens next

    demand = stored(app, code)
    assert demand.status == "submitted" and demand.contact_phone == "13812345678"


def test_english_switch_translates_the_form(browser):
    page = browser.text(NEW + "?lang=en")
    assert "Submit a demand" in page and "Unified social credit code" in page
    assert '<option value="510104" data-p="510100" data-n="Jinjiang District">Chengdu · Jinjiang District' not in page
    assert re.search(r'<option value="510104" data-p="510100">Jinjiang District</option>', page)  # regions too
    assert re.search(r'<optgroup label="Sichuan · Chengdu">', page) and '["510000", "Sichuan"]' in html.unescape(page)


def test_the_enterprise_type_is_not_preset_to_a_status_the_enterprise_may_not_hold(browser):
    page = browser.text(NEW)
    assert re.search(r'<option selected value="smme">|<option value="smme" selected>', page)
    assert not re.search(r'<option selected value="zjtx">|<option value="zjtx" selected>', page)


@pytest.mark.parametrize(("overrides", "field", "kept"), [
    ({"enterprise_name": ""}, "enterprise_name", "压力容器焊缝一次合格率提升"),
    ({"credit_code": "91510100MA61234567"}, "credit_code", "91510100MA61234567"),
    ({"title": "<script>alert(1)</script>"}, "title", "&lt;script&gt;alert(1)&lt;/script&gt;"),
    ({"description": "长" * 4001}, "description", "长" * 50),
    ({"region_code": "999999"}, "region_code", "压力容器焊缝一次合格率提升"),
    ({"consent": ""}, "consent", "压力容器焊缝一次合格率提升"),
])
def test_bad_input_shows_message_keeps_input_writes_nothing(app, browser, overrides, field, kept):
    before = count_demands(app)
    response = submit(browser, **overrides)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert re.search(rf'name="{field}"[\s\S]{{0,40000}}?class="error" role="alert"', page), page[:3000]
    assert kept in page
    assert "<script>alert(1)</script>" not in page
    assert count_demands(app) == before


def test_wrong_csrf_keeps_input_and_writes_nothing(app, browser):
    before = count_demands(app)
    response = browser.client.post(NEW, data={**valid_demand_data(title="过期表单的标题"), "csrf_token": "forged"})
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "过期表单的标题" in page and 'name="csrf_token"' in page
    assert count_demands(app) == before


def test_double_click_creates_one_demand(app, browser):
    data = valid_demand_data(submission_key="double-click-key-0123456789abcdef")
    first = browser.submit(NEW, data)
    second = browser.submit(NEW, data)
    assert first.status_code == second.status_code == 303
    assert tracking_code_of(first) == tracking_code_of(second)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Demand).where(
            Demand.submission_key == data["submission_key"])) == 1


def test_honeypot_writes_nothing_but_keeps_what_was_typed(app, browser):
    before = count_demands(app)
    response = browser.submit(NEW, {**valid_demand_data(title="机器人填写的标题"), "homepage": "http://spam"})
    assert response.status_code == 400
    assert "机器人填写的标题" in response.get_data(as_text=True)
    assert count_demands(app) == before


def test_oversized_body_is_refused_without_a_500(app, browser):
    before = count_demands(app)
    response = browser.submit(NEW, valid_demand_data(description="x" * 400_000))
    assert response.status_code == 413
    assert count_demands(app) == before


def test_lookup_by_code_and_last_four_digits(app, browser, client_factory):
    response = submit(browser, contact_phone="13900004321")
    code = tracking_code_of(response)

    other = client_factory()  # another browser: no session that knows the code
    assert other.get(f"/demand/status/{code}").status_code == 302
    wrong = other.submit("/demand/track", {"tracking_code": code, "last4": "9999"})
    unknown = other.submit("/demand/track", {"tracking_code": "SC-2026-ZZZZZZ", "last4": "4321"})
    message = "No demand matches this tracking code and mobile number"
    for failed in (wrong, unknown):
        assert failed.status_code == 200
    assert wrong.get_data(as_text=True).count("flash-error") == unknown.get_data(as_text=True).count("flash-error")
    found = other.submit("/demand/track", {"tracking_code": code.lower(), "last4": "4321"})
    assert found.status_code == 303 and found.headers["Location"].endswith(f"/demand/status/{code}")
    page = other.text(f"/demand/status/{code}")
    assert code in page
    english = other.submit("/demand/track?lang=en", {"tracking_code": code, "last4": "0000"},
                           form_url="/demand/track?lang=en")
    assert message in english.get_data(as_text=True)
    whole = other.submit("/demand/track?lang=en", {"tracking_code": code, "last4": "13900004321"},
                         form_url="/demand/track?lang=en").get_data(as_text=True)
    assert "Enter only the last four digits" in whole and message not in whole  # said at the field


@pytest.fixture()
def client_factory(app, connection):
    from tests.browser import Browser

    return lambda: Browser(app.test_client())


def _submitted(app, browser, **overrides) -> str:
    return tracking_code_of(submit(browser, **overrides))


def _change(app, code: str, **values) -> None:
    with app.app_context():
        demand = db.session.scalar(sa.select(Demand).where(Demand.tracking_code == code))
        for key, value in values.items():
            setattr(demand, key, value)
        db.session.commit()


def _review(app, code: str, action, text: str) -> None:
    """A coordinator's review action on the demand (through the service, as the review page does)."""
    with app.test_request_context("/"):
        demand = db.session.scalar(sa.select(Demand).where(Demand.tracking_code == code))
        action(db.session, demand, {"text": text}, actor="test", now=NOW)
        db.session.commit()


def test_question_is_shown_and_answer_returns_demand_to_review(app, browser):
    code = _submitted(app, browser)
    _review(app, code, service.request_info, "请说明压力容器的材质和板厚。")
    page = browser.text(f"/demand/status/{code}")
    assert "请说明压力容器的材质和板厚。" in page and 'name="answer"' in page

    short = browser.submit(f"/demand/status/{code}/answer", {"answer": ""}, form_url=f"/demand/status/{code}")
    assert short.status_code == 422 and stored(app, code).status == "needs_info"
    done = browser.submit(f"/demand/status/{code}/answer", {"answer": "Q345R 钢板，板厚 12 毫米。"},
                          form_url=f"/demand/status/{code}")
    assert done.status_code == 303
    demand = stored(app, code)
    assert demand.status == "submitted" and demand.info_response == "Q345R 钢板，板厚 12 毫米。"
    assert "Q345R" in browser.text(f"/demand/status/{code}")


def test_rejection_reason_is_shown(app, browser):
    code = _submitted(app, browser)
    _review(app, code, service.reject, "该需求属于产品销售，不在助企服务范围。")
    page = browser.text(f"/demand/status/{code}")
    assert 'data-rejection' in page and "不在助企服务范围" in page


def test_matched_demand_shows_craftsmen_without_phones(app, browser):
    code = _submitted(app, browser)
    with app.app_context():
        demand = db.session.scalar(sa.select(Demand).where(Demand.tracking_code == code))
        studio = Studio(name="孔建伟焊接创新工作室", level="provincial")
        db.session.add(studio)
        craftsman = factories.make_craftsman(db.session, name="孔建伟", honours=["great_craftsman"], studio=studio)
        factories.make_engagement(db.session, demand, [craftsman])
        demand.status = "matched"
        phone = craftsman.phone
        db.session.commit()
    page = browser.text(f"/demand/status/{code}")
    assert "孔建伟" in page and "孔建伟焊接创新工作室" in page and "大国工匠" in page
    assert phone not in page


def test_rating_once_when_completed(app, browser):
    code = _submitted(app, browser)
    assert 'name="rating"' not in browser.text(f"/demand/status/{code}")
    _change(app, code, status="completed")
    page = browser.text(f"/demand/status/{code}")
    assert 'name="rating"' in page

    bad = browser.submit(f"/demand/status/{code}/rate", {"rating": "9"}, form_url=f"/demand/status/{code}")
    assert bad.status_code == 422
    good = browser.submit(f"/demand/status/{code}/rate", {"rating": "5", "comment": "焊缝合格率明显提升"},
                          form_url=f"/demand/status/{code}")
    assert good.status_code == 303
    demand = stored(app, code)
    assert demand.status == "evaluated"
    page = browser.text(f"/demand/status/{code}")
    assert 'name="rating"' not in page and "焊缝合格率明显提升" in page
    again = browser.client.post(f"/demand/status/{code}/rate", data={
        "rating": "1", "csrf_token": browser.csrf_token("/demand/track")})
    assert again.status_code == 422
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Feedback)
                                 .where(Feedback.demand_id == demand.id)) == 1


@pytest.mark.parametrize(("rating", "points"), [(5, 5), (3, 0)])
def test_rating_evaluates_the_engagement_and_awards_points_at_once(app, browser, rating, points):
    from web.models import Craftsman, Engagement, PointsEntry
    from web.services import engagements

    code = _submitted(app, browser)
    with app.app_context():
        demand = db.session.scalar(sa.select(Demand).where(Demand.tracking_code == code))
        team = [factories.make_craftsman(db.session), factories.make_craftsman(db.session)]
        engagement = factories.make_engagement(db.session, demand, team, status="completed",
                                               started_on=NOW.date(), completed_on=NOW.date())
        for member in engagement.members:
            member.status = "served"
        demand.status = "completed"
        db.session.commit()
        engagement_id, team_ids = engagement.id, [c.id for c in team]

    rated = browser.submit(f"/demand/status/{code}/rate", {"rating": str(rating)}, form_url=f"/demand/status/{code}")
    assert rated.status_code == 303
    with app.app_context():  # no `craftmatch followup sync-feedback` needed
        session = db.session
        assert session.get(Engagement, engagement_id).status == "evaluated"
        assert [session.get(Craftsman, cid).points_balance for cid in team_ids] == [points, points]
        entries = session.scalars(sa.select(PointsEntry.rule).where(PointsEntry.engagement_id == engagement_id)).all()
        assert entries == (["rating_high", "rating_high"] if points else [])
        assert engagements.pending_feedback_count(session) == 0


def test_the_audit_list_names_the_enterprise_not_an_internal_actor(app, browser, client_factory, make_user):
    code = tracking_code_of(submit(browser))
    with app.app_context():
        demand_id = db.session.scalar(sa.select(Demand.id).where(Demand.tracking_code == code))
    make_user("auditor", "coordinator")
    staff = client_factory()
    assert staff.login("auditor", TEST_PASSWORD).status_code == 302
    page = staff.text(f"/workspace/demands/{demand_id}?lang=en")
    assert "The enterprise (public form)" in page and "· public" not in page


def test_a_submission_key_answers_only_the_contact_who_sent_it(app, browser):
    """A repeated submission key is answered with the demand already created (a double click, a retried API call).
    Posted by someone else with another contact mobile, it handed him that demand: its tracking code, and this
    browser's access to its status page (title, history, craftsmen) without the contact's last four digits."""
    key = "erp-order-000000001234"  # an API client's own key: predictable
    created = app.test_client().post("/api/v1/demands", json={
        **valid_demand_data(contact_phone="13911112222", submission_key=key), "consent": True})
    assert created.status_code == 201
    code = created.get_json()["tracking_code"]

    other = browser.submit(NEW, valid_demand_data(contact_phone="13733334444", submission_key=key))
    assert code not in other.headers.get("Location", "") and code not in other.get_data(as_text=True)
    assert browser.get(f"/demand/status/{code}").status_code == 302  # to the lookup: code and digits needed
    again = app.test_client().post("/api/v1/demands", json={
        **valid_demand_data(contact_phone="13733334444", submission_key=key), "consent": True})
    assert again.status_code == 422 and code not in again.get_data(as_text=True)
    retried = app.test_client().post("/api/v1/demands", json={
        **valid_demand_data(contact_phone="13911112222", submission_key=key), "consent": True})
    assert retried.status_code == 201 and retried.get_json()["tracking_code"] == code  # the sender's retry
