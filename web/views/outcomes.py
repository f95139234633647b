"""The outcome pool (创新成果库): browse and search, create and edit, export."""

from __future__ import annotations

import io

from flask import Blueprint, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import FloatField, IntegerField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from web.clock import utcnow
from web.extensions import db
from web.models import Outcome
from web.models.outcomes import OUTCOME_KINDS
from web.policy import EDITOR, OUTCOME, STAFF, current_record, policy, scope
from web.services import importing, reference
from web.services import outcomes as pool
from web.services.errors import ServiceError, ValidationFailed
from web.services.exporting import XLSX_MIMETYPE, single_sheet
from web.services.personal_data import record_export
from web.views.forms import show_errors

bp = Blueprint("outcomes", __name__, url_prefix="/workspace/outcomes")
KIND_LABELS = {"patent": _l("Patent"), "method": _l("Work method"), "small_innovation": _l("Small innovation (“five smalls”)"),
               "standard": _l("Standard"), "course": _l("Course")}
FILTER_KEYS = ("q", "kind", "industry", "year", "craftsman", "studio", "source")


class OutcomeForm(FlaskForm):
    kind = SelectField(_l("Kind"), choices=[SelectChoice(k, KIND_LABELS[k]) for k in OUTCOME_KINDS])
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=200)])
    description = TextAreaField(_l("About the outcome"), validators=[Length(max=4000)])  # not the demand's
    craftsman_id = IntegerField(_l("Craftsman number"), validators=[Optional()])
    studio = StringField(_l("Innovation studio"), validators=[Length(max=120)])
    industries = StringField(_l("Industries"), validators=[Length(max=300)])
    value_wan = FloatField(_l("Value created (× 10,000 yuan)"), validators=[Optional()])
    year = IntegerField(_l("Year"), validators=[Optional()])
    reference = StringField(_l("Reference (patent or standard number)"), validators=[Length(max=80)])


def _filters() -> dict[str, str]:
    return {key: request.args.get(key, "").strip() for key in FILTER_KEYS}


def _data(form: OutcomeForm) -> dict:
    try:
        resolver = importing.Resolver(db.session)
        industries = resolver.many(resolver.industries, form.industries.data or "",
            lambda code: _l("Unknown industry: %(code)s.", code=code))
    except ValueError as error:
        raise ValidationFailed({"industries": [str(error.args[0])]}) from None
    return {"kind": form.kind.data, "title": form.title.data or "", "description": form.description.data or "",
            "craftsman_id": form.craftsman_id.data, "studio": form.studio.data or "", "industries": industries,
            "value_wan": form.value_wan.data, "year": form.year.data, "reference": form.reference.data or ""}


@bp.get("/")
@policy(STAFF)
def index():
    filters = _filters()
    page = request.args.get("page", 1, type=int) or 1
    found = pool.list_outcomes(db.session, filters, scope=scope(current_user), page=page)
    return render_template("outcomes/index.html", rows=found.items, total=found.total, page=found.page,
                           pages=found.pages, filters=filters, kinds=KIND_LABELS,
                           industries=reference.filter_industries(db.session))


def _save(form: OutcomeForm, outcome: Outcome | None):
    regions = scope(current_user)
    try:
        if outcome is None:
            outcome = pool.create_outcome(db.session, _data(form), scope=regions, actor=current_user, now=utcnow())
        else:
            pool.update_outcome(db.session, outcome, _data(form), scope=regions, actor=current_user, now=utcnow())
    except ServiceError as error:
        db.session.rollback()
        show_errors(form, error)
        return None
    db.session.commit()
    flash(_("The outcome was saved."), "success")
    return redirect(url_for("outcomes.index", q=outcome.title))


@bp.route("/new", methods=["GET", "POST"])
@policy(EDITOR)
def create():
    form = OutcomeForm()
    if request.method == "GET" and request.args.get("craftsman", "").isdigit():
        form.craftsman_id.data = int(request.args["craftsman"])
    if form.validate_on_submit() and (response := _save(form, None)) is not None:
        return response
    return render_template("outcomes/form.html", form=form, outcome=None)


@bp.route("/<int:outcome_id>/edit", methods=["GET", "POST"])
@policy(EDITOR, record=OUTCOME)  # another region's outcome: 403
def edit(outcome_id: int):
    outcome = current_record()
    form = OutcomeForm()
    if request.method == "GET":
        data = pool.form_data(outcome)
        data["industries"] = "、".join(i.name_zh for i in outcome.industries)
        form.process(data=data)
    elif form.validate_on_submit() and (response := _save(form, outcome)) is not None:
        return response
    return render_template("outcomes/form.html", form=form, outcome=outcome)


@bp.get("/export.xlsx")
@policy(STAFF)  # outcomes name craftsmen but hold no contact data
def export():
    query = pool.filtered_query(db.session, _filters(), scope=scope(current_user))
    rows = [[o.id, str(KIND_LABELS[o.kind]), o.title, o.description, o.craftsman.name if o.craftsman else "",
             o.studio.name if o.studio else "", "、".join(i.name_zh for i in o.industries), o.value_wan, o.year,
             o.reference or "", "follow-up" if o.follow_up_id else ""]
            for o in db.session.scalars(query.order_by(Outcome.id))]
    record_export(db.session, what="outcomes", rows=len(rows), filters=_filters(), actor=current_user, now=utcnow())
    db.session.commit()
    header = ["编号 / id", "类型 / kind", "名称 / title", "简介 / description", "工匠 / craftsman",
              "工作室 / studio", "行业 / industries", "节创价值（万元）/ value", "年份 / year", "编号 / reference",
              "来源 / source"]
    return send_file(io.BytesIO(single_sheet("outcomes 成果", header, rows)), mimetype=XLSX_MIMETYPE,
                     as_attachment=True, download_name=f"outcomes-{utcnow():%Y%m%d}.xlsx")
