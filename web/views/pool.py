"""The craftsman pool (劳模工匠资源库): list, profile, create/edit, pause/exit, import, export."""

from __future__ import annotations

import io

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy.orm import selectinload
from wtforms import (
    BooleanField,
    DateField,
    IntegerField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional

from web.clock import local_today, utcnow
from web.extensions import db
from web.i18n import is_english
from web.models import (
    Craftsman,
    CraftsmanHonour,
    CraftsmanSkill,
    Engagement,
    EngagementMember,
    Feedback,
    HonourLevel,
    Outcome,
    PointsEntry,
    Skill,
)
from web.models.craftsmen import CRAFTSMAN_STATUSES
from web.policy import CRAFTSMAN, EDITOR, STAFF, covers, current_record, policy
from web.policy import scope as policy_scope
from web.services import bulk, importing, reference
from web.services import craftsmen as pool
from web.services.engagements import MEMBER_STATUS_LABELS
from web.services.engagements import STATUS_LABELS as ENGAGEMENT_STATUS_LABELS
from web.services.errors import ServiceError, ValidationFailed
from web.services.exporting import XLSX_MIMETYPE, single_sheet
from web.services.personal_data import record_export
from web.views import imports
from web.views.bulk import BulkForm, report
from web.views.forms import show_errors

bp = Blueprint("pool", __name__, url_prefix="/workspace/craftsmen")


class CraftsmanForm(FlaskForm):
    """A thin form: its text cells are read like an import row and validated by CraftsmanSchema."""

    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=40)])
    gender = SelectField(_l("Gender"), choices=[SelectChoice("M", _l("Male")), SelectChoice("F", _l("Female"))])
    phone = StringField(_l("Mobile"), validators=[DataRequired(), Length(max=20)])
    email = StringField(_l("E-mail (optional)"), validators=[Length(max=120)], render_kw={"type": "email"})
    employer = StringField(_l("Employer"), validators=[DataRequired(), Length(max=120)])
    region = StringField(_l("Region"), validators=[DataRequired(), Length(max=60)])
    honours = StringField(_l("Honours"), validators=[Length(max=300)])
    skills = StringField(_l("Skills"), validators=[Length(max=500)])
    industries = StringField(_l("Industries"), validators=[Length(max=300)])
    studio = StringField(_l("Innovation studio"), validators=[Length(max=120)])
    can_onsite = BooleanField(_l("Serves on site"), default=True)
    can_remote = BooleanField(_l("Serves remotely"))
    travel_radius_km = IntegerField(_l("Travel radius (km)"), default=200, validators=[Optional()])
    yearly_capacity = IntegerField(_l("Services per year"), default=6, validators=[Optional()])
    round_capacity = IntegerField(_l("Demands per round"), default=1, validators=[Optional()])
    bio = TextAreaField(_l("Profile"), validators=[Length(max=2000)])


class PauseForm(FlaskForm):
    until = DateField(_l("Paused until"), validators=[Optional()])
    reason = StringField(_l("Reason"), validators=[Length(max=200)], id="pause_reason")  # ids unique on the page


class ExitForm(FlaskForm):
    reason = StringField(_l("Reason for leaving"), validators=[DataRequired(), Length(max=200)], id="exit_reason")
    on = DateField(_l("Date of leaving"), validators=[DataRequired()])
    decline_scheduled = BooleanField(_l("Decline the scheduled engagements"))


# ---------------------------------------------------------------- helpers
def _filters() -> dict[str, str]:
    return {key: request.args.get(key, "").strip() for key in pool.FILTER_KEYS}


def _scope():
    return policy_scope(current_user)


def _choices():
    session = db.session
    return {
        "honours": session.scalars(sa.select(HonourLevel).order_by(HonourLevel.rank.desc())).all(),
        "industries": reference.filter_industries(session),
        "skills": session.scalars(sa.select(Skill).where(Skill.parent_id.is_(None)).order_by(Skill.id)).all(),
        "statuses": CRAFTSMAN_STATUSES,
        "regions": reference.filter_regions(session, english=is_english()),
    }


def _form_to_data(form: CraftsmanForm) -> dict:
    cells = {key: str(getattr(form, key).data or "") for key in
             ("name", "gender", "phone", "employer", "region", "honours", "skills", "industries", "studio", "bio")}
    data, problems = importing.row_to_data(cells, importing.Resolver(db.session))
    data["email"] = form.email.data or ""
    data["can_onsite"] = form.can_onsite.data
    data["can_remote"] = form.can_remote.data
    for key in ("travel_radius_km", "yearly_capacity", "round_capacity"):
        value = getattr(form, key).data
        if value is not None:
            data[key] = value
    if problems:
        raise ValidationFailed({column: [str(message)] for column, message in problems})
    return data


