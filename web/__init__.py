"""craftmatch web application: ``create_app()`` builds the app; it touches no database or network."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from web.config import load_config
from web.sessions import CookieSessionInterface


class CraftmatchApp(Flask):
    """Flask, with ``ensure_sync``'s answer kept per function: Flask asks ``inspect`` again on every call of
    every request hook (about fifteen a request), a twentieth of a public page's cost."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._synchronous: dict[Callable[..., Any], Callable[..., Any]] = {}

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        try:
            synchronous = self._synchronous.get(func)
        except TypeError:  # a method of an unhashable object
            return super().ensure_sync(func)
        if synchronous is None:
            synchronous = self._synchronous[func] = super().ensure_sync(func)
        return synchronous


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = CraftmatchApp(__name__)
    app.config.update(load_config(config))
    app.session_interface = CookieSessionInterface()

    from web import auth  # noqa: F401  (registers the user loader)
    from web.api import register_api
    from web.cli import register_cli
    from web.errors import bound_request_numbers, register_error_handlers
    from web.extensions import babel, compress, csrf, db, limiter, login_manager, mail
    from web.i18n import install_template_gettext, select_locale
    from web.security import register_security_headers
    from web.templating import register_template_helpers
    from web.views import register_views

    bound_request_numbers(app)  # before any route is added
    db.init_app(app)
    csrf.init_app(app)
    login_manager.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    install_template_gettext(app.jinja_env)
    limiter.init_app(app)
    mail.init_app(app)  # reads the MAIL_* settings only; connects when a message is sent
    compress.init_app(app)
    register_security_headers(app)
    register_template_helpers(app)
    register_views(app)
    register_api(app)
    register_error_handlers(app)
    register_cli(app)
    from web.views.page_replay import VisitorPageReplay

    app.wsgi_app = VisitorPageReplay(app, app.wsgi_app)
    if app.config["TRUSTED_PROXIES"]:  # behind N proxies the client is the N-th address from the right
        proxies = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # outside: the replay sees its scheme
    return app
