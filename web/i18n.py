"""Locale choice: Chinese first; English by a switch remembered in the session."""

from __future__ import annotations

from contextvars import ContextVar
from functools import cache
from typing import Any

import jinja2
from babel import Locale
from flask import current_app, has_request_context, request, session
from flask_babel import get_translations

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


# The catalogue of the template being rendered. Flask-Babel's template ``_`` looks the app, the locale and the
# catalogue up again for every string (~10 µs; a round's review page asks ~1,300 times).
_render_translations: ContextVar[Any] = ContextVar("render_translations", default=None)


class TranslatedTemplate(jinja2.Template):
    """A template whose ``_`` and ``ngettext`` use the catalogue of the locale in force when its render began
    (a page's locale does not change while it renders: ``force_locale`` is Python's, around a whole render)."""

    def render(self, *args: Any, **kwargs: Any) -> str:
        token = _render_translations.set(get_translations())
        try:
            return super().render(*args, **kwargs)
        finally:
            _render_translations.reset(token)


def _translations() -> Any:
    return _render_translations.get() or get_translations()


def install_template_gettext(env: jinja2.Environment) -> None:
    """Templates render as :class:`TranslatedTemplate` with Flask-Babel's callables (same texts) reading its
    catalogue. Call after ``Babel.init_app``, before any template is loaded."""
    env.template_class = TranslatedTemplate
    env.install_gettext_callables(
        gettext=lambda string: _translations().ugettext(string),
        ngettext=lambda singular, plural, n: _translations().ungettext(singular, plural, n),
        pgettext=lambda context, string: _translations().upgettext(context, string),
        npgettext=lambda context, singular, plural, n: _translations().unpgettext(context, singular, plural, n),
        newstyle=True)
