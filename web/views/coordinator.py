"""The coordinators' workspace home (工作台)."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user

from web.clock import local_today
from web.extensions import db
from web.models import Demand
from web.policy import STAFF, policy, region_clause
from web.services import agreements
from web.services.stats import pool_counts

bp = Blueprint("coordinator", __name__, url_prefix="/workspace")


@bp.get("/")
@policy(STAFF)
def home():
    return render_template("coordinator/home.html", counts=pool_counts(db.session),
                           agreements=agreements.counts(db.session, local_today(),
                                                        region_clause(current_user, Demand.region_id)))