FORM_FIELD = {"region_code": "region", "honours": "honours", "skills": "skills", "industries": "industries"}



def _prefill(form: CraftsmanForm, craftsman: Craftsman) -> None:
    form.name.data = craftsman.name
    form.gender.data = craftsman.gender
    form.phone.data = craftsman.phone
    form.email.data = craftsman.email
    form.employer.data = craftsman.employer
    form.region.data = craftsman.region.code
    form.honours.data = "、".join(h.honour.name_zh for h in craftsman.honours)
    form.skills.data = "、".join(f"{s.skill.name_zh}:{s.proficiency}" for s in craftsman.skills)
    form.industries.data = "、".join(i.name_zh for i in craftsman.industries)
    form.studio.data = craftsman.studio.name if craftsman.studio else ""
    form.can_onsite.data = craftsman.can_onsite
    form.can_remote.data = craftsman.can_remote
    form.travel_radius_km.data = craftsman.travel_radius_km
    form.yearly_capacity.data = craftsman.yearly_capacity
    form.round_capacity.data = craftsman.round_capacity
    form.bio.data = craftsman.bio


# ---------------------------------------------------------------- list, profile
@bp.get("/")
@policy(STAFF)
def craftsmen():
    return _render_list()


def _render_list(bulk_form: CraftsmanBulkForm | None = None, status: int = 200):
    """The pool list; ``bulk_form``: the bulk form just posted (its errors next to its fields, its ticks kept)."""
    filters = _filters()
    page = request.args.get("page", 1, type=int) or 1
    found = pool.list_craftsmen(db.session, filters, scope=_scope(), page=page,
                                search_phones=current_user.can_edit())  # viewers see numbers masked
    if bulk_form is None:
        bulk_form = CraftsmanBulkForm(formdata=None)
    bulk_form.set_actions(bulk.CRAFTSMAN_ACTIONS)
    return render_template("pool/list.html", rows=found.items, total=found.total, page=found.page, pages=found.pages,
                           filters=filters, bulk_form=bulk_form, **_choices()), status


class CraftsmanBulkForm(BulkForm):
    until = DateField(_l("Paused until"), validators=[Optional()])
    reason = StringField(_l("Reason"), validators=[Length(max=200)])


@bp.post("/bulk")
@policy(EDITOR)  # the records are looked up within the user's regions (the list's own query)
def bulk_action():
    """Pause or resume the ticked craftsmen, or every craftsman matching the filter."""
    form = CraftsmanBulkForm()
    form.set_actions(bulk.CRAFTSMAN_ACTIONS)
    if not form.validate():
        if form.csrf_token.errors:
            abort(400)
        return _render_list(form, 422)
    try:
        base = pool.filtered_query(db.session, _filters(), scope=_scope(), search_phones=True)
        records = bulk.selected(db.session, base, Craftsman, form.chosen_ids(), everything=form.all_matching.data)
        result = bulk.craftsman_action(db.session, records, form.action.data,
                                       {"until": form.until.data, "reason": form.reason.data},
                                       actor=current_user, now=utcnow())
    except ServiceError as error:
        db.session.rollback()
        show_errors(form, error)
        return _render_list(form, 422)
    db.session.commit()
    report(result, str(bulk.CRAFTSMAN_ACTIONS[form.action.data]))
    return redirect(url_for("pool.craftsmen", **request.args), 303)


@bp.get("/<int:craftsman_id>")
@policy(STAFF, record=CRAFTSMAN)
def profile(craftsman_id: int):
    return _render_profile(current_record())


