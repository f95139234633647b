"""A NUL byte (or another control character) in any input is a 4xx or a form error, never a 500.

PostgreSQL refuses NUL in text ("A string literal cannot contain NUL characters"): unchecked, such a
value reached a query or an INSERT and the request ended in a 500. HTML forms and query strings are
refused as a whole by ``web.errors`` (400); JSON bodies, services and imports rely on the contract's
``Text``/``Code`` fields, which refuse control characters themselves. Every test here runs on SQLite
and, when a server answers, on PostgreSQL, and checks that nothing was written.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from marshmallow import Schema, ValidationError

from tests import factories
from tests.conftest import NOW, TEST_PASSWORD
from tests.web.test_demand_review import act
from tests.web.test_demand_review import make_demand as make_demand  # noqa: F401 - fixture
from tests.web.test_engagements_views import _url
from tests.web.test_intake_service import valid_demand_data
from web.extensions import db
from web.models import Demand, Engagement, Enterprise, RegionTarget
from web.schemas.common import Code, Text
from web.services.enterprises import register_enterprise
from web.services.errors import ServiceError, ValidationFailed

NUL = "\x00"


def _sample() -> Schema:
    return Schema.from_dict({"line": Text(max_length=100), "lines": Text(max_length=100, multiline=True),
                             "code": Code()})()


@pytest.mark.parametrize(("field", "value"), [
    ("line", f"王{NUL}师傅"), ("line", "a\x1bb"), ("line", "a\x7fb"), ("line", "两行\n文字"), ("line", "a\tb"),
    ("lines", f"第一行{NUL}"), ("lines", "a\x08b"), ("code", f"5101{NUL}00"), ("code", "51\n0100"),
])
def test_text_and_code_refuse_control_characters(app, field, value):
    with app.test_request_context("/?lang=en"), pytest.raises(ValidationError) as refused:
        _sample().load({field: value})
    message = str(refused.value.messages[field])
    assert "control characters" in message or "one line" in message or "from the list" in message


def test_multiline_text_keeps_tabs_and_line_breaks():
    assert _sample().load({"lines": "第一行\r\n\t第二行 "}) == {"lines": "第一行\r\n\t第二行"}


def _count(session, model, *where) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


@pytest.mark.parametrize("field", ["enterprise_name", "contact_name", "title", "description", "address", "region_code",
                                   "credit_code", "contact_phone"])
def test_public_form_refuses_nul_and_stores_nothing(browser, session, field):
    data = valid_demand_data()
    data[field] = data[field][:2] + NUL + data[field][2:]
    response = browser.submit("/demand/new?lang=en", data, form_url="/demand/new?lang=en")
    assert response.status_code in (400, 422)
    assert "control characters" in response.get_data(as_text=True)
    assert _count(session, Enterprise, Enterprise.credit_code == data["credit_code"].replace(NUL, "")) == 0


def test_status_lookup_with_nul_in_the_code_is_not_found(browser):
    response = browser.submit("/demand/track?lang=en", {"tracking_code": f"SC-2026-{NUL}ABCDE", "last4": "1234"},
                              form_url="/demand/track?lang=en")
    assert response.status_code == 400 and "control characters" in response.get_data(as_text=True)
    api = browser.client.post("/api/v1/demands/status", json={"tracking_code": f"SC-2026{NUL}", "last4": "1234"})
    assert api.status_code == 422 and api.get_json()["errors"]["tracking_code"]


def test_api_refuses_nul_with_a_json_422(browser, session):
    data = {**valid_demand_data(), "consent": True, "title": f"压力容器{NUL}焊缝"}
    response = browser.client.post("/api/v1/demands?lang=en", json=data)
    body = response.get_json()
    assert response.status_code == 422 and "control characters" in body["errors"]["title"][0]
    assert _count(session, Demand, Demand.title.like("压力容器%焊缝")) == 0


def test_enterprise_contract_refuses_nul(session):
    n = factories.unique_number()
    data = {"name": f"某企业{NUL}", "credit_code": factories.valid_credit_code(n), "region_code": "510100"}
    with pytest.raises(ValidationFailed) as refused:
        register_enterprise(session, data, actor="test", now=NOW)
    assert set(refused.value.errors) == {"name"}
    with pytest.raises(ValidationFailed) as refused:
        register_enterprise(session, {**data, "name": "某企业", "industries": [f"sc.{NUL}"]}, actor="test", now=NOW)
    assert _count(session, Enterprise, Enterprise.credit_code == data["credit_code"]) == 0


def test_login_with_nul_is_a_wrong_password(browser, make_user):
    make_user("coordinator1")
    response = browser.submit("/auth/login?lang=en", {"username": f"coordinator1{NUL}", "password": TEST_PASSWORD},
                              form_url="/auth/login?lang=en")
    assert response.status_code in (200, 400)
    assert browser.get("/workspace/demands/").status_code == 302  # still not logged in


def test_authenticate_with_nul_finds_nobody(session, make_user):
    from web.services.users import authenticate

    make_user("coordinator1")
    assert authenticate(session, username=f"coordinator1{NUL}", password=TEST_PASSWORD, now=NOW) is None


def test_services_refuse_nul_in_free_text(session):
    from web.services import craftsmen, demands

    demand = factories.make_demand(session, status="submitted")
    with pytest.raises(ValidationFailed) as refused:
        demands.approve(session, demand, note=f"已审核{NUL}", actor="test", now=NOW)
    assert set(refused.value.errors) == {"note"} and demand.status == "submitted"
    craftsman = factories.make_craftsman(session)
    with pytest.raises(ServiceError):
        craftsmen.exit_craftsman(session, craftsman, reason=f"退休{NUL}", on=NOW.date(), actor="test", now=NOW)
    assert craftsman.status == "active"


def test_staff_forms_refuse_nul(app, coordinator_browser, engagement_id, make_demand):  # noqa: F811
    refused = coordinator_browser.submit(_url(engagement_id, "/cancel?lang=en"), {"reason": f"企业{NUL}停产"},
                                         form_url=_url(engagement_id))
    assert refused.status_code in (400, 422) and "control characters" in refused.get_data(as_text=True)
    target = coordinator_browser.submit("/workspace/reports/targets", {"region_code": f"51{NUL}0000", "year": "2026",
                                                                       "visits": "5"},
                                        form_url="/workspace/reports/")
    assert target.status_code in (400, 422)
    demand_id, _code, _enterprise = make_demand()
    approved = act(coordinator_browser, demand_id, "approve", note=f"已审核{NUL}")
    assert approved.status_code in (400, 422)
    with app.app_context():
        assert db.session.get(Engagement, engagement_id).status == "scheduled"
        assert db.session.get(Demand, demand_id).status == "submitted"
        assert db.session.scalar(sa.select(sa.func.count()).select_from(RegionTarget)
                                 .where(RegionTarget.visits == 5)) == 0
