"""Bearer tokens on the JSON API: ``token_required(blp, scope)`` checks and documents what an operation needs.

A missing, unknown, revoked or expired token, or one of a deactivated user, answers 401; a valid token
without the operation's scope answers 403 — both in the app's one JSON error shape, with the
``WWW-Authenticate`` challenge of RFC 6750.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import g, jsonify, request
from flask_smorest import Api, Blueprint

from web.clock import utcnow
from web.errors import error_body
from web.extensions import db
from web.services import tokens

BEARER_SCHEME = "bearerAuth"


def declare_bearer_scheme(api: Api) -> None:
    api.spec.components.security_scheme(BEARER_SCHEME, {
        "type": "http", "scheme": "bearer",
        "description": "An API token (cm_…) issued by an administrator, with the scopes the operation needs.",
    })


def _bearer_token() -> str | None:
    scheme, _sep, clear = request.headers.get("Authorization", "").partition(" ")
    return clear.strip() if scheme.lower() == "bearer" else None


def _rejection(error: tokens.TokenRejected, scope: str):
    response = jsonify(error_body(error.status_code, error.code, str(error.message)))
    response.status_code = error.status_code
    challenge = 'Bearer realm="craftmatch"'
    if error.status_code == 403:
        challenge += f', error="insufficient_scope", scope="{scope}"'
    elif _bearer_token():
        challenge += ', error="invalid_token"'
    response.headers["WWW-Authenticate"] = challenge
    return response


def token_required(blp: Blueprint, scope: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The operation needs a valid bearer token holding ``scope`` (place it under ``@blp.route``)."""
    if scope not in tokens.SCOPES:
        raise ValueError(f"unknown API scope {scope!r}; add it to web.services.tokens.SCOPES")

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            now = utcnow()
            try:
                token = tokens.check_token(db.session, _bearer_token(), scope=scope, now=now)
            except tokens.TokenRejected as error:
                return _rejection(error, scope)
            tokens.record_use(db.session, token, now)
            db.session.commit()
            g.api_user = token.user
            return view(*args, **kwargs)

        # OpenAPI 3.0 allows no scope list for an http scheme, so the scope is named in an extension field.
        return blp.doc(security=[{BEARER_SCHEME: []}], **{"x-required-scopes": [scope]},
                       responses={"401": {"description": "Missing, invalid, revoked or expired bearer token"},
                                  "403": {"description": f"The token lacks the scope {scope}"}})(wrapper)

    return decorate
