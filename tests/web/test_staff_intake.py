"""A coordinator enters a demand taken by phone, on paper or in WeChat: the public form's contract, recorded
as the coordinator's, not rate-limited, and the enterprise still gets its tracking code."""

from __future__ import annotations

import re

import sqlalchemy as sa

from tests.browser import Browser
from tests.conftest import TEST_PASSWORD
from tests.web import test_intake_abuse
from tests.web.test_intake_service import valid_demand_data
from web.models import AuditLog, Demand, DemandStatusEvent, Notification, User

NEW = "/workspace/intake/new"
limited_app = test_intake_abuse.limited_app  # the app with the public form's limits on


def _entered_id(response) -> int:
    match = re.search(r"/workspace/intake/(\d+)/entered$", response.headers.get("Location", ""))
    assert response.status_code == 303 and match, (response.status_code, response.get_data(as_text=True)[:300])
    return int(match.group(1))


def test_a_coordinator_enters_a_demand_taken_in_wechat(coordinator_browser, session):
    page = coordinator_browser.text(NEW)
    assert 'name="channel" value="wechat"' in page and 'name="submission_key"' in page
    assert "The enterprise agreed" in page or "企业已同意" in page
    data = valid_demand_data(contact_phone="13811112222", channel="wechat", notify="y")
    demand_id = _entered_id(coordinator_browser.submit(NEW, data))

    demand = session.get(Demand, demand_id)
    coordinator = session.scalar(sa.select(User).where(User.username == "coordinator1"))
    assert (demand.status, demand.title, demand.contact_phone) == ("submitted", data["title"], "13811112222")
    event = session.scalar(sa.select(DemandStatusEvent).where(DemandStatusEvent.demand_id == demand_id))
    assert event.actor_id == coordinator.id and event.public and ("WeChat" in event.note or "微信" in event.note)
    actions = dict(session.execute(sa.select(AuditLog.action, AuditLog.actor_label).where(
        AuditLog.entity_type == "demand", AuditLog.entity_id == demand_id)).all())
    assert actions == {"demand.submit": "coordinator1", "demand.enter": "coordinator1"}
    message = session.scalar(sa.select(Notification).where(Notification.recipient_kind == "enterprise",
                                                           Notification.recipient_id == demand.enterprise_id))
    assert (message.round_id, message.channel, message.address, message.status) == (None, "sms", "13811112222",
                                                                                      "pending")
    assert demand.tracking_code in message.body and demand.tracking_code in message.subject

    receipt = coordinator_browser.text(f"/workspace/intake/{demand_id}/entered")
    assert demand.tracking_code in receipt and "data-print" in receipt and "138****2222" in receipt


def test_without_the_tick_no_message_is_queued(coordinator_browser, session):
    demand_id = _entered_id(coordinator_browser.submit(NEW, valid_demand_data(channel="paper")))
    demand = session.get(Demand, demand_id)
    assert session.scalar(sa.select(Notification).where(Notification.recipient_id == demand.enterprise_id)) is None


def test_the_staff_form_checks_what_the_public_form_checks(coordinator_browser, session):
    before = session.scalar(sa.select(sa.func.count()).select_from(Demand))
    response = coordinator_browser.submit(NEW, valid_demand_data(contact_phone="12345", title="短", channel="phone"))
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert re.search(r'has-error[^>]*>\s*<label for="contact_phone"', page)
    assert re.search(r'has-error[^>]*>\s*<label for="title"', page)
    assert "12345" in page  # what was typed stays
    response = coordinator_browser.submit(NEW, valid_demand_data(channel="carrier-pigeon"))
    assert response.status_code == 422
    assert session.scalar(sa.select(sa.func.count()).select_from(Demand)) == before


def test_the_same_form_sent_twice_makes_one_demand_and_one_message(coordinator_browser, session):
    page = coordinator_browser.text(NEW)
    key = re.search(r'name="submission_key"[^>]*value="([^"]+)"', page).group(1)
    data = valid_demand_data(channel="phone", notify="y", submission_key=key)
    first, second = (_entered_id(coordinator_browser.submit(NEW, data)) for _ in range(2))
    assert first == second
    enterprise_id = session.get(Demand, first).enterprise_id
    assert session.scalar(sa.select(sa.func.count()).select_from(Notification)
                          .where(Notification.recipient_id == enterprise_id)) == 1


