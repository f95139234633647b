"""Errors that services raise for bad input; entry points turn them into messages or 4xx."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class ServiceError(Exception):
    """Bad input or a forbidden transition. ``message`` may be a lazy (translated) string."""

    status_code = 400

    def __init__(self, message: Any, *, field: str | None = None, code: str = "invalid") -> None:
        super().__init__(str(message))
        self.message = message
        self.field = field
        self.code = code

    def as_errors(self) -> dict[str, list[str]]:
        return {self.field or "_schema": [str(self.message)]}


class ValidationFailed(ServiceError):
    """Several field errors at once, as marshmallow reports them."""

    status_code = 422

    def __init__(self, errors: Mapping[str, Any], *, valid_data: Mapping[str, Any] | None = None) -> None:
        self.errors = {key: _as_list(value) for key, value in errors.items()}
        # the fields that did load (marshmallow's ``valid_data``): a caller may check them further meanwhile
        self.valid_data = dict(valid_data) if isinstance(valid_data, Mapping) else {}
        first_field = next(iter(self.errors), None)
        first = self.errors[first_field][0] if first_field else ""
        super().__init__(first, field=first_field, code="validation")

    def as_errors(self) -> dict[str, list[str]]:
        return self.errors


class UnknownReference(ServiceError):
    """A code that names no region, category, industry, skill…: invalid input like any other (422)."""

    status_code = 422

    def __init__(self, message: Any, *, field: str) -> None:
        super().__init__(message, field=field, code="validation")


class NotFound(ServiceError):
    status_code = 404

    def __init__(self, message: Any) -> None:
        super().__init__(message, code="not_found")


class Conflict(ServiceError):
    """A concurrent change or a duplicate: the caller should reload and try again."""

    status_code = 409

    def __init__(self, message: Any, *, field: str | None = None) -> None:
        super().__init__(message, field=field, code="conflict")


class PermissionDenied(ServiceError):
    status_code = 403

    def __init__(self, message: Any) -> None:
        super().__init__(message, code="forbidden")


def _as_list(value: Any) -> list[str]:
    if isinstance(value, Mapping):  # nested marshmallow errors: flatten "field.sub"
        return [f"{key}: {message}" for key, messages in value.items() for message in _as_list(messages)]
    if isinstance(value, list | tuple):
        return [message for item in value for message in _as_list(item)]
    return [str(value)]
