"""Public aggregate figures of the three pools (no personal data)."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from web.extensions import db
from web.policy import ANONYMOUS, policy
from web.services.stats import pool_counts

blp = Blueprint("pools", __name__, description="Sizes of the three pools")


class PoolCountsSchema(Schema):
    craftsmen_active = fields.Integer(required=True)
    craftsmen = fields.Integer(required=True)
    studios = fields.Integer(required=True)
    enterprises = fields.Integer(required=True)
    demands = fields.Integer(required=True)
    demands_waiting = fields.Integer(required=True)
    outcomes = fields.Integer(required=True)


@blp.route("/pools")
class Pools(MethodView):
    @policy(ANONYMOUS)
    @blp.response(200, PoolCountsSchema)
    def get(self):
        return pool_counts(db.session)