def _render_profile(craftsman: Craftsman, *, status: int = 200, pause_form: FlaskForm | None = None,
                    exit_form: FlaskForm | None = None):
    session = db.session
    engagements = session.execute(
        sa.select(Engagement, EngagementMember.status, Feedback.rating)
        .join(EngagementMember, EngagementMember.engagement_id == Engagement.id)
        .outerjoin(Feedback, Feedback.engagement_id == Engagement.id)
        .where(EngagementMember.craftsman_id == craftsman.id)
        .options(selectinload(Engagement.demand))
        .order_by(Engagement.created_at.desc()).limit(100)
    ).all()
    ratings = [rating for _, _, rating in engagements if rating is not None]
    points = session.scalars(sa.select(PointsEntry).where(PointsEntry.craftsman_id == craftsman.id)
                             .order_by(PointsEntry.created_at.desc()).limit(50)).all()
    outcomes = session.scalars(sa.select(Outcome).where(Outcome.craftsman_id == craftsman.id)
                               .order_by(Outcome.id.desc()).limit(50)).all()
    return render_template("pool/profile.html", c=craftsman, engagements=engagements, points=points,
                           average_rating=(sum(ratings) / len(ratings)) if ratings else None, outcomes=outcomes,
                           pause_form=pause_form or PauseForm(), exit_form=exit_form or ExitForm(on=local_today()),
                           live=pool.live_engagements(session, craftsman) if craftsman.status != "exited" else [],
                           engagement_labels=ENGAGEMENT_STATUS_LABELS, member_labels=MEMBER_STATUS_LABELS), status


# ---------------------------------------------------------------- create, edit
def _save(form: CraftsmanForm, craftsman: Craftsman | None, done: str):
    """Create (``craftsman`` None) or update from the form; errors go next to the fields, nothing saved."""
    try:
        data = _form_to_data(form)
        if craftsman is None:
            craftsman = pool.create_craftsman(db.session, data, actor=current_user, now=utcnow())
        else:
            data["status"] = craftsman.status
            pool.update_craftsman(db.session, craftsman, data, actor=current_user, now=utcnow())
        if not covers(current_user, craftsman.region_id):
            raise ServiceError(_l("You may only add craftsmen of your own region."), field="region")
    except ServiceError as error:
        db.session.rollback()
        show_errors(form, error, FORM_FIELD)
        return None
    db.session.commit()
    flash(done, "success")
    return redirect(url_for("pool.profile", craftsman_id=craftsman.id))


@bp.route("/new", methods=["GET", "POST"])
@policy(EDITOR)
def create():
    form = CraftsmanForm()
    if form.validate_on_submit():
        response = _save(form, None, _("The craftsman was added to the pool."))
        if response is not None:
            return response
    return render_template("pool/form.html", form=form, craftsman=None)


@bp.route("/<int:craftsman_id>/edit", methods=["GET", "POST"])
@policy(EDITOR, record=CRAFTSMAN)
def edit(craftsman_id: int):
    craftsman = current_record()
    form = CraftsmanForm()
    if request.method == "GET":
        _prefill(form, craftsman)
    elif form.validate_on_submit():
        response = _save(form, craftsman, _("The changes were saved."))
        if response is not None:
            return response
    return render_template("pool/form.html", form=form, craftsman=craftsman)


# ---------------------------------------------------------------- pause, resume, exit
def _status_change(craftsman_id: int, form: FlaskForm, form_name: str | None, invalid: str, change, done: str):
    """Validate ``form``, call ``change(craftsman, form)``, commit and flash. Refused: the profile again with the
    form as typed and its errors at the fields (a reason typed for a pause or an exit is not lost), nothing saved."""
    craftsman = current_record()
    if not form.validate_on_submit():
        flash(invalid, "error")
    else:
        try:
            change(craftsman, form)
        except ServiceError as error:
            db.session.rollback()
            show_errors(form, error)
        else:
            db.session.commit()
            flash(done, "success")
            return redirect(url_for("pool.profile", craftsman_id=craftsman_id))
    return _render_profile(craftsman, status=422, **({form_name: form} if form_name else {}))


@bp.post("/<int:craftsman_id>/pause")
@policy(EDITOR, record=CRAFTSMAN)
def pause(craftsman_id: int):
    return _status_change(
        craftsman_id, PauseForm(), "pause_form", _("Check the pause date."),
        lambda c, f: pool.pause_craftsman(db.session, c, until=f.until.data, reason=f.reason.data or "",
                                          actor=current_user, now=utcnow()),
        _("The craftsman is paused and will not be matched meanwhile."))


@bp.post("/<int:craftsman_id>/resume")
@policy(EDITOR, record=CRAFTSMAN)
def resume(craftsman_id: int):
    return _status_change(
        craftsman_id, FlaskForm(), None, _("The form expired; please try again."),
        lambda c, _f: pool.resume_craftsman(db.session, c, actor=current_user, now=utcnow()),
        _("The craftsman is active again."))


