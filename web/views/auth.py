"""Staff log in and out (every attempt audited; logging out ends the session server-side), change password."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from werkzeug import Response
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from web.clock import utcnow
from web.extensions import db, limiter
from web.policy import ANONYMOUS, STAFF, policy
from web.services.errors import ServiceError
from web.services.users import MIN_PASSWORD_LENGTH, authenticate, change_password, end_sessions
from web.views.forms import show_errors

bp = Blueprint("auth", __name__, url_prefix="/auth")


class LoginForm(FlaskForm):
    username = StringField(_l("User name"), validators=[DataRequired(), Length(max=60)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])


def _safe_next(target: str | None) -> str:
    # Only same-site relative paths: an open redirect would help phishing.
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("coordinator.home")


def _account_limit() -> str:
    return current_app.config["LOGIN_ACCOUNT_LIMIT"]


def _address_limit() -> str:
    return current_app.config["LOGIN_ADDRESS_LIMIT"]


def _account_key() -> str:
    return "login-account:" + (request.form.get("username") or "").strip().lower()[:60]


def _failed(response: Response) -> bool:
    # only a successful login redirects; a correct password never uses up the budget of failures
    return response.status_code != 302


@bp.route("/login", methods=["GET", "POST"])
@policy(ANONYMOUS)
@limiter.limit(_address_limit, methods=["POST"], deduct_when=_failed)
@limiter.limit(_account_limit, methods=["POST"], key_func=_account_key, deduct_when=_failed)
def login():
    if current_user.is_authenticated:
        return redirect(url_for("coordinator.home"))
    form = LoginForm()
    if form.validate_on_submit():
        user = authenticate(db.session, username=form.username.data, password=form.password.data, now=utcnow(),
                            address=request.remote_addr)
        db.session.commit()  # the audit entry of a failed attempt too
        if user is not None:
            login_user(user)
            return redirect(_safe_next(request.args.get("next")))
        flash(_("Wrong user name or password."), "error")
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
@policy(ANONYMOUS)
def logout():
    if current_user.is_authenticated:
        user = current_user._get_current_object()  # the User itself: the audit entry names its type
        end_sessions(db.session, user, actor=user, now=utcnow())
        db.session.commit()
    logout_user()
    flash(_("You are logged out."), "info")
    return redirect(url_for("public.index"))


class PasswordChangeForm(FlaskForm):
    current_password = PasswordField(_l("Current password"), validators=[DataRequired(), Length(max=200)])
    new_password = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=200)])
    new_password_again = PasswordField(_l("New password again"), validators=[
        DataRequired(), EqualTo("new_password", message=_l("The two new passwords differ."))])


@bp.route("/password", methods=["GET", "POST"])
@policy(STAFF)  # every logged-in account
def password():
    form = PasswordChangeForm()
    if form.validate_on_submit():
        user = current_user._get_current_object()
        try:
            change_password(db.session, user, current_password=form.current_password.data,
                            new_password=form.new_password.data, now=utcnow())
        except ServiceError as error:  # raised before anything changed
            show_errors(form, error)
        else:
            db.session.commit()
            login_user(user)  # this browser stays logged in, under the new session version
            flash(_("Your password is changed. Every other session of yours is logged out."), "success")
            return redirect(url_for("coordinator.home"))
    return render_template("auth/password.html", form=form, min_length=MIN_PASSWORD_LENGTH)
