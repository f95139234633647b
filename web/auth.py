"""Login plumbing; the role checks of views are policies of ``web.policy``."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from web.extensions import db, login_manager
from web.models import User
from web.policy import ADMIN, EDITOR, STAFF, policy

login_manager.login_view = "auth.login"
login_manager.login_message = _l("Please log in to continue.")
login_manager.login_message_category = "info"
login_manager.session_protection = "strong"


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    if not user_id.isdigit():
        return None
    return db.session.get(User, int(user_id))


# The role decorators are policies (web.policy): each registers what the view needs, and enforces it.
staff_required = policy(STAFF)
editor_required = policy(EDITOR)
admin_required = policy(ADMIN)