@bp.post("/<int:craftsman_id>/exit")
@policy(EDITOR, record=CRAFTSMAN)
def exit_pool(craftsman_id: int):
    return _status_change(
        craftsman_id, ExitForm(), "exit_form", _("Give the reason and the date of leaving."),
        lambda c, f: pool.exit_craftsman(db.session, c, reason=f.reason.data, on=f.on.data,
                                         decline_scheduled=f.decline_scheduled.data, actor=current_user, now=utcnow()),
        _("The craftsman has left the pool; the history is kept."))


# ---------------------------------------------------------------- import
@bp.route("/import", methods=["GET", "POST"])
@policy(EDITOR)
def import_upload():
    return imports.upload_page(importing.CRAFTSMAN_IMPORT, "pool/import.html", "pool.import_preview")


@bp.get("/import/<token>")
@policy(EDITOR)
def import_preview(token: str):
    staged = imports.staged_or_redirect(token, importing.CRAFTSMAN_IMPORT, "pool.import_upload")
    return render_template("imports/preview.html", report=staged.report, form=imports.ConfirmImportForm(),
                           heading=_("Import preview"), upload_url=url_for("pool.import_upload"), show_updates=True,
                           unchanged_label=_("Unchanged"), verdict_labels=importing.VERDICT_LABELS)


@bp.post("/import/<token>")
@policy(EDITOR)
def import_confirm(token: str):
    staged = imports.staged_or_redirect(token, importing.CRAFTSMAN_IMPORT, "pool.import_upload")
    form = imports.ConfirmImportForm()
    report = imports.confirm_staged(staged, form, lambda sheet: importing.apply_import(
        db.session, sheet, skip_invalid=form.skip_invalid.data, actor=current_user, now=utcnow(), scope=_scope()))
    if report is None:
        return redirect(url_for("pool.import_preview", token=token))
    flash(_("Import done: %(create)d added, %(update)d updated, %(unchanged)d unchanged, %(skipped)d rows skipped.",
            create=report.create, update=report.update, unchanged=report.unchanged,
            skipped=report.skipped_rows), "success")
    return redirect(url_for("pool.craftsmen"))


@bp.get("/import/template.xlsx")
@policy(STAFF)
def import_template():
    return send_file(_bytes_io(importing.template_bytes()), mimetype=XLSX_MIMETYPE, as_attachment=True,
                     download_name="craftsmen_import_template.xlsx")


@bp.get("/import/sample.csv")
@policy(STAFF)
def import_sample():
    """A filled sheet of 20 invented craftsmen, to try the import on the demo pool."""
    return send_file(_bytes_io(importing.sample_sheet_bytes()), mimetype="text/csv", as_attachment=True,
                     download_name="craftsmen_import_sample.csv")


# ---------------------------------------------------------------- export
@bp.get("/export.xlsx")
@policy(EDITOR)  # a file of mobile numbers: not for read-only viewers
def export():
    query = pool.filtered_query(db.session, _filters(), scope=_scope()).options(
        selectinload(Craftsman.region), selectinload(Craftsman.studio), selectinload(Craftsman.industries),
        selectinload(Craftsman.honours).selectinload(CraftsmanHonour.honour),
        selectinload(Craftsman.skills).selectinload(CraftsmanSkill.skill)).order_by(Craftsman.id)
    rows = ([c.name, {"M": "男", "F": "女"}[c.gender], c.phone, c.employer, c.region.code,
             "、".join(h.honour.name_zh for h in c.honours),
             "、".join(f"{s.skill.name_zh}:{s.proficiency}" for s in c.skills),
             "、".join(i.name_zh for i in c.industries), c.studio.name if c.studio else "",
             "、".join(m for m, on in (("线下", c.can_onsite), ("线上", c.can_remote)) if on),
             c.travel_radius_km, c.yearly_capacity, c.round_capacity, c.bio, c.status]
            for c in db.session.scalars(query))
    rows = list(rows)
    record_export(db.session, what="craftsmen", rows=len(rows), filters=_filters(), actor=current_user, now=utcnow())
    db.session.commit()
    header = importing.template_header() + ["状态 / status"]
    content = single_sheet("craftsmen 工匠", header, rows)
    return send_file(_bytes_io(content), mimetype=XLSX_MIMETYPE, as_attachment=True,
                     download_name=f"craftsmen-{utcnow():%Y%m%d}.xlsx")


def _bytes_io(content: bytes) -> io.BytesIO:
    return io.BytesIO(content)
