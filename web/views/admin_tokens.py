"""Administrators issue, list and revoke API tokens (/workspace/admin/tokens).

An issued token's clear text is shown once, in the answer to the issuing POST itself (never flashed:
a flash message would travel in the session cookie), with ``Cache-Control: no-store``.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, flash, make_response, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from web.clock import utcnow
from web.extensions import db
from web.models import User
from web.policy import ADMIN, policy
from web.services import tokens
from web.services.errors import ServiceError
from web.views.forms import show_errors

bp = Blueprint("admin_tokens", __name__, url_prefix="/workspace/admin/tokens")
STATE_LABELS = {"active": _l("Active"), "expired": _l("Expired"), "revoked": _l("Revoked")}


class IssueTokenForm(FlaskForm):
    user_id = SelectField(_l("Account"), coerce=int, validators=[DataRequired()])
    name = StringField(_l("Name (what the token is for)"), validators=[DataRequired(), Length(max=60)])
    scopes = SelectMultipleField(_l("Scopes"), widget=ListWidget(prefix_label=False), option_widget=CheckboxInput())
    days = IntegerField(_l("Valid for (days)"), default=tokens.DEFAULT_DAYS, validators=[Optional()])


def _issue_form(**kwargs) -> IssueTokenForm:
    form = IssueTokenForm(**kwargs)
    users = db.session.scalars(sa.select(User).where(User.active.is_(True)).order_by(User.username))
    form.user_id.choices = [(user.id, f"{user.username} ({user.role})") for user in users]
    form.scopes.choices = [(scope.name, f"{scope.name}: {scope.description}") for scope in tokens.SCOPES.values()]
    return form


def _page(form: IssueTokenForm, issued: tuple | None = None):
    response = make_response(render_template(
        "admin/tokens.html", form=form, issued=issued, rows=tokens.list_tokens(db.session), now=utcnow(),
        state=tokens.token_state, state_labels=STATE_LABELS, max_days=tokens.MAX_DAYS))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/")
@policy(ADMIN)
def index():
    return _page(_issue_form())


@bp.post("/")
@policy(ADMIN)
def issue():
    form = _issue_form()
    if form.validate_on_submit():
        user = db.session.get(User, form.user_id.data)
        try:
            token, clear = tokens.issue_token(db.session, user=user, name=form.name.data, scopes=form.scopes.data,
                                              days=form.days.data, actor=current_user, now=utcnow())
        except ServiceError as error:  # raised before anything was written
            show_errors(form, error, {"user": "user_id"})
        else:
            db.session.commit()
            return _page(_issue_form(formdata=None), issued=(token, clear))  # an empty form for the next one
    return _page(form)


@bp.post("/<int:token_id>/revoke")
@policy(ADMIN)
def revoke(token_id: int):
    token = tokens.get_token(db.session, token_id)  # NotFound → 404 page
    try:
        tokens.revoke_token(db.session, token, actor=current_user, now=utcnow())
    except ServiceError as error:
        flash(str(error.message), "error")
    else:
        db.session.commit()
        flash(_("The token %(name)s (%(prefix)s…) is revoked.", name=token.name, prefix=token.prefix), "success")
    return redirect(url_for("admin_tokens.index"))
