"""What the craftsman and the demand import pages share: the upload form, the staged upload kept between
preview and confirmation (per user and kind), and the upload step. Not a view: the pool and the staff
intake views import it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import abort, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import BooleanField

from web.clock import utcnow
from web.extensions import db
from web.policy import scope
from web.services import importing
from web.services.errors import ServiceError


class ImportForm(FlaskForm):
    file = FileField(_l("Sheet (.xlsx or .csv)"),
                     validators=[FileRequired(), FileAllowed(["xlsx", "csv"], _l("Upload an .xlsx or .csv file."))])


class ConfirmImportForm(FlaskForm):
    skip_invalid = BooleanField(_l("Skip the rows with errors and import the others"))


def stash_dir() -> Path:
    return importing.staging_directory(current_app.config["UPLOAD_DIR"])


def staged_or_redirect(token: str, kind: importing.ImportKind, upload_endpoint: str) -> importing.StagedImport:
    """The upload of this kind kept for this user, or back to the upload page (another user's token is as
    unknown as an expired one)."""
    staged = importing.load_staged(stash_dir(), token, kind)
    if staged is None or staged.owner_id != current_user.id:
        flash(_("This import has expired or was already confirmed; upload the sheet again."), "error")
        abort(redirect(url_for(upload_endpoint)))
    return staged


def confirm_staged(staged: importing.StagedImport, form: ConfirmImportForm,
                   apply: Callable[[importing.ParsedSheet], importing.ImportReport]) -> importing.ImportReport | None:
    """Check the confirmation form (CSRF), write the kept rows with ``apply``, commit and drop the upload.
    A refusal (rows with errors, not skipped) is flashed and None returned: nothing was written."""
    if not form.validate_on_submit():
        abort(400)
    try:
        report = apply(staged.sheet)
    except ServiceError as error:
        db.session.rollback()
        flash(str(error.message), "error")
        return None
    db.session.commit()
    importing.discard_staged(stash_dir(), staged.token)
    return report


def upload_page(kind: importing.ImportKind, template: str, preview_endpoint: str, **context: Any):
    """The upload step: the sheet is parsed and checked once, here; the preview and the confirmation read
    what is kept. A refused file is answered at the field (422)."""
    form = ImportForm()
    if form.validate_on_submit():
        upload = form.file.data
        try:
            staged = importing.stage_import(db.session, stash_dir(), upload.read(), upload.filename or "",
                                            owner_id=current_user.id, now=utcnow(), scope=scope(current_user),
                                            kind=kind)
        except ServiceError as error:
            db.session.rollback()
            form.file.errors.append(str(error.message))
            return render_template(template, form=form, limits=kind.limits, **context), 422
        return redirect(url_for(preview_endpoint, token=staged.token))
    return render_template(template, form=form, limits=kind.limits, **context)
