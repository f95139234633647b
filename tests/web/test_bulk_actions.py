"""Bulk actions in the demand inbox and the craftsman pool, driven as a 成都 coordinator would (plain forms,
no JavaScript): ticked rows or everything matching the filter; refused records named and left unchanged."""

from __future__ import annotations

import html

import pytest
import sqlalchemy as sa

from tests.conftest import TEST_PASSWORD
from tests.factories import make_craftsman, make_demand
from web.extensions import db
from web.models import AuditLog, Craftsman, Demand, User

INBOX, POOL = "/workspace/demands/", "/workspace/craftsmen/"


@pytest.fixture()
def chengdu(browser, make_user):
    make_user("cd", "coordinator", region_code="510100")
    assert browser.login("cd", TEST_PASSWORD).status_code == 302
    return browser


@pytest.fixture()
def demands(app, connection):
    """Three submitted demands and a rejected one in 成都, a submitted one in 重庆 (another region)."""
    with app.app_context():
        session = db.session
        rows = [make_demand(session, status="submitted", title=f"数控机床联网{n}") for n in range(3)]
        rows.append(make_demand(session, status="rejected", title="数控机床联网（已拒绝）"))
        rows.append(make_demand(session, status="submitted", title="数控机床联网（重庆）", region_code="500112"))
        session.commit()
        return {d.title: (d.id, d.tracking_code) for d in rows}


def _statuses(app, ids):
    with app.app_context():
        return dict(db.session.execute(sa.select(Demand.id, Demand.status).where(Demand.id.in_(ids))).all())


def _audits(app, action):
    with app.app_context():
        return sorted(db.session.scalars(sa.select(AuditLog.entity_id).where(AuditLog.action == action)))


def _bulk(browser, base, data, query=""):
    return browser.submit(f"{base}bulk{query}", data, form_url=f"{base}{query}")


def test_approve_ticked_demands_refuses_those_in_another_state_or_region(app, chengdu, demands):
    chengdu.text("/workspace/?lang=en")  # the messages below in English
    ids = [ident for ident, _code in demands.values()]
    response = _bulk(chengdu, INBOX, {"action": "approve", "ids": [str(i) for i in ids]})
    assert response.status_code == 303
    statuses = _statuses(app, ids)
    submitted = [demands[f"数控机床联网{n}"][0] for n in range(3)]
    assert [statuses[i] for i in submitted] == ["open"] * 3
    assert statuses[demands["数控机床联网（已拒绝）"][0]] == "rejected"
    assert statuses[demands["数控机床联网（重庆）"][0]] == "submitted"  # outside the region: not even found
    assert _audits(app, "demand.approve") == sorted(submitted)  # one entry per record
    page = html.unescape(chengdu.text(response.headers["Location"]))
    assert "Approve: 3 changed, 1 not changed." in page
    rejected_code = demands["数控机床联网（已拒绝）"][1]
    assert f"Not changed: {rejected_code}. A demand that is “Not accepted” cannot be approved." in page
    assert demands["数控机床联网（重庆）"][1] not in page


def test_reject_needs_a_reason_and_changes_nothing_without_one(app, chengdu, demands):
    ids = [str(demands[f"数控机床联网{n}"][0]) for n in range(2)]
    refused = _bulk(chengdu, INBOX, {"action": "reject", "ids": ids, "reason": ""})
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert 'id="reason"' in page and 'role="alert"' in page
    assert page.count('checked') >= 2  # the ticks survive the error
    assert set(_statuses(app, [int(i) for i in ids]).values()) == {"submitted"}
    done = _bulk(chengdu, INBOX, {"action": "reject", "ids": ids, "reason": "不属于本次活动服务范围"})
    assert done.status_code == 303
    assert set(_statuses(app, [int(i) for i in ids]).values()) == {"rejected"}
    with app.app_context():
        notes = db.session.scalars(sa.select(Demand.review_note).where(Demand.id.in_([int(i) for i in ids])))
        assert set(notes) == {"不属于本次活动服务范围"}


