"""Follow-up records (成果持续跟踪): figures, outcomes for the outcome pool, notes, attachments, due lists.

A follow-up slot (engagement, kind) is recorded once: the record is a guarded UPDATE
(``done_on IS NULL``), so two coordinators saving the same slot at once get one record and one Conflict.
Notes are append-only; a correction is a new note pointing at the one it corrects.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from flask import current_app, has_app_context
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from web.clock import local_today
from web.models import (
    Attachment,
    Craftsman,
    Demand,
    Engagement,
    Enterprise,
    FollowUp,
    FollowUpNote,
    OpenFollowUpDay,
    Outcome,
    User,
)
from web.models.engagements import FOLLOW_UP_KINDS
from web.schemas.common import load_or_raise
from web.schemas.engagements import FollowUpRecordSchema, NoteSchema
from web.services import audit, points, summaries
from web.services.errors import Conflict, NotFound, ServiceError

RECORDABLE_STATUSES = ("in_service", "completed", "evaluated")
DUE_HORIZON_DAYS = 14
MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024
# extension → (content type, the file's first bytes); documents are zip containers.
ALLOWED_ATTACHMENTS: dict[str, tuple[str, tuple[bytes, ...]]] = {
    ".jpg": ("image/jpeg", (b"\xff\xd8\xff",)),
    ".jpeg": ("image/jpeg", (b"\xff\xd8\xff",)),
    ".png": ("image/png", (b"\x89PNG\r\n\x1a\n",)),
    ".pdf": ("application/pdf", (b"%PDF-",)),
    ".docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", (b"PK\x03\x04",)),
    ".xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", (b"PK\x03\x04",)),
}
FIGURE_FIELDS = ("problems_solved", "value_created_wan", "workers_trained", "apprentices")


def get(session: Session, follow_up_id: int) -> FollowUp:
    follow_up = session.get(FollowUp, follow_up_id)
    if follow_up is None:
        raise NotFound(_l("This follow-up does not exist."))
    return follow_up


def slot(session: Session, engagement: Engagement, kind: str, *, now: dt.datetime) -> FollowUp:
    """The engagement's follow-up of ``kind``, created (due today) when the schedule lacks it."""
    if kind not in FOLLOW_UP_KINDS:
        raise NotFound(_l("This follow-up does not exist."))
    follow_up = session.scalar(sa.select(FollowUp).where(FollowUp.engagement_id == engagement.id,
                                                         FollowUp.kind == kind))
    if follow_up is None:
        follow_up = FollowUp(engagement_id=engagement.id, kind=kind, mandatory=True, due_on=local_today(now))
        session.add(follow_up)
        session.flush()
    return follow_up


