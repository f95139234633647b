"""The contract of a long-term cooperation agreement (长期合作协议)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from marshmallow import ValidationError, fields, validates_schema

from web.schemas.common import StrictSchema, Text

_REQUIRED = {"required": _l("This field is required.")}
_DATE = {**_REQUIRED, "invalid": _l("Enter a date as YYYY-MM-DD.")}


class AgreementSchema(StrictSchema):
    """The parties (the enterprise comes from the engagement), the term and what the agreement covers."""

    craftsman_id = fields.Integer(load_default=None, allow_none=True)
    studio_id = fields.Integer(load_default=None, allow_none=True)
    union_name = Text(max_length=120, required=True, error_messages=_REQUIRED)
    starts_on = fields.Date(required=True, error_messages=_DATE)
    ends_on = fields.Date(required=True, error_messages=_DATE)
    scope = Text(max_length=5000, required=True, multiline=True, error_messages=_REQUIRED)

    @validates_schema
    def _parties_and_term(self, data, **_kwargs):
        if data.get("craftsman_id") is None and data.get("studio_id") is None:
            raise ValidationError(_l("Name the craftsman or the studio who signs the agreement."), "craftsman_id")
        if data.get("starts_on") and data.get("ends_on") and data["ends_on"] < data["starts_on"]:
            raise ValidationError(_l("The agreement ends before it starts."), "ends_on")
