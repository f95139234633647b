"""Public demand intake (企业点单): the form, confirmation, receipt, status lookup, answers and rating.

Nobody logs in here. The WTForms layer only renders fields and checks CSRF; every rule lives
in ``web.schemas.demands`` and the services. What was typed stays in the form on any error
(bad input, an expired form, a rate limit), so a legitimate submission is never lost.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFError
from wtforms import RadioField, SelectChoice, StringField, TextAreaField

from web.clock import utcnow
from web.extensions import db, limiter
from web.models import Demand
from web.policy import ANONYMOUS, policy
from web.services import demands as demand_service
from web.services import feedback as feedback_service
from web.services import tracking
from web.services.errors import ServiceError
from web.views.demand_form import (
    DemandForm,
    Marked,
    cached_reference_data,
    labels,
    new_submission_key,
    render_demand_form,
    run_demand_form,
    shared_form_page,
)
from web.views.forms import show_errors

bp = Blueprint("intake", __name__, url_prefix="/demand")

TRACKED_KEY = "tracked_demands"
TRACKED_MAX = 20
FORM_BODY_LIMIT = 256 * 1024  # the public forms are text only: far below the app-wide upload limit
HONEYPOT = "homepage"


def _submit_limit() -> str:
    return current_app.config["PUBLIC_SUBMIT_LIMIT"]


def _lookup_limit() -> str:
    return current_app.config["PUBLIC_LOOKUP_LIMIT"]


class LookupForm(FlaskForm):
    tracking_code = StringField(_l("Tracking code"), [Marked()],
                                render_kw={"autocapitalize": "characters", "spellcheck": "false",
                                           "placeholder": "CQ-2026-7K3M9P", "maxlength": 40})
    last4 = StringField(_l("Last four digits of the contact mobile"), [Marked()],
                        render_kw={"inputmode": "numeric", "maxlength": 4, "autocomplete": "off"})


class AnswerForm(FlaskForm):
    answer = TextAreaField(_l("Your answer"), [Marked()], render_kw={"rows": 4, "maxlength": 2000})


class RatingForm(FlaskForm):
    rating = RadioField(_l("Your rating"), [Marked()], validate_choice=False,
                        choices=[SelectChoice(str(n), str(n)) for n in range(5, 0, -1)])
    comment = TextAreaField(_l("Comment (optional)"), render_kw={"rows": 3, "maxlength": 1000})


# --- helpers ------------------------------------------------------------------------------------
bp.context_processor(labels)


@bp.url_value_preprocessor
def _limit_body_size(_endpoint: str | None, _values: dict[str, Any] | None) -> None:
    # Runs before every before_request hook (CSRFProtect reads the form in one), so the limit applies.
    request.max_content_length = min(FORM_BODY_LIMIT, current_app.config.get("MAX_CONTENT_LENGTH") or FORM_BODY_LIMIT)


def _render_form(form: DemandForm, status: int = 200):
    return render_demand_form(form, "intake/new.html", status)


def _fresh_form() -> DemandForm:
    form = DemandForm()
    form.submission_key.data = new_submission_key()
    return form


def _remember(code: str) -> None:
    codes = [c for c in session.get(TRACKED_KEY, []) if c != code]
    session[TRACKED_KEY] = (codes + [code])[-TRACKED_MAX:]


def _tracked_demand(code: str) -> Demand | None:
    """The demand, if this browser proved it may see it (submitted it, or looked it up with the digits)."""
    normalized = tracking.normalize_code(code)
    if normalized is None or normalized not in session.get(TRACKED_KEY, []):
        return None
    return db.session.scalar(sa.select(Demand).where(Demand.tracking_code == normalized))


def _require_tracked(code: str) -> Demand:
    demand = _tracked_demand(code)
    if demand is None:
        abort(redirect(url_for("intake.lookup", code=code)))
    return demand


def _no_store(response):
    response.headers["Cache-Control"] = "no-store"
    return response


# --- the form -----------------------------------------------------------------------------------


@bp.route("/new", methods=["GET", "POST"])
@policy(ANONYMOUS)
@limiter.limit(_submit_limit, methods=["POST"])
def new_demand():
    if request.method == "GET":
        page = shared_form_page("intake/new.html", _fresh_form)
        return page if page is not None else _render_form(_fresh_form())
    form = DemandForm()
    if not form.submission_key.data:
        form.submission_key.data = new_submission_key()
    if form.homepage.data:
        # A bot filled the invisible field. A person who did so keeps everything typed and can send again.
        form.homepage.errors = [_("Please leave this field empty.")]
        flash(_("Your demand was not sent yet: please clear the field marked below and send again."), "error")
        return _render_form(form, 400)
    def submit(data: dict) -> Demand:
        return demand_service.submit_demand(db.session, data, now=utcnow(), references=cached_reference_data())

    demand, status = run_demand_form(form, submit, _("Please correct the marked fields; nothing was sent yet."))
    if demand is None:
        return _render_form(form, status)
    _remember(demand.tracking_code)
    return redirect(url_for("intake.confirmation", code=demand.tracking_code), 303)


@bp.errorhandler(CSRFError)
def _csrf_expired(_error: CSRFError):
    """An expired or missing CSRF token: show the page again with what was typed and a fresh token."""
    message = _("The form expired or was sent from elsewhere. Please check your entries and send again.")
    if request.endpoint == "intake.new_demand":
        form = DemandForm()
        flash(message, "error")
        return _render_form(form, 400)
    return render_template("error.html", status=400, message=message), 400


@bp.errorhandler(429)
def _too_many(_error: Exception):
    message = _("Too many requests from your network. Please wait a while and try again; "
                "what you typed is kept below.")
    if request.endpoint == "intake.new_demand" and request.method == "POST":
        flash(message, "error")
        return _render_form(DemandForm(), 429)
    if request.endpoint == "intake.lookup":
        flash(message, "error")
        return render_template("intake/lookup.html", form=LookupForm()), 429
    demand = _tracked_demand((request.view_args or {}).get("code", ""))
    if demand is not None and request.endpoint in ("intake.answer_info", "intake.rate"):
        flash(message, "error")
        form_name, form = (("answer_form", AnswerForm()) if request.endpoint == "intake.answer_info"
                           else ("rating_form", RatingForm()))
        return _render_status(demand, status=429, **{form_name: form})
    return render_template("error.html", status=429, message=message), 429


@bp.get("/submitted/<code>")
@policy(ANONYMOUS)
def confirmation(code: str):
    demand = _require_tracked(code)
    return _no_store(current_app.make_response(render_template("intake/confirmation.html", demand=demand)))


@bp.get("/receipt/<code>")
@policy(ANONYMOUS)
def receipt(code: str):
    demand = _require_tracked(code)
    return _no_store(current_app.make_response(render_template("intake/receipt.html", demand=demand,
                                                               now=utcnow())))


# --- tracking -----------------------------------------------------------------------------------


@bp.route("/track", methods=["GET", "POST"])
@policy(ANONYMOUS)
@limiter.limit(_lookup_limit, methods=["POST"])
def lookup():
    form = LookupForm()
    if request.method == "GET" and request.args.get("code"):
        form.tracking_code.data = request.args["code"]
    if request.method == "POST" and form.validate() and _four_digits(form.last4):
        demand = tracking.lookup(db.session, form.tracking_code.data, form.last4.data)
        if demand is not None:
            _remember(demand.tracking_code)
            return redirect(url_for("intake.status", code=demand.tracking_code), 303)
        flash(_("No demand matches this tracking code and mobile number. Please check both and try again."),
              "error")
        return render_template("intake/lookup.html", form=form), 200
    return render_template("intake/lookup.html", form=form)


def _four_digits(field) -> bool:
    """A whole mobile number (or anything but four digits) is answered at the field, not as "not found"."""
    if len("".join(ch for ch in field.data or "" if ch.isdigit())) == 4:
        return True
    field.errors = [*field.errors, _("Enter only the last four digits of the contact mobile, e.g. 1234.")]
    return False


def _render_status(demand: Demand, *, answer_form: AnswerForm | None = None, rating_form: RatingForm | None = None,
                   status: int = 200):
    feedback = feedback_service.feedback_for(db.session, demand)
    show_team = demand.status in ("matched", "in_service", "completed", "evaluated")
    page = render_template(
        "intake/status.html", demand=demand, events=demand_service.public_events(demand),
        craftsmen=demand_service.assigned_craftsmen(db.session, demand) if show_team else [],
        feedback=feedback, can_rate=demand.status == "completed" and feedback is None,
        answer_form=answer_form or AnswerForm(), rating_form=rating_form or RatingForm(),
        merged_into=demand_service.public_successor(db.session, demand),
    )
    return _no_store(current_app.make_response((page, status)))


@bp.get("/status/<code>")
@policy(ANONYMOUS)
def status(code: str):
    return _render_status(_require_tracked(code))


def _post_on_status_page(code: str, form: FlaskForm, form_name: str, run, done: str):
    """Handle a form of the status page: CSRF, the service ``run(demand, data)``, commit, thanks or errors."""
    demand = _require_tracked(code)
    if not form.validate():
        flash(_("The form expired. Please check your entries and send again."), "error")
        return _render_status(demand, status=400, **{form_name: form})
    data = {name: field.data or "" for name, field in form._fields.items() if name != "csrf_token"}
    try:
        run(demand, data)
        db.session.commit()
    except ServiceError as error:
        db.session.rollback()
        show_errors(form, error)
        return _render_status(demand, status=422, **{form_name: form})
    flash(done, "success")
    return redirect(url_for("intake.status", code=demand.tracking_code), 303)


# The two forms of the status page: URL part → (endpoint, form, its name in the template, service, thanks).
STATUS_FORMS = {
    "answer": ("answer_info", AnswerForm, "answer_form", demand_service.answer_info,
               _l("Thank you. Your answer was sent to the coordinator.")),
    "rate": ("rate", RatingForm, "rating_form", feedback_service.rate_demand, _l("Thank you for rating the service.")),
}


def _status_form_view(endpoint: str, form_class: type[FlaskForm], form_name: str, service, done: Any):
    def view(code: str):
        return _post_on_status_page(code, form_class(), form_name,
                                    lambda demand, data: service(db.session, demand, data, now=utcnow()), str(done))

    view.__name__ = view.__qualname__ = endpoint  # Flask-Limiter keeps one bucket per view name
    return limiter.limit(_submit_limit)(view)


for _path, (_endpoint, *_rest) in STATUS_FORMS.items():
    bp.add_url_rule(f"/status/<code>/{_path}", _endpoint, policy(ANONYMOUS)(_status_form_view(_endpoint, *_rest)),
                    methods=["POST"])
