"""The outcome pool contract (创新成果库): the follow-up's outcome item plus the pool's own fields."""

from __future__ import annotations

from marshmallow import fields, validate

from web.schemas.common import Code, Text
from web.schemas.engagements import OutcomeItemSchema


class OutcomeSchema(OutcomeItemSchema):
    description = Text(max_length=4000, load_default="", multiline=True)
    craftsman_id = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1))
    studio = Text(max_length=120, load_default="")
    year = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1950, max=2100))
    industries = fields.List(Code(), load_default=list)
