"""Public demand intake (企业点单): the form, confirmation, receipt, status lookup, answers and rating.

Nobody logs in here. The WTForms layer only renders fields and checks CSRF; every rule lives
in ``web.schemas.demands`` and the services. What was typed stays in the form on any error
(bad input, an expired form, a rate limit), so a legitimate submission is never lost.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
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
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFError
from markupsafe import Markup
from wtforms import (
    BooleanField,
    HiddenField,
    RadioField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)

from web.clock import utcnow
from web.extensions import db, limiter
from web.models import Demand
from web.models.enterprises import ENTERPRISE_TYPES
from web.policy import ANONYMOUS, policy
from web.services import demands as demand_service
from web.services import feedback as feedback_service
from web.services import reference, tracking
from web.services.errors import ServiceError
from web.services.personal_data import mask_phone
from web.views.forms import show_errors

bp = Blueprint("intake", __name__, url_prefix="/demand")

TRACKED_KEY = "tracked_demands"
TRACKED_MAX = 20
FORM_BODY_LIMIT = 256 * 1024  # the public forms are text only: far below the app-wide upload limit
HONEYPOT = "homepage"
ENTERPRISE_TYPE_LABELS = {"zjtx": _l("Specialised and innovative SME (专精特新)"),
                          "smme": _l("Small, medium or micro enterprise"), "large": _l("Large enterprise"),
                          "other": _l("Other")}


def choices_of(labels: dict[str, Any]) -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in labels.items()]


def _submit_limit() -> str:
    return current_app.config["PUBLIC_SUBMIT_LIMIT"]


def _lookup_limit() -> str:
    return current_app.config["PUBLIC_LOOKUP_LIMIT"]


class Marked:
    """Marks a field as required on the page (asterisk, ``required`` attribute); the schema checks it."""

    field_flags = {"required": True}

    def __call__(self, form: Any, field: Any) -> None:
        return None


class DemandForm(FlaskForm):
    enterprise_name = StringField(_l("Enterprise name"), [Marked()], render_kw={"autocomplete": "organization"})
    credit_code = StringField(_l("Unified social credit code"), [Marked()],
                              render_kw={"autocapitalize": "characters", "spellcheck": "false", "maxlength": 24})
    # not preset to the first type (专精特新 is a status an enterprise must hold): the schema's default
    enterprise_type = SelectField(_l("Enterprise type"), validate_choice=False, default="smme",
                                  choices=[SelectChoice(code, ENTERPRISE_TYPE_LABELS[code]) for code in ENTERPRISE_TYPES])
    region_code = SelectField(_l("Region"), [Marked()], validate_choice=False)
    industry_code = SelectField(_l("Industry"), [Marked()], validate_choice=False)
    contact_name = StringField(_l("Contact person"), [Marked()], render_kw={"autocomplete": "name"})
    contact_phone = StringField(_l("Contact mobile"), [Marked()],
                                render_kw={"type": "tel", "inputmode": "numeric", "autocomplete": "tel"})
    contact_email = StringField(_l("E-mail (optional)"), render_kw={"type": "email", "autocomplete": "email",
                                                                    "maxlength": 120})
    category_code = SelectField(_l("Demand category"), [Marked()], validate_choice=False)
    title = StringField(_l("Title of the demand"), [Marked()], render_kw={"maxlength": 120})
    description = TextAreaField(_l("Describe the problem"), [Marked()], render_kw={"rows": 6})
    skills = SelectMultipleField(_l("Skills needed"), validate_choice=False)
    other_skills = StringField(_l("Other skills (not in the list)"), render_kw={"maxlength": 200})
    team_size = StringField(_l("Craftsmen wanted"), default="1",
                            render_kw={"type": "number", "min": 1, "max": 10, "inputmode": "numeric"})
    mode = RadioField(_l("Service mode"), validate_choice=False, default="onsite",
                      choices=choices_of(demand_service.MODE_LABELS))
    address = StringField(_l("Service address"), render_kw={"autocomplete": "street-address", "maxlength": 200})
    window_start = StringField(_l("Preferred from"), render_kw={"type": "date"})
    window_end = StringField(_l("Preferred until"), render_kw={"type": "date"})
    urgency = RadioField(_l("Urgency"), validate_choice=False, default="medium",
                         choices=choices_of(demand_service.URGENCY_LABELS))
    consent = BooleanField(_l("I agree that the trade union stores these data to match my demand with craftsmen "
                              "and contacts me about it."), [Marked()])
    submission_key = HiddenField()
    homepage = StringField(_l("Leave this field empty"), render_kw={"autocomplete": "off", "tabindex": "-1"})

    CONTRACT_FIELDS = ("enterprise_name", "credit_code", "enterprise_type", "region_code", "industry_code",
                       "contact_name", "contact_phone", "contact_email", "category_code", "title", "description", "skills",
                       "other_skills", "team_size", "mode", "address", "window_start", "window_end", "urgency",
                       "consent", "submission_key")

    def contract_data(self) -> dict[str, Any]:
        data = {name: self[name].data for name in self.CONTRACT_FIELDS}
        data["consent"] = bool(data["consent"])
        data["skills"] = [code for code in (data["skills"] or []) if code]
        return {key: ("" if value is None else value) for key, value in data.items()}


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


@bp.url_value_preprocessor
def _limit_body_size(_endpoint: str | None, _values: dict[str, Any] | None) -> None:
    # Runs before every before_request hook (CSRFProtect reads the form in one), so the limit applies.
    request.max_content_length = min(FORM_BODY_LIMIT, current_app.config.get("MAX_CONTENT_LENGTH") or FORM_BODY_LIMIT)


@bp.context_processor
def labels() -> dict[str, Any]:
    return {"status_labels": demand_service.STATUS_LABELS, "status_help": demand_service.STATUS_HELP,
            "mode_labels": demand_service.MODE_LABELS,
            "urgency_labels": demand_service.URGENCY_LABELS, "mask_phone": mask_phone}


def _english() -> bool:
    return str(get_locale() or "zh_CN").startswith("en")


def _labeller() -> Any:
    """``row → name`` in the current locale (the locale is looked up once, not per row)."""
    attribute = "name_en" if _english() else "name_zh"
    return lambda row: getattr(row, attribute) or row.name_zh


# How long a worker trusts its cached reference data before checking the database's fingerprint
# (one small query); the tests, whose transactions roll reference rows back, read them every time.
REFERENCE_CACHE_SECONDS = 30.0


def reference_data() -> reference.ReferenceData:
    default = None if current_app.testing else REFERENCE_CACHE_SECONDS
    return reference.cached(db.session, max_age=current_app.config.get("REFERENCE_CACHE_SECONDS", default))


RegionOption = tuple[str, str, str, str]  # code, label in the flat <select>, parent's code, own name


def _region_groups(data: reference.ReferenceData) -> list[tuple[str, list[RegionOption]]]:
    """The region <select>'s groups (province · prefecture) and options, in the current locale. Each option also
    carries its parent and its own name, from which the script builds the cascading picker: the page sends
    the region list once."""
    by_id = {row.id: row for row in data.regions}
    name_of = _region_labeller()
    groups: dict[str, list[RegionOption]] = defaultdict(list)
    whole_city = _("%(name)s (whole city)")  # translated once, formatted per prefecture
    for row in data.regions:
        if row.level == "province":
            continue
        parent = by_id.get(row.parent_id)
        parent_code = parent.code if parent is not None else ""
        if row.level == "prefecture":
            groups[f"{name_of(parent)} · {name_of(row)}"].insert(
                0, (row.code, whole_city % {"name": name_of(row)}, parent_code, name_of(row)))
            continue
        anchor = parent
        while anchor is not None and anchor.level not in ("prefecture", "province"):
            anchor = by_id.get(anchor.parent_id)
        if anchor is None:
            continue
        group = name_of(anchor) if anchor.level == "province" else f"{name_of(by_id[anchor.parent_id])} · {name_of(anchor)}"
        label = name_of(row) if parent is anchor else f"{name_of(parent)} · {name_of(row)}"
        groups[group].append((row.code, label, parent_code, name_of(row)))
    return list(groups.items())


def _provinces(data: reference.ReferenceData) -> list[tuple[str, str]]:
    """The picker's first level (no option of the <select>: a province is too wide for a demand)."""
    name_of = _region_labeller()
    return [(row.code, name_of(row)) for row in data.regions if row.level == "province"]


