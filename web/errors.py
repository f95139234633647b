"""One error page for HTML and one JSON error shape for the API; never a bare 500.

The API's error contract (every route, the same status for the same kind of error):

- 400 ``bad_request``: the body cannot be read at all (not JSON, not UTF-8, nested too deeply), or a control
  character in the request;
- 401 / 403 / 404 / 405 / 413 / 415 / 429: as their names say;
- 422 ``validation``: the body was read but a value is wrong, including an unknown reference (a region,
  category, industry, skill… code that does not exist) and a number out of range;
- 503 ``unavailable``: the database cannot be reached; nothing was saved, try again shortly;
- 500 ``internal_error``: a bug (logged).

Out-of-range numbers in URLs never reach SQL: ids beyond ``MAX_URL_INTEGER`` do not match an ``<int:…>``
route (404), and ``request.args.get(…, type=int)`` treats them like any unreadable value (the default).
"""

from __future__ import annotations

import logging
import re

import sqlalchemy.exc as sa_exc
from flask import Flask, Request, g, jsonify, render_template, request
from flask_babel import gettext as _
from flask_login import AnonymousUserMixin
from flask_wtf.csrf import CSRFError
from markupsafe import escape
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter, ValidationError

from web.services.errors import ServiceError

log = logging.getLogger(__name__)
# C0 controls but tab, line feed and carriage return: no field takes them, and PostgreSQL refuses NUL outright.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
# Ids are 32-bit in PostgreSQL; no page, year or id a person types is larger.
MAX_URL_INTEGER = 2**31 - 1
RETRY_AFTER_SECONDS = 30


class BoundedIntegerConverter(IntegerConverter):
    """``<int:…>`` that does not match numbers beyond ``MAX_URL_INTEGER`` (a 404, not an overflow in SQL)."""

    def __init__(self, map, fixed_digits: int = 0, min: int | None = None,  # noqa: A002 - werkzeug's names
                 max: int | None = MAX_URL_INTEGER, signed: bool = False) -> None:
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)

    def to_python(self, value: str) -> int:
        if len(value) > len(str(MAX_URL_INTEGER)):  # int() of thousands of digits is slow or refused
            raise ValidationError()
        return super().to_python(value)


class BoundedArgs(ImmutableMultiDict):
    """Query and form values: ``get(key, type=int)`` answers the default for a number out of range too."""

    def get(self, key, default=None, type=None):  # noqa: A002 - werkzeug's signature
        value = super().get(key, default=default, type=type)
        if type is int and isinstance(value, int) and value is not default and abs(value) > MAX_URL_INTEGER:
            return default
        return value


class BoundedRequest(Request):
    parameter_storage_class = BoundedArgs


def bound_request_numbers(app: Flask) -> None:
    """Call before routes are added: the converter is looked up when a rule is compiled."""
    app.url_map.converters["int"] = BoundedIntegerConverter
    app.request_class = BoundedRequest


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


def is_concurrent_conflict(error: BaseException) -> bool:
    """Another request won a race for the same rows: PostgreSQL rolled this transaction back for its sake (a
    deadlock, a serialisation failure: SQLSTATE class 40), or a versioned row (an engagement, a round) changed
    since this request read it. The database is fine; after a reload the user sees what happened and may retry."""
    if isinstance(error, StaleDataError):
        return True
    return isinstance(error, sa_exc.DBAPIError) and str(getattr(error.orig, "sqlstate", None) or "").startswith("40")


def is_database_outage(error: BaseException) -> bool:
    """The database is unreachable or dropped the connection (not a bad statement of ours)."""
    if isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.TimeoutError
                  | sa_exc.DisconnectionError):
        return True
    return isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated


def is_out_of_range_value(error: BaseException) -> bool:
    """A value the database cannot hold (a number beyond its integer types…): the client's input, not a bug."""
    if isinstance(error, sa_exc.StatementError) and isinstance(error.orig, OverflowError):
        return True
    if isinstance(error, ValueError) and "integer string conversion" in str(error):
        return True  # int() of thousands of digits: Python refuses (sys.get_int_max_str_digits)
    return isinstance(error, OverflowError | sa_exc.DataError)


def _discard_session() -> None:
    """Roll the request's session back before rendering: after a failed statement PostgreSQL refuses every
    further query in the transaction, and the page layout queries (the logged-in user, the overdue count)."""
    session = g.pop("_craftmatch_session", None)
    if session is None:
        return
    try:
        session.close()
    except Exception:  # noqa: BLE001 - a dead connection cannot even roll back; the pool replaces it
        log.warning("could not close the session after an error", exc_info=True)


def error_response(status: int, code: str, message: str, errors: dict | None = None, *,
                   database_down: bool = False):
    """The JSON error (API) or the error page, whatever state the request's database session is in."""
    _discard_session()
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if status == 503 else {}
    if wants_json():
        return jsonify(error_body(status, code, message, errors)), status, headers
    if database_down:
        # the layout must not ask the database who is logged in: show the page as to a visitor
        g._login_user = AnonymousUserMixin()
    else:
        # a failed flush expired the user with the session just closed: Flask-Login loads him again, afresh
        g.pop("_login_user", None)
    try:
        return render_template("error.html", status=status, message=message), status, headers
    except Exception:  # noqa: BLE001 - the last resort must not fail: a page without the layout
        log.exception("the error page could not be rendered")
        page = f'<!doctype html><meta charset="utf-8"><title>{status}</title><h1>{status}</h1><p>{escape(message)}</p>'
        return page, status, {**headers, "Content-Type": "text/html; charset=utf-8"}


def register_error_handlers(app: Flask) -> None:
    @app.before_request
    def refuse_control_characters():
        if _has_control_characters():
            message = _("The request contains control characters (such as NUL) that no field accepts.")
            return error_response(400, "bad_request", message)
        return None

    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError):
        message = _("The form expired or was sent from elsewhere. Please reload the page and try again.")
        return error_response(400, "csrf", message)

    @app.errorhandler(ServiceError)
    def service_error(error: ServiceError):
        return error_response(error.status_code, error.code, str(error.message), error.as_errors())

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
            503: _("The service is temporarily unavailable; nothing was saved. Please try again in a few "
                   "minutes."),
        }
        message = messages.get(status, error.description or _("Something went wrong."))
        return error_response(status, error.name.lower().replace(" ", "_"), message)

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception):
        if isinstance(error, HTTPException):
            return http_error(error)
        if is_concurrent_conflict(error):
            log.warning("transaction rolled back for a concurrent one on %s: %s", request.path, error)
            message = _("Another change was saved at the same moment; nothing of yours was saved. Please reload the "
                        "page and try again.")
            return error_response(409, "conflict", message)
        if is_database_outage(error):
            log.error("database unavailable on %s: %s", request.path, error)
            message = _("The service is temporarily unavailable; nothing was saved. Please try again in a few "
                        "minutes.")
            return error_response(503, "unavailable", message, database_down=True)
        if is_out_of_range_value(error):
            log.warning("value out of range on %s: %s", request.path, error)
            message = _("A number or value in the request is out of range.")
            return error_response(422 if wants_json() else 400, "validation" if wants_json() else "bad_request",
                                  message)
        if isinstance(error, RecursionError):
            log.warning("nesting too deep on %s", request.path)
            return error_response(400, "bad_request", _("The request is nested too deeply to be read."))
        log.exception("unhandled error on %s", request.path)
        message = _("Something went wrong on our side. The error was logged; nothing was saved.")
        return error_response(500, "internal_error", message)
