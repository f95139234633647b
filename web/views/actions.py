"""The end of a POST handler that changes something: run the service, then commit once or report why not."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import IO

from flask import abort, flash, send_file
from flask_babel import gettext as _
from flask_wtf import FlaskForm

from web.extensions import db
from web.services.errors import ServiceError


def run_service(call: Callable[[], object], done: str) -> bool:
    """Call the service; commit and flash ``done``, or roll back and flash its error. True when saved."""
    try:
        call()
    except ServiceError as error:
        db.session.rollback()
        flash(str(error.message), "error")
        return False
    db.session.commit()
    flash(done, "success")
    return True


def send_stored_file(path: Path | None, mimetype: str | None, filename: str | None):
    """An uploaded file as a download (404 when it is not on disk): attachments, agreement documents."""
    if path is None or not path.is_file():
        abort(404)
    return send_file(path, mimetype=mimetype, download_name=filename, as_attachment=True)


def run_upload(form: FlaskForm, field: str, call: Callable[[str, IO[bytes]], object], done: str) -> bool:
    """The file posted in ``form[field]`` handed to ``call(filename, stream)`` as ``run_service`` does; a post
    without a file is answered "choose a file". True when saved."""
    upload = form[field].data if form.validate_on_submit() else None
    if upload is None or not getattr(upload, "filename", ""):
        flash(_("Choose a file to attach."), "error")
        return False
    return run_service(lambda: call(upload.filename, upload.stream), done)
