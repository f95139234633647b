"""The notification outbox: written on publish — one message per recipient per round that says who, what,
where, when and whom to call — and delivered by e-mail (SMTP through Flask-Mailman) to recipients with an
e-mail address and by an SMS gateway to the others. A failed send is retried with exponential backoff.

The messages are in Chinese whatever the coordinator's language: they go to Chinese enterprises and craftsmen.

Settings: ``CRAFTMATCH_NOTIFICATION_BACKEND`` = "log" (default: SMS are written to the log) or
"module.path:ClassName" of an :class:`SmsGateway` (built with the ``SMS_*`` settings); ``CRAFTMATCH_MAIL_SERVER``
(unset: e-mails are logged too) and the other ``MAIL_*`` settings; ``NOTIFICATION_MAX_ATTEMPTS`` and
``NOTIFICATION_RETRY_SECONDS`` (the first wait; each further wait doubles).
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session

from web.models import (
    Craftsman,
    CraftsmanHonour,
    Demand,
    Engagement,
    Enterprise,
    HonourLevel,
    MatchingRound,
    Notification,
    Skill,
    User,
)
from web.services import audit
from web.services.masks import mask_phone, mask_phones_in

log = logging.getLogger("craftmatch.notifications")

PROGRAMME = "劳模工匠助企行"
NO_WINDOW = "未约定"
NOT_GIVEN = "未填写"
DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_RETRY_SECONDS = 300


class Backend(Protocol):
    """Delivers one message or raises (the outbox then retries it later)."""

    def send(self, notification: Notification) -> None: ...


class SmsGateway(Protocol):
    """An SMS provider: sends ``text`` to the mobile number ``phone`` or raises. Built with the SMS_* settings
    (SMS_API_URL, SMS_API_KEY, SMS_SIGN_NAME — the 【signature】 Chinese carriers require)."""

    def send_sms(self, phone: str, text: str) -> None: ...


class EmailSender(Protocol):
    def send_email(self, to: str, subject: str, body: str) -> None: ...


class LogSmsGateway:
    """Writes each SMS to the log (development, demos, and offices without an SMS contract), its mobile numbers
    masked: a log is read and kept more widely than the outbox, where staff read the messages whole."""

    def __init__(self, settings: Mapping[str, Any] | None = None) -> None:
        self.sign_name = (settings or {}).get("SMS_SIGN_NAME") or PROGRAMME

    def send_sms(self, phone: str, text: str) -> None:
        log.info("SMS to %s: 【%s】%s", mask_phone(phone), self.sign_name, mask_phones_in(text))


class LogEmailSender:
    """Writes each e-mail to the log (no MAIL_SERVER configured)."""

    def send_email(self, to: str, subject: str, body: str) -> None:
        log.info("e-mail to %s: %s", to, subject)


class MailmanSender:
    """SMTP through Flask-Mailman with the given MAIL_* settings; one connection for a batch, opened again
    after a failure."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.sender = config.get("MAIL_DEFAULT_SENDER")
        self.options = {"host": config["MAIL_SERVER"], "port": config.get("MAIL_PORT"),
                        "username": config.get("MAIL_USERNAME"), "password": config.get("MAIL_PASSWORD"),
                        "use_tls": config.get("MAIL_USE_TLS", False), "use_ssl": config.get("MAIL_USE_SSL", False),
                        "timeout": config.get("MAIL_TIMEOUT")}
        self._connection = None

    def send_email(self, to: str, subject: str, body: str) -> None:
        from flask_mailman import EmailMessage

        from web.extensions import mail

        if self._connection is None:
            self._connection = mail.get_connection(backend="smtp", fail_silently=False, **self.options)
            self._connection.open()
        try:
            EmailMessage(subject=subject, body=body, from_email=self.sender, to=[to],
                         connection=self._connection).send(fail_silently=False)
        except Exception:
            self.close()
            raise

    def close(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            finally:
                self._connection = None


class Dispatcher:
    """The outbox's backend: each message by its channel, e-mail or SMS."""

    def __init__(self, sms: SmsGateway, email: EmailSender) -> None:
        self.sms = sms
        self.email = email

    def send(self, notification: Notification) -> None:
        if not notification.address:
            raise ValueError("no address (mobile number or e-mail) for this recipient")
        if notification.channel == "email":
            self.email.send_email(notification.address, notification.subject, notification.body)
        else:
            self.sms.send_sms(notification.address, notification.body)  # the gateway adds the 【signature】

    def close(self) -> None:
        for part in (self.sms, self.email):
            close = getattr(part, "close", None)
            if close is not None:
                close()


class LogBackend(Dispatcher):
    """Every channel to the log (development, demos, tests)."""

    def __init__(self) -> None:
        super().__init__(LogSmsGateway(), LogEmailSender())


def sms_gateway_from_setting(setting: str | None, settings: Mapping[str, Any] | None = None) -> SmsGateway:
    if not setting or setting == "log":
        return LogSmsGateway(settings)
    module_name, _, class_name = setting.partition(":")
    return getattr(importlib.import_module(module_name), class_name)(settings or {})


def backend_from_config(config: Mapping[str, Any]) -> Dispatcher:
    """The configured backend: the SMS gateway of NOTIFICATION_BACKEND, SMTP when MAIL_SERVER is set."""
    sms_settings = {key: value for key, value in config.items() if key.startswith("SMS_")}
    sms = sms_gateway_from_setting(config.get("NOTIFICATION_BACKEND"), sms_settings)
    email: EmailSender = MailmanSender(config) if config.get("MAIL_SERVER") else LogEmailSender()
    return Dispatcher(sms, email)


@dataclass(frozen=True)
class RetryPolicy:
    """Attempt n (1-based) that fails waits ``first_wait * 2**(n-1)``; after ``max_attempts`` it is failed."""

    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    first_wait: dt.timedelta = dt.timedelta(seconds=DEFAULT_RETRY_SECONDS)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> RetryPolicy:
        return cls(max_attempts=int(config.get("NOTIFICATION_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS)),
                   first_wait=dt.timedelta(seconds=int(config.get("NOTIFICATION_RETRY_SECONDS",
                                                                  DEFAULT_RETRY_SECONDS))))

    def wait_after(self, attempts: int) -> dt.timedelta:
        return self.first_wait * 2 ** (attempts - 1)


# ---------------------------------------------------------------- writing the messages
def _window(start: dt.date | None, end: dt.date | None) -> str:
    if start and end:
        return f"{start:%Y-%m-%d} 至 {end:%Y-%m-%d}"
    if start:
        return f"{start:%Y-%m-%d} 起"
    if end:
        return f"{end:%Y-%m-%d} 前"
    return NO_WINDOW


def _person(name: str | None, phone: str | None) -> str:
    if not name:
        return "当地工会"
    return f"{name}，电话 {phone}" if phone else name


def _liaisons(session: Session, rnd: MatchingRound, demands: Sequence[Any]) -> dict[int, str]:
    """Whom to call about each demand: its liaison, else the coordinator who published it, else the round's."""
    published_by = dict(session.execute(sa.select(Engagement.demand_id, Engagement.coordinator_id).where(
        Engagement.round_id == rnd.id, Engagement.demand_id.in_([d.id for d in demands]))).all())
    chosen = {d.id: d.liaison_id or published_by.get(d.id) or rnd.published_by_id or rnd.created_by_id
              for d in demands}
    users = {row.id: row for row in session.execute(
        sa.select(User.id, User.display_name, User.contact_phone)
        .where(User.id.in_({u for u in chosen.values() if u})))}
    return {demand_id: _person(users[user_id].display_name, users[user_id].contact_phone) if user_id in users
            else _person(None, None) for demand_id, user_id in chosen.items()}


def _best_honours(session: Session, craftsman_ids: Sequence[int]) -> dict[int, str]:
    best: dict[int, tuple[int, str]] = {}
    for row in session.execute(sa.select(CraftsmanHonour.craftsman_id, HonourLevel.rank, HonourLevel.name_zh)
                               .join(HonourLevel).where(CraftsmanHonour.craftsman_id.in_(craftsman_ids))):
        if row.craftsman_id not in best or row.rank > best[row.craftsman_id][0]:
            best[row.craftsman_id] = (row.rank, row.name_zh)
    return {craftsman_id: name for craftsman_id, (_rank, name) in best.items()}


def _craftsman_item(n: int, demand: Any, enterprise: Any, liaison: str, role: str | None) -> str:
    role_line = f"您在小组中的岗位：{role}\n" if role else ""
    return (f"【{n}】{enterprise.name}：{demand.title}\n{role_line}"
            f"地址：{demand.address or enterprise.address or NOT_GIVEN}\n"
            f"企业联系人：{_person(demand.contact_name or enterprise.contact_name, demand.contact_phone or enterprise.contact_phone)}\n"
            f"服务时间：{_window(demand.window_start, demand.window_end)}\n"
            f"查询码：{demand.tracking_code}\n"
            f"工会联络人：{liaison}")


def _member(name: str, role: str | None, honour: str | None) -> str:
    """张三（焊接·全国劳动模范）: the team member with the role filled and the best honour, each when known."""
    notes = "·".join(note for note in (role, honour) if note)
    return f"{name}（{notes}）" if notes else name


def _enterprise_item(n: int, demand: Any, team: str, liaison: str) -> str:
    return (f"【{n}】{demand.title}（查询码 {demand.tracking_code}）\n"
            f"工匠：{team}\n"
            f"服务时间：{_window(demand.window_start, demand.window_end)}\n"
            f"工会联络人：{liaison}")


def _message(rnd: MatchingRound, kind: str, recipient_id: int, email: str | None, phone: str | None,
             subject: str, body: str, now: dt.datetime) -> dict[str, Any]:
    return {"round_id": rnd.id, "recipient_kind": kind, "recipient_id": recipient_id,
            "channel": "email" if email else "sms", "address": email or phone or "",
            "subject": f"{PROGRAMME}｜{rnd.name}：{subject}"[:200], "body": body, "status": "pending",
            "attempts": 0, "created_at": now}


def write_outbox(session: Session, rnd: MatchingRound, by_demand: Mapping[int, Sequence[Any]], *,
                 now: dt.datetime) -> int:
    """One pending message per enterprise and per craftsman of the published assignments (``by_demand``:
    demand id → rows with ``craftsman_id`` and ``role_skill_id``, the team role filled or None), none for a
    recipient this round already wrote to. A team's roles are named in both messages."""
    demands = session.execute(
        sa.select(Demand.id, Demand.title, Demand.enterprise_id, Demand.tracking_code, Demand.address,
                  Demand.window_start, Demand.window_end, Demand.contact_name, Demand.contact_phone,
                  Demand.liaison_id).where(Demand.id.in_(list(by_demand))).order_by(Demand.id)).all()
    enterprises = {row.id: row for row in session.execute(
        sa.select(Enterprise.id, Enterprise.name, Enterprise.address, Enterprise.contact_name,
                  Enterprise.contact_phone, Enterprise.contact_email)
        .where(Enterprise.id.in_({d.enterprise_id for d in demands})))}
    craftsman_ids = sorted({row.craftsman_id for rows in by_demand.values() for row in rows})
    craftsmen = {row.id: row for row in session.execute(
        sa.select(Craftsman.id, Craftsman.name, Craftsman.phone, Craftsman.email)
        .where(Craftsman.id.in_(craftsman_ids)))}
    honours = _best_honours(session, craftsman_ids)
    role_of = {(demand_id, row.craftsman_id): row.role_skill_id for demand_id, rows in by_demand.items()
               for row in rows}
    role_names = dict(session.execute(sa.select(Skill.id, Skill.name_zh).where(
        Skill.id.in_({skill for skill in role_of.values() if skill is not None}))).all())
    liaisons = _liaisons(session, rnd, demands)
    already = {tuple(row) for row in session.execute(sa.select(
        Notification.recipient_kind, Notification.recipient_id).where(Notification.round_id == rnd.id))}

    items_by_enterprise: dict[int, list[str]] = defaultdict(list)
    items_by_craftsman: dict[int, list[str]] = defaultdict(list)
    for demand in demands:
        enterprise = enterprises[demand.enterprise_id]
        team_ids = sorted({row.craftsman_id for row in by_demand[demand.id]})
        roles = {c: role_names.get(role_of[demand.id, c]) for c in team_ids}
        team = "、".join(_member(craftsmen[c].name, roles[c], honours.get(c)) for c in team_ids)
        mine = items_by_enterprise[enterprise.id]
        mine.append(_enterprise_item(len(mine) + 1, demand, team, liaisons[demand.id]))
        for craftsman_id in team_ids:
            theirs = items_by_craftsman[craftsman_id]
            theirs.append(_craftsman_item(len(theirs) + 1, demand, enterprise, liaisons[demand.id],
                                          roles[craftsman_id]))

    messages = []
    for enterprise_id, items in sorted(items_by_enterprise.items()):
        if ("enterprise", enterprise_id) in already:
            continue
        enterprise = enterprises[enterprise_id]
        body = (f"{enterprise.name}，您好！在“{rnd.name}”中，您提交的需求已匹配劳模工匠：\n" + "\n".join(items)
                + "\n工会联络人将与您联系安排服务；如有疑问，请致电工会联络人。")
        messages.append(_message(rnd, "enterprise", enterprise_id, enterprise.contact_email,
                                 enterprise.contact_phone, "需求匹配结果", body, now))
    for craftsman_id, items in sorted(items_by_craftsman.items()):
        if ("craftsman", craftsman_id) in already:
            continue
        craftsman = craftsmen[craftsman_id]
        body = (f"{craftsman.name}师傅，您好！在“{rnd.name}”中，工会为您安排了以下服务任务：\n" + "\n".join(items)
                + "\n如无法参加，请尽快告知工会联络人。")
        messages.append(_message(rnd, "craftsman", craftsman_id, craftsman.email, craftsman.phone,
                                 "服务任务安排", body, now))
    if messages:
        session.execute(sa.insert(Notification), messages)
    return len(messages)


def queue_tracking_code(session: Session, demand: Demand, *, now: dt.datetime) -> Notification:
    """The enterprise's tracking code, for a demand a coordinator entered on its behalf: one pending message
    to the contact (e-mail if given, else SMS), outside any round."""
    enterprise = session.get(Enterprise, demand.enterprise_id)
    email = enterprise.contact_email if enterprise.contact_phone == demand.contact_phone else None
    body = (f"{enterprise.name}，您好！工会已为您登记需求“{demand.title}”，查询码 {demand.tracking_code}。"
            f"凭查询码和联系人手机后四位，可在“查询需求”页面随时查看进度。")
    message = Notification(round_id=None, recipient_kind="enterprise", recipient_id=enterprise.id,
                           channel="email" if email else "sms", address=email or demand.contact_phone,
                           subject=f"{PROGRAMME}：需求已登记（查询码 {demand.tracking_code}）"[:200], body=body,
                           status="pending", attempts=0, created_at=now)
    session.add(message)
    session.flush()
    return message


# ---------------------------------------------------------------- reading and sending the outbox
def due(now: dt.datetime) -> sa.ColumnElement[bool]:
    """Pending messages whose next attempt is due (new ones, and failed ones whose wait is over)."""
    return sa.and_(Notification.status == "pending",
                   sa.or_(Notification.next_attempt_at.is_(None), Notification.next_attempt_at <= now))


def count_due(session: Session, *, now: dt.datetime, where: sa.ColumnElement[bool] | None = None) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(Notification)
                          .where(due(now), sa.true() if where is None else where))


def recipient_names(session: Session, messages: Sequence[Notification]) -> dict[tuple[str, int], str]:
    """(kind, id) → the enterprise's or craftsman's name, for the outbox and its export."""
    names: dict[tuple[str, int], str] = {}
    for kind, model in (("enterprise", Enterprise), ("craftsman", Craftsman)):
        ids = {m.recipient_id for m in messages if m.recipient_kind == kind}
        for start in range(0, len(ids), 5000):
            chunk = sorted(ids)[start:start + 5000]
            names.update(((kind, row.id), row.name) for row in session.execute(
                sa.select(model.id, model.name).where(model.id.in_(chunk))))
    return names


def requeue_failed(session: Session, *, where: sa.ColumnElement[bool], actor: User | str,
                   now: dt.datetime) -> int:
    """Failed round messages matching ``where`` back to pending with fresh attempts (after an address or the
    gateway was fixed); the last error stays visible until the next attempt. One audit entry per round."""
    failed = sa.and_(Notification.status == "failed", Notification.round_id.is_not(None), where)
    counts = dict(session.execute(sa.select(Notification.round_id, sa.func.count()).where(failed)
                                  .group_by(Notification.round_id)).all())
    if counts:
        session.execute(sa.update(Notification).where(failed).values(status="pending", attempts=0,
                                                                      next_attempt_at=None)
                        .execution_options(synchronize_session=False))
        session.expire_all()
    for round_id, requeued in sorted(counts.items()):
        audit.record(session, actor=actor, action="outbox.requeue", entity=session.get(MatchingRound, round_id),
                     now=now, after={"round": round_id, "requeued": requeued})
    session.flush()
    return sum(counts.values())


def deliver_pending(session: Session, *, backend: Backend, now: dt.datetime, limit: int | None = None,
                    where: sa.ColumnElement[bool] | None = None,
                    retry: RetryPolicy | None = None) -> tuple[int, int]:
    """Send the due pending messages (those matching ``where``) through ``backend``; returns (sent, failed
    this time). A failure is recorded, not raised: the message waits ``retry.wait_after(attempts)`` and is
    tried again by a later call, until ``retry.max_attempts``, when it is marked failed."""
    pending = session.scalars(sa.select(Notification).where(due(now), sa.true() if where is None else where)
                              .order_by(Notification.id).limit(limit)).all()  # limit None: every due one
    return deliver_messages(session, pending, backend=backend, now=now, retry=retry)


def deliver_messages(session: Session, pending: Sequence[Notification], *, backend: Backend, now: dt.datetime,
                     retry: RetryPolicy | None = None) -> tuple[int, int]:
    """Send ``pending`` (due messages, already read) as ``deliver_pending`` does; returns (sent, failed)."""
    retry = retry or RetryPolicy()
    sent = failed = 0
    try:
        for notification in pending:
            notification.attempts += 1
            try:
                backend.send(notification)
            except Exception as error:  # noqa: BLE001 - one failing gateway call must not stop the others
                log.warning("notification %s failed (attempt %d): %s", notification.id, notification.attempts,
                            error)
                notification.last_error = f"{type(error).__name__}: {error}"[:500]
                if notification.attempts >= retry.max_attempts:
                    notification.status = "failed"
                    notification.next_attempt_at = None
                else:
                    notification.next_attempt_at = now + retry.wait_after(notification.attempts)
                failed += 1
            else:
                notification.status = "sent"
                notification.sent_at = now
                notification.next_attempt_at = None
                sent += 1
    finally:
        close = getattr(backend, "close", None)
        if close is not None:
            close()
    session.flush()
    return sent, failed
