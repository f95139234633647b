"""Notifications people can act on: one message per recipient per round saying who, what, where, when and whom
to call; an outbox by name that asks before sending; real SMTP delivery; retries with backoff."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import logging
import re
import socket

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from sqlalchemy.exc import IntegrityError

from tests.conftest import NOW, TEST_PASSWORD
from tests.factories import make_craftsman, make_demand, make_enterprise
from web.models import AuditLog, Notification, Proposal, User
from web.services import notifications, rounds

OUTBOX = "/workspace/rounds/outbox"
CONFIRM = "/workspace/rounds/outbox/send"


def _publish(session, *, name: str, actor: User) -> tuple:
    """One enterprise with two welding needs (one with a service window, one without) and one craftsman who
    can take both: a published round whose outbox holds one message for each of them."""
    enterprise = make_enterprise(session, name="成都精工阀门有限公司", address="成都市高新区天府大道 88 号",
                                 contact_name="李经理", contact_phone="13900000001")
    with_window = make_demand(session, enterprise, skills={"weld": 3}, title="阀体焊缝气孔整改",
                              address="成都市双流区西航港大道 6 号", contact_name="赵工", contact_phone="13900000002",
                              window_start=dt.date(2026, 12, 1), window_end=dt.date(2026, 12, 15))
    no_window = make_demand(session, enterprise, skills={"weld": 3}, title="新焊工上岗培训", contact_name="李经理",
                            window_start=None, window_end=None)
    craftsman = make_craftsman(session, name="张建国", skills={"weld": 5}, honours=["great_craftsman"],
                               round_capacity=2)
    rnd = rounds.create_round(session, name=name, actor=actor, now=NOW)
    rounds.solve_round(session, rnd, actor=actor, now=NOW)
    rounds.publish_round(session, rnd, actor=actor, now=NOW)
    return rnd, enterprise, craftsman, with_window, no_window


@pytest.fixture()
def coordinator(session, make_user) -> User:
    user = session.get(User, make_user("liaison1", "coordinator"))
    user.display_name = "周联络"
    user.contact_phone = "02888880000"
    session.flush()
    return user


def _messages(session, rnd) -> dict[str, Notification]:
    return {n.recipient_kind: n for n in session.scalars(sa.select(Notification).where(
        Notification.round_id == rnd.id))}


def test_each_recipient_gets_one_message_saying_who_what_where_when_and_whom_to_call(session, coordinator):
    rnd, enterprise, craftsman, with_window, no_window = _publish(session, name="2026年12月第一轮",
                                                                   actor=coordinator)
    messages = _messages(session, rnd)
    assert sorted(messages) == ["craftsman", "enterprise"]

    to_craftsman = messages["craftsman"]
    assert (to_craftsman.recipient_id, to_craftsman.channel, to_craftsman.address) == (
        craftsman.id, "sms", craftsman.phone)
    assert "2026年12月第一轮" in to_craftsman.subject
    body = to_craftsman.body
    for needed in ("张建国师傅", "成都精工阀门有限公司", "阀体焊缝气孔整改", "新焊工上岗培训",
                   "成都市双流区西航港大道 6 号",  # the demand's own address
                   "成都市高新区天府大道 88 号",  # the enterprise's, for the demand without one
                   "赵工，电话 13900000002", "李经理，电话 13900000001",
                   "2026-12-01 至 2026-12-15", "服务时间：未约定",
                   with_window.tracking_code, no_window.tracking_code, "周联络，电话 02888880000"):
        assert needed in body, needed

    to_enterprise = messages["enterprise"]
    assert (to_enterprise.recipient_id, to_enterprise.address) == (enterprise.id, "13900000001")
    for needed in ("成都精工阀门有限公司", "张建国（大国工匠）", "阀体焊缝气孔整改", "新焊工上岗培训",
                   with_window.tracking_code, "周联络，电话 02888880000"):
        assert needed in to_enterprise.body, needed
    assert to_enterprise.subject != to_craftsman.subject


def test_a_demands_own_liaison_is_the_one_to_call(session, coordinator, make_user):
    liaison = session.get(User, make_user("liaison2", "coordinator"))
    liaison.display_name, liaison.contact_phone = "吴专员", "02866660000"
    enterprise = make_enterprise(session)
    make_demand(session, enterprise, skills={"weld": 3}, liaison_id=liaison.id)
    make_craftsman(session, skills={"weld": 5})
    rnd = rounds.create_round(session, name="联络人", actor=coordinator, now=NOW)
    rounds.solve_round(session, rnd, actor=coordinator, now=NOW)
    rounds.publish_round(session, rnd, actor=coordinator, now=NOW)
    for message in _messages(session, rnd).values():
        assert "吴专员，电话 02866660000" in message.body and "周联络" not in message.body


def test_no_recipient_gets_two_messages_in_one_round(session, coordinator):
    rnd, enterprise, craftsman, *_ = _publish(session, name="第一轮", actor=coordinator)
    assert len(_messages(session, rnd)) == 2
    by_demand = {row.demand_id: [row] for row in session.execute(
        sa.select(Proposal.demand_id, Proposal.craftsman_id, Proposal.role_skill_id)
        .where(Proposal.round_id == rnd.id, Proposal.assigned))}
    assert notifications.write_outbox(session, rnd, by_demand, now=NOW) == 0  # written again: nothing new
    with pytest.raises(IntegrityError), session.begin_nested():
        session.add(Notification(round_id=rnd.id, recipient_kind="craftsman", recipient_id=craftsman.id,
                                 subject="重复", body="重复", created_at=NOW))
        session.flush()
    assert session.scalar(sa.select(sa.func.count()).select_from(Notification)) == 2


def test_the_subject_names_the_round(session, coordinator):
    first, *_ = _publish(session, name="十二月第一轮", actor=coordinator)
    second, *_ = _publish(session, name="十二月第二轮", actor=coordinator)
    assert {n.subject for n in _messages(session, first).values()}.isdisjoint(
        n.subject for n in _messages(session, second).values())


# ---------------------------------------------------------------- the outbox as a coordinator uses it
@pytest.fixture()
def liaison_browser(browser, coordinator):
    assert browser.login("liaison1", TEST_PASSWORD).status_code == 302
    return browser


def _count_on(page: str) -> int:
    return int(re.search(r'id="send-count" data-count="(\d+)"', page).group(1))


def test_the_outbox_lists_recipients_by_name_and_asks_before_sending(liaison_browser, session, coordinator):
    rnd, enterprise, craftsman, *_ = _publish(session, name="确认轮", actor=coordinator)
    session.commit()
    page = liaison_browser.text(OUTBOX)
    assert "成都精工阀门有限公司" in page and "张建国" in page and "#" + str(craftsman.id) not in page
    assert page.count('data-status="pending"') == 2 and "待发送" in page
    assert "Pending" in liaison_browser.text(OUTBOX + "?lang=en")
    assert "Sent" not in liaison_browser.text(OUTBOX + "?lang=en")

    confirm = liaison_browser.text(CONFIRM + f"?round={rnd.id}")
    assert _count_on(confirm) == 2 and "2" in confirm
    # Without the confirmed number, or with a stale one, nothing is sent.
    assert liaison_browser.submit(CONFIRM, {}).status_code == 302
    assert liaison_browser.submit(CONFIRM, {"count": "1"}).status_code == 302
    session.expire_all()
    assert {n.status for n in _messages(session, rnd).values()} == {"pending"}

    response = liaison_browser.submit(CONFIRM + f"?round={rnd.id}", {"count": "2"}, form_url=CONFIRM)
    assert response.status_code == 302 and f"round={rnd.id}" in response.headers["Location"]
    session.expire_all()
    assert {n.status for n in _messages(session, rnd).values()} == {"sent"}
    entry = session.scalar(sa.select(AuditLog).where(AuditLog.action == "outbox.send"))
    assert entry.after == {"round": rnd.id, "sent": 2, "failed": 0}
    page = liaison_browser.text(OUTBOX + "?lang=en")
    assert page.count('data-status="sent"') == 2 and "Sent" in page
    assert _count_on(liaison_browser.text(CONFIRM)) == 0


def test_the_export_names_recipients_and_statuses(liaison_browser, session, coordinator):
    from io import BytesIO

    from openpyxl import load_workbook

    _publish(session, name="导出轮", actor=coordinator)
    session.commit()
    response = liaison_browser.get("/workspace/rounds/outbox.xlsx?lang=zh_CN")
    rows = list(load_workbook(BytesIO(response.data)).active.iter_rows(values_only=True))[1:]
    assert {(row[1], row[2], row[3], row[8]) for row in rows} == {
        ("导出轮", "企业", "成都精工阀门有限公司", "待发送"), ("导出轮", "工匠", "张建国", "待发送")}


# ---------------------------------------------------------------- real SMTP delivery into aiosmtpd
class _Inbox:
    def __init__(self) -> None:
        self.received: list[tuple[list[str], email.message.EmailMessage]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.received.append((list(envelope.rcpt_tos),
                              email.message_from_bytes(envelope.content, policy=email.policy.default)))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture()
def smtp_inbox(app, monkeypatch):
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    monkeypatch.setitem(app.config, "MAIL_SERVER", "127.0.0.1")
    monkeypatch.setitem(app.config, "MAIL_PORT", controller.port)
    monkeypatch.setitem(app.config, "MAIL_DEFAULT_SENDER", "outbox@craftmatch.test")
    yield inbox
    controller.stop()


def test_messages_are_e_mailed_over_smtp_to_recipients_with_an_address(liaison_browser, session, coordinator,
                                                                        smtp_inbox):
    enterprise = make_enterprise(session, name="绵阳电子科技有限公司", contact_email="contact@mianyang.test")
    make_demand(session, enterprise, skills={"weld": 3}, title="回流焊虚焊排查")
    craftsman = make_craftsman(session, name="刘师傅", skills={"weld": 5}, email="liu@craftsmen.test")
    rnd = rounds.create_round(session, name="邮件轮", actor=coordinator, now=NOW)
    rounds.solve_round(session, rnd, actor=coordinator, now=NOW)
    rounds.publish_round(session, rnd, actor=coordinator, now=NOW)
    session.commit()
    assert {n.channel for n in _messages(session, rnd).values()} == {"email"}

    assert _count_on(liaison_browser.text(CONFIRM)) == 2
    assert liaison_browser.submit(CONFIRM, {"count": "2"}).status_code == 302

    by_recipient = {tuple(to): message for to, message in smtp_inbox.received}
    assert sorted(by_recipient) == [("contact@mianyang.test",), ("liu@craftsmen.test",)]
    to_craftsman = by_recipient["liu@craftsmen.test",]
    assert to_craftsman["To"] == "liu@craftsmen.test" and to_craftsman["From"] == "outbox@craftmatch.test"
    assert "邮件轮" in to_craftsman["Subject"]
    text = to_craftsman.get_content()
    assert "刘师傅师傅" in text and "绵阳电子科技有限公司" in text and "回流焊虚焊排查" in text
    assert "刘师傅" in by_recipient["contact@mianyang.test",].get_content()
    session.expire_all()
    assert {(n.status, n.attempts) for n in _messages(session, rnd).values()} == {("sent", 1)}
    assert craftsman.id in {n.recipient_id for n in _messages(session, rnd).values()}


# ---------------------------------------------------------------- a failing gateway: retried, then failed
class FailingGateway:
    """An SMS provider that is down."""

    def __init__(self, settings=None) -> None:
        self.settings = settings

    def send_sms(self, phone: str, text: str) -> None:
        raise ConnectionError("SMS gateway unreachable")


def test_a_failing_gateway_is_retried_with_backoff_then_marked_failed(session, coordinator):
    rnd, *_ = _publish(session, name="重试轮", actor=coordinator)
    backend = notifications.Dispatcher(FailingGateway(), notifications.LogEmailSender())
    retry = notifications.RetryPolicy(max_attempts=3, first_wait=dt.timedelta(minutes=5))
    waits = []
    at = NOW
    for attempt in (1, 2, 3):
        assert notifications.deliver_pending(session, backend=backend, now=at, retry=retry) == (0, 2)
        messages = _messages(session, rnd).values()
        assert {(n.attempts, n.last_error) for n in messages} == {
            (attempt, "ConnectionError: SMS gateway unreachable")}
        if attempt < 3:
            assert {n.status for n in messages} == {"pending"}
            next_at = {n.next_attempt_at for n in messages}.pop()
            waits.append(next_at - at)
            # Not due before its time: a send in between leaves it alone.
            assert notifications.deliver_pending(session, backend=backend, now=next_at - dt.timedelta(seconds=1),
                                                 retry=retry) == (0, 0)
            at = next_at
    assert waits == [dt.timedelta(minutes=5), dt.timedelta(minutes=10)]
    assert {(n.status, n.next_attempt_at) for n in _messages(session, rnd).values()} == {("failed", None)}
    assert notifications.deliver_pending(session, backend=backend, now=at + dt.timedelta(days=1),
                                         retry=retry) == (0, 0)


def test_the_outbox_shows_a_failed_send_waiting_for_its_retry(liaison_browser, session, coordinator, app,
                                                             monkeypatch):
    monkeypatch.setitem(app.config, "NOTIFICATION_BACKEND", f"{__name__}:FailingGateway")
    _publish(session, name="失败轮", actor=coordinator)
    session.commit()
    liaison_browser.text(OUTBOX + "?lang=en")  # the language is remembered for the next pages
    response = liaison_browser.submit(CONFIRM, {"count": "2"}, follow_redirects=True)
    assert "0 messages sent, 2 failed" in response.get_data(as_text=True)
    english = liaison_browser.text(OUTBOX + "?lang=en")
    assert english.count("Waiting to retry") == 2 and "SMS gateway unreachable" in english
    assert _count_on(liaison_browser.text(CONFIRM)) == 0  # not due again before the wait is over


def test_cron_retries_failed_messages_once_their_wait_is_over(session, coordinator, service_app, monkeypatch):
    from web.cli import round_group

    app = service_app  # the command runs in the test session's app context

    rnd, *_ = _publish(session, name="定时重试轮", actor=coordinator)
    session.commit()
    runner = app.test_cli_runner()
    monkeypatch.setitem(app.config, "NOTIFICATION_BACKEND", f"{__name__}:FailingGateway")
    first = runner.invoke(round_group, ["send-outbox"])
    assert first.exit_code == 0 and first.output.startswith("0 sent, 2 failed"), first.output
    assert runner.invoke(round_group, ["send-outbox"]).output.startswith("0 sent, 0 failed")  # still waiting

    monkeypatch.setitem(app.config, "NOTIFICATION_BACKEND", "log")  # the gateway is back
    session.execute(sa.update(Notification).values(next_attempt_at=NOW))  # and the wait is over
    session.commit()
    assert runner.invoke(round_group, ["send-outbox"]).output.startswith("2 sent, 0 failed")
    session.expire_all()
    assert {(n.status, n.attempts) for n in _messages(session, rnd).values()} == {("sent", 2)}
    assert [entry.actor_label for entry in session.scalars(
        sa.select(AuditLog).where(AuditLog.action == "outbox.send"))] == ["cli"] * 2  # nothing due: no entry


# ---------------------------------------------------------------- where e-mail addresses come from
def test_a_craftsmans_e_mail_is_entered_on_the_form_and_kept_by_an_import_without_it(coordinator_browser,
                                                                                     session):
    from tests.factories import valid_mobile
    from web.models import Craftsman
    from web.services import importing

    phone = valid_mobile()
    form = {"name": "邮件工匠", "gender": "M", "phone": phone, "employer": "德阳锅炉厂", "region": "510100",
            "skills": "焊接:5", "can_onsite": "y", "round_capacity": "1"}
    refused = coordinator_browser.submit("/workspace/craftsmen/new", {**form, "email": "不是邮箱"})
    assert refused.status_code == 200 and "e-mail" in coordinator_browser.submit(
        "/workspace/craftsmen/new?lang=en", {**form, "email": "not-an-address"}).get_data(as_text=True).lower()
    assert session.scalar(sa.select(Craftsman).where(Craftsman.phone == phone)) is None
    assert coordinator_browser.submit("/workspace/craftsmen/new",
                                      {**form, "email": " Zhang@Example.COM "}).status_code == 302
    craftsman = session.scalar(sa.select(Craftsman).where(Craftsman.phone == phone))
    assert craftsman.email == "zhang@example.com"

    def sheet(*rows: str) -> bytes:
        return "\n".join(rows).encode("utf-8-sig")

    without = sheet("姓名,性别,手机,单位,地区,技能", f"邮件工匠,男,{phone},德阳锅炉厂,510100,焊接:5")
    assert importing.preview_import(session, without, "pool.csv").unchanged == 1
    importing.apply_import(session, without, "pool.csv", skip_invalid=False, actor="test", now=NOW)
    session.expire_all()
    assert craftsman.email == "zhang@example.com"
    changed = sheet("姓名,性别,手机,电子邮箱,单位,地区,技能",
                    f"邮件工匠,男,{phone},wang@example.com,德阳锅炉厂,510100,焊接:5")
    assert importing.preview_import(session, changed, "pool.csv").update == 1
    importing.apply_import(session, changed, "pool.csv", skip_invalid=False, actor="test", now=NOW)
    session.expire_all()
    assert craftsman.email == "wang@example.com"


def test_the_public_form_takes_the_enterprises_e_mail_and_never_replaces_a_known_one(browser, session):
    from tests.web.test_intake_service import valid_demand_data
    from web.models import Enterprise

    data = valid_demand_data(contact_email="Office@Deyang.test")
    assert 'name="contact_email"' in browser.text("/demand/new")
    refused = browser.submit("/demand/new", {**data, "contact_email": "nonsense"})
    assert refused.status_code == 422 and "请填写有效的电子邮箱地址" in refused.get_data(as_text=True)
    assert session.scalar(sa.select(Enterprise).where(Enterprise.credit_code == data["credit_code"])) is None
    assert browser.submit("/demand/new", data).status_code == 303
    enterprise = session.scalar(sa.select(Enterprise).where(Enterprise.credit_code == data["credit_code"]))
    assert enterprise.contact_email == "office@deyang.test"
    again = valid_demand_data(credit_code=data["credit_code"], contact_email="someone-else@example.test",
                              title="第二个需求：数控机床精度恢复")
    assert browser.submit("/demand/new", again).status_code == 303
    session.expire_all()
    assert enterprise.contact_email == "office@deyang.test"


def test_a_coordinator_sets_the_phone_the_messages_give_for_them(session, service_app, make_user):
    from web.cli import user_group

    make_user("liaison3", "coordinator")
    runner = service_app.test_cli_runner()
    refused = runner.invoke(user_group, ["contact-phone", "liaison3", "call me"])
    assert refused.exit_code == 1 and "6 至 20 位数字" in refused.output
    done = runner.invoke(user_group, ["contact-phone", "liaison3", "028-8888 0000"])
    assert done.exit_code == 0, done.output
    user = session.scalar(sa.select(User).where(User.username == "liaison3"))
    session.refresh(user)
    assert user.contact_phone == "028-8888 0000"
    entry = session.scalar(sa.select(AuditLog).where(AuditLog.action == "user.contact_phone"))
    assert entry.after == {"contact_phone": "028-8888 0000"} and entry.actor_label == "cli"


def test_failed_messages_are_queued_again_once_the_gateway_is_fixed(liaison_browser, session, coordinator, app,
                                                                    monkeypatch):
    monkeypatch.setitem(app.config, "NOTIFICATION_BACKEND", f"{__name__}:FailingGateway")
    monkeypatch.setitem(app.config, "NOTIFICATION_MAX_ATTEMPTS", 1)
    rnd, *_ = _publish(session, name="重新排队轮", actor=coordinator)
    session.commit()
    liaison_browser.submit(CONFIRM, {"count": "2"})
    english = liaison_browser.text(OUTBOX + "?lang=en")
    assert english.count('data-status="failed"') == 2 and 'id="requeue-failed"' in english
    assert _count_on(liaison_browser.text(CONFIRM)) == 0

    assert liaison_browser.submit(f"{OUTBOX}/requeue?round={rnd.id}", {}, form_url=OUTBOX).status_code == 302
    session.expire_all()
    assert {(n.status, n.attempts) for n in _messages(session, rnd).values()} == {("pending", 0)}
    assert session.scalar(sa.select(AuditLog.after).where(AuditLog.action == "outbox.requeue")) == {
        "round": rnd.id, "requeued": 2}
    monkeypatch.setitem(app.config, "NOTIFICATION_BACKEND", "log")
    assert _count_on(liaison_browser.text(CONFIRM)) == 2
    liaison_browser.submit(CONFIRM, {"count": "2"})
    session.expire_all()
    assert {n.status for n in _messages(session, rnd).values()} == {"sent"}


def test_the_log_gateway_writes_no_whole_mobile_number(caplog):
    """Offices without an SMS contract send through the log; a log is kept and read more widely than the outbox."""
    from web.services.notifications import LogSmsGateway

    with caplog.at_level(logging.INFO, logger="craftmatch"):
        LogSmsGateway().send_sms("13812341234", "请联系企业联系人李经理（13900001111），编号 SC-2026-AB12CD；"
                                                "联络员 +86 137-0000-2222，日期 2026-11-23。")
    written = caplog.text
    assert "138****1234" in written and "139****1111" in written and "137****2222" in written
    assert "SC-2026-AB12CD" in written and "2026-11-23" in written
    assert "13812341234" not in written and "13900001111" not in written and "0000-2222" not in written
