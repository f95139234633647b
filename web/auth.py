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


# The role decorators are policies (web.policy): each registers what the view needs, and enforces it.
staff_required = policy(STAFF)
editor_required = policy(EDITOR)
admin_required = policy(ADMIN)