def test_assign_liaison_to_all_matching_the_filter_within_the_region(app, chengdu, make_user, demands):
    liaison_id = make_user("liaison", "coordinator")
    query = "?q=%E6%95%B0%E6%8E%A7&status=submitted"  # 数控, submitted
    page = chengdu.text(f"{INBOX}{query}&lang=en")
    assert "All 3 matching the filter" in page
    response = _bulk(chengdu, INBOX, {"action": "liaison", "all_matching": "y", "liaison_id": str(liaison_id)},
                     query)
    assert response.status_code == 303
    with app.app_context():
        given = dict(db.session.execute(sa.select(Demand.title, Demand.liaison_id)).all())
    assert [given[f"数控机床联网{n}"] for n in range(3)] == [liaison_id] * 3
    assert given["数控机床联网（已拒绝）"] is None  # not matching the status filter
    assert given["数控机床联网（重庆）"] is None  # matching, but another region
    assert len(_audits(app, "demand.assign_liaison")) == 3


def test_nothing_selected_or_no_action_is_a_clear_error(app, chengdu, demands):
    nothing = _bulk(chengdu, INBOX, {"action": "approve"})
    assert nothing.status_code == 422 and 'role="alert"' in nothing.get_data(as_text=True)
    no_action = _bulk(chengdu, INBOX, {"ids": [str(demands["数控机床联网0"][0])]})
    assert no_action.status_code == 422
    assert _statuses(app, [demands["数控机床联网0"][0]]) == {demands["数控机床联网0"][0]: "submitted"}


def test_viewer_has_no_bulk_form_and_cannot_post(browser, make_user, demands):
    make_user("viewer1", "viewer")
    browser.login("viewer1", TEST_PASSWORD)
    assert 'id="bulk-form"' not in browser.text(INBOX)
    token = browser.csrf_token(INBOX)
    assert browser.client.post(f"{INBOX}bulk", data={"csrf_token": token, "action": "approve"}).status_code == 403


def test_pause_and_resume_craftsmen_in_bulk(app, chengdu):
    with app.app_context():
        session = db.session
        active = [make_craftsman(session, name=f"焊工{n}") for n in range(2)]
        exited = make_craftsman(session, name="焊工（已退出）", status="exited", exit_reason="退休",
                                exited_on=active[0].created_at.date())
        far = make_craftsman(session, name="焊工（重庆）", region_code="500112")
        session.commit()
        ids = [c.id for c in (*active, exited, far)]
    response = _bulk(chengdu, POOL, {"action": "pause", "ids": [str(i) for i in ids], "reason": "年底检修季"})
    assert response.status_code == 303
    page = html.unescape(chengdu.text(response.headers["Location"]))
    assert "焊工（已退出）" in page and "焊工（重庆）" not in page
    with app.app_context():
        status = dict(db.session.execute(sa.select(Craftsman.name, Craftsman.status)).all())
    assert (status["焊工0"], status["焊工1"], status["焊工（已退出）"], status["焊工（重庆）"]) == (
        "paused", "paused", "exited", "active")
    assert len(_audits(app, "craftsman.pause")) == 2
    # everything matching "paused" resumes: the filter decides, the region still bounds it
    resumed = _bulk(chengdu, POOL, {"action": "resume", "all_matching": "y"}, "?status=paused")
    assert resumed.status_code == 303
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).where(Craftsman.status == "paused")) == 0
    assert len(_audits(app, "craftsman.resume")) == 2


def test_pause_end_in_the_past_is_refused_at_the_field(app, chengdu):
    with app.app_context():
        craftsman_id = make_craftsman(db.session, name="焊工").id
        db.session.commit()
    response = _bulk(chengdu, POOL, {"action": "pause", "ids": [str(craftsman_id)], "until": "2000-01-01"})
    assert response.status_code == 422 and 'id="until"' in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Craftsman, craftsman_id).status == "active"
        assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) >= 1
