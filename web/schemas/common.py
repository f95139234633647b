"""Fields and helpers every schema uses: credit codes, mobiles, region codes, bilingual messages."""

from __future__ import annotations

import re
from typing import Any

import phonenumbers
from flask_babel import lazy_gettext as _l
from marshmallow import Schema, ValidationError, fields, validate
from stdnum.cn import uscc
from stdnum.exceptions import InvalidChecksum, InvalidFormat, InvalidLength
from stdnum.exceptions import ValidationError as StdnumError


class StrictSchema(Schema):
    """Unknown keys are refused (marshmallow's default), and every string is stripped."""

    class Meta:
        ordered = True


# C0 control characters and DEL: never typed by a person, and PostgreSQL refuses NUL in text outright.
# Tab, line feed and carriage return are allowed in multi-line text only.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LINE_BREAK = re.compile(r"[\t\n\r]")
CONTROL_CHARACTERS_MESSAGE = _l("This text contains invisible control characters; please retype it.")
ONE_LINE_MESSAGE = _l("Please write this on one line, without tabs or line breaks.")


def has_control_characters(text: str, *, multiline: bool = False) -> bool:
    """True if ``text`` holds a control character (a NUL byte…); tab and line breaks count unless ``multiline``."""
    return bool(_CONTROL.search(text) or (not multiline and _LINE_BREAK.search(text)))


def refuse_control_characters(text: str, *, multiline: bool = False) -> str:
    if _CONTROL.search(text):
        raise ValidationError(CONTROL_CHARACTERS_MESSAGE)
    if not multiline and _LINE_BREAK.search(text):
        raise ValidationError(ONE_LINE_MESSAGE)
    return text


class Text(fields.String):
    """A stripped string with a maximum length; empty counts as missing when required.

    Control characters are refused; ``multiline=True`` (notes, descriptions) allows tabs and line breaks.
    """

    def __init__(self, *, max_length: int, multiline: bool = False, **kwargs: Any) -> None:
        kwargs.setdefault("error_messages", {})
        kwargs["error_messages"].setdefault("required", _l("This field is required."))
        kwargs["error_messages"].setdefault("invalid", _l("Not a valid text."))
        super().__init__(**kwargs)
        self.max_length = max_length
        self.multiline = multiline

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = refuse_control_characters(super()._deserialize(value, attr, data, **kwargs).strip(),
                                         multiline=self.multiline)
        if self.required and not text:
            raise ValidationError(_l("This field is required."))
        if len(text) > self.max_length:
            raise ValidationError(_l("At most %(count)d characters.", count=self.max_length))
        return text


class CreditCode(fields.String):
    """统一社会信用代码: 18 characters with a valid check digit (GB 32100-2015)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        raw = super()._deserialize(value, attr, data, **kwargs)
        return validate_credit_code(raw)


def validate_credit_code(raw: str) -> str:
    code = raw.strip().upper().replace(" ", "").replace("-", "")
    try:
        return uscc.validate(code)
    except InvalidLength:
        raise ValidationError(_l("A unified social credit code has 18 characters.")) from None
    except InvalidChecksum:
        raise ValidationError(_l("The check digit of this unified social credit code is wrong; please check it.")) \
            from None
    except (InvalidFormat, StdnumError):
        raise ValidationError(_l("This is not a valid unified social credit code.")) from None


class MobilePhone(fields.String):
    """A mainland China mobile number, stored as 11 digits."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        raw = super()._deserialize(value, attr, data, **kwargs)
        return validate_mobile(raw)


def validate_mobile(raw: str) -> str:
    digits = raw.strip().replace(" ", "").replace("-", "")
    if digits.startswith("+86"):
        digits = digits[3:]
    try:
        number = phonenumbers.parse(digits, "CN")
    except phonenumbers.NumberParseException:
        number = None
    if (number is None or not phonenumbers.is_valid_number(number)
            or phonenumbers.number_type(number) not in (phonenumbers.PhoneNumberType.MOBILE,
                                                        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)):
        raise ValidationError(_l("Enter a valid mainland mobile number of 11 digits."))
    return str(number.national_number)


class OptionalEmail(fields.String):
    """An e-mail address, or "" for none (stored lower-case, at most 120 characters)."""

    _valid = validate.Email()

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        address = super()._deserialize(value, attr, data, **kwargs).strip().lower()
        if address and (len(address) > 120 or has_control_characters(address)):
            raise ValidationError(_l("Enter a valid e-mail address, or leave it empty."))
        if address:
            try:
                self._valid(address)
            except ValidationError:
                raise ValidationError(_l("Enter a valid e-mail address, or leave it empty.")) from None
        return address


class Code(fields.String):
    """A code of a reference table (region, industry, skill, …); existence is checked by the service."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        code = super()._deserialize(value, attr, data, **kwargs).strip()
        if not code or len(code) > 60 or has_control_characters(code):
            raise ValidationError(_l("Choose a value from the list."))
        return code


def load_or_raise(schema: Schema, data: Any, **kwargs: Any) -> dict[str, Any]:
    """``schema.load`` that raises the services' ValidationFailed (one error type for every entry point)."""
    from web.services.errors import ValidationFailed

    try:
        return schema.load(data, **kwargs)
    except ValidationError as error:
        messages = error.messages if isinstance(error.messages, dict) else {"_schema": error.messages}
        raise ValidationFailed(messages, valid_data=error.valid_data) from None
