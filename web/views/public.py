"""Public pages: the home page with the three pools' sizes (no personal data here)."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import Blueprint, render_template

from web.errors import RETRY_AFTER_SECONDS
from web.extensions import db
from web.services.stats import pool_counts

bp = Blueprint("public", __name__)
log = logging.getLogger(__name__)


@bp.get("/")
def index():
    return render_template("index.html", counts=pool_counts(db.session))


@bp.get("/healthz")
def healthz():
    """For the proxy and monitoring: 200 when the database answers a trivial query, 503 when it does not."""
    try:
        db.session.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as error:
        log.error("health check: database unavailable: %s", error)
        return {"status": "unavailable", "database": "unreachable"}, 503, {"Retry-After": str(RETRY_AFTER_SECONDS)}
    return {"status": "ok", "database": "ok"}
