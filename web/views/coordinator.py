"""The coordinators' workspace home (工作台)."""

from __future__ import annotations

from flask import Blueprint, render_template

from web.extensions import db
from web.policy import STAFF, policy
from web.services.stats import pool_counts

bp = Blueprint("coordinator", __name__, url_prefix="/workspace")


@bp.get("/")
@policy(STAFF)
def home():
    return render_template("coordinator/home.html", counts=pool_counts(db.session))
