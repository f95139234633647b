"""Follow-up records: once per slot (also against a concurrent record), notes append-only, attachments limited."""

from __future__ import annotations

import datetime as dt
import io

import pytest
import sqlalchemy as sa
from flask_babel import force_locale

from tests.conftest import NOW
from tests.factories import make_craftsman, make_demand, make_engagement
from web.models import Attachment, FollowUp, FollowUpNote
from web.services import engagements, followups
from web.services.errors import Conflict, ServiceError

TODAY = NOW.date()
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture()
def started(session):
    demand = make_demand(session, status="matched")
    engagement = make_engagement(session, demand, [make_craftsman(session)])
    engagements.start_engagement(session, engagement, {"started_on": (TODAY - dt.timedelta(days=20)).isoformat()},
                                 actor="test", now=NOW)
    return engagement


def _check(engagement):
    return next(f for f in engagement.follow_ups if f.kind == "check_2w")


def test_a_concurrent_record_of_the_same_slot_is_refused(session, started):
    follow_up = _check(started)
    # another coordinator saved the slot after this one loaded it
    session.execute(sa.update(FollowUp).where(FollowUp.id == follow_up.id).values(done_on=TODAY, recorded_at=NOW)
                    .execution_options(synchronize_session=False))
    with pytest.raises(Conflict):
        followups.record_follow_up(session, follow_up, {"done_on": TODAY.isoformat(), "problems_solved": 9},
                                   actor="test", now=NOW)
    assert session.scalar(sa.select(FollowUp.problems_solved).where(FollowUp.id == follow_up.id)) is None


def test_the_database_refuses_a_second_slot_of_the_same_kind(session, started):
    session.add(FollowUp(engagement_id=started.id, kind="check_2w", due_on=TODAY))
    with pytest.raises(sa.exc.IntegrityError):
        session.flush()
    session.rollback()


def test_a_missing_slot_is_created_once(session, started):
    session.execute(sa.delete(FollowUp).where(FollowUp.engagement_id == started.id, FollowUp.kind == "result"))
    first = followups.slot(session, started, "result", now=NOW)
    assert followups.slot(session, started, "result", now=NOW).id == first.id
    assert (first.due_on, first.mandatory) == (TODAY, True)


def test_follow_ups_wait_for_the_start(session):
    engagement = make_engagement(session, make_demand(session, status="matched"), [make_craftsman(session)])
    follow_up = followups.slot(session, engagement, "check_2w", now=NOW)
    with pytest.raises(ServiceError) as error:
        followups.record_follow_up(session, follow_up, {"done_on": TODAY.isoformat()}, actor="test", now=NOW)
    assert error.value.code == "wrong_status"


def test_notes_are_append_only_and_corrections_stay_in_their_follow_up(session, started):
    check = _check(started)
    other = next(f for f in started.follow_ups if f.kind == "result")
    first = followups.add_note(session, check, {"body": "培训 12 人次"}, actor="test", now=NOW)
    later = NOW + dt.timedelta(hours=2)
    correction = followups.add_note(session, check, {"body": "更正：培训 21 人次", "corrects_id": first.id},
                                    actor="test", now=later)
    assert (correction.corrects_id, correction.created_at) == (first.id, later)
    assert session.get(FollowUpNote, first.id).body == "培训 12 人次"  # the original is untouched
    with pytest.raises(ServiceError):
        followups.add_note(session, other, {"body": "x", "corrects_id": first.id}, actor="test", now=NOW)
    with pytest.raises(ServiceError):
        followups.add_note(session, check, {"body": "   "}, actor="test", now=NOW)


@pytest.mark.parametrize(("filename", "content", "message"), [
    ("photo.gif", b"GIF89a", "only"),
    ("fake.png", b"%PDF-1.4 not a png", "does not match"),
    ("empty.pdf", b"", "empty"),
])
def test_attachments_are_checked_by_extension_and_content(session, service_app, started, tmp_path, filename,
                                                          content, message):
    service_app.config["UPLOAD_DIR"] = str(tmp_path)
    with pytest.raises(ServiceError) as error:
        followups.add_attachment(session, _check(started), filename=filename, stream=io.BytesIO(content),
                                 actor="test", now=NOW)
    with force_locale("en"):
        assert message in str(error.value.message) and error.value.field == "attachment"
    assert not any(tmp_path.rglob("*.*"))


def test_attachment_size_limit_and_storage(session, service_app, started, tmp_path):
    service_app.config.update(UPLOAD_DIR=str(tmp_path), ATTACHMENT_MAX_BYTES=100)
    try:
        with pytest.raises(ServiceError):
            followups.add_attachment(session, _check(started), filename="big.png",
                                     stream=io.BytesIO(PNG + b"\x00" * 100), actor="test", now=NOW)
        stored = followups.add_attachment(session, _check(started), filename="../../etc/现场.png",
                                          stream=io.BytesIO(PNG), actor="test", now=NOW)
    finally:
        del service_app.config["ATTACHMENT_MAX_BYTES"]
    assert stored.filename == "现场.png" and stored.size_bytes == len(PNG)
    assert (tmp_path / stored.storage_key).read_bytes() == PNG
    assert session.scalar(sa.select(sa.func.count()).select_from(Attachment)
                          .where(Attachment.follow_up_id == _check(started).id)) == 1
