"""Demands that come in by phone, on paper or in WeChat: a coordinator enters one on the enterprise's behalf,
or imports a sheet of them (preview, row errors, all-or-nothing confirm).

The staff form is the public form (``demand_form.DemandForm``, the same schema and checks) plus how the
demand came in; it is not rate-limited like the public form. The enterprise still gets its tracking code:
on a printable confirmation page, and queued in the outbox to its contact.
"""

from __future__ import annotations

import io

from flask import Blueprint, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import BooleanField, RadioField

from web.clock import utcnow
from web.extensions import db
from web.policy import DEMAND, EDITOR, STAFF, current_record, policy
from web.policy import scope as policy_scope
from web.services import demand_import, importing
from web.services.exporting import XLSX_MIMETYPE
from web.services.staff_intake import INTAKE_CHANNELS, enter_demand
from web.views import imports
from web.views.demand_form import (
    DemandForm,
    choices_of,
    labels,
    new_submission_key,
    render_demand_form,
    run_demand_form,
)

bp = Blueprint("staff_intake", __name__, url_prefix="/workspace/intake")
bp.context_processor(labels)


class StaffDemandForm(DemandForm):
    """The public form, entered by a coordinator: how the demand came in, and whether to send the code."""

    channel = RadioField(_l("How the demand came in"), validate_choice=False, default="phone",
                         choices=choices_of(INTAKE_CHANNELS))
    notify = BooleanField(_l("Send the tracking code to the enterprise's contact (SMS, or e-mail if given)"),
                          default=True)


class ConfirmDemandImportForm(imports.ConfirmImportForm):
    approve = BooleanField(_l("Approve the new demands at once: they are open for the next matching round"))


def _render(form: StaffDemandForm, status: int = 200):
    form.consent.label.text = _("The enterprise agreed that the trade union stores these data to match its demand "
                                "with craftsmen and contacts it about it.")
    return render_demand_form(form, "demands/enter.html", status, cache_fields=False)


@bp.route("/new", methods=["GET", "POST"])
@policy(EDITOR)
def new_demand():
    form = StaffDemandForm()
    if request.method == "GET" or not form.submission_key.data:
        form.submission_key.data = new_submission_key()
    if request.method == "GET":
        return _render(form)
    entered_demand, status = run_demand_form(form, lambda data: enter_demand(
        db.session, data, channel=form.channel.data or "", notify=form.notify.data, actor=current_user, now=utcnow()),
        _("Please correct the marked fields; nothing was saved yet."))
    if entered_demand is None:
        return _render(form, status)
    demand, message = entered_demand
    if message is not None:
        flash(_("The tracking code is queued in the outbox for %(address)s.", address=message.address), "success")
    return redirect(url_for("staff_intake.entered", demand_id=demand.id), 303)


@bp.get("/<int:demand_id>/entered")
@policy(STAFF, record=DEMAND)
def entered(demand_id: int):
    """The tracking code for the enterprise, printable (handed over or read out on the phone)."""
    return render_template("demands/entered.html", demand=current_record(), now=utcnow())


# ---------------------------------------------------------------- import
@bp.route("/import", methods=["GET", "POST"])
@policy(EDITOR)
def import_upload():
    return imports.upload_page(demand_import.DEMAND_IMPORT, "demands/import.html", "staff_intake.import_preview")


def _render_preview(staged: importing.StagedImport, form: ConfirmDemandImportForm):
    return render_template("imports/preview.html", report=staged.report, form=form,
                           heading=_("Demand import preview"), upload_url=url_for("staff_intake.import_upload"),
                           show_updates=False, unchanged_label=_("Already imported"),
                           verdict_labels={**importing.VERDICT_LABELS, "unchanged": _l("Already imported")})


@bp.get("/import/<token>")
@policy(EDITOR)
def import_preview(token: str):
    staged = imports.staged_or_redirect(token, demand_import.DEMAND_IMPORT, "staff_intake.import_upload")
    return _render_preview(staged, ConfirmDemandImportForm())


@bp.post("/import/<token>")
@policy(EDITOR)
def import_confirm(token: str):
    staged = imports.staged_or_redirect(token, demand_import.DEMAND_IMPORT, "staff_intake.import_upload")
    form = ConfirmDemandImportForm()
    report = imports.confirm_staged(staged, form, lambda sheet: demand_import.apply_demands(
        db.session, sheet, skip_invalid=form.skip_invalid.data, approve=form.approve.data, actor=current_user,
        now=utcnow(), scope=policy_scope(current_user)))
    if report is None:
        return _render_preview(staged, form), 422
    flash(_("Import done: %(create)d demands added, %(unchanged)d already imported, %(skipped)d rows skipped.",
            create=report.create, unchanged=report.unchanged, skipped=report.skipped_rows), "success")
    return redirect(url_for("demands.inbox", status="open" if form.approve.data else "submitted"))


@bp.get("/import/template.xlsx")
@policy(STAFF)
def import_template():
    return send_file(io.BytesIO(demand_import.template_bytes()), mimetype=XLSX_MIMETYPE, as_attachment=True,
                     download_name="demands_import_template.xlsx")
