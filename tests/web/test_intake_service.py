"""submit_demand, tracking codes and the status lookup: the one submission service every entry point uses."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

import pytest
import sqlalchemy as sa

from tests import factories
from tests.conftest import NOW
from web.models import AuditLog, Demand, DemandStatusEvent, Enterprise
from web.services import reference, tracking
from web.services.demands import submit_demand
from web.services.errors import ServiceError, ValidationFailed


@pytest.fixture(autouse=True)
def _request_context(app):
    """Messages are lazy strings rendered in the request's locale (web.i18n reads the request)."""
    with app.test_request_context("/"):
        yield


def valid_demand_data(**overrides) -> dict:
    """A complete, valid public submission (appendix demand 5 of DOMAIN.md); fields overridable."""
    n = factories.unique_number()
    data = {
        "enterprise_name": f"德阳压力容器制造有限公司{n}", "credit_code": factories.valid_credit_code(n),
        "enterprise_type": "zjtx", "region_code": "510100", "industry_code": "sc.equipment",
        "contact_name": "李经理", "contact_phone": factories.valid_mobile(n), "category_code": "skills_training",
        "title": "压力容器焊缝一次合格率提升",
        "description": "新招焊工20余名，压力容器焊缝一次合格率偏低。希望焊接领域工匠现场指导并签订师带徒协议。",
        "skills": ["weld", "weld.argon_arc"], "other_skills": "无损检测", "team_size": "1", "mode": "onsite",
        "address": "德阳市旌阳区工业园 8 号", "window_start": "2026-12-01", "window_end": "2027-05-31",
        "urgency": "medium", "consent": "y",
    }
    data.update(overrides)
    return data


def test_submit_creates_demand_event_audit_and_enterprise(session):
    data = valid_demand_data()
    demand = submit_demand(session, data, now=NOW)

    assert demand.id is not None and demand.status == "submitted"
    assert tracking.CODE_PATTERN.match(demand.tracking_code)
    assert demand.tracking_code.startswith("SC-2026-")
    assert demand.original_title == demand.title == data["title"]
    assert sorted(link.skill.code for link in demand.skills) == ["weld", "weld.argon_arc"]
    assert [i.code for i in demand.industries] == ["sc.equipment"]
    assert demand.window_start == dt.date(2026, 12, 1) and demand.consent_given_at == NOW
    assert demand.enterprise.credit_code == data["credit_code"]
    events = session.scalars(sa.select(DemandStatusEvent).where(DemandStatusEvent.demand_id == demand.id)).all()
    assert [(e.from_status, e.to_status, e.public) for e in events] == [(None, "submitted", True)]
    actions = session.scalars(sa.select(AuditLog.action).where(AuditLog.actor_label == "public",
                                                               AuditLog.at == NOW)).all()
    assert "demand.submit" in actions and "enterprise.create" in actions


def test_chongqing_region_gives_a_cq_code(session):
    demand = submit_demand(session, valid_demand_data(region_code="500112"), now=NOW)
    assert demand.tracking_code.startswith("CQ-2026-")


def test_known_enterprise_is_recognised_by_credit_code_not_duplicated(session):
    enterprise = factories.make_enterprise(session)
    data = valid_demand_data(credit_code=enterprise.credit_code.lower(), enterprise_name="另一个名字")
    demand = submit_demand(session, data, now=NOW)
    assert demand.enterprise_id == enterprise.id
    count = session.scalar(sa.select(sa.func.count()).select_from(Enterprise)
                           .where(Enterprise.credit_code == enterprise.credit_code))
    assert count == 1


def test_same_submission_key_twice_creates_one_demand(session):
    data = valid_demand_data(submission_key="k" * 32)
    first = submit_demand(session, data, now=NOW)
    second = submit_demand(session, data, now=NOW + dt.timedelta(seconds=1))
    assert first.id == second.id
    assert session.scalar(sa.select(sa.func.count()).select_from(Demand)
                          .where(Demand.submission_key == "k" * 32)) == 1


def test_tracking_code_collision_is_retried(session, monkeypatch):
    taken = factories.make_demand(session, tracking_code="SC-2026-AAAAAA")
    codes = iter(["SC-2026-AAAAAA", "SC-2026-AAAAAA", "SC-2026-BBBBBB"])
    monkeypatch.setattr("web.services.demands.new_tracking_code", lambda _province, _now: next(codes))
    demand = submit_demand(session, valid_demand_data(), now=NOW)
    assert demand.tracking_code == "SC-2026-BBBBBB" and demand.id != taken.id


