"""The engagement pages driven as a coordinator would: real forms, CSRF on."""

from __future__ import annotations

import datetime as dt
import io
import re

import sqlalchemy as sa

from tests.conftest import NOW
from tests.factories import make_craftsman, make_demand, make_engagement
from web.extensions import db
from web.models import Attachment, AuditLog, Craftsman, Engagement, FollowUp, FollowUpNote, Outcome

TODAY = dt.datetime.now(dt.UTC).date()  # the views use the wall clock


def _url(engagement_id, suffix=""):
    return f"/workspace/engagements/{engagement_id}{suffix}"


def _start(browser, engagement_id, on):
    response = browser.submit(_url(engagement_id, "/start"), {"started_on": on.isoformat()},
                              form_url=_url(engagement_id))
    assert response.status_code == 302


def _load(app, engagement_id) -> Engagement:
    with app.app_context():
        engagement = db.session.get(Engagement, engagement_id)
        _ = engagement.follow_ups, engagement.demand
        return engagement


def test_viewer_sees_but_cannot_change(browser, make_user, engagement_id):
    make_user("viewer1", "viewer")
    browser.login("viewer1", "correct-horse-battery")
    assert "孔建伟" in browser.text(_url(engagement_id))
    page = browser.get(_url(engagement_id, "/follow-ups/check_2w"))
    assert page.status_code == 200
    token = browser.csrf_token("/workspace/engagements/")
    response = browser.client.post(_url(engagement_id, "/start"), data={"csrf_token": token,
                                                                       "started_on": TODAY.isoformat()})
    assert response.status_code == 403


def test_whole_loop_through_the_forms(app, coordinator_browser, engagement_id, tmp_path):
    browser = coordinator_browser
    app.config["UPLOAD_DIR"] = str(tmp_path)
    _start(browser, engagement_id, TODAY - dt.timedelta(days=20))
    assert _load(app, engagement_id).status == "in_service"
    # the two-week check is overdue: listed first on the index and counted in the header
    index = browser.text("/workspace/engagements/?who=all")
    assert 'id="overdue-count"' in index and "check_2w" in index
    form_url = _url(engagement_id, "/follow-ups/check_2w")
    bad = browser.submit(form_url, {"done_on": TODAY.isoformat(), "problems_solved": "-1"})
    assert bad.status_code == 422
    assert 'id="problems_solved"' in bad.get_data(as_text=True)
    assert bad.get_data(as_text=True).count('role="alert"') == 1
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 100
    response = browser.submit(form_url, {
        "done_on": TODAY.isoformat(), "problems_solved": "3", "value_created_wan": "18.5", "workers_trained": "12",
        "apprentices": "2", "note": "首次回访，问题清单确认。",
        "outcomes-0-kind": "method", "outcomes-0-title": "压力容器焊缝返修工法", "outcomes-0-reference": "",
        "attachment": (io.BytesIO(png), "现场.png"),
    }, content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    with app.app_context():
        check = db.session.scalar(sa.select(FollowUp).where(FollowUp.engagement_id == engagement_id,
                                                            FollowUp.kind == "check_2w"))
        assert (check.problems_solved, check.value_created_wan, check.apprentices) == (3, 18.5, 2)
        outcome = db.session.scalar(sa.select(Outcome).where(Outcome.follow_up_id == check.id))
        assert outcome.title == "压力容器焊缝返修工法"
        attachment = db.session.scalar(sa.select(Attachment).where(Attachment.follow_up_id == check.id))
        assert (tmp_path / attachment.storage_key).read_bytes() == png
        check_id = check.id
    # recorded once: the form now redirects to the record; a replayed POST does not record again
    assert browser.get(form_url).status_code == 302
    detail = browser.text(f"/workspace/engagements/follow-ups/{check_id}")
    assert "压力容器焊缝返修工法" in detail and "首次回访" in detail
    # a correction is a new note pointing at the old one
    with app.app_context():
        first_note = db.session.scalar(sa.select(FollowUpNote.id).where(FollowUpNote.follow_up_id == check_id))
    browser.submit(f"/workspace/engagements/follow-ups/{check_id}/notes",
                   {"body": "更正：培训人数为 12 人次。", "corrects_id": str(first_note)},
                   form_url=f"/workspace/engagements/follow-ups/{check_id}")
    with app.app_context():
        notes = db.session.execute(sa.select(FollowUpNote.body, FollowUpNote.corrects_id)
                                   .where(FollowUpNote.follow_up_id == check_id).order_by(FollowUpNote.id)).all()
    assert notes == [("首次回访，问题清单确认。", None), ("更正：培训人数为 12 人次。", first_note)]
    # the attachment downloads
    with browser.get(f"/workspace/engagements/attachments/{attachment.id}") as download:
        assert download.status_code == 200 and download.data == png
    # completion is refused with the result record open, then accepted with acceptance + reason
    browser.submit(_url(engagement_id, "/accept"), {"confirmed_by": "王经理"}, form_url=_url(engagement_id))
    refused = browser.submit(_url(engagement_id, "/complete"), {"completed_on": TODAY.isoformat()},
                             form_url=_url(engagement_id))
    assert _load(app, engagement_id).status == "in_service"
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422
    # the message sits next to the override field of the completion form
    assert re.search(r'field\s+has-error">\s*<label for="override_reason"', page)
    browser.submit(_url(engagement_id, "/complete"), {"completed_on": TODAY.isoformat(),
                                                      "override_reason": "结果已在验收单中记录"},
                   form_url=_url(engagement_id))
    engagement = _load(app, engagement_id)
    assert engagement.status == "completed" and engagement.demand.status == "completed"
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog).where(
            AuditLog.action == "engagement.complete_override", AuditLog.entity_id == engagement_id)) == 1


