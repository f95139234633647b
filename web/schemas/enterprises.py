"""The enterprise contract (public form, API, imports)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from marshmallow import fields, validate

from web.models.enterprises import ENTERPRISE_TYPES
from web.schemas.common import Code, CreditCode, MobilePhone, OptionalEmail, StrictSchema, Text


class EnterpriseSchema(StrictSchema):
    name = Text(max_length=120, required=True)
    credit_code = CreditCode(required=True)
    type = fields.String(load_default="smme", validate=validate.OneOf(
        ENTERPRISE_TYPES, error=_l("Choose an enterprise type from the list.")))
    region_code = Code(required=True)
    industries = fields.List(Code(), load_default=list, validate=validate.Length(max=10))
    employees = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(
        min=0, max=1_000_000, error=_l("The number of employees must be between 0 and 1,000,000.")))
    address = Text(max_length=200, load_default="")
    contact_name = Text(max_length=40, load_default="")
    contact_phone = MobilePhone(load_default="")
    contact_email = OptionalEmail(load_default="")  # the outbox e-mails the results there, else an SMS