@pytest.mark.parametrize(("overrides", "field"), [
    ({"enterprise_name": ""}, "enterprise_name"),
    ({"enterprise_name": "厂" * 121}, "enterprise_name"),
    ({"credit_code": "91510100MA61234567"}, "credit_code"),
    ({"credit_code": "123"}, "credit_code"),
    ({"contact_phone": "12345"}, "contact_phone"),
    ({"title": "<script>alert(1)</script>"}, "title"),
    ({"description": "正常文字<img src=x onerror=alert(1)>再来一些文字"}, "description"),
    ({"description": "太短"}, "description"),
    ({"description": "长" * 4001}, "description"),
    ({"team_size": "0"}, "team_size"),
    ({"team_size": "many"}, "team_size"),
    ({"mode": "teleport"}, "mode"),
    ({"urgency": "yesterday"}, "urgency"),
    ({"window_start": "2027-02-01", "window_end": "2027-01-01"}, "window_end"),
    ({"window_start": "not-a-date"}, "window_start"),
    ({"consent": ""}, "consent"),
    ({"skills": ["s"] * 13}, "skills"),
    ({"unexpected": "x"}, "unexpected"),
])
def test_bad_input_names_the_field_and_writes_nothing(session, overrides, field):
    before = session.scalar(sa.select(sa.func.count()).select_from(Demand))
    with pytest.raises(ValidationFailed) as caught:
        submit_demand(session, valid_demand_data(**overrides), now=NOW)
    assert field in caught.value.errors, caught.value.errors
    assert session.scalar(sa.select(sa.func.count()).select_from(Demand)) == before


@pytest.mark.parametrize(("overrides", "field"), [
    ({"region_code": "999999"}, "region_code"),
    ({"region_code": "510000"}, "region_code"),
    ({"category_code": "nope"}, "category_code"),
    ({"industry_code": "nope"}, "industry_code"),
    ({"skills": ["weld", "no.such.skill"]}, "skills"),
])
def test_unknown_reference_codes_are_refused(session, overrides, field):
    with pytest.raises(ServiceError) as caught:
        submit_demand(session, valid_demand_data(**overrides), now=NOW)
    assert field in caught.value.as_errors()
    assert session.scalar(sa.select(sa.func.count()).select_from(Enterprise)
                          .where(Enterprise.name.like("德阳压力容器%"))) == 0


def test_tracking_codes_are_well_formed_and_varied():
    codes = {tracking.new_tracking_code("50", NOW) for _ in range(500)}
    assert len(codes) == 500
    for code in codes:
        assert tracking.CODE_PATTERN.match(code)
        assert not re.search(r"[01OIL]", code.split("-")[2])
    assert tracking.new_tracking_code("51", NOW).startswith("SC-2026-")


@pytest.mark.parametrize(("typed", "expected"), [
    ("CQ-2026-7K3M9P", "CQ-2026-7K3M9P"), (" cq-2026-7k3m9p ", "CQ-2026-7K3M9P"), ("cq20267k3m9p", "CQ-2026-7K3M9P"),
    ("CQ 2026 7K3M9P", "CQ-2026-7K3M9P"), ("XX-2026-7K3M9P", None), ("CQ-2026-0K3M9P", None), ("", None), (None, None),
])
def test_normalize_code(typed, expected):
    assert tracking.normalize_code(typed) == expected


def test_lookup_needs_code_and_last_four_digits(session):
    demand = submit_demand(session, valid_demand_data(contact_phone="13912345678"), now=NOW)
    assert tracking.lookup(session, demand.tracking_code.lower(), "5678").id == demand.id
    assert tracking.lookup(session, demand.tracking_code, "5679") is None
    assert tracking.lookup(session, "SC-2026-ZZZZZZ", "5678") is None
    assert tracking.lookup(session, demand.tracking_code, "") is None
    assert tracking.lookup(session, "garbage", "5678") is None


