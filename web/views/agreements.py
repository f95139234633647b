"""Long-term cooperation agreements (长期合作协议): recorded from an engagement, listed, the document served to
staff who may see the engagement; and the enterprise's page with its demands and agreements."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import SelectChoice, SelectField, StringField, TextAreaField

from web.clock import local_today, utcnow
from web.extensions import db
from web.models import Demand, Engagement
from web.policy import AGREEMENT, EDITOR, ENGAGEMENT, ENTERPRISE, STAFF, current_record, policy, region_clause
from web.services import agreements as service
from web.services.demands import STATUS_LABELS as DEMAND_STATUS_LABELS
from web.services.errors import ServiceError
from web.views.actions import run_upload, send_stored_file
from web.views.forms import show_errors

bp = Blueprint("agreements", __name__, url_prefix="/workspace")
DOCUMENT_HINT = _l("The signed copy: PDF, DOCX or a scan (JPG, PNG), at most 5 MB.")


class AgreementForm(FlaskForm):
    craftsman_id = SelectField(_l("Craftsman"), choices=[], validate_choice=False)
    studio_id = SelectField(_l("Innovation studio"), choices=[], validate_choice=False)
    union_name = StringField(_l("Union"), render_kw={"maxlength": 120})
    starts_on = StringField(_l("Start date"), render_kw={"type": "date"})
    ends_on = StringField(_l("End date"), render_kw={"type": "date"})
    scope = TextAreaField(_l("Scope of the cooperation"), render_kw={"rows": 4, "maxlength": 5000})
    document = FileField(_l("Signed document"))


class DocumentForm(FlaskForm):
    document = FileField(_l("Signed document"))


def _visible():
    return region_clause(current_user, Demand.region_id)


def _upload(form: FlaskForm):
    upload = form.document.data
    return (upload.filename, upload.stream) if upload and getattr(upload, "filename", "") else None


@bp.get("/agreements/")
@policy(STAFF)
def index():
    shown = request.args.get("show", "")
    today = local_today()
    rows = service.listed(db.session, visible=_visible(), only=shown or None, today=today)
    return render_template("agreements/index.html", rows=rows, shown=shown, today=today, state=service.state,
                           labels=service.STATE_LABELS, counts=service.counts(db.session, today, _visible()))


@bp.route("/engagements/<int:engagement_id>/agreements/new", methods=["GET", "POST"])
@policy(EDITOR, record=ENGAGEMENT)
def new(engagement_id: int):
    engagement: Engagement = current_record()
    form = AgreementForm()
    members = [m.craftsman for m in engagement.members]
    form.craftsman_id.choices = [SelectChoice("", "—")] + [SelectChoice(str(c.id), c.name) for c in members]
    studios = {c.studio.id: c.studio.name for c in members if c.studio}
    form.studio_id.choices = [SelectChoice("", "—")] + [SelectChoice(str(i), name) for i, name in studios.items()]
    status = 200
    if request.method == "GET":
        form.union_name.data = service.default_union_name(engagement)
        form.starts_on.data = local_today().isoformat()
        if len(members) == 1:
            form.craftsman_id.data = str(members[0].id)
            form.studio_id.data = str(members[0].studio_id or "")
        form.scope.data = engagement.demand.title
    elif form.validate_on_submit():
        data = {name: form[name].data for name in ("craftsman_id", "studio_id", "union_name", "starts_on",
                                                   "ends_on", "scope") if form[name].data not in ("", None)}
        try:
            agreement = service.create_agreement(db.session, engagement, data, document=_upload(form),
                                                 actor=current_user, now=utcnow())
        except ServiceError as error:
            db.session.rollback()
            show_errors(form, error)
            status = 422
        else:
            db.session.commit()
            flash(_("The agreement is recorded."), "success")
            return redirect(url_for("agreements.show", agreement_id=agreement.id))
    else:
        abort(400)
    return render_template("agreements/form.html", e=engagement, form=form,
                           document_hint=DOCUMENT_HINT), status


@bp.get("/agreements/<int:agreement_id>")
@policy(STAFF, record=AGREEMENT)
def show(agreement_id: int):
    agreement = current_record()
    return render_template("agreements/show.html", a=agreement, parties=service.parties(agreement),
                           state=service.state(agreement, local_today()), labels=service.STATE_LABELS,
                           form=DocumentForm(), document_hint=DOCUMENT_HINT)


@bp.post("/agreements/<int:agreement_id>/document")
@policy(EDITOR, record=AGREEMENT)
def attach(agreement_id: int):
    agreement = current_record()
    run_upload(DocumentForm(), "document", lambda name, stream: service.attach_document(
        db.session, agreement, name, stream, actor=current_user, now=utcnow()), _("The document is attached."))
    return redirect(url_for("agreements.show", agreement_id=agreement.id))


@bp.get("/agreements/<int:agreement_id>/document")
@policy(STAFF, record=AGREEMENT)
def document(agreement_id: int):
    agreement = current_record()
    return send_stored_file(service.document_path(agreement), agreement.document_type, agreement.document_name)


@bp.get("/enterprises/<int:enterprise_id>")
@policy(STAFF, record=ENTERPRISE)
def enterprise(enterprise_id: int):
    company = current_record()
    demands = db.session.scalars(sa.select(Demand).where(Demand.enterprise_id == company.id, _visible())
                                 .order_by(Demand.submitted_at.desc()).limit(200)).all()
    today = local_today()
    return render_template("agreements/enterprise.html", company=company, demands=demands,
                           demand_labels=DEMAND_STATUS_LABELS, today=today, state=service.state,
                           labels=service.STATE_LABELS,
                           agreements=service.listed(db.session, visible=_visible(), enterprise_id=company.id,
                                                     today=today))