def test_bad_attachment_is_refused_with_a_message(app, coordinator_browser, engagement_id, tmp_path):
    app.config["UPLOAD_DIR"] = str(tmp_path)
    _start(coordinator_browser, engagement_id, TODAY - dt.timedelta(days=20))
    response = coordinator_browser.submit(_url(engagement_id, "/follow-ups/check_2w"), {
        "done_on": TODAY.isoformat(), "attachment": (io.BytesIO(b"MZ\x90\x00"), "tool.exe"),
    }, content_type="multipart/form-data")
    assert response.status_code == 422
    with app.app_context():
        assert db.session.scalar(sa.select(FollowUp.done_on).where(FollowUp.engagement_id == engagement_id,
                                                                   FollowUp.kind == "check_2w")) is None
    assert list(tmp_path.iterdir()) == []


def test_cancel_needs_a_reason(app, coordinator_browser, engagement_id):
    refused = coordinator_browser.submit(_url(engagement_id, "/cancel"), {"reason": ""}, form_url=_url(engagement_id))
    assert refused.status_code == 422 and 'role="alert"' in refused.get_data(as_text=True)
    assert _load(app, engagement_id).status == "scheduled"
    coordinator_browser.submit(_url(engagement_id, "/cancel"), {"reason": "企业停产"}, form_url=_url(engagement_id))
    assert _load(app, engagement_id).status == "cancelled"


def test_pages_render(coordinator_browser, engagement_id):
    for url in ("/workspace/engagements/", "/workspace/engagements/?status=scheduled", _url(engagement_id),
                "/workspace/engagements/flags", "/workspace/engagements/?lang=en"):
        coordinator_browser.text(url)
    assert coordinator_browser.get(_url(999999)).status_code == 404
    assert coordinator_browser.get(_url(engagement_id, "/follow-ups/nonsense")).status_code == 404



def test_a_city_coordinator_sees_only_its_region(browser, make_user, engagement_id):
    make_user("cq1", "coordinator", region_code="500000")
    browser.login("cq1", "correct-horse-battery")
    assert browser.get(_url(engagement_id)).status_code == 404
    assert f"/workspace/engagements/{engagement_id}\"" not in browser.text("/workspace/engagements/?who=all")


def test_no_show_form_records_and_deducts(app, coordinator_browser, engagement_id):
    with app.app_context():
        craftsman_id = db.session.get(Engagement, engagement_id).members[0].craftsman_id
    page = coordinator_browser.text(_url(engagement_id))
    assert f'id="noshow-reason-{craftsman_id}"' in page
    response = coordinator_browser.submit(_url(engagement_id, f"/members/{craftsman_id}/no-show"),
                                          {"reason": "约定日期未到场"}, form_url=_url(engagement_id))
    assert response.status_code == 302
    with app.app_context():
        member = db.session.get(Engagement, engagement_id).members[0]
        assert (member.status, member.status_reason, member.craftsman.points_balance) == ("no_show", "约定日期未到场", -15)


