"""Engagements (服务跟踪): due follow-ups, the engagement page, follow-up records, acceptance, completion, flags."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from sqlalchemy.orm import selectinload
from wtforms import (
    FieldList,
    Form,
    FormField,
    HiddenField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)

from web.clock import local_today, utcnow
from web.db import containing
from web.extensions import db
from web.models import (
    Agreement,
    Craftsman,
    Demand,
    Engagement,
    EngagementMember,
    Enterprise,
    Feedback,
    FollowUp,
    FollowUpNote,
    Outcome,
    User,
)
from web.models.engagements import ENGAGEMENT_STATUSES
from web.models.outcomes import OUTCOME_KINDS
from web.policy import (
    ATTACHMENT,
    CRAFTSMAN,
    EDITOR,
    ENGAGEMENT,
    FOLLOW_UP,
    STAFF,
    current_record,
    policy,
    region_clause,
)
from web.policy import scope as policy_scope
from web.schemas.engagements import MAX_OUTCOMES_PER_FOLLOW_UP
from web.services import agreements as agreements_service
from web.services import engagements as service
from web.services import flags, followups, points
from web.services.errors import ServiceError
from web.services.paging import paginate
from web.views.actions import run_service, run_upload, send_stored_file
from web.views.forms import show_errors

bp = Blueprint("engagements", __name__, url_prefix="/workspace/engagements")

OUTCOME_KIND_LABELS = {
    "patent": _l("Patent"), "method": _l("Work method"), "small_innovation": _l("Small innovation (“five smalls”)"),
    "standard": _l("Standard"), "course": _l("Course"),
}
PER_PAGE = 50


# ---------------------------------------------------------------- forms (thin: the schemas validate)
def _date(label):
    return StringField(label, render_kw={"type": "date"})


def _number(label, step="1"):
    return StringField(label, render_kw={"type": "number", "min": "0", "step": step})


class StartForm(FlaskForm):
    started_on = _date(_l("Start date"))


class VisitForm(FlaskForm):
    visited_on = _date(_l("Visit date"))
    craftsman_id = SelectField(_l("Craftsman"), choices=[], validate_choice=False)
    hours = _number(_l("Hours"), "0.5")
    note = TextAreaField(_l("What was done"))


class AcceptanceForm(FlaskForm):
    confirmed_by = StringField(_l("Confirmed by (enterprise contact)"))


class CompleteForm(FlaskForm):
    completed_on = _date(_l("Completion date"))
    override_reason = StringField(_l("Reason to complete with open follow-ups"))


class ReasonForm(FlaskForm):
    reason = StringField(_l("Reason"))


class OutcomeRow(Form):
    kind = SelectField(_l("Kind"), choices=[SelectChoice("", "—")]
                       + [SelectChoice(k, OUTCOME_KIND_LABELS[k]) for k in OUTCOME_KINDS], validate_choice=False)
    title = StringField(_l("Title"))
    reference = StringField(_l("Number or reference"))
    value_wan = _number(_l("Value (× 10,000 yuan)"), "0.01")


class FollowUpForm(FlaskForm):
    done_on = _date(_l("Date of the follow-up"))
    problems_solved = _number(_l("Problems solved"))
    value_created_wan = _number(_l("Value created / cost saved (× 10,000 yuan)"), "0.01")
    workers_trained = _number(_l("Workers trained (person-times)"))
    apprentices = _number(_l("Apprentices taken (mentor–apprentice pairing)"))
    note = TextAreaField(_l("Notes"))
    outcomes = FieldList(FormField(OutcomeRow), min_entries=3, max_entries=MAX_OUTCOMES_PER_FOLLOW_UP)
    attachment = FileField(_l("Photo or document"))


class NoteForm(FlaskForm):
    body = TextAreaField(_l("Note"))
    corrects_id = HiddenField()


class AttachmentForm(FlaskForm):
    attachment = FileField(_l("Photo or document"))


def _payload(form: FlaskForm, *names: str) -> dict[str, Any]:
    """Form data for a schema: blanks left out (the schema's defaults and required checks apply)."""
    return {name: form[name].data for name in names if form[name].data not in ("", None)}



# ---------------------------------------------------------------- scope and lookups
def _regional() -> sa.ColumnElement[bool] | None:
    """``_visible()`` for a coordinator of a city, None province-wide: then a count of engagements needs no join with
    demand (at 100,000 engagements the join made counting them 75 ms instead of 8)."""
    return None if policy_scope(current_user) is None else _visible()


def _visible() -> sa.ColumnElement[bool]:
    """A city's coordinator sees the engagements (of demands) of its own region and below."""
    return region_clause(current_user, Demand.region_id)


def _engagement(_engagement_id: int) -> Engagement:
    return current_record()  # loaded and checked by the route's policy


def _back(engagement: Engagement):
    return redirect(url_for("engagements.show", engagement_id=engagement.id))


@bp.app_context_processor
def overdue_follow_ups_in_header() -> dict[str, Any]:
    """``overdue_follow_ups()`` for the page header: the logged-in coordinator's overdue follow-ups."""
    def count() -> int:
        if not (current_user and current_user.is_authenticated):
            return 0
        if "overdue_follow_ups" not in g:  # the header and the home page's card both show it: counted once
            g.overdue_follow_ups = followups.overdue_count(db.session, local_today(), coordinator_id=current_user.id)
        return g.overdue_follow_ups

    return {"overdue_follow_ups": count}


# ---------------------------------------------------------------- lists
@bp.get("/")
@policy(STAFF)
def index():
    today = local_today()
    who = request.args.get("who", "mine")
    coordinator_id = current_user.id if who == "mine" else None
    due = followups.due_list(db.session, today, coordinator_id=coordinator_id, where=(_visible(),))
    status = request.args.get("status", "")
    page = request.args.get("page", 1, type=int) or 1
    regional = _regional()
    query = sa.select(Engagement) if regional is None else sa.select(Engagement).join(Demand).where(regional)
    query = query.options(selectinload(Engagement.demand).selectinload(Demand.enterprise),
                          selectinload(Engagement.members).selectinload(EngagementMember.craftsman))
    if status in ENGAGEMENT_STATUSES:
        query = query.where(Engagement.status == status)
    q = (request.args.get("q") or "").strip()[:100]
    if q:
        query = query.where(_matching(q))
    found = paginate(db.session, query.order_by(Engagement.id.desc()), page=page, per_page=PER_PAGE)
    coordinators = dict(db.session.execute(sa.select(User.id, User.display_name)).all())
    return render_template("engagements/index.html", due=due, today=today, who=who, rows=found.items, total=found.total,
                           pending_ratings=service.pending_feedback_count(db.session, regional), sync_form=FlaskForm(),
                           page=found.page, pages=found.pages, status=status, q=q,
                           statuses=ENGAGEMENT_STATUSES, labels=service.STATUS_LABELS,
                           kind_labels=service.KIND_LABELS, coordinators=coordinators)


def _matching(q: str) -> sa.ColumnElement[bool]:
    """Engagements whose demand (tracking code, title), enterprise or a craftsman serving contains ``q``."""
    demands = (sa.select(Demand.id).join(Enterprise, Enterprise.id == Demand.enterprise_id)
               .where(sa.or_(*(containing(column, q) for column in (Demand.tracking_code, Demand.title,
                                                                     Enterprise.name)))))
    members = (sa.select(EngagementMember.engagement_id).join(Craftsman, Craftsman.id == EngagementMember.craftsman_id)
               .where(containing(Craftsman.name, q)))
    return sa.or_(Engagement.demand_id.in_(demands), Engagement.id.in_(members))


@bp.get("/<int:engagement_id>")
@policy(STAFF, record=ENGAGEMENT)
def show(engagement_id: int):
    return _render_show(_engagement(engagement_id))


def _render_show(engagement: Engagement, status: int = 200, **bound: FlaskForm):
    """The engagement page; ``bound`` replaces a form by the one just posted (its errors shown next to fields)."""
    today = local_today()
    forms: dict[str, FlaskForm] = {
        "start_form": StartForm(formdata=None, data={"started_on": today.isoformat()}),
        "visit_form": VisitForm(formdata=None), "accept_form": AcceptanceForm(formdata=None),
        "complete_form": CompleteForm(formdata=None, data={"completed_on": today.isoformat()}),
        "cancel_form": ReasonForm(formdata=None), "noshow_form": ReasonForm(formdata=None),
    }
    forms.update(bound)
    forms["visit_form"].craftsman_id.choices = [SelectChoice("", "—")] + [
        SelectChoice(str(m.craftsman_id), m.craftsman.name) for m in engagement.members]
    blockers = service.completion_blockers(db.session, engagement, today) if engagement.status == "in_service" else []
    feedback = db.session.scalar(sa.select(Feedback).where(Feedback.demand_id == engagement.demand_id))
    agreements = db.session.scalars(sa.select(Agreement).where(Agreement.engagement_id == engagement.id)
                                    .order_by(Agreement.starts_on.desc(), Agreement.id.desc())).all()
    return render_template("engagements/show.html", e=engagement, today=today, blockers=blockers,
                           feedback=feedback, agreements=agreements, agreement_state=agreements_service.state,
                           agreement_labels=agreements_service.STATE_LABELS,
                           labels=service.STATUS_LABELS, kind_labels=service.KIND_LABELS,
                           member_labels=service.MEMBER_STATUS_LABELS,
                           member_roles=service.member_roles(db.session, Engagement.id == engagement.id), **forms), status


def _act(engagement_id: int, form_class, names: tuple[str, ...], action, done_message: str, slot: str):
    engagement = _engagement(engagement_id)
    form = form_class()
    if not form.validate_on_submit():
        abort(400)
    try:
        action(db.session, engagement, _payload(form, *names), actor=current_user, now=utcnow())
    except ServiceError as error:
        db.session.rollback()
        show_errors(form, error)
        return _render_show(db.session.get(Engagement, engagement_id), 422, **{slot: form})
    db.session.commit()
    flash(done_message, "success")
    return _back(engagement)


@bp.post("/<int:engagement_id>/start")
@policy(EDITOR, record=ENGAGEMENT)
def start(engagement_id: int):
    return _act(engagement_id, StartForm, ("started_on",), service.start_engagement,
                _("The service has started; follow-ups are scheduled."), "start_form")


@bp.post("/<int:engagement_id>/visits")
@policy(EDITOR, record=ENGAGEMENT)
def visit(engagement_id: int):
    return _act(engagement_id, VisitForm, ("visited_on", "craftsman_id", "hours", "note"), service.record_visit,
                _("The visit is logged."), "visit_form")


@bp.post("/<int:engagement_id>/accept")
@policy(EDITOR, record=ENGAGEMENT)
def accept(engagement_id: int):
    return _act(engagement_id, AcceptanceForm, ("confirmed_by",), service.record_acceptance,
                _("The enterprise's acceptance is recorded."), "accept_form")


@bp.post("/<int:engagement_id>/complete")
@policy(EDITOR, record=ENGAGEMENT)
def complete(engagement_id: int):
    return _act(engagement_id, CompleteForm, ("completed_on", "override_reason"), service.complete_engagement,
                _("The engagement is completed; the enterprise can now rate the service."), "complete_form")


@bp.post("/<int:engagement_id>/cancel")
@policy(EDITOR, record=ENGAGEMENT)
def cancel(engagement_id: int):
    return _act(engagement_id, ReasonForm, ("reason",), service.cancel_engagement,
                _("The engagement is cancelled; the demand is open again."), "cancel_form")


@bp.post("/<int:engagement_id>/members/<int:craftsman_id>/no-show")
@policy(EDITOR, record=ENGAGEMENT)
def no_show(engagement_id: int, craftsman_id: int):
    def action(session, engagement, data, *, actor, now):
        return service.mark_no_show(session, engagement, craftsman_id, data, actor=actor, now=now)

    return _act(engagement_id, ReasonForm, ("reason",), action, _("The no-show is recorded."), "noshow_form")


@bp.post("/ratings")
@policy(EDITOR)
def apply_ratings():
    """Apply the enterprises' new ratings: engagements become "evaluated", ratings of 4–5 earn points."""
    if not FlaskForm().validate_on_submit():
        abort(400)
    count = service.sync_feedback(db.session, _visible(), actor=current_user, now=utcnow())
    db.session.commit()
    flash(_("Ratings applied: %(count)d.", count=count), "success")
    return redirect(url_for("engagements.index"))


# ---------------------------------------------------------------- follow-ups
@bp.route("/<int:engagement_id>/follow-ups/<kind>", methods=["GET", "POST"])
@policy(STAFF, write=EDITOR, record=ENGAGEMENT)
def follow_up(engagement_id: int, kind: str):
    engagement = _engagement(engagement_id)
    existing = db.session.scalar(sa.select(FollowUp).where(FollowUp.engagement_id == engagement.id,
                                                           FollowUp.kind == kind))
    if kind not in service.KIND_LABELS:
        abort(404)
    if existing is not None and existing.done_on is not None:
        return redirect(url_for("engagements.follow_up_detail", follow_up_id=existing.id))
    form = FollowUpForm()
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                slot = followups.slot(db.session, engagement, kind, now=utcnow())
                followups.record_follow_up(db.session, slot, _follow_up_data(form), actor=current_user, now=utcnow())
                upload = form.attachment.data
                if upload and getattr(upload, "filename", ""):
                    followups.add_attachment(db.session, slot, filename=upload.filename, stream=upload.stream,
                                             actor=current_user, now=utcnow())
            except ServiceError as error:
                db.session.rollback()
                show_errors(form, error)
            else:
                db.session.commit()
                flash(_("The follow-up is recorded."), "success")
                return _back(engagement)
    elif not form.done_on.data:
        form.done_on.data = local_today().isoformat()
    return render_template("engagements/follow_up_form.html", e=engagement, kind=kind, form=form,
                           follow_up=existing, kind_labels=service.KIND_LABELS), 200 if not form.errors else 422


def _follow_up_data(form: FollowUpForm) -> dict[str, Any]:
    data = _payload(form, "done_on", "problems_solved", "value_created_wan", "workers_trained", "apprentices", "note")
    data["outcomes"] = [
        {key: value for key, value in row.data.items() if value not in ("", None)}
        for row in form.outcomes if row.form.kind.data or row.form.title.data
    ]
    return data


@bp.get("/follow-ups/<int:follow_up_id>")
@policy(STAFF, record=FOLLOW_UP)
def follow_up_detail(follow_up_id: int):
    follow_up = current_record()
    outcomes = db.session.scalars(sa.select(Outcome).where(Outcome.follow_up_id == follow_up.id))
    return render_template("engagements/follow_up.html", f=follow_up, e=follow_up.engagement,
                           note_titles={note.id: _note_title(note) for note in follow_up.notes},
                           note_form=NoteForm(), attachment_form=AttachmentForm(), outcomes=list(outcomes),
                           kind_labels=service.KIND_LABELS, outcome_labels=OUTCOME_KIND_LABELS)


def _note_title(note: FollowUpNote, length: int = 30) -> str:
    """A note as people name it: when it was written and how it begins (never its database id)."""
    first_line = note.body.strip().splitlines()[0] if note.body.strip() else ""
    start = first_line if len(first_line) <= length else first_line[:length] + "…"
    return f"{format_datetime(note.created_at, 'yyyy-MM-dd HH:mm')} · {start}"


@bp.post("/follow-ups/<int:follow_up_id>/notes")
@policy(EDITOR, record=FOLLOW_UP)
def add_note(follow_up_id: int):
    follow_up = current_record()
    form = NoteForm()
    if not form.validate_on_submit():
        abort(400)
    run_service(lambda: followups.add_note(db.session, follow_up, _payload(form, "body", "corrects_id"),
                                           actor=current_user, now=utcnow()), _("The note is added."))
    return redirect(url_for("engagements.follow_up_detail", follow_up_id=follow_up.id))


@bp.post("/follow-ups/<int:follow_up_id>/attachments")
@policy(EDITOR, record=FOLLOW_UP)
def add_attachment(follow_up_id: int):
    follow_up = current_record()
    run_upload(AttachmentForm(), "attachment", lambda name, stream: followups.add_attachment(
        db.session, follow_up, filename=name, stream=stream, actor=current_user, now=utcnow()),
        _("The file is attached."))
    return redirect(url_for("engagements.follow_up_detail", follow_up_id=follow_up.id))


@bp.get("/attachments/<int:attachment_id>")
@policy(STAFF, record=ATTACHMENT)
def attachment(attachment_id: int):
    row = current_record()
    return send_stored_file(followups.attachment_path(row), row.content_type, row.filename)


# ---------------------------------------------------------------- points and the review flags
@bp.get("/craftsmen/<int:craftsman_id>/points")
@policy(STAFF, record=CRAFTSMAN)
def points_ledger(craftsman_id: int):
    craftsman = current_record()
    return render_template("engagements/points.html", c=craftsman, entries=points.ledger(db.session, craftsman_id),
                           rule_labels=points.RULE_LABELS)


@bp.get("/flags")
@policy(STAFF)
def flag_list():
    rows = flags.flagged(db.session, local_today(), region_clause(current_user, Craftsman.region_id))
    return render_template("engagements/flags.html", rows=rows, form=ReasonForm(), reason_labels=flags.REASON_LABELS)


@bp.post("/flags/<int:craftsman_id>/<any(pause, exit):decision>")
@policy(EDITOR, record=CRAFTSMAN)
def flag_decision(craftsman_id: int, decision: str):
    craftsman = current_record()
    form = ReasonForm()
    if not form.validate_on_submit():
        abort(400)
    done = (_("Paused: %(name)s.", name=craftsman.name) if decision == "pause"
            else _("Left the pool: %(name)s.", name=craftsman.name))
    run_service(lambda: flags.decide(db.session, craftsman, decision, _payload(form, "reason"),
                                     actor=current_user, now=utcnow()), done)
    return redirect(url_for("engagements.flag_list"))