def _region_labeller() -> Any:
    """``region row → name`` in the current locale (regions keep one Chinese ``name`` and a ``name_en``)."""
    return (lambda row: row.name_en or row.name) if _english() else (lambda row: row.name)


def _form_choices(data: reference.ReferenceData) -> dict[str, Any]:
    """Everything the form's pickers need in the current locale, built once per locale and reference version."""
    label = _labeller()
    region_groups = _region_groups(data)
    children: dict[int | None, list[Any]] = defaultdict(list)
    for row in data.skills:
        children[row.parent_id].append(row)
    return {
        "region_choices": [SelectChoice(option[0], option[1]) for _group, options in region_groups
                           for option in options],
        "region_groups": region_groups,
        "provinces": _provinces(data),
        "industry_choices": [SelectChoice("", _("Choose an industry"))]
        + [SelectChoice(row.code, label(row)) for row in data.industries],
        "skill_choices": [SelectChoice(row.code, label(row)) for row in data.skills],
        "skill_groups": [(root, children.get(root.id, [])) for root in children[None]],
        "category_choices": [SelectChoice(row.code, label(row)) for row in data.categories],
    }


def _localized_choices() -> dict[str, Any]:
    return reference_data().derived(("form", str(get_locale())), _form_choices)


def _fill_choices(form: DemandForm) -> dict[str, Any]:
    """Options from the (cached) reference data; returns what the template needs for the pickers."""
    data = reference_data()
    choices = _localized_choices()
    form.region_code.choices = choices["region_choices"]
    form.industry_code.choices = choices["industry_choices"]
    form.category_code.choices = category_choices(_("Choose a category"))
    page = {**skill_choices(form.skills), "region_groups": choices["region_groups"],
            "provinces": choices["provinces"]}
    # The two big pickers, with nothing chosen yet (every fresh form), are rendered once per locale and
    # reference version; a form shown again with choices renders them with the choices marked.
    if not form.region_code.data:
        page["region_options_html"] = _cached_fragment(data, MACROS, "region_options", choices["region_groups"], "")
    if not form.skills.data:
        page["skills_picker_html"] = _cached_fragment(data, MACROS, "skills_picker", form.skills,
                                                      page["skill_groups"], page["skill_label"])
    for name in ("industry_code", "category_code"):
        if not form[name].data and not form[name].errors:
            page[f"{name}_html"] = _cached_fragment(data, FORM_HELPERS, "field", form[name])
    return page


