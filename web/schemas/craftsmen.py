"""The craftsman contract (coordinator form, API, XLSX/CSV import)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from marshmallow import ValidationError, fields, validate, validates_schema

from web.models.craftsmen import CRAFTSMAN_STATUSES, GENDERS
from web.schemas.common import Code, MobilePhone, OptionalEmail, StrictSchema, Text


class HonourSchema(StrictSchema):
    code = Code(required=True)
    year = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1950, max=2100))


class SkillLevelSchema(StrictSchema):
    code = Code(required=True)
    proficiency = fields.Integer(load_default=3, validate=validate.Range(
        min=1, max=5, error=_l("Proficiency is a level from 1 to 5.")))


class WindowSchema(StrictSchema):
    start = fields.Date(required=True)
    end = fields.Date(required=True)

    @validates_schema
    def ordered(self, data, **_kwargs):
        if data["end"] < data["start"]:
            raise ValidationError(_l("The end date must not be before the start date."), "end")


class CraftsmanSchema(StrictSchema):
    name = Text(max_length=40, required=True)
    gender = fields.String(required=True, validate=validate.OneOf(GENDERS, error=_l("Gender is M or F.")))
    phone = MobilePhone(required=True)
    # The outbox e-mails a craftsman who has one, else sends an SMS; None (not given, e.g. a sheet without
    # the column) keeps the address on record.
    email = OptionalEmail(load_default=None)
    employer = Text(max_length=120, required=True)
    region_code = Code(required=True)
    studio = Text(max_length=120, load_default="")
    bio = Text(max_length=2000, load_default="", multiline=True)
    honours = fields.List(fields.Nested(HonourSchema), load_default=list)
    skills = fields.List(fields.Nested(SkillLevelSchema), load_default=list)
    industries = fields.List(Code(), load_default=list)
    can_onsite = fields.Boolean(load_default=True)
    can_remote = fields.Boolean(load_default=False)
    travel_radius_km = fields.Integer(load_default=200, validate=validate.Range(
        min=0, max=5000, error=_l("The travel radius must be between 0 and 5,000 km.")))
    yearly_capacity = fields.Integer(load_default=6, validate=validate.Range(
        min=0, max=365, error=_l("The yearly capacity must be between 0 and 365.")))
    round_capacity = fields.Integer(load_default=1, validate=validate.Range(
        min=0, max=50, error=_l("The capacity per round must be between 0 and 50.")))
    availability = fields.List(fields.Nested(WindowSchema), load_default=list)
    status = fields.String(load_default="active", validate=validate.OneOf(CRAFTSMAN_STATUSES))

    @validates_schema
    def has_mode(self, data, **_kwargs):
        if not (data.get("can_onsite") or data.get("can_remote")):
            raise ValidationError(_l("Choose at least one service mode (on-site or remote)."), "can_onsite")
