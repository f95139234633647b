"""What every HTML view shares about forms: a service's errors shown next to the fields they name."""

from __future__ import annotations

from flask import flash
from flask_wtf import FlaskForm

from web.services.errors import ServiceError


def show_errors(form: FlaskForm, error: ServiceError, field_names: dict[str, str] | None = None) -> None:
    """Put a service's errors next to the form fields they name; errors of no field are flashed.

    ``field_names`` maps a contract's field to the form's where they differ (``{"user": "user_id"}``); a nested
    key (``skills.0``) lands on its field (``skills``).
    """
    for key, messages in error.as_errors().items():
        base = key.split(".")[0]
        name = (field_names or {}).get(base, base)
        target = form._fields.get(name) if name != "csrf_token" else None  # noqa: SLF001 - WTForms' registry
        if target is None:
            for message in messages:
                flash(message, "error")
            continue
        target.errors = list(dict.fromkeys([*list(target.errors or []), *messages]))  # once each