def test_json_api_uses_the_same_contract(app, connection):
    client = app.test_client()
    data = valid_demand_data(skills=["weld"], contact_phone="13911112222", submission_key="api-key-0123456789abcdef")
    data["consent"] = True
    created = client.post("/api/v1/demands", json=data)
    assert created.status_code == 201, created.get_json()
    code = created.get_json()["tracking_code"]
    assert tracking.CODE_PATTERN.match(code)
    again = client.post("/api/v1/demands", json=data)
    assert again.status_code == 201 and again.get_json()["tracking_code"] == code

    bad = client.post("/api/v1/demands", json={**data, "credit_code": "123", "submission_key": None})
    body = bad.get_json()
    assert bad.status_code == 422 and "credit_code" in body["errors"] and body["status"] == "validation"
    assert client.post("/api/v1/demands", data="x", content_type="text/plain").status_code == 415

    found = client.post("/api/v1/demands/status", json={"tracking_code": code, "last4": "2222"})
    assert found.status_code == 200
    assert found.get_json()["status"] == "submitted" and found.get_json()["history"][0]["status"] == "submitted"
    assert "13911112222" not in found.get_data(as_text=True)
    missing = client.post("/api/v1/demands/status", json={"tracking_code": code, "last4": "0000"})
    assert missing.status_code == 404


def test_a_repeated_key_is_answered_with_its_demand_before_the_codes_are_checked(session):
    """The first post stored the demand; the same form sent again with a code now refused (a province) gets it."""
    data = valid_demand_data(submission_key="r" * 32)
    first = submit_demand(session, data, now=NOW)
    again = submit_demand(session, {**data, "region_code": "510000"}, now=NOW + dt.timedelta(seconds=1))
    assert again.id == first.id
    with pytest.raises(ValidationFailed):  # without the key the province is refused, as always
        submit_demand(session, {**data, "region_code": "510000", "submission_key": "s" * 32}, now=NOW)


def test_the_codes_come_from_the_cached_reference_data_and_a_code_it_lacks_from_the_database(session):
    known = reference._load(session)
    newest = max(known.skills, key=lambda row: row.id)
    stale = dataclasses.replace(known, skills=tuple(row for row in known.skills if row.id != newest.id))
    demand = submit_demand(session, valid_demand_data(region_code="500112", skills=["weld", newest.code]), now=NOW,
                           references=stale)
    assert demand.tracking_code.startswith("CQ-2026-")  # the region's province, from the cached row
    assert sorted(link.skill.code for link in demand.skills) == sorted(["weld", newest.code])
    assert [industry.code for industry in demand.industries] == ["sc.equipment"]
    with pytest.raises(ServiceError) as caught:
        submit_demand(session, valid_demand_data(skills=["no.such.skill"]), now=NOW, references=stale)
    assert "skills" in caught.value.as_errors()


def test_a_known_enterprise_without_an_e_mail_address_takes_the_forms(session):
    enterprise = factories.make_enterprise(session)
    assert enterprise.contact_email == ""
    data = valid_demand_data(credit_code=enterprise.credit_code, contact_email="Boss@Example.test")
    demand = submit_demand(session, data, now=NOW)
    assert demand.enterprise_id == enterprise.id and enterprise.contact_email == "boss@example.test"
    entries = session.scalars(sa.select(AuditLog.action).where(AuditLog.entity_type == "enterprise",
                                                               AuditLog.entity_id == enterprise.id)).all()
    assert entries == []  # recognised, not registered again


def test_a_new_enterprise_is_stored_with_its_industry_and_one_audit_entry(session):
    data = valid_demand_data()
    demand = submit_demand(session, data, now=NOW)
    enterprise = session.scalar(sa.select(Enterprise).where(Enterprise.credit_code == data["credit_code"]))
    assert demand.enterprise_id == enterprise.id and enterprise.region.code == "510100"
    assert [industry.code for industry in enterprise.industries] == ["sc.equipment"]
    entries = session.scalars(sa.select(AuditLog).where(sa.or_(
        sa.and_(AuditLog.entity_type == "enterprise", AuditLog.entity_id == enterprise.id),
        sa.and_(AuditLog.entity_type == "demand", AuditLog.entity_id == demand.id)))).all()
    assert [(entry.action, entry.actor_label, entry.before) for entry in entries] == [
        ("enterprise.create", "public", None), ("demand.submit", "public", None)]
    assert entries[0].after["credit_code"] == data["credit_code"] and entries[1].after["skills"] == [
        "weld", "weld.argon_arc"]
