"""Contracts of the engagement loop: follow-up records, notes, visits, acceptance, completion, cancellation."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from marshmallow import ValidationError, fields, validate, validates_schema

from web.models.outcomes import OUTCOME_KINDS
from web.schemas.common import Code, StrictSchema, Text

_COUNT = validate.Range(min=0, max=1_000_000, error=_l("Enter a whole number between 0 and 1,000,000."))
_MONEY = validate.Range(min=0, max=10_000_000, error=_l("Enter an amount between 0 and 10,000,000 (× 10,000 yuan)."))
_DATE_ERRORS = {"invalid": _l("Enter a date as YYYY-MM-DD.")}
# Outcomes produced by one follow-up (patents, work methods…): a handful per record.
MAX_OUTCOMES_PER_FOLLOW_UP = 5


class OutcomeItemSchema(StrictSchema):
    """A patent, work method, small innovation… produced by the engagement; joins the outcome pool."""

    kind = fields.String(required=True, validate=validate.OneOf(
        OUTCOME_KINDS, error=_l("Choose an outcome kind from the list.")))
    title = Text(max_length=200, required=True)
    reference = Text(max_length=80, load_default="")
    value_wan = fields.Float(load_default=None, allow_none=True, validate=_MONEY)


class FollowUpRecordSchema(StrictSchema):
    """What one follow-up found: figures are what is NEW since the previous record of the engagement."""

    done_on = fields.Date(required=True, error_messages={"required": _l("This field is required."), **_DATE_ERRORS})
    problems_solved = fields.Integer(load_default=0, validate=_COUNT)
    value_created_wan = fields.Float(load_default=0.0, validate=_MONEY)
    workers_trained = fields.Integer(load_default=0, validate=_COUNT)
    apprentices = fields.Integer(load_default=0, validate=_COUNT)
    note = Text(max_length=5000, load_default="", multiline=True)
    outcomes = fields.List(fields.Nested(OutcomeItemSchema), load_default=list,
                           validate=validate.Length(max=MAX_OUTCOMES_PER_FOLLOW_UP))



class NoteSchema(StrictSchema):
    body = Text(max_length=5000, required=True, multiline=True)
    corrects_id = fields.Integer(load_default=None, allow_none=True)


class VisitSchema(StrictSchema):
    visited_on = fields.Date(required=True, error_messages={"required": _l("This field is required."), **_DATE_ERRORS})
    craftsman_id = fields.Integer(load_default=None, allow_none=True)
    hours = fields.Float(load_default=None, allow_none=True, validate=validate.Range(
        min=0, max=24, error=_l("Hours of one visit are between 0 and 24.")))
    note = Text(max_length=2000, load_default="", multiline=True)


class StartSchema(StrictSchema):
    started_on = fields.Date(required=True, error_messages={"required": _l("This field is required."), **_DATE_ERRORS})


class AcceptanceSchema(StrictSchema):
    """验收: who at the enterprise confirmed that the problem is solved."""

    confirmed_by = Text(max_length=80, required=True)


class CompleteSchema(StrictSchema):
    completed_on = fields.Date(required=True,
                               error_messages={"required": _l("This field is required."), **_DATE_ERRORS})
    override_reason = Text(max_length=300, load_default="")


class ReasonSchema(StrictSchema):
    """A cancellation, a no-show, a pause or an exit: always with a reason."""

    reason = Text(max_length=300, required=True)


class ReportFilterSchema(StrictSchema):
    """The period of a dashboard or report: inclusive dates, optional province ("51" Sichuan, "50" Chongqing)."""

    start = fields.Date(load_default=None, allow_none=True, error_messages=_DATE_ERRORS)
    end = fields.Date(load_default=None, allow_none=True, error_messages=_DATE_ERRORS)
    province = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(
        ("51", "50"), error=_l("Choose Sichuan or Chongqing.")))
    year = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(
        min=2000, max=2100, error=_l("Enter a year between 2000 and 2100.")))

    @validates_schema
    def _ordered(self, data, **_kwargs):
        if data.get("start") and data.get("end") and data["end"] < data["start"]:
            raise ValidationError(_l("The end of the period is before its start."), "end")


class TargetSchema(StrictSchema):
    """A region's yearly targets (Shanghai-style: 1,000 visits, 1,000 enterprises, 1,000 problems, 10,000 upgrades)."""

    region_code = Code(required=True, error_messages={"required": _l("This field is required.")})
    year = fields.Integer(required=True, validate=validate.Range(
        min=2000, max=2100, error=_l("Enter a year between 2000 and 2100.")),
        error_messages={"required": _l("This field is required.")})
    visits = fields.Integer(load_default=0, validate=_COUNT)
    enterprises = fields.Integer(load_default=0, validate=_COUNT)
    problems = fields.Integer(load_default=0, validate=_COUNT)
    skill_upgrades = fields.Integer(load_default=0, validate=_COUNT)