def record_follow_up(session: Session, follow_up: FollowUp, data: dict[str, Any], *,
                     actor: User | str | None, now: dt.datetime) -> FollowUp:
    values = load_or_raise(FollowUpRecordSchema(), data)
    engagement = follow_up.engagement
    if engagement.status not in RECORDABLE_STATUSES:
        raise ServiceError(_l("Follow-ups are recorded once the engagement has started."), field="status",
                           code="wrong_status")
    if engagement.started_on and values["done_on"] < engagement.started_on:
        raise ServiceError(_l("The follow-up cannot be before the start of the engagement."), field="done_on")
    if values["done_on"] > local_today(now):
        raise ServiceError(_l("The follow-up date cannot be in the future."), field="done_on")
    figures = {name: values[name] for name in FIGURE_FIELDS}
    claimed = session.execute(
        sa.update(FollowUp).where(FollowUp.id == follow_up.id, FollowUp.done_on.is_(None))
        .values(done_on=values["done_on"], recorded_at=now,
                recorded_by_id=actor.id if isinstance(actor, User) else None, **figures)
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        raise Conflict(_l("This follow-up has already been recorded. A correction is added as a note."),
                       field="done_on")
    session.refresh(follow_up)
    if values["note"]:
        session.add(FollowUpNote(follow_up_id=follow_up.id, body=values["note"], created_at=now,
                                 author_id=actor.id if isinstance(actor, User) else None))
    outcomes = [_outcome(session, follow_up, engagement, item, now) for item in values["outcomes"]]
    session.flush()
    audit.record(session, actor=actor, action="follow_up.record", entity=follow_up, now=now,
                 after={**audit.snapshot(follow_up, ("engagement_id", "kind", "done_on", *FIGURE_FIELDS)),
                        "outcome_ids": [o.id for o in outcomes]})
    for outcome in outcomes:
        audit.record(session, actor=actor, action="outcome.create", entity=outcome, now=now,
                     after=audit.snapshot(outcome, ("kind", "title", "craftsman_id", "follow_up_id", "value_wan")))
        points.award_outcome(session, outcome, engagement, actor=actor, now=now)
    return follow_up


def _outcome(session: Session, follow_up: FollowUp, engagement: Engagement, item: dict[str, Any],
             now: dt.datetime) -> Outcome:
    members = points.serving_member_ids(session, engagement.id)
    lead = session.get(Craftsman, members[0]) if members else None
    outcome = Outcome(kind=item["kind"], title=item["title"], reference=item["reference"] or None,
                      value_wan=item["value_wan"], year=follow_up.done_on.year, follow_up_id=follow_up.id,
                      craftsman_id=lead.id if lead else None, studio_id=lead.studio_id if lead else None,
                      description=engagement.demand.title, created_at=now)
    outcome.industries = list(engagement.demand.industries)
    session.add(outcome)
    session.flush()
    return outcome


def add_note(session: Session, follow_up: FollowUp, data: dict[str, Any], *,
             actor: User | str | None, now: dt.datetime) -> FollowUpNote:
    """Append a timestamped note; ``corrects_id`` points at an earlier note of the same follow-up."""
    values = load_or_raise(NoteSchema(), data)
    if values["corrects_id"] is not None:
        corrected = session.get(FollowUpNote, values["corrects_id"])
        if corrected is None or corrected.follow_up_id != follow_up.id:
            raise ServiceError(_l("A correction refers to a note of the same follow-up."), field="corrects_id")
    note = FollowUpNote(follow_up_id=follow_up.id, body=values["body"], corrects_id=values["corrects_id"],
                        created_at=now, author_id=actor.id if isinstance(actor, User) else None)
    session.add(note)
    session.flush()
    audit.record(session, actor=actor, action="follow_up.note", entity=note, now=now,
                 after={"follow_up_id": follow_up.id, "corrects_id": note.corrects_id, "body": note.body})
    return note


def upload_dir() -> Path:
    return Path(current_app.config["UPLOAD_DIR"]) if has_app_context() else Path("instance") / "uploads"


def max_attachment_bytes() -> int:
    return current_app.config.get("ATTACHMENT_MAX_BYTES", MAX_ATTACHMENT_BYTES) if has_app_context() \
        else MAX_ATTACHMENT_BYTES


@dataclasses.dataclass(frozen=True)
class StoredFile:
    filename: str
    content_type: str
    size_bytes: int
    storage_key: str


def store_upload(filename: str, stream: IO[bytes], *, now: dt.datetime, field: str = "attachment") -> StoredFile:
    """Check an uploaded photo or document (type by extension AND content, size limited) and store it under
    UPLOAD_DIR; raises a ServiceError on ``field`` and stores nothing when it does not pass."""
    name = "".join(ch for ch in Path(filename or "").name if ch.isprintable()).strip()[:200]
    extension = Path(name).suffix.lower()
    if extension not in ALLOWED_ATTACHMENTS:
        raise ServiceError(_l("Attach photos (JPG, PNG) or documents (PDF, DOCX, XLSX) only."), field=field)
    limit = max_attachment_bytes()
    content = stream.read(limit + 1)
    if len(content) > limit:
        raise ServiceError(_l("An attachment can be at most %(mb)d MB.", mb=limit // (1024 * 1024)), field=field)
    if not content:
        raise ServiceError(_l("The attached file is empty."), field=field)
    content_type, signatures = ALLOWED_ATTACHMENTS[extension]
    if not content.startswith(signatures):
        raise ServiceError(_l("The file's content does not match its type."), field=field)
    key = f"{now:%Y/%m}/{uuid.uuid4().hex}{extension}"
    target = upload_dir() / key
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content)
    return StoredFile(filename=name, content_type=content_type, size_bytes=len(content), storage_key=key)


def add_attachment(session: Session, follow_up: FollowUp, *, filename: str, stream: IO[bytes],
                   actor: User | str | None, now: dt.datetime) -> Attachment:
    """Store a photo or document (checked by ``store_upload``) and attach it to the follow-up."""
    stored = store_upload(filename, stream, now=now)
    attachment = Attachment(follow_up_id=follow_up.id, filename=stored.filename, content_type=stored.content_type,
                            size_bytes=stored.size_bytes, storage_key=stored.storage_key, uploaded_at=now,
                            uploaded_by_id=actor.id if isinstance(actor, User) else None)
    session.add(attachment)
    session.flush()
    audit.record(session, actor=actor, action="follow_up.attach", entity=attachment, now=now,
                 after=audit.snapshot(attachment, ("follow_up_id", "filename", "content_type", "size_bytes")))
    return attachment


def attachment_path(attachment: Attachment) -> Path:
    return upload_dir() / attachment.storage_key


# ---------------------------------------------------------------- due and overdue lists


def _open_follow_ups(coordinator_id: int | None) -> sa.Select:
    query = (sa.select(FollowUp.id).join(Engagement, Engagement.id == FollowUp.engagement_id)
             .where(FollowUp.done_on.is_(None), Engagement.status.in_(RECORDABLE_STATUSES)))
    if coordinator_id is not None:  # a coordinator's own engagements and the unassigned ones
        # OR, not COALESCE(coordinator_id, :me) = :me: PostgreSQL has no statistics for the expression and
        # guessed 0.5 % of the rows, and at 100,000 engagements chose a nested loop that ran for minutes
        # (the OR is estimated from the column's statistics: a hash join, ~80 ms; benchmarks/NOTES.md)
        query = query.where(sa.or_(Engagement.coordinator_id.is_(None), Engagement.coordinator_id == coordinator_id))
    return query


def overdue_count(session: Session, today: dt.date, coordinator_id: int | None = None) -> int:
    """Open follow-ups past their due date, those ``_open_follow_ups`` lists (the page header shows it on every
    page). Summed from the counts per (coordinator, day due) the database keeps exact (``summaries.OPEN_DAYS``): a
    coordinator's days and the unassigned ones, where counting the follow-ups read every open one past due
    (69,000 and 60-120 ms a page at 100,000 engagements; benchmarks/NOTES.md)."""
    query = sa.select(sa.func.sum(OpenFollowUpDay.follow_ups)).where(OpenFollowUpDay.due_on < today)
    if coordinator_id is not None:
        query = query.where(OpenFollowUpDay.coordinator_id.in_((summaries.UNASSIGNED, coordinator_id)))
    return int(session.scalar(query) or 0)  # the sum over no row is NULL


def due_list(session: Session, today: dt.date, *, coordinator_id: int | None = None,
             horizon_days: int = DUE_HORIZON_DAYS, limit: int = 300, where: tuple = ()) -> list[Any]:
    """Open follow-ups due by ``today + horizon`` (overdue ones included), oldest first.

    ``where``: extra conditions on the demand (a city coordinator's region)."""
    return list(session.execute(
        sa.select(FollowUp.id, FollowUp.kind, FollowUp.due_on, FollowUp.mandatory, Engagement.id.label("engagement_id"),
                  Engagement.coordinator_id, Demand.tracking_code, Demand.title, Enterprise.name.label("enterprise"),
                  (FollowUp.due_on < today).label("overdue"))
        .join(Engagement, Engagement.id == FollowUp.engagement_id)
        .join(Demand, Demand.id == Engagement.demand_id).join(Enterprise, Enterprise.id == Demand.enterprise_id)
        .where(FollowUp.id.in_(_open_follow_ups(coordinator_id)),
               FollowUp.due_on <= today + dt.timedelta(days=horizon_days), *where)
        .order_by(FollowUp.due_on, FollowUp.id).limit(limit)
    ))
