"""Coordinators review enterprise demands: the inbox and the review page with its actions.

Staff read; coordinators and admins act (POST forms with CSRF). A coordinator limited to a
region sees only the demands of that region and the regions under it.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import HiddenField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields import SelectChoice, SelectMultipleField

from web.clock import utcnow
from web.extensions import db
from web.i18n import is_english
from web.models import AuditLog, Demand, DemandCategory, DemandStatusEvent, User
from web.models.demands import URGENCIES
from web.policy import DEMAND, EDITOR, STAFF, covers, current_record, policy, visible_to
from web.services import bulk, reference, tracking
from web.services import demands as service
from web.services.errors import ServiceError
from web.views.bulk import BulkForm, report
from web.views.demand_form import Marked, category_choices, choices_of, labels, skill_choices
from web.views.forms import show_errors
from web.views.team_roles import roles_data, roles_field, show_roles

bp = Blueprint("demands", __name__, url_prefix="/workspace/demands")
bp.context_processor(labels)

PER_PAGE = 25
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class ApproveForm(FlaskForm):
    note = TextAreaField(_l("Note for the enterprise (optional)"), render_kw={"rows": 2, "maxlength": 1000})
    version = HiddenField()


class ReasonForm(FlaskForm):
    text = TextAreaField(_l("Text"), [Marked()], render_kw={"rows": 3, "maxlength": 1000})
    version = HiddenField()


class MergeForm(FlaskForm):
    target_code = StringField(_l("Tracking code of the demand to keep"), [Marked()],
                              render_kw={"placeholder": "SC-2026-XXXXXX", "maxlength": 40})
    version = HiddenField()


class LiaisonForm(FlaskForm):
    liaison_id = SelectField(_l("Liaison coordinator"), validate_choice=False)
    version = HiddenField()


class EditForm(FlaskForm):
    title = StringField(_l("Title of the demand"), [Marked()], render_kw={"maxlength": 120})
    description = TextAreaField(_l("Description"), [Marked()], render_kw={"rows": 8})
    category_code = SelectField(_l("Demand category"), [Marked()], validate_choice=False)
    skills = SelectMultipleField(_l("Skills needed"), validate_choice=False)
    other_skills = StringField(_l("Other skills (not in the list)"), render_kw={"maxlength": 200})
    team_size = StringField(_l("Craftsmen wanted"), render_kw={"type": "number", "min": 1, "max": 10})
    roles = roles_field()
    urgency = RadioField(_l("Urgency"), validate_choice=False, choices=choices_of(service.URGENCY_LABELS))
    mode = RadioField(_l("Service mode"), validate_choice=False, choices=choices_of(service.MODE_LABELS))
    version = HiddenField()

    FIELDS = ("title", "description", "category_code", "skills", "other_skills", "team_size", "urgency", "mode")


FORMS = {"approve": ApproveForm, "reject": ReasonForm, "ask": ReasonForm, "withdraw": ReasonForm,
         "merge": MergeForm, "liaison": LiaisonForm}
REASON_ACTIONS = {"reject": service.reject, "ask": service.request_info, "withdraw": service.withdraw}
REASON_LABELS = {"reject": _l("Reason (the enterprise reads it)"), "ask": _l("Question to the enterprise"),
                 "withdraw": _l("Reason for withdrawing")}
# The audit log in words: what was done, and which fields changed (the raw codes stay in the database).
# Who acted, when it was no staff account: the words the audit list shows instead of the internal name.
AUDIT_ACTOR_LABELS = {
    "public": _l("The enterprise (public form)"), "cli": _l("Command line"), "system": _l("The system"),
    "worker": _l("Background worker"),
}
AUDIT_ACTION_LABELS = {
    "demand.submit": _l("Submitted"), "demand.enter": _l("Entered by a coordinator for the enterprise"),
    "demand.edit": _l("Edited by a coordinator"),
    "demand.approve": _l("Approved"), "demand.reject": _l("Rejected"),
    "demand.request_info": _l("Asked for more information"), "demand.answer_info": _l("Enterprise answered"),
    "demand.merge": _l("Merged into another demand"), "demand.withdraw": _l("Withdrawn"),
    "demand.assign_liaison": _l("Liaison coordinator set"), "demand.status": _l("Status changed"),
    "demand.evaluate": _l("Rated by the enterprise"),
}
AUDIT_FIELD_LABELS = {
    "tracking_code": _l("Tracking code"), "status": _l("Status"), "title": _l("Title"),
    "description": _l("Description"), "category_id": _l("Demand category"), "team_size": _l("Craftsmen wanted"),
    "mode": _l("Service mode"), "urgency": _l("Urgency"), "region_id": _l("Region"),
    "other_skills": _l("Other skills"), "review_note": _l("Note to the enterprise"),
    "info_request": _l("Question to the enterprise"), "info_response": _l("Enterprise's answer"),
    "liaison_id": _l("Liaison coordinator"), "merged_into_id": _l("Merged into"), "skills": _l("Skills"),
    "note": _l("Note"),
}
DONE_MESSAGES = {
    "approve": _l("The demand is approved and open for matching."),
    "reject": _l("The demand was rejected; the enterprise sees the reason."),
    "ask": _l("The question was sent; the enterprise answers on its status page."),
    "withdraw": _l("The demand was withdrawn."),
    "merge": _l("The demand was merged."),
    "liaison": _l("The liaison coordinator was saved."),
}


# --- the inbox ----------------------------------------------------------------------------------


def _date_arg(name: str) -> dt.date | None:
    raw = _arg(name)
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        flash(_("Ignored the date %(value)s: use the form 2026-11-23.", value=raw[:20]), "warning")
        return None


def _arg(name: str) -> str | None:
    """A query argument as plain text (no control characters, at most 100 characters), or None."""
    value = _CONTROL.sub("", request.args.get(name, "")).strip()[:100]
    return value or None


def _number(raw: str | None) -> int | None:
    return int(raw) if raw and raw.isascii() and raw.isdigit() and len(raw) < 10 else None


def _filters() -> service.InboxFilters:
    status, urgency = _arg("status"), _arg("urgency")
    return service.InboxFilters(
        status=status if status in service.STATUS_LABELS else None,
        category=_arg("category"), region=_arg("region"), industry=_arg("industry"),
        urgency=urgency if urgency in URGENCIES else None,
        date_from=_date_arg("from"), date_to=_date_arg("to"), q=_arg("q"), ageing=_arg("ageing") == "1",
    )


def _filter_options() -> dict[str, Any]:
    session = db.session
    regions = reference.filter_regions(session, english=is_english())
    return {
        "categories": session.scalars(sa.select(DemandCategory).order_by(DemandCategory.sort)).all(),
        "industries": reference.filter_industries(session),
        "regions": regions, "urgencies": URGENCIES,
    }


@bp.get("/")
@policy(STAFF)
def inbox():
    return _render_inbox()


def _render_inbox(bulk_form: DemandBulkForm | None = None, status: int = 200):
    """The inbox; ``bulk_form``: the bulk form just posted (its errors next to its fields, its ticks kept)."""
    filters = _filters()
    page = service.inbox(db.session, current_user, filters, page=_number(_arg("page")) or 1, per_page=PER_PAGE,
                         now=utcnow())
    args = {key: value for key, value in request.args.items() if key != "page" and value}
    liaisons = _user_names({d.liaison_id for d in page.items if d.liaison_id})
    status_args = {key: value for key, value in args.items() if key != "status"}
    return render_template("demands/inbox.html", page=page, filters=filters, args=args, status_args=status_args,
                           liaisons=liaisons, bulk_form=_bulk_form(bulk_form),
                           **_filter_options()), status


class DemandBulkForm(BulkForm):
    reason = TextAreaField(_l("Reason (each enterprise reads it)"), render_kw={"rows": 2, "maxlength": 1000})
    liaison_id = SelectField(_l("Liaison coordinator"), choices=[], validate_choice=False)


def _bulk_form(form: DemandBulkForm | None = None) -> DemandBulkForm:
    form = form or DemandBulkForm(formdata=None)
    form.set_actions(bulk.DEMAND_ACTIONS)
    form.liaison_id.choices = _liaison_choices()
    return form


@bp.post("/bulk")
@policy(EDITOR)  # the records are looked up within the user's regions (the inbox's own query)
def bulk_action():
    """Approve, reject or assign a liaison to the ticked demands, or to every demand matching the filter."""
    form = _bulk_form(DemandBulkForm())
    if not form.validate():
        abort(400)
    try:
        records = bulk.selected(db.session, service.filtered(db.session, current_user, _filters(), utcnow()), Demand,
                                form.chosen_ids(), everything=form.all_matching.data)
        result = bulk.demand_action(db.session, records, form.action.data,
                                    {"reason": form.reason.data, "liaison_id": _number(form.liaison_id.data)},
                                    actor=current_user, now=utcnow())
    except ServiceError as error:
        db.session.rollback()
        show_errors(form, error, {"text": "reason"})
        return _render_inbox(form, 422)
    db.session.commit()
    report(result, str(bulk.DEMAND_ACTIONS[form.action.data]))
    return redirect(url_for("demands.inbox", **request.args), 303)


# --- the review page ----------------------------------------------------------------------------


def _user_names(ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict(db.session.execute(sa.select(User.id, User.display_name).where(User.id.in_(ids))).all())


def _forms(demand: Demand, **given: FlaskForm) -> dict[str, FlaskForm]:
    version = service.version_of(demand)
    forms = {action: given.get(action) or form_class(prefix=action) for action, form_class in FORMS.items()}
    for action, label in REASON_LABELS.items():
        forms[action].text.label.text = label
    forms["liaison"].liaison_id.choices = _liaison_choices()
    if forms["liaison"].liaison_id.data is None:
        forms["liaison"].liaison_id.data = str(demand.liaison_id or "")
    for form in forms.values():
        form.version.data = version
    return forms


def _liaison_choices() -> list[SelectChoice]:
    coordinators = db.session.execute(
        sa.select(User.id, User.display_name).where(User.active.is_(True), User.role.in_(("admin", "coordinator")))
        .order_by(User.display_name)).all()
    return [SelectChoice("", _("— nobody —"))] + [SelectChoice(str(user_id), name) for user_id, name in coordinators]


def _render_review(demand: Demand, status: int = 200, **given: FlaskForm):
    session = db.session
    events = session.scalars(sa.select(DemandStatusEvent).where(DemandStatusEvent.demand_id == demand.id)
                             .order_by(DemandStatusEvent.at, DemandStatusEvent.id)).all()
    audits = session.scalars(sa.select(AuditLog).where(AuditLog.entity_type == "demand",
                                                       AuditLog.entity_id == demand.id)
                             .order_by(AuditLog.at.desc(), AuditLog.id.desc()).limit(50)).all()
    liaisons = {entry.get("liaison_id") for a in audits for entry in (a.before or {}, a.after or {})}
    names = _user_names({e.actor_id for e in events if e.actor_id} | {a.actor_id for a in audits if a.actor_id}
                        | ({demand.liaison_id} if demand.liaison_id else set())
                        | {i for i in liaisons if isinstance(i, int)})
    duplicates = service.possible_duplicates(session, [demand], current_user).get(demand.id, [])
    merged_from = session.scalars(visible_to(sa.select(Demand).where(Demand.merged_into_id == demand.id),
                                             current_user, Demand.region_id)).all()
    page = render_template(
        "demands/review.html", demand=demand, events=events, audits=audits, names=names, duplicates=duplicates,
        merged_from=merged_from, ageing=service.is_ageing(demand, utcnow()), forms=_forms(demand, **given),
        can_edit=current_user.can_edit(), allowed=_allowed(demand),
        audit_actions=AUDIT_ACTION_LABELS, audit_actors=AUDIT_ACTOR_LABELS, audit_fields=AUDIT_FIELD_LABELS, status_labels=service.STATUS_LABELS,
        mode_labels=service.MODE_LABELS, urgency_labels=service.URGENCY_LABELS,
        merged_into=session.get(Demand, demand.merged_into_id) if demand.merged_into_id else None,
    )
    return page, status


def _allowed(demand: Demand) -> dict[str, bool]:
    return {
        "approve": demand.status in service.APPROVE_FROM, "reject": demand.status in service.REJECT_FROM,
        "ask": demand.status in service.ASK_FROM, "withdraw": demand.status in service.WITHDRAW_FROM,
        "merge": demand.status in service.MERGE_FROM, "edit": demand.status in service.EDIT_IN,
        "liaison": demand.status not in service.CLOSED,
    }


@bp.get("/<int:demand_id>")
@policy(STAFF, record=DEMAND)  # outside the coordinator's region looks the same as missing
def review(demand_id: int):
    return _render_review(current_record())


def _run(action: str, form: Any, demand: Demand, now: dt.datetime) -> None:
    common = {"actor": current_user, "now": now, "version": form.version.data}
    if action == "approve":
        service.approve(db.session, demand, note=form.note.data or "", **common)
    elif action in REASON_ACTIONS:
        REASON_ACTIONS[action](db.session, demand, {"text": form.text.data or ""}, **common)
    elif action == "merge":
        code = tracking.normalize_code(form.target_code.data)
        target = db.session.scalar(sa.select(Demand).where(Demand.tracking_code == code)) if code else None
        if target is not None and not covers(current_user, target.region_id):
            # a demand outside the coordinator's region is answered like a missing one
            raise ServiceError(_l("No demand has this tracking code."), field="target_code")
        service.merge(db.session, demand, form.target_code.data or "", **common)
    else:
        service.assign_liaison(db.session, demand, _number(form.liaison_id.data), **common)


@bp.post("/<int:demand_id>/<action>")
@policy(EDITOR, record=DEMAND)
def act(demand_id: int, action: str):
    if action not in FORMS:
        abort(404)
    demand = current_record()
    form = FORMS[action](prefix=action)
    if not form.validate():
        flash(_("The form expired. Please try again."), "error")
        return _render_review(demand, 400)
    try:
        _run(action, form, demand, utcnow())
        db.session.commit()
    except ServiceError as error:
        db.session.rollback()
        show_errors(form, error)
        db.session.refresh(demand)
        return _render_review(demand, error.status_code if error.status_code != 400 else 422, **{action: form})
    flash(str(DONE_MESSAGES[action]), "success")
    return redirect(url_for("demands.review", demand_id=demand.id), 303)


@bp.route("/<int:demand_id>/edit", methods=["GET", "POST"])
@policy(EDITOR, record=DEMAND)
def edit(demand_id: int):
    demand = current_record()
    form = EditForm()
    status = 200
    if request.method == "GET":
        form.title.data, form.description.data = demand.title, demand.description
        form.category_code.data = demand.category.code
        form.skills.data = [link.skill.code for link in demand.skills]
        form.other_skills.data, form.team_size.data = demand.other_skills, str(demand.team_size)
        form.urgency.data, form.mode.data = demand.urgency, demand.mode
        show_roles(form.roles, demand.roles, skill_choices(form.skills)["skill_label"])
        form.version.data = service.version_of(demand)
    elif not form.validate():
        flash(_("The form expired. Please try again."), "error")
        status = 400
    else:
        data = {name: form[name].data for name in EditForm.FIELDS}
        data["skills"] = [code for code in data["skills"] or [] if code]
        data = {key: "" if value is None else value for key, value in data.items()}
        data["roles"] = roles_data(form.roles)
        try:
            service.edit(db.session, demand, data, actor=current_user, now=utcnow(), version=form.version.data)
            db.session.commit()
        except ServiceError as error:
            db.session.rollback()
            show_errors(form, error)
            status = 422
        else:
            flash(_("The changes were saved; the enterprise's original text is kept."), "success")
            return redirect(url_for("demands.review", demand_id=demand.id), 303)
    form.category_code.choices = category_choices(_("Choose a category"))
    return render_template("demands/edit.html", demand=demand, form=form, **skill_choices(form.skills)), status