def test_the_office_enters_more_than_the_public_limit(limited_app, make_user):
    """25 pilot needs through the public form stopped at its limit; the staff form has none."""
    make_user("office", "coordinator")
    public = Browser(limited_app.test_client())
    for n in range(2):
        assert public.submit("/demand/new", valid_demand_data(title=f"公开表单需求{n}")).status_code == 303
    assert public.submit("/demand/new", valid_demand_data(title="公开表单第三条")).status_code == 429

    office = Browser(limited_app.test_client())
    assert office.login("office", TEST_PASSWORD).status_code == 302
    for n in range(4):
        _entered_id(office.submit(NEW, valid_demand_data(title=f"工会代录需求{n}", channel="phone")))


def test_a_city_coordinator_sees_and_sends_the_tracking_codes_of_its_region(browser, make_user, session):
    make_user("chengdu", "coordinator", region_code="510100")
    make_user("chongqing", "coordinator", region_code="500000")
    assert browser.login("chengdu", TEST_PASSWORD).status_code == 302
    data = valid_demand_data(region_code="510104", channel="phone", notify="y", contact_phone="13822223333",
                             enterprise_name="锦江精密铸造有限公司")
    _entered_id(browser.submit(NEW, data))
    outbox = browser.text("/workspace/rounds/outbox")
    assert "锦江精密铸造有限公司" in outbox and "13822223333" in outbox
    response = browser.submit("/workspace/rounds/outbox/send", {"count": "1"},
                              form_url="/workspace/rounds/outbox/send")
    assert response.status_code == 302
    message = session.scalar(sa.select(Notification).where(Notification.address == "13822223333"))
    assert message.status == "sent"

    other = Browser(browser.client.application.test_client())
    assert other.login("chongqing", TEST_PASSWORD).status_code == 302
    assert "13822223333" not in other.text("/workspace/rounds/outbox")  # another region's enterprise


def test_cron_sends_the_tracking_codes_and_audits_each_message(coordinator_browser, session, service_app):
    from web.cli import round_group

    for phone in ("13833334444", "13833335555"):
        _entered_id(coordinator_browser.submit(NEW, valid_demand_data(channel="phone", notify="y",
                                                                      contact_phone=phone)))
    result = service_app.test_cli_runner().invoke(round_group, ["send-outbox"])
    assert result.exit_code == 0 and result.output.startswith("2 sent, 0 failed"), result.output
    session.expire_all()
    messages = session.scalars(sa.select(Notification).where(Notification.round_id.is_(None))
                               .order_by(Notification.id)).all()
    assert [(m.address, m.status) for m in messages] == [("13833334444", "sent"), ("13833335555", "sent")]
    entries = session.execute(sa.select(AuditLog.entity_type, AuditLog.entity_id, AuditLog.actor_label,
                                        AuditLog.after).where(AuditLog.action == "outbox.send")
                              .order_by(AuditLog.id)).all()
    assert entries == [("notification", m.id, "cli", {"round": None, "status": "sent", "attempts": 1})
                       for m in messages]


def test_a_city_coordinator_enters_demands_of_his_region_only(browser, make_user, session):
    """The demand import refuses a row placed outside the coordinator's region; the form took it (a Chengdu
    coordinator put a demand into Chongqing's inbox, then got 404 on its receipt page)."""
    make_user("chengdu1", "coordinator", region_code="510100")
    assert browser.login("chengdu1", TEST_PASSWORD).status_code == 302
    before = session.scalar(sa.select(sa.func.count()).select_from(Demand))
    response = browser.submit(NEW, valid_demand_data(region_code="500110", channel="phone"))
    assert response.status_code == 422 and "本地区" in response.get_data(as_text=True)
    assert session.scalar(sa.select(sa.func.count()).select_from(Demand)) == before
    assert _entered_id(browser.submit(NEW, valid_demand_data(region_code="510104", channel="phone")))


def test_the_channel_question_is_asked_once(coordinator_browser):
    # Two nested fieldsets each had the legend 需求来源渠道: the page showed it, and a screen reader read it, twice.
    page = coordinator_browser.text("/workspace/intake/new")
    assert page.count("<legend>需求来源渠道</legend>") == 1
