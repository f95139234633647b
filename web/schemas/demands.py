"""The enterprise demand contract: the public form, the JSON API and the tests all load this schema.

Also the small contracts of the coordinator's review actions and the enterprise's answers
(rating, answer to a question), so that every rule lives here once.
"""

from __future__ import annotations

import re
from typing import Any

from flask_babel import lazy_gettext as _l
from marshmallow import ValidationError, fields, post_load, pre_load, validate, validates_schema

from web.models.demands import SERVICE_MODES, URGENCIES
from web.models.enterprises import ENTERPRISE_TYPES
from web.schemas.common import (
    Code,
    CreditCode,
    MobilePhone,
    OptionalEmail,
    StrictSchema,
    Text,
    has_control_characters,
)

TITLE_MAX = 120
DESCRIPTION_MIN = 10
DESCRIPTION_MAX = 4000
MAX_SKILLS = 12
TEAM_SIZE_MAX = 10
MAX_ROLES = 8
ROLE_SKILL_MAX = 60

# Markup has no place in a plain-text demand: "<script>", "<img onerror=…>", "</b>", "<!--" …
_MARKUP = re.compile(r"<\s*/?\s*[a-zA-Z!?]")
_REF_CODE = re.compile(r"^[A-Za-z0-9._-]{1,60}$")


