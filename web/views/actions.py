"""The end of a POST handler that changes something: run the service, then commit once or report why not."""

from __future__ import annotations

from collections.abc import Callable

from flask import flash

from web.extensions import db
from web.services.errors import ServiceError


def run_service(call: Callable[[], object], done: str) -> bool:
    """Call the service; commit and flash ``done``, or roll back and flash its error. True when saved."""
    try:
        call()
    except ServiceError as error:
        db.session.rollback()
        flash(str(error.message), "error")
        return False
    db.session.commit()
    flash(done, "success")
    return True
