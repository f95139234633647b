"""The demand form both intakes share: the enterprise's public form and a coordinator's entry on its behalf.

Not a view: the public intake (``web.views.intake``) and the workspace (``web.views.demands``,
``web.views.staff_intake``) import it, so that no view imports another. The WTForms layer only renders
fields and checks CSRF; every rule lives in ``web.schemas.demands`` and the services.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, current_app, flash, render_template, request, session
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.csrf import generate_csrf
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

from web.extensions import db
from web.models.enterprises import ENTERPRISE_TYPES
from web.services import demands as demand_service
from web.services import reference
from web.services.errors import ServiceError
from web.services.masks import mask_phone
from web.views.forms import show_errors
from web.views.slotted_page import SHARED_PAGE_ENVIRON, SharedPage, SlottedPage
from web.views.team_roles import PUBLIC_ROLE_ROWS, roles_data, roles_field

ENTERPRISE_TYPE_LABELS = {"zjtx": _l("Specialised and innovative SME"),
                          "smme": _l("Small, medium or micro enterprise"), "large": _l("Large enterprise"),
                          "other": _l("Other")}


def choices_of(labels: dict[str, Any]) -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in labels.items()]


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
    team_size = StringField(_l("Craftsmen wanted"),
                            render_kw={"type": "number", "min": 1, "max": 10, "inputmode": "numeric",
                                       "placeholder": "1"})
    roles = roles_field(PUBLIC_ROLE_ROWS)
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
        data = {key: ("" if value is None else value) for key, value in data.items()}
        data["roles"] = roles_data(self.roles)
        return data


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
    return reference.cached(lambda: db.session, key=current_app.config["DATABASE_URL"],
                            max_age=reference_max_age(current_app))


def cached_reference_data() -> reference.ReferenceData | None:
    """For a submission: the cached reference data, or None when nothing is cached (the tests' default), where
    loading all of it would cost more than looking up the submission's few codes."""
    return reference_data() if reference_max_age(current_app) is not None else None


def reference_max_age(app: Flask) -> float | None:
    return app.config.get("REFERENCE_CACHE_SECONDS", None if app.testing else REFERENCE_CACHE_SECONDS)


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
        + [SelectChoice(row.code, ("　" if row.parent_id else "") + label(row))  # under its sector, indented
           for row in reference.sectors_first(data.industries)],
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


def render_demand_form(form: DemandForm, template: str, status: int = 200, *, cache_fields: bool = True,
                       **context: Any):
    """Render ``template`` with the demand form and its pickers. A fresh public form's fields come from the
    cache; ``cache_fields=False`` for a form whose fields differ from the public one's (the staff form)."""
    pickers = _fill_choices(form)
    fields_html = None
    if request.method == "GET" and cache_fields:  # a fresh form: its fields (defaults, no typed value, no error) are the same for all
        fields_html = _cached_fragment(reference_data(), FIELDS, "demand_fields", form, pickers)
    return render_template(template, form=form, pickers=pickers, fields_html=fields_html, **context), status


def new_submission_key() -> str:
    """The one-time key of a fresh form: a second POST of the same form is recognised and stored once."""
    return secrets.token_urlsafe(24)


def shared_form_page(template: str, fresh_form: Callable[[], DemandForm]) -> Response | None:
    """The page of a fresh form as every visitor sees it, rendered once per locale and reference version (and
    gzip-compressed once): only the CSRF token and the one-time key are made per request. None when the page
    is not the same for everyone (a logged-in user's header, a message to show, query arguments): the caller
    renders that one live."""
    if request.args or "_flashes" in session or current_user.is_authenticated:
        return None
    page_key = ("page", template, str(get_locale()), request.script_root)
    page = reference_data().derived(page_key, lambda _data: _slotted(template, fresh_form()))
    if page is None:
        return None
    values = (generate_csrf(), new_submission_key())
    gzipped = bool(request.accept_encodings["gzip"])
    # for web.views.page_replay: what this answer was made of, to check the response against and replay it
    request.environ[SHARED_PAGE_ENVIRON] = SharedPage(page_key, page, values, gzipped)
    # gzip even for a browser that also takes zstd or brotli: the static parts were compressed once (at
    # level 9, smaller than zstd's level 3), where Flask-Compress would compress 60 KB per request
    return current_app.response_class(page.body(values, gzipped), mimetype="text/html",
                                      headers={"Content-Encoding": "gzip"} if gzipped else None)


def _slotted(template: str, form: DemandForm) -> SlottedPage | None:
    """The page rendered live, with its CSRF token and its one-time key as slots."""
    page, _status = render_demand_form(form, template)
    return SlottedPage.cut(page, (generate_csrf(), form.submission_key.data))


def run_demand_form(form: DemandForm, call: Callable[[dict[str, Any]], Any], refused: str) -> tuple[Any, int]:
    """Check CSRF, call the service with the form's contract data and commit. Returns (its result, 200); or
    (None, 400) for an expired form and (None, 422) for bad input, whose errors are put next to the fields
    with ``refused`` flashed: nothing was saved, and the caller shows the form again with what was typed."""
    if not form.validate():  # CSRF only: the contract's rules are in the schema
        flash(_("The form expired. Please check your entries and send again."), "error")
        return None, 400
    try:
        result = call(form.contract_data())
        db.session.commit()
    except ServiceError as error:
        db.session.rollback()
        show_errors(form, error)
        flash(refused, "error")
        return None, 422
    return result, 200