class PlainText(Text):
    """Text without HTML markup (shown back to staff and the enterprise); ``Text`` refuses control characters."""

    def __init__(self, *, min_length: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.min_length = min_length

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if _MARKUP.search(text):
            raise ValidationError(_l("Please write plain text: HTML tags such as <script> are not allowed."))
        if text and len(text) < self.min_length:
            raise ValidationError(_l("Please write at least %(count)d characters.", count=self.min_length))
        return text


class RefCode(Code):
    """A reference code as the seeds spell them ("510104", "weld.argon_arc", "fa.cq_liangjiang").

    Anything else (a NUL byte, markup, spaces) is refused here, before it reaches a query.
    """

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        code = super()._deserialize(value, attr, data, **kwargs)
        if not _REF_CODE.match(code):
            raise ValidationError(_l("Choose a value from the list."))
        return code


def _choice(values: tuple[str, ...], message: Any) -> validate.OneOf:
    return validate.OneOf(values, error=message)


def _skills() -> fields.List:
    return fields.List(RefCode(), load_default=list, validate=validate.Length(
        max=MAX_SKILLS, error=_l("Choose at most %(max)d skills.", max=MAX_SKILLS)))


def _team_size() -> fields.Integer:
    # None when not given: the roles' total, else 1 (``TeamFields.fill_team_size``)
    return fields.Integer(load_default=None, strict=False, validate=validate.Range(
        min=1, max=TEAM_SIZE_MAX, error=_l("The team size must be between 1 and %(max)d.", max=TEAM_SIZE_MAX)),
        error_messages={"invalid": _l("Enter a whole number.")})


def _mode() -> fields.String:
    return fields.String(load_default="onsite", validate=_choice(SERVICE_MODES, _l("Choose on-site, remote or both.")))


def _urgency() -> fields.String:
    return fields.String(load_default="medium", validate=_choice(URGENCIES, _l("Choose an urgency.")))


def _blank_to_none(data: Any, names: tuple[str, ...]) -> Any:
    """HTML forms send "" for an empty optional date or number: treat it as not given."""
    if not isinstance(data, dict):
        return data
    return {key: value for key, value in data.items() if not (key in names and value in ("", None))}


# --- teams by role (跨界攻关小组) ---------------------------------------------------------------------
_ROLE_SEPARATORS = re.compile(r"[、，,；;\n]+")
_ROLE_PIECE = re.compile(r"^(?P<skill>[^:：×*]+?)\s*(?:[:：×*]\s*(?P<count>.*))?$")


def _role(item: Any) -> dict[str, Any]:
    """One role, checked: ``{"skill": text, "count": 1…TEAM_SIZE_MAX}``; the skill is resolved by the service."""
    if not isinstance(item, dict):
        raise ValidationError([_l('write it as {"skill": …, "count": …}.')])
    if set(item) - {"skill", "count"}:
        raise ValidationError([_l("only “skill” and “count” may be given.")])
    skill = item.get("skill")
    if not isinstance(skill, str) or not skill.strip() or len(skill.strip()) > ROLE_SKILL_MAX \
            or has_control_characters(skill):
        raise ValidationError([_l("choose a skill (its code or Chinese name).")])
    count = item.get("count")
    if isinstance(count, str) and count.strip().isdigit():
        count = int(count.strip())
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= TEAM_SIZE_MAX:
        raise ValidationError([_l("the count must be a whole number from 1 to %(max)d.", max=TEAM_SIZE_MAX)])
    return {"skill": skill.strip(), "count": count}


def _numbered(number: int, error: ValidationError) -> list[Any]:
    return [_l("Role %(number)d: %(problem)s", number=number, problem=message) for message in error.messages]


class Roles(fields.Field):
    """A team's roles: a list of ``{"skill": code or Chinese name, "count": int}`` (e.g. 焊接 1、数控铣 1).

    Each role is filled by distinct craftsmen holding that skill (or one of its sub-skills). The same skill
    twice, more than ``MAX_ROLES`` roles or more than ``TEAM_SIZE_MAX`` craftsmen in all are refused; whether
    a skill exists is the service's check (``reference.skills_by_code_or_name``).
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("load_default", list)
        kwargs.setdefault("metadata", {  # what the OpenAPI document says of it
            "type": "array", "maxItems": MAX_ROLES, "description": "Team roles: speciality × count (跨界攻关小组)",
            "items": {"type": "object", "required": ["skill", "count"], "additionalProperties": False,
                      "properties": {"skill": {"type": "string", "description": "skill code or Chinese name"},
                                     "count": {"type": "integer", "minimum": 1, "maximum": TEAM_SIZE_MAX}}}})
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[dict[str, Any]]:
        if not isinstance(value, list | tuple):
            raise ValidationError([_l('Give the roles as a list of {"skill": …, "count": …}.')])
        if len(value) > MAX_ROLES:
            raise ValidationError([_l("At most %(max)d roles.", max=MAX_ROLES)])
        roles: list[dict[str, Any]] = []
        problems: list[Any] = []
        seen: set[str] = set()
        for number, item in enumerate(value, start=1):
            try:
                role = _role(item)
            except ValidationError as error:
                problems += _numbered(number, error)
                continue
            if role["skill"].casefold() in seen:
                problems.append(_l("Role %(number)d: %(skill)s is listed twice; give it once with its count.",
                                   number=number, skill=role["skill"]))
            seen.add(role["skill"].casefold())
            roles.append(role)
        if problems:
            raise ValidationError(problems)
        total = sum(role["count"] for role in roles)
        if total > TEAM_SIZE_MAX:
            raise ValidationError([_l("The roles add up to %(total)d craftsmen; a team has at most %(max)d.",
                                     total=total, max=TEAM_SIZE_MAX)])
        return roles


def parse_roles_text(text: str) -> list[dict[str, Any]]:
    """Roles written in one cell or line → the ``roles`` list of the demand contract.

    Accepts ``焊接:1、数控铣:1``, ``焊接：1；数控铣：1``, ``welding:1, cnc:1`` (separators 、，,；; or a line
    break; ``:``, ``：``, ``×`` or ``*`` before the count; a skill without a count wants one craftsman).
    Blank text gives ``[]``. Raises ``marshmallow.ValidationError`` whose messages name the piece at fault;
    the skills themselves are resolved later by the service.

    >>> parse_roles_text("焊接:1、数控铣:2")
    [{'skill': '焊接', 'count': 1}, {'skill': '数控铣', 'count': 2}]
    """
    if not isinstance(text, str):
        raise ValidationError([_l("Write the roles as text, e.g. 焊接:1、数控铣:1.")])
    roles, problems = [], []
    pieces = [piece.strip() for piece in _ROLE_SEPARATORS.split(text) if piece.strip()]
    for number, piece in enumerate(pieces, start=1):
        match = _ROLE_PIECE.match(piece)
        if match is None:
            problems.append(_l("Role %(number)d (“%(piece)s”): write a skill and a count, e.g. 焊接:1.",
                               number=number, piece=piece))
            continue
        count = match["count"]
        try:
            roles.append(_role({"skill": match["skill"], "count": "1" if count is None else count}))
        except ValidationError as error:
            problems += _numbered(number, error)
    if problems:
        raise ValidationError(problems)
    return Roles().deserialize(roles)


class TeamFields(StrictSchema):
    """Team size and roles, shared by the enterprise's form, the coordinator's edit, the API and the import.

    When roles are given the team size is their total: left empty it is filled in, given and different it is
    refused (next to the team size) rather than silently changed.
    """

    team_size = _team_size()
    roles = Roles()

    @validates_schema
    def check_team(self, data: dict[str, Any], **_kwargs: Any) -> None:
        total = sum(role["count"] for role in data.get("roles") or [])
        size = data.get("team_size")
        if total and size is not None and size != total:
            raise ValidationError({"team_size": [_l(
                "The roles need a team of %(total)d, so the team size must be %(total)d too (or leave it "
                "empty).", total=total)]})

    @post_load
    def fill_team_size(self, data: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
        if data.get("team_size") is None:
            data["team_size"] = sum(role["count"] for role in data.get("roles") or []) or 1
        return data


class DemandSchema(TeamFields):
    """What an enterprise submits (企业点单)."""

    # the enterprise (recognised by its credit code; a new one joins the pool)
    enterprise_name = PlainText(max_length=120, required=True)
    credit_code = CreditCode(required=True, error_messages={"required": _l("This field is required.")})
    enterprise_type = fields.String(load_default="smme", validate=_choice(
        ENTERPRISE_TYPES, _l("Choose an enterprise type from the list.")))
    region_code = RefCode(required=True, error_messages={"required": _l("Choose a region.")})
    industry_code = RefCode(required=True, error_messages={"required": _l("Choose an industry.")})
    contact_name = PlainText(max_length=40, required=True)
    contact_phone = MobilePhone(required=True, error_messages={"required": _l("This field is required.")})
    contact_email = OptionalEmail(load_default="")
    # the demand
    category_code = RefCode(required=True, error_messages={"required": _l("Choose a demand category.")})
    title = PlainText(max_length=TITLE_MAX, min_length=4, required=True)
    description = PlainText(max_length=DESCRIPTION_MAX, min_length=DESCRIPTION_MIN, required=True, multiline=True)
    skills = _skills()
    other_skills = PlainText(max_length=200, load_default="")
    mode = _mode()
    address = PlainText(max_length=200, load_default="")
    window_start = fields.Date(load_default=None, allow_none=True,
                               error_messages={"invalid": _l("Enter a date such as 2026-12-01.")})
    window_end = fields.Date(load_default=None, allow_none=True,
                             error_messages={"invalid": _l("Enter a date such as 2026-12-01.")})
    urgency = _urgency()
    support_needed = PlainText(max_length=500, load_default="", multiline=True)
    consent = fields.Boolean(required=True, truthy={True, "y", "yes", "on", "true", "1"},
                             falsy={False, "", "n", "no", "off", "false", "0"},
                             error_messages={"required": _l("Please agree to the use of your data to continue."),
                                             "invalid": _l("Please agree to the use of your data to continue.")})
    # a one-time key from the form: posting the same form twice (double click) creates one demand
    submission_key = fields.String(load_default=None, allow_none=True, validate=validate.Regexp(
        r"^[A-Za-z0-9_-]{16,64}$", error=_l("The form is damaged; please reload the page.")))

    @pre_load
    def drop_blanks(self, data: Any, **_kwargs: Any) -> Any:
        return _blank_to_none(data, ("window_start", "window_end", "team_size", "submission_key", "enterprise_type",
                                     "mode", "urgency"))

    @validates_schema(skip_on_field_errors=False)  # the consent error comes with the others, on the first try
    def check(self, data: dict[str, Any], **_kwargs: Any) -> None:
        errors: dict[str, list[Any]] = {}
        if "consent" in data and data["consent"] is not True:  # a missing or unreadable one has its field error
            errors["consent"] = [_l("Please agree to the use of your data to continue.")]
        start, end = data.get("window_start"), data.get("window_end")
        if start and end and end < start:
            errors["window_end"] = [_l("The end date must not be before the start date.")]
        if errors:
            raise ValidationError(errors)


class DemandEditSchema(TeamFields):
    """What a coordinator may change while scoping a demand (the enterprise's original text is kept)."""

    title = PlainText(max_length=TITLE_MAX, min_length=4, required=True)
    description = PlainText(max_length=DESCRIPTION_MAX, min_length=DESCRIPTION_MIN, required=True, multiline=True)
    category_code = RefCode(required=True, error_messages={"required": _l("Choose a demand category.")})
    skills = _skills()
    other_skills = PlainText(max_length=200, load_default="")
    urgency = _urgency()
    mode = _mode()

    @pre_load
    def drop_blanks(self, data: Any, **_kwargs: Any) -> Any:
        return _blank_to_none(data, ("team_size",))


class ReasonSchema(StrictSchema):
    """A reason the enterprise reads (rejection, question) or a short internal note."""

    text = PlainText(max_length=1000, min_length=4, required=True, multiline=True)


class ApprovalSchema(StrictSchema):
    """The coordinator's optional note when approving a demand (the enterprise reads it)."""

    note = PlainText(max_length=1000, load_default="", multiline=True)


class AnswerSchema(StrictSchema):
    answer = PlainText(max_length=2000, min_length=4, required=True, multiline=True)


class FeedbackSchema(StrictSchema):
    rating = fields.Integer(required=True, strict=False, validate=validate.Range(
        min=1, max=5, error=_l("Choose a rating from 1 to 5.")),
        error_messages={"required": _l("Choose a rating from 1 to 5."), "invalid": _l("Choose a rating from 1 to 5.")})
    comment = PlainText(max_length=1000, load_default="", multiline=True)


class DemandLookupSchema(StrictSchema):
    tracking_code = Text(max_length=40, required=True)
    last4 = fields.String(required=True, validate=validate.Regexp(
        r"^\d{4}$", error=_l("Enter the last four digits of the contact mobile.")))