MACROS, FORM_HELPERS, FIELDS = "intake/_macros.html", "_form_helpers.html", "intake/_demand_fields.html"


def _cached_fragment(data: reference.ReferenceData, template: str, macro: str, *args: Any) -> Markup:
    """A macro rendered once per locale and reference version: only for fields with nothing chosen and no
    error, whose markup is the same for everyone (no CSRF token, no typed value)."""
    def render(_data: reference.ReferenceData) -> Markup:
        module = current_app.jinja_env.get_template(template).make_module({"_": _, "gettext": _})
        return Markup(getattr(module, macro)(*args))

    return data.derived((template, macro, args[0].name if hasattr(args[0], "name") else "", str(get_locale())),
                        render)


def skill_choices(field: SelectMultipleField) -> dict[str, Any]:
    """Fill a skills field's choices; returns the groups (root skill, its children) for the picker."""
    choices = _localized_choices()
    field.choices = choices["skill_choices"]
    return {"skill_groups": choices["skill_groups"], "skill_label": _labeller()}



def category_choices(placeholder: str) -> list[SelectChoice]:
    return [SelectChoice("", placeholder)] + _localized_choices()["category_choices"]


def _render_form(form: DemandForm, status: int = 200):
    pickers = _fill_choices(form)
    fields_html = None
    if request.method == "GET":  # a fresh form: its fields (defaults, no typed value, no error) are the same for all
        fields_html = _cached_fragment(reference_data(), FIELDS, "demand_fields", form, pickers)
    return render_template("intake/new.html", form=form, pickers=pickers, fields_html=fields_html), status


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
    form = DemandForm()
    if request.method == "GET":
        form.submission_key.data = secrets.token_urlsafe(24)
        return _render_form(form)
    if not form.submission_key.data:
        form.submission_key.data = secrets.token_urlsafe(24)
    if form.homepage.data:
        # A bot filled the invisible field. A person who did so keeps everything typed and can send again.
        form.homepage.errors = [_("Please leave this field empty.")]
        flash(_("Your demand was not sent yet: please clear the field marked below and send again."), "error")
        return _render_form(form, 400)
    if not form.validate():  # CSRF only: the contract's rules are in the schema
        flash(_("The form expired. Please check your entries and send again."), "error")
        return _render_form(form, 400)
    try:
        demand = demand_service.submit_demand(db.session, form.contract_data(), now=utcnow())
        db.session.commit()
    except ServiceError as error:
        db.session.rollback()
        show_errors(form, error)
        flash(_("Please correct the marked fields; nothing was sent yet."), "error")
        return _render_form(form, 422)
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
        merged_into=db.session.get(Demand, demand.merged_into_id) if demand.merged_into_id else None,
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
