"""A visitor's fresh public form, answered again without Flask's request cycle once Flask has answered it.

``shared_form_page`` fills a page rendered once (per locale and reference version) with a CSRF token and a
one-time key. Under gunicorn Flask's cycle around that was two thirds of a worker's CPU per page (request
context, session, locale, login, limiter, control-character and header hooks; py-spy, benchmarks/NOTES.md),
and for a visitor whose session holds only its CSRF secret (and a chosen locale) every one of them gives the
same answer each time. This WSGI middleware replays that answer: the status and headers Flask sent, the body
with a new token and key.

It replays only what it has seen. A request goes through Flask until Flask has answered the same request
(path, script root, host, scheme, locale, Accept-Encoding) twice from the shared page, with the same status and
headers, no cookie set, and exactly the shared page's bytes with the values the view reported (so no hook
changed the body). Any other request goes to Flask: another method, a query string, a cookie besides the
session's, an ``Authorization`` header, a session holding anything but the CSRF secret and the locale (a
login, a message), a bad or expired signature, reference data not checked within its trusted age, a page the
cache has dropped.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import BadSignature, URLSafeTimedSerializer, want_bytes
from werkzeug.http import parse_cookie

from web.i18n import LOCALE_SESSION_KEY, remembered_locale
from web.services import reference
from web.views.demand_form import new_submission_key, reference_max_age
from web.views.slotted_page import SHARED_PAGE_ENVIRON, SharedPage

MAX_VISITORS = 10_000  # verified Cookie headers remembered (a few MB), then forgotten
MAX_ANSWERS = 256  # requests remembered (browsers send a handful of Accept-Encoding values): then forgotten


@dataclass(frozen=True)
class _Visitor:
    token_payload: bytes  # the CSRF secret as Flask-WTF's serializer dumps it, before timestamp and signature
    locale: str
    signed_at: int  # the session cookie's timestamp


@dataclass(frozen=True)
class _Answer:
    page_key: tuple[str, ...]
    status: str
    headers: tuple[tuple[str, str], ...]  # all but Content-Length
    gzipped: bool
    confirmed: bool  # Flask answered so twice


class VisitorPageReplay:
    """WSGI middleware around Flask's ``wsgi_app`` (inside ProxyFix, so that it sees the request's real scheme)."""

    def __init__(self, app: Flask, wsgi_app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        self._paths: set[str] = set()  # paths Flask answered from a shared page
        self._answers: dict[tuple[Any, ...], _Answer] = {}
        self._csrf: dict[Any, URLSafeTimedSerializer] = {}
        self._visitors: dict[tuple[URLSafeTimedSerializer, str], _Visitor] = {}

    def forget(self) -> None:
        """Forget every answer and visitor seen (tests start from a cold replay)."""
        self._paths.clear()
        self._answers.clear()
        self._visitors.clear()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") in self._paths and environ["REQUEST_METHOD"] == "GET" \
                and not environ.get("QUERY_STRING"):
            visitor = self._visitor(environ)
            if visitor is not None:
                key = (environ["PATH_INFO"], environ.get("SCRIPT_NAME", ""), environ.get("HTTP_HOST"),
                       environ["wsgi.url_scheme"], visitor.locale, environ.get("HTTP_ACCEPT_ENCODING"))
                answer = self._answers.get(key)
                page = self._page(answer.page_key) if answer is not None and answer.confirmed else None
                if page is not None:
                    body = page.body((self._csrf_token(visitor), new_submission_key()), answer.gzipped)
                    start_response(answer.status, [*answer.headers, ("Content-Length", str(len(body)))])
                    return [body]
                return self._learn(key, environ, start_response)
        result = self.wsgi_app(environ, start_response)
        if SHARED_PAGE_ENVIRON in environ:
            self._paths.add(environ["PATH_INFO"])
        return result

    def _visitor(self, environ: dict[str, Any]) -> _Visitor | None:
        """The visitor whose session holds nothing but a CSRF secret and a locale; None for anything else. A
        Cookie header once verified is remembered (a browser sends the same one with each page): only the
        session's age is checked again, as Flask's ``open_session`` checks it."""
        app = self.app
        interface = app.session_interface
        header = environ.get("HTTP_COOKIE")
        if not header or "HTTP_AUTHORIZATION" in environ or not isinstance(interface, SecureCookieSessionInterface):
            return None
        serializer = interface.get_signing_serializer(app)
        if serializer is None:
            return None
        max_age = int(app.permanent_session_lifetime.total_seconds())
        visitor = self._visitors.get((serializer, header))
        if visitor is None:
            visitor = self._verified_visitor(serializer, header, max_age)
            if visitor is None:
                return None
            if len(self._visitors) >= MAX_VISITORS:
                self._visitors.clear()
            self._visitors[serializer, header] = visitor
        return visitor if 0 <= int(time.time()) - visitor.signed_at <= max_age else None

    def _verified_visitor(self, serializer: URLSafeTimedSerializer, header: str, max_age: int) -> _Visitor | None:
        cookies = parse_cookie(header)
        name = self.app.session_interface.get_cookie_name(self.app)
        if len(cookies) != 1 or name not in cookies:
            return None
        try:  # as Flask's open_session reads it
            data, signed = serializer.loads(cookies[name], max_age=max_age, return_timestamp=True)
        except BadSignature:
            return None
        field = self.app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
        if not isinstance(data, dict) or not isinstance(data.get(field), str) \
                or not set(data) <= {field, LOCALE_SESSION_KEY}:
            return None
        return _Visitor(want_bytes(self._csrf_serializer().dump_payload(data[field])),
                        remembered_locale(data, self.app.config), int(signed.timestamp()))

    def _csrf_serializer(self) -> URLSafeTimedSerializer:
        """Flask-WTF's ``generate_csrf`` serializer, built once per key."""
        key = self.app.config.get("WTF_CSRF_SECRET_KEY") or self.app.secret_key
        serializer = self._csrf.get(key)
        if serializer is None:
            serializer = self._csrf[key] = URLSafeTimedSerializer(key, salt="wtf-csrf-token")
        return serializer

    def _csrf_token(self, visitor: _Visitor) -> str:
        """What ``generate_csrf`` gives this visitor now: ``dumps`` of its secret, whose payload is the same
        each time (only the timestamp and the signature change)."""
        return self._csrf_serializer().make_signer().sign(visitor.token_payload).decode()

    def _page(self, page_key: tuple[str, ...]) -> Any:
        data = reference.trusted(key=self.app.config["DATABASE_URL"], max_age=reference_max_age(self.app))
        return None if data is None else data.derived_if_built(page_key)

    def _learn(self, key: tuple[Any, ...], environ: dict[str, Any], start_response: Callable[..., Any]):
        """Flask answers; an answer from the shared page is kept, and confirmed when the previous one matched."""
        sent: list[Any] = []

        def recording_start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None):
            sent[:] = [status, headers]
            return start_response(status, headers, exc_info)

        result = self.wsgi_app(environ, recording_start_response)
        shared: SharedPage | None = environ.get(SHARED_PAGE_ENVIRON)
        if shared is None or not sent:
            return result
        try:
            body = b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        status, headers = sent
        kept = tuple((name, value) for name, value in headers if name.lower() != "content-length")
        if status.startswith("200 ") and body == shared.page.body(shared.values, shared.gzipped) \
                and not any(name.lower() == "set-cookie" for name, _value in kept):
            answer = _Answer(shared.key, status, kept, shared.gzipped, confirmed=False)
            previous = self._answers.get(key)
            if len(self._answers) >= MAX_ANSWERS:
                self._answers.clear()
            same = previous is not None and dataclasses.replace(previous, confirmed=False) == answer
            self._answers[key] = dataclasses.replace(answer, confirmed=same)
        return [body]
