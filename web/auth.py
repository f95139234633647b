"""Login plumbing and role checks for views."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import abort
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from web.extensions import db, login_manager
from web.models import User

F = TypeVar("F", bound=Callable[..., Any])

login_manager.login_view = "auth.login"
login_manager.login_message = _l("Please log in to continue.")
login_manager.login_message_category = "info"
login_manager.session_protection = "strong"


@login_manager.user_loader
def load_user(session_id: str) -> User | None:
    # "id:version" (User.get_id): a session from before a logout, password change or deactivation no longer
    # matches the user's session_version, so even a copied cookie stops working. (An inactive user is
    # never authenticated: Flask-Login's is_authenticated is User.is_active.)
    user_id, _sep, version = session_id.partition(":")
    if not (user_id.isdigit() and version.isdigit()):
        return None
    user = db.session.get(User, int(user_id))
    if user is None or user.session_version != int(version):
        return None
    return user


def roles_required(*roles: str) -> Callable[[F], F]:
    """Logged in, and one of ``roles`` (403 otherwise)."""

    def decorate(view: F) -> F:
        @wraps(view)
        @login_required
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


staff_required = roles_required("admin", "coordinator", "viewer")
editor_required = roles_required("admin", "coordinator")
admin_required = roles_required("admin")
