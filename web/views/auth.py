"""Staff log in and out."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from web.clock import utcnow
from web.extensions import db, limiter
from web.policy import ANONYMOUS, policy
from web.services.users import authenticate

bp = Blueprint("auth", __name__, url_prefix="/auth")


class LoginForm(FlaskForm):
    username = StringField(_l("User name"), validators=[DataRequired(), Length(max=60)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])


def _safe_next(target: str | None) -> str:
    # Only same-site relative paths: an open redirect would help phishing.
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("coordinator.home")


@bp.route("/login", methods=["GET", "POST"])
@policy(ANONYMOUS)
@limiter.limit("20 per 10 minutes", methods=["POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("coordinator.home"))
    form = LoginForm()
    if form.validate_on_submit():
        user = authenticate(db.session, username=form.username.data, password=form.password.data, now=utcnow())
        if user is not None:
            db.session.commit()
            login_user(user)
            return redirect(_safe_next(request.args.get("next")))
        flash(_("Wrong user name or password."), "error")
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
@policy(ANONYMOUS)
def logout():
    logout_user()
    flash(_("You are logged out."), "info")
    return redirect(url_for("public.index"))
