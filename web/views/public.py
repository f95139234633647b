"""Public pages: the home page with the three pools' sizes (no personal data here)."""

from __future__ import annotations

from flask import Blueprint, render_template

from web.extensions import db
from web.services.stats import pool_counts

bp = Blueprint("public", __name__)


@bp.get("/")
def index():
    return render_template("index.html", counts=pool_counts(db.session))


@bp.get("/healthz")
def healthz():
    return {"status": "ok"}
