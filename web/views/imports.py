"""What the craftsman and the demand import pages share: the upload form, the staged upload kept between
preview and confirmation (per user and kind), and the upload step. Not a view: the pool and the staff
intake views import it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import current_app, flash, redirect, render_template, url_for
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


def staged_or_gone(token: str, kind: importing.ImportKind) -> importing.StagedImport | None:
    """The upload of this kind kept for this user; another user's token is as unknown as an expired one."""
    staged = importing.load_staged(stash_dir(), token, kind)
    if staged is None or staged.owner_id != current_user.id:
        flash(_("This import has expired or was already confirmed; upload the sheet again."), "error")
        return None
    return staged


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
            return render_template(template, form=form, limits=importing.LIMITS, **context), 422
        return redirect(url_for(preview_endpoint, token=staged.token))
    return render_template(template, form=form, limits=importing.LIMITS, **context)
