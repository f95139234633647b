"""Public pages: the home page with the three pools' sizes (no personal data here)."""

from __future__ import annotations

from flask import Blueprint, render_template

from web.extensions import db
from web.policy import ANONYMOUS, policy
from web.services.stats import pool_counts

bp = Blueprint("public", __name__)


@bp.get("/")
@policy(ANONYMOUS)
def index():
    return render_template("index.html", counts=pool_counts(db.session))


@bp.get("/healthz")
@policy(ANONYMOUS)
def healthz():
    return {"status": "ok"}
