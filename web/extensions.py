"""Extension objects, created unbound here and bound to an app in ``create_app``."""

from flask import current_app, request, session
from flask_babel import Babel
from flask_compress import Compress
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_login.config import COOKIE_NAME
from flask_mailman import Mail
from flask_smorest import Api
from flask_wtf import CSRFProtect

from web.db import Database


class StaffLoginManager(LoginManager):
    """Flask-Login whose "strong" session protection guards logged-in sessions only. Stock Flask-Login also
    "protects" a visitor's session that holds just a CSRF token or a locale: on every request it marks the
    session for a remember-cookie deletion, so each page re-signs the session cookie and sends two
    Set-Cookie headers. Nothing is lost by skipping that: without a user id (and without a remember cookie,
    which this app never issues) there is no login to protect."""

    def _session_protection_failed(self) -> bool:
        remember_cookie = current_app.config.get("REMEMBER_COOKIE_NAME", COOKIE_NAME)
        if "_user_id" not in session and remember_cookie not in request.cookies:
            return False
        return super()._session_protection_failed()


db = Database()
csrf = CSRFProtect()
login_manager = StaffLoginManager()
babel = Babel()
# Every limit of the app counts writes (form posts, API submissions, failed logins), so a read is let through
# before the limiter looks at any limit: a GET of the public form costs no limiter work and no storage trip.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class WriteLimiter(Limiter):
    """Flask-Limiter that checks writes only (its request filters skip the limits of a read, not the work
    of resolving and evaluating them)."""

    def _check_request_limit(self, callable_name: str | None = None, in_middleware: bool = True) -> None:
        if request.method in SAFE_METHODS:
            return
        super()._check_request_limit(callable_name=callable_name, in_middleware=in_middleware)


limiter = WriteLimiter(key_func=get_remote_address, default_limits=[])
api = Api()
mail = Mail()
# Pages, CSS, JS and JSON go out compressed (zstd, brotli or gzip, as the browser accepts). Against BREACH: the
# session cookie is SameSite=Lax, so the many cross-site requests that attack needs carry no session.
compress = Compress()
