"""One error page for HTML and one JSON error shape for the API; never a bare 500."""

from __future__ import annotations

import logging
import re

from flask import Flask, jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from web.services.errors import ServiceError

log = logging.getLogger(__name__)
# C0 controls but tab, line feed and carriage return: no field takes them, and PostgreSQL refuses NUL outright.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def wants_json() -> bool:
    return request.path.startswith("/api/")


def error_body(status: int, code: str, message: str, errors: dict | None = None) -> dict:
    """The API's single error format."""
    return {"code": status, "status": code, "message": message, "errors": errors or {}}


def _has_control_characters() -> bool:
    values = [request.path]
    for source in (request.args, request.form):
        for key, items in source.lists():
            values.append(key)
            values.extend(items)
    return any(CONTROL_CHARACTERS.search(value) for value in values)


def register_error_handlers(app: Flask) -> None:
    @app.before_request
    def refuse_control_characters():
        if _has_control_characters():
            message = _("The request contains control characters (such as NUL) that no field accepts.")
            if wants_json():
                return jsonify(error_body(400, "bad_request", message)), 400
            return render_template("error.html", status=400, message=message), 400
        return None

    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError):
        message = _("The form expired or was sent from elsewhere. Please reload the page and try again.")
        if wants_json():
            return jsonify(error_body(400, "csrf", message)), 400
        return render_template("error.html", status=400, message=message), 400

    @app.errorhandler(ServiceError)
    def service_error(error: ServiceError):
        if wants_json():
            return jsonify(error_body(error.status_code, error.code, str(error.message), error.as_errors())), \
                error.status_code
        return render_template("error.html", status=error.status_code, message=str(error.message)), error.status_code

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        status = error.code or 500
        messages = {
            400: _("The request could not be understood."),
            403: _("You do not have permission to do this."),
            404: _("The page was not found."),
            405: _("This method is not allowed here."),
            413: _("The upload or form is too large."),
            429: _("Too many requests. Please wait a while and try again."),
        }
        message = messages.get(status, error.description or _("Something went wrong."))
        if wants_json():
            return jsonify(error_body(status, error.name.lower().replace(" ", "_"), message)), status
        return render_template("error.html", status=status, message=message), status

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception):
        if isinstance(error, HTTPException):
            return http_error(error)
        log.exception("unhandled error on %s", request.path)
        message = _("Something went wrong on our side. The error was logged; nothing was saved.")
        if wants_json():
            return jsonify(error_body(500, "internal_error", message)), 500
        return render_template("error.html", status=500, message=message), InternalServerError.code
