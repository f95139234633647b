"""Public JSON API for enterprise demands: submit (the same contract and service as the form) and status.

``POST /api/v1/demands`` takes the fields of ``web.schemas.demands.DemandSchema`` as JSON and answers
201 with the tracking code; a repeated ``submission_key`` answers with the demand already created (sent
again with its contact mobile; another contact's post with that key gets 422).
``POST /api/v1/demands/status`` takes ``tracking_code`` and ``last4`` and answers with the public
history (a POST, so the digits never land in URLs or access logs). Errors use the app's one JSON
shape; a wrong code or wrong digits get one generic 404. Both are rate-limited per IP.
"""

from __future__ import annotations

from flask import current_app, jsonify, request
from flask_babel import gettext as _
from flask_smorest import Blueprint
from marshmallow import Schema, fields
from werkzeug.exceptions import BadRequest

from web.clock import utcnow
from web.errors import error_body
from web.extensions import db, limiter
from web.policy import ANONYMOUS, policy
from web.schemas.common import load_or_raise
from web.schemas.demands import DemandLookupSchema, DemandSchema
from web.services import demands as demand_service
from web.services import tracking
from web.views.demand_form import cached_reference_data

blp = Blueprint("demands_api", __name__, description="Enterprise demands: submit and follow (public)")


class RoleSchema(Schema):
    """A team role as the demand contract takes it (``skill`` is the code), with the skill's names."""

    skill = fields.String(required=True)
    count = fields.Integer(required=True)
    name_zh = fields.String(required=True)
    name_en = fields.String(required=True)


class DemandReceiptSchema(Schema):
    tracking_code = fields.String(required=True)
    status = fields.String(required=True)
    submitted_at = fields.DateTime(required=True)
    roles = fields.List(fields.Nested(RoleSchema), required=True)


RECEIPT_SCHEMA = DemandReceiptSchema()  # one instance: dumping keeps no state in it, building one copies its fields


class DemandEventSchema(Schema):
    status = fields.String(required=True, attribute="to_status")
    at = fields.DateTime(required=True)
    note = fields.String(allow_none=True)


class AssignedCraftsmanSchema(Schema):
    name = fields.String(required=True)
    honour = fields.Function(lambda person: person["honour"].name_zh if person["honour"] else None)
    studio = fields.String(allow_none=True)
    role = fields.Function(lambda person: person["role"].code if person.get("role") else None)


class DemandStatusSchema(DemandReceiptSchema):
    title = fields.String(required=True)
    question = fields.String(allow_none=True, attribute="info_request")
    history = fields.List(fields.Nested(DemandEventSchema), required=True)
    craftsmen = fields.List(fields.Nested(AssignedCraftsmanSchema), required=True)


def _json_body() -> dict:
    """The JSON object sent (unreadable JSON: 400; anything but an object: {}, so every field is missing: 422)."""
    if not request.is_json:
        return {}
    try:
        body = request.get_json()  # invalid JSON: BadRequest, 400
    except RecursionError:
        raise BadRequest(_("The request is nested too deeply to be read.")) from None
    return body if isinstance(body, dict) else {}


def _submit_limit() -> str:
    return current_app.config["PUBLIC_SUBMIT_LIMIT"]


def _lookup_limit() -> str:
    return current_app.config["PUBLIC_LOOKUP_LIMIT"]


@blp.route("/demands", methods=["POST"])
@policy(ANONYMOUS)
@limiter.limit(_submit_limit)
@blp.doc(requestBody={"required": True, "content": {"application/json": {"schema": DemandSchema}}},
         responses={"201": {"description": "Stored; the tracking code",
                            "content": {"application/json": {"schema": DemandReceiptSchema}}},
                    "422": {"description": "Invalid input; errors names each field"},
                    "429": {"description": "Too many submissions from this address"}})
def submit():
    if request.mimetype != "application/json":
        return jsonify(error_body(415, "unsupported_media_type", _("Send the demand as application/json."))), 415
    demand = demand_service.submit_demand(db.session, _json_body(), now=utcnow(),  # ServiceError → JSON 4xx
                                          references=cached_reference_data())
    db.session.commit()
    receipt = {"tracking_code": demand.tracking_code, "status": demand.status, "submitted_at": demand.submitted_at,
               "roles": demand_service.public_roles(demand)}
    return jsonify(RECEIPT_SCHEMA.dump(receipt)), 201


@blp.route("/demands/status", methods=["POST"])
@policy(ANONYMOUS)
@limiter.limit(_lookup_limit)
@blp.doc(requestBody={"required": True, "content": {"application/json": {"schema": DemandLookupSchema}}},
         responses={"200": {"description": "Status and public history",
                            "content": {"application/json": {"schema": DemandStatusSchema}}},
                    "404": {"description": "No demand matches this code and these digits"}})
def status():
    values = load_or_raise(DemandLookupSchema(), _json_body())
    demand = tracking.lookup(db.session, values["tracking_code"], values["last4"])
    if demand is None:
        message = _("No demand matches this tracking code and mobile number. Please check both and try again.")
        return jsonify(error_body(404, "not_found", message)), 404
    show_team = demand.status in ("matched", "in_service", "completed", "evaluated")
    payload = {
        "tracking_code": demand.tracking_code, "status": demand.status, "submitted_at": demand.submitted_at,
        "roles": demand_service.public_roles(demand),
        "title": demand.title, "info_request": demand.info_request if demand.status == "needs_info" else None,
        "history": demand_service.public_events(demand),
        "craftsmen": demand_service.assigned_craftsmen(db.session, demand) if show_team else [],
    }
    return jsonify(DemandStatusSchema().dump(payload))
