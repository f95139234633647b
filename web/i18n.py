"""Locale choice: Chinese first; English by a switch remembered in the session."""

from __future__ import annotations

from flask import current_app, has_request_context, request, session

LOCALE_SESSION_KEY = "locale"


def select_locale() -> str:
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
