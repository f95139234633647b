"""The JSON API under /api/v1 (flask-smorest: marshmallow schemas and an OpenAPI document)."""

from __future__ import annotations

from flask import Flask

from web.extensions import api, csrf


def register_api(app: Flask) -> None:
    from web.api.auth import declare_bearer_scheme
    from web.api.demands import blp as demands_blp
    from web.api.pools import blp as pools_blp
    from web.api.solve import blp as solve_blp

    api.init_app(app)
    declare_bearer_scheme(api)
    for blueprint in (pools_blp, solve_blp, demands_blp):
        # The API authenticates with bearer tokens, not cookies, so CSRF does not apply.
        csrf.exempt(blueprint)
        api.register_blueprint(blueprint, url_prefix="/api/v1")
