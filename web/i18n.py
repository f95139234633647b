"""Locale choice: Chinese first; English by a switch remembered in the session."""

from __future__ import annotations

from functools import cache

from babel import Locale
from flask import current_app, has_request_context, request, session

LOCALE_SESSION_KEY = "locale"


def select_locale() -> Locale:
    """The request's locale, as a babel Locale parsed once per code (Flask-Babel parses a string per request)."""
    return _parsed(_chosen_code())


@cache
def _parsed(code: str) -> Locale:
    return Locale.parse(code)


def _chosen_code() -> str:
    supported = current_app.config["LANGUAGES"]
    if not has_request_context():  # CLI commands and background jobs
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    asked = request.args.get("lang")
    if asked in supported:
        session[LOCALE_SESSION_KEY] = asked
        return asked
    remembered = session.get(LOCALE_SESSION_KEY)
    if remembered in supported:
        return remembered
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def is_english() -> bool:
    """The page is shown in English (the views pass it on to services that name things)."""
    from flask_babel import get_locale

    return str(get_locale() or "zh_CN").startswith("en")
