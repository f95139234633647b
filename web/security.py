"""Security headers on every response (flask-talisman) and ``Cache-Control: no-store`` on dynamic pages.

- CSP: scripts, styles, images, fonts and connections from this site only; no inline script, no inline
  style (``style=""``), no event-handler attributes; no plugins; forms post only here; no framing by anyone
  (``frame-ancestors 'none'`` and ``X-Frame-Options: DENY`` for older browsers).
- ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: strict-origin-when-cross-origin``.
- HSTS in production only (``HSTS_ENABLED``), and only on requests that came over https: the app runs
  behind a TLS-terminating proxy that sets ``X-Forwarded-Proto``. The app does not redirect to https itself
  (``FORCE_HTTPS``, off by default) because the proxy does that.
- Every response but static files is ``no-store``: workspace pages and exports hold personal data, the
  public status pages an enterprise's own data, and every page with a form a session-bound CSRF token.
"""

from __future__ import annotations

from flask import Flask, Response, request
from flask_talisman import Talisman

CONTENT_SECURITY_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "font-src": "'self'",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
REFERRER_POLICY = "strict-origin-when-cross-origin"
CACHEABLE_ENDPOINTS = frozenset({"static"})


def register_security_headers(app: Flask) -> None:
    # One Talisman per app: it keeps its options on the instance, and tests build apps with different settings.
    Talisman(
        app,
        force_https=app.config["FORCE_HTTPS"],
        strict_transport_security=app.config["HSTS_ENABLED"],
        strict_transport_security_include_subdomains=False,  # other services of the domain are not ours
        content_security_policy=CONTENT_SECURITY_POLICY,
        frame_options="DENY",
        referrer_policy=REFERRER_POLICY,
        x_xss_protection=False,  # obsolete; the CSP does this job
        # the app's own cookie settings stand (Talisman would otherwise overwrite them)
        session_cookie_secure=app.config["SESSION_COOKIE_SECURE"],
        session_cookie_http_only=app.config["SESSION_COOKIE_HTTPONLY"],
        session_cookie_samesite=app.config["SESSION_COOKIE_SAMESITE"],
    )

    @app.after_request
    def no_store(response: Response) -> Response:
        if request.endpoint not in CACHEABLE_ENDPOINTS:
            response.headers["Cache-Control"] = "no-store"
        return response
