"""Locale choice: Chinese first; English by a switch remembered in the session."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
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
    return parsed_locale(_chosen_code())


@cache
def parsed_locale(code: str) -> Locale:
    """``Locale.parse(code)``, parsed once per code."""
    return Locale.parse(code)


def _chosen_code() -> str:
    supported = current_app.config["LANGUAGES"]
    if not has_request_context():  # CLI commands and background jobs
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    asked = request.args.get("lang")
    if asked in supported:
        session[LOCALE_SESSION_KEY] = asked
        return asked
    return remembered_locale(session, current_app.config)


def remembered_locale(session_data: Mapping[str, Any], config: Mapping[str, Any]) -> str:
    """The locale of a request that asks for none (no ``?lang=``): the one its session remembers, else the default."""
    remembered = session_data.get(LOCALE_SESSION_KEY)
    return remembered if remembered in config["LANGUAGES"] else config["BABEL_DEFAULT_LOCALE"]


def is_english() -> bool:
    """The page is shown in English (the views pass it on to services that name things)."""
    from flask_babel import get_locale

    return str(get_locale() or "zh_CN").startswith("en")


# The catalogue fixed for a piece of work in one locale (a page's render, a sentence's description). Flask-Babel looks
# the app, the locale and the catalogue up again for every string (~10 µs; a round's review page asks ~1,300 times
# in its template and ~30 per proposal's sentence).
_fixed_translations: ContextVar[Any] = ContextVar("fixed_translations", default=None)


@contextmanager
def catalogue_fixed() -> Iterator[None]:
    """Within it, :func:`translations` is the catalogue of the locale in force on entry, found once. Enter it inside
    any ``force_locale``, never around one."""
    token = _fixed_translations.set(get_translations())
    try:
        yield
    finally:
        _fixed_translations.reset(token)


def translations() -> Any:
    """Flask-Babel's ``get_translations()``, or the catalogue :func:`catalogue_fixed` found."""
    return _fixed_translations.get() or get_translations()


class TranslatedTemplate(jinja2.Template):
    """A template whose ``_`` and ``ngettext`` use the catalogue of the locale in force when its render began
    (a page's locale does not change while it renders: ``force_locale`` is Python's, around a whole render)."""

    def render(self, *args: Any, **kwargs: Any) -> str:
        with catalogue_fixed():
            return super().render(*args, **kwargs)


def install_template_gettext(env: jinja2.Environment) -> None:
    """Templates render as :class:`TranslatedTemplate` with Flask-Babel's callables (same texts) reading its
    catalogue. Call after ``Babel.init_app``, before any template is loaded."""
    env.template_class = TranslatedTemplate
    env.install_gettext_callables(
        gettext=lambda string: translations().ugettext(string),
        ngettext=lambda singular, plural, n: translations().ungettext(singular, plural, n),
        pgettext=lambda context, string: translations().upgettext(context, string),
        npgettext=lambda context, singular, plural, n: translations().unpgettext(context, singular, plural, n),
        newstyle=True)