def test_new_ratings_are_applied_from_the_list(app, coordinator_browser):
    from web.models import Feedback

    with app.app_context():
        session = db.session
        demand = make_demand(session, status="evaluated")
        craftsman = make_craftsman(session)
        engagement = make_engagement(session, demand, [craftsman], status="completed", started_on=TODAY,
                                     completed_on=TODAY)
        engagement.members[0].status = "served"
        session.add(Feedback(demand_id=demand.id, engagement_id=engagement.id, rating=4, created_at=NOW))
        session.commit()
        ids = engagement.id, craftsman.id
    assert 'id="apply-ratings"' in coordinator_browser.text("/workspace/engagements/")
    response = coordinator_browser.submit("/workspace/engagements/ratings", {}, form_url="/workspace/engagements/")
    assert response.status_code == 302
    assert 'id="apply-ratings"' not in coordinator_browser.text("/workspace/engagements/")
    with app.app_context():
        assert db.session.get(Engagement, ids[0]).status == "evaluated"
        assert db.session.get(Craftsman, ids[1]).points_balance == 5


def test_an_unscheduled_mandatory_follow_up_can_be_recorded_from_the_completion_warning(
        app, coordinator_browser, engagement_id):
    # An engagement started before the result record was required (the demo's in-service ones) has no row for
    # it in the follow-up table; the warning that blocks completion must lead to its form.
    browser = coordinator_browser
    _start(browser, engagement_id, TODAY - dt.timedelta(days=5))  # the two-week check not yet due
    with app.app_context():
        db.session.execute(sa.delete(FollowUp).where(FollowUp.engagement_id == engagement_id,
                                                     FollowUp.kind == "result"))
        db.session.commit()
    browser.submit(_url(engagement_id, "/accept"), {"confirmed_by": "王经理"}, form_url=_url(engagement_id))
    page = browser.text(_url(engagement_id))
    warning = re.search(r'id="completion-blockers">(.*?)</p>', page, re.S)
    assert warning, page
    link = re.search(r'href="([^"]+/follow-ups/result)"', warning.group(1))
    assert link, warning.group(1)
    assert browser.get(link.group(1)).status_code == 200
    recorded = browser.submit(link.group(1), {"done_on": TODAY.isoformat(), "problems_solved": "1",
                                              "value_created_wan": "5", "workers_trained": "3"})
    assert recorded.status_code == 302, recorded.get_data(as_text=True)[:2000]
    done = browser.submit(_url(engagement_id, "/complete"), {"completed_on": TODAY.isoformat()},
                          form_url=_url(engagement_id))
    assert done.status_code == 302
    assert _load(app, engagement_id).status == "completed"


def test_the_engagement_list_is_searched_by_code_title_enterprise_or_craftsman(app, coordinator_browser):
    with app.app_context():
        session = db.session
        found = make_engagement(session, make_demand(session, status="matched", title="冲压模具快速修复"),
                                [make_craftsman(session, name="欧阳铸")])
        other = make_engagement(session, make_demand(session, status="matched", title="电气安全排查"),
                                [make_craftsman(session, name="司马电")])
        session.commit()
        code, enterprise = found.demand.tracking_code, found.demand.enterprise.name
        found_id, other_id = found.id, other.id
    for q in ("欧阳", "模具快速", code.lower(), enterprise):
        page = coordinator_browser.text(f"/workspace/engagements/?q={q}")
        listing = page[page.index('id="engagements"'):]
        assert f'href="/workspace/engagements/{found_id}"' in listing, q
        assert f'href="/workspace/engagements/{other_id}"' not in listing, q
    page = coordinator_browser.text("/workspace/engagements/?q=%25")  # a wildcard is a character like any other
    assert f'href="/workspace/engagements/{found_id}"' not in page[page.index('id="engagements"'):]
    assert 'value="欧阳"' in coordinator_browser.text("/workspace/engagements/?q=欧阳")  # the box keeps the search
