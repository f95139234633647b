"""Agreements (长期合作协议) and the complete engagement page, driven as a coordinator would: real forms, CSRF on."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import re

import pytest
import sqlalchemy as sa

from tests.conftest import NOW, TEST_PASSWORD
from tests.factories import make_craftsman, make_demand, make_engagement
from web.extensions import db
from web.models import Agreement, AuditLog, Engagement, Feedback, FollowUpNote
from web.services import engagements, followups

TODAY = dt.datetime.now(dt.UTC).date()  # the views use the wall clock
PDF = b"%PDF-1.4\n" + b"0" * 200


@dataclasses.dataclass
class Case:
    engagement_id: int
    craftsman_id: int
    enterprise_id: int

    @property
    def url(self) -> str:
        return f"/workspace/engagements/{self.engagement_id}"


@pytest.fixture()
def case(app, connection, tmp_path):
    app.config["UPLOAD_DIR"] = str(tmp_path)
    with app.app_context():
        session = db.session
        demand = make_demand(session, status="in_service", title="压力容器焊接师带徒", window_start=None,
                             window_end=None)
        craftsman = make_craftsman(session, name="孔建伟")
        engagement = make_engagement(session, demand, [craftsman], status="in_service",
                                     started_on=TODAY - dt.timedelta(days=40))
        session.commit()
        return Case(engagement.id, craftsman.id, demand.enterprise_id)


def _record(browser, case, **overrides):
    data = {"craftsman_id": str(case.craftsman_id), "studio_id": "", "union_name": "成都市总工会",
            "starts_on": TODAY.isoformat(), "ends_on": (TODAY + dt.timedelta(days=20)).isoformat(),
            "scope": "焊接骨干培养，半年内 3–5 名", "document": (PDF, "协议.pdf")}
    data.update(overrides)
    data["document"] = (io.BytesIO(data["document"][0]), data["document"][1])  # a fresh stream per request
    return browser.submit(f"{case.url}/agreements/new", data, content_type="multipart/form-data")


def _agreements(app, case):
    with app.app_context():
        return db.session.scalars(sa.select(Agreement).where(Agreement.engagement_id == case.engagement_id)).all()


def test_coordinator_records_an_agreement_seen_on_the_engagement_enterprise_and_workspace(app, coordinator_browser,
                                                                                         case, tmp_path):
    browser = coordinator_browser
    form = browser.text(f"{case.url}/agreements/new")
    assert "成都市总工会" in form or "总工会" in form  # the union of the demand's region is suggested
    response = _record(browser, case)
    assert response.status_code == 302, response.get_data(as_text=True)[:1500]
    [agreement] = _agreements(app, case)
    assert (agreement.craftsman_id, agreement.union_name, agreement.ends_on) == (
        case.craftsman_id, "成都市总工会", TODAY + dt.timedelta(days=20))
    assert (tmp_path / agreement.document_key).read_bytes() == PDF
    with app.app_context():
        audit = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "agreement.create",
                                                           AuditLog.entity_id == agreement.id))
        assert audit.after["document_name"] == "协议.pdf"
    # listed on the engagement, the enterprise's page and the agreements list; counted on the workspace
    for url in (case.url, f"/workspace/enterprises/{case.enterprise_id}", "/workspace/agreements/?show=expiring"):
        assert f'data-agreement="{agreement.id}"' in browser.text(url), url
    home = browser.text("/workspace/")
    assert _stat(home, "agreements-active") == 1 and _stat(home, "agreements-expiring") == 1
    dashboard = browser.text("/workspace/reports/")
    for figure in ("agreements_active", "agreements_expiring", "agreements"):
        assert _stat(dashboard, figure, 'data-figure="{}"') == 1, figure
    with browser.get(f"/workspace/agreements/{agreement.id}/document") as download:
        assert download.status_code == 200 and download.data == PDF


def _stat(page: str, name: str, marker: str = 'id="{}"') -> int:
    after = page.split(marker.format(name))[1]
    return int(after.split('class="stat-value">')[1].split("<")[0])


@pytest.mark.parametrize(("overrides", "field"), [
    ({"ends_on": (TODAY - dt.timedelta(days=1)).isoformat()}, "ends_on"),
    ({"craftsman_id": ""}, "craftsman_id"),
    ({"union_name": ""}, "union_name"),
    ({"document": (b"MZ not a pdf", "协议.pdf")}, "document"),
    ({"document": (b"%PDF" + b"0" * 100, "协议.exe")}, "document"),
])
def test_bad_agreement_is_refused_at_the_field_and_nothing_is_stored(app, coordinator_browser, case, tmp_path,
                                                                     overrides, field):
    response = _record(coordinator_browser, case, **overrides)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert f'id="{field}"' in page and 'role="alert"' in page
    assert _agreements(app, case) == []
    assert not any(path.is_file() for path in tmp_path.rglob("*"))


def test_oversized_document_is_refused(app, coordinator_browser, case):
    app.config["ATTACHMENT_MAX_BYTES"] = 1024
    try:
        response = _record(coordinator_browser, case, document=(PDF + b"0" * 2000, "协议.pdf"))
    finally:
        del app.config["ATTACHMENT_MAX_BYTES"]
    assert response.status_code == 422 and _agreements(app, case) == []


def test_document_only_for_staff_who_may_see_the_engagement(app, browser, make_user, case):
    make_user("coordinator1", "coordinator")
    browser.login("coordinator1", TEST_PASSWORD)
    assert _record(browser, case).status_code == 302
    [agreement] = _agreements(app, case)
    url = f"/workspace/agreements/{agreement.id}/document"
    browser.submit("/auth/logout", form_url="/workspace/")
    assert browser.get(url).status_code == 302  # anonymous: to the login page
    make_user("cq", "coordinator", region_code="500000")  # Chongqing: another region
    browser.login("cq", TEST_PASSWORD)
    assert browser.get(url).status_code == 404
    assert browser.get(f"/workspace/agreements/{agreement.id}").status_code == 404
    assert f'data-agreement="{agreement.id}"' not in browser.text("/workspace/agreements/")
    browser.submit("/auth/logout", form_url="/workspace/")
    make_user("viewer1", "viewer", region_code="510100")  # a viewer of 成都 may read it
    browser.login("viewer1", TEST_PASSWORD)
    with browser.get(url) as download:
        assert download.status_code == 200 and download.data == PDF


def test_document_attached_later_and_replaced(app, coordinator_browser, case):
    browser = coordinator_browser
    assert _record(browser, case, document=(b"", "")).status_code == 302
    [agreement] = _agreements(app, case)
    assert agreement.document_key is None
    page = f"/workspace/agreements/{agreement.id}"
    browser.submit(f"{page}/document", {"document": (io.BytesIO(PDF), "签字版.pdf")}, form_url=page,
                   content_type="multipart/form-data")
    assert "签字版.pdf" in browser.text(page)


def test_agreement_needs_a_started_service(app, coordinator_browser, case):
    with app.app_context():
        db.session.get(Engagement, case.engagement_id).status = "scheduled"
        db.session.commit()
    response = _record(coordinator_browser, case)
    assert response.status_code == 422 and _agreements(app, case) == []


# ---------------------------------------------------------------- the engagement page complete
def test_engagement_page_shows_rating_comment_and_an_unagreed_window(app, coordinator_browser, case):
    with app.app_context():
        engagement = db.session.get(Engagement, case.engagement_id)
        db.session.add(Feedback(demand_id=engagement.demand_id, engagement_id=engagement.id, rating=4,
                                comment="师傅很耐心，焊缝合格率明显提高", created_at=NOW))
        db.session.commit()
    page = coordinator_browser.text(case.url)
    assert "师傅很耐心，焊缝合格率明显提高" in page and "4/5" in page
    window = page.split('id="service-window">')[1].split("</dd>")[0]
    assert window == "未约定"
    english = coordinator_browser.text(f"{case.url}?lang=en")
    assert english.split('id="service-window">')[1].split("</dd>")[0] == "Not agreed"
    assert "? –" not in page and "? –" not in english


def test_one_schedule_with_one_six_month_review(session, service_app):
    demand = make_demand(session, status="matched")
    engagement = make_engagement(session, demand, [make_craftsman(session)])
    start = NOW.date() - dt.timedelta(days=30)
    engagements.start_engagement(session, engagement, {"started_on": start.isoformat()}, actor="test", now=NOW)
    engagements.record_acceptance(session, engagement, {"confirmed_by": "王经理"}, actor="test", now=NOW)
    engagements.complete_engagement(session, engagement, {"completed_on": NOW.date().isoformat(),
                                                          "override_reason": "企业确认"}, actor="test", now=NOW)
    kinds = sorted(f.kind for f in engagement.follow_ups)
    assert kinds == ["check_2w", "result", "review_3m", "review_6m"]
    labels = [str(engagements.KIND_LABELS[kind]) for kind in kinds]
    assert len(set(labels)) == len(labels) and set(engagements.KIND_LABELS) == set(kinds)


def test_note_picker_names_notes_by_date_and_beginning(app, coordinator_browser, case):
    with app.app_context():
        follow_up = followups.slot(db.session, db.session.get(Engagement, case.engagement_id), "check_2w", now=NOW)
        follow_up.done_on = TODAY
        db.session.add(FollowUpNote(follow_up_id=follow_up.id, body="首次回访：问题清单已确认\n第二行", created_at=NOW))
        db.session.commit()
        follow_up_id = follow_up.id
    page = coordinator_browser.text(f"/workspace/engagements/follow-ups/{follow_up_id}")
    picker = page.split('id="corrects"')[1].split("</select>")[0]
    assert "首次回访：问题清单已确认" in picker and "第二行" not in picker
    assert "#" not in picker


def test_the_enterprise_page_names_its_region_in_the_pages_language(coordinator_browser, case):
    url = f"/workspace/enterprises/{case.enterprise_id}"
    english = coordinator_browser.text(url + "?lang=en")
    region = re.search(r'<dt>Region</dt><dd>(.*?)</dd>', english).group(1)
    assert "Sichuan" in region and not re.search(r"[\u4e00-\u9fff]", region), region
    assert "四川省" in re.search(r'<dt>地区</dt><dd>(.*?)</dd>', coordinator_browser.text(url + "?lang=zh_CN")).group(1)
