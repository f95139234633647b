"""Dashboard (数据看板), period report and its XLSX export; yearly targets per region with progress bars."""

from __future__ import annotations

import io
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, current_app, flash, redirect, render_template, request, send_file, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from openpyxl import Workbook
from wtforms import SelectChoice, SelectField, StringField

from web.clock import local_today, utcnow
from web.extensions import db
from web.models import DemandStatus, Region
from web.policy import EDITOR, STAFF, policy, region_clause, require_region
from web.schemas.common import load_or_raise
from web.schemas.engagements import ReportFilterSchema
from web.services import charts, reports
from web.services.errors import ServiceError, ValidationFailed
from web.services.personal_data import record_export
from web.views.forms import show_errors

bp = Blueprint("reports", __name__, url_prefix="/workspace/reports")

PROVINCES = {"51": _l("Sichuan"), "50": _l("Chongqing")}


def status_label(status: str) -> str:
    return str(DemandStatus(status).label)  # the same words as the inbox and the status page


def region_name(row: dict[str, Any]) -> str:
    """A report row's region (by_region, targets) in the page's language."""
    return row["name_en"] if _english() else row["name"]


def measure_labels() -> dict[str, str]:
    return {"visits": _("Craftsman visits"), "enterprises": _("Enterprises served"),
            "problems": _("Problems solved"), "skill_upgrades": _("Skill upgrades")}


def _filters() -> tuple[reports.Period, int | None, dict[str, Any], dict[str, list[str]]]:
    raw = {key: request.args.get(key) or None for key in ("start", "end", "province", "year")}
    try:
        values = load_or_raise(ReportFilterSchema(), raw)
    except ValidationFailed as error:
        return reports.Period(), None, {k: v or "" for k, v in raw.items()}, error.as_errors()
    period = reports.Period(values["start"], values["end"], values["province"])
    return period, values["year"], {k: v or "" for k, v in raw.items()}, {}


def _english() -> bool:
    return str(get_locale() or "zh_CN").startswith("en")


def _report(*, detail: bool = True) -> tuple[reports.Report, dict[str, Any], dict[str, list[str]]]:
    period, year, raw, errors = _filters()
    # A built report is reused while the data is unchanged (30 s by default; off in tests unless configured).
    ttl = current_app.config.get("REPORT_CACHE_SECONDS", 0 if current_app.testing else 30)
    report = reports.cached_build(db.session, period, local_today(), year, detail=detail,
                                  ttl=ttl)
    return report, raw, errors


def _charts(report: reports.Report) -> dict[str, Any]:
    english = _english()
    labels = measure_labels()
    return {
        "status": charts.bars([(status_label(s), n) for s, n in report.by_status], title=_("Demands by status")),
        "category": charts.bars([(r["name_en"] if english else r["name_zh"], r["demands"]) for r in report.by_category],
                                title=_("Demands by category"), color=charts.PALETTE[1]),
        "region": charts.bars([(region_name(r), r.get("demands", 0)) for r in report.by_region[:15]],
                              title=_("Demands by region"), color=charts.PALETTE[2]),
        "industry": charts.bars([(r["name_en"] if english else r["name_zh"], r["demands"])
                                 for r in report.by_industry[:15]], title=_("Demands by industry"),
                                color=charts.PALETTE[3]),
        "trend": charts.lines([row["month"] for row in report.trend],
                              [(_("Demands submitted"), [row["demands"] for row in report.trend]),
                               (_("Engagements completed"), [row["completed"] for row in report.trend])],
                              title=_("Trend by month")),
        "value_trend": charts.lines([row["month"] for row in report.trend],
                                    [(_("Value created (× 10,000 yuan)"), [row["value_wan"] for row in report.trend])],
                                    title=_("Value created by month")),
        "targets": {(t["region_id"], m["key"]): charts.progress(m["actual"], m["target"],
                                                                title=f'{region_name(t)} {labels[m["key"]]}')
                    for t in report.targets for m in t["measures"]},
    }


def _count_field(label):
    return StringField(label, render_kw={"type": "number", "min": "0", "step": "1"})


class TargetForm(FlaskForm):
    """Thin form: TargetSchema validates."""

    region_code = SelectField(_l("Region"), choices=[], validate_choice=False)
    year = StringField(_l("Year"), render_kw={"type": "number", "min": "2000", "max": "2100"},
                       id="target_year")  # the filters' own "year" field is on the same page
    visits = _count_field(_l("Craftsman visits"))
    enterprises = _count_field(_l("Enterprises served"))
    problems = _count_field(_l("Problems solved"))
    skill_upgrades = _count_field(_l("Skill upgrades"))


def _target_form(form: TargetForm | None = None, year: int | None = None) -> TargetForm:
    form = form or TargetForm(formdata=None, data={"year": str(year or utcnow().year)})
    # A city's coordinator sets the targets of its own region (and those under it) only.
    covered = set(db.session.scalars(sa.select(Region.code).where(region_clause(current_user, Region.id))))
    form.region_code.choices = [SelectChoice(code, name) for code, name, _level in reports.target_regions(db.session, english=_english())
                                if code in covered]
    return form


@bp.get("/")
@policy(STAFF)
def dashboard(target_form: TargetForm | None = None, status: int = 200):
    report, raw, errors = _report(detail=False)
    return render_template("reports/dashboard.html", r=report, h=report.headline, filters=raw, errors=errors,
                           charts=_charts(report), status_label=status_label, measure_labels=measure_labels(),
                           provinces=PROVINCES, english=_english(),
                           target_form=_target_form(target_form, report.year)), status


@bp.post("/targets")
@policy(EDITOR)
def set_target():
    form = TargetForm()
    if not form.validate_on_submit():
        return dashboard(_target_form(form), 400)
    region_id = db.session.scalar(sa.select(Region.id).where(Region.code == (form.region_code.data or "")))
    if region_id is not None:  # an unknown code is the schema's to explain
        require_region(region_id)
    data = {name: form[name].data for name in ("region_code", "year", *reports.TARGET_FIELDS)
            if form[name].data not in ("", None)}
    try:
        reports.set_target(db.session, data, actor=current_user, now=utcnow())
    except ServiceError as error:
        db.session.rollback()
        show_errors(form, error)
        return dashboard(_target_form(form), 422)
    db.session.commit()
    flash(_("The yearly targets are saved."), "success")
    return redirect(url_for("reports.dashboard", year=data.get("year")) + "#targets")


@bp.get("/period")
@policy(STAFF)
def period_report():
    report, raw, errors = _report()
    return render_template("reports/period.html", r=report, h=report.headline, filters=raw, errors=errors,
                           status_label=status_label, measure_labels=measure_labels(), provinces=PROVINCES,
                           english=_english())


@bp.get("/export.xlsx")
@policy(STAFF)  # figures only, no personal data
def export():
    report, raw, _errors = _report()
    record_export(db.session, what="report", rows=len(report.by_region), filters=raw, actor=current_user,
                  now=utcnow())
    db.session.commit()
    workbook = Workbook()
    summary = workbook.active
    summary.title = _("Summary")[:31]
    summary.append([_("Figure"), _("Value")])
    for label, value in _summary_rows(report):
        summary.append([label, value])
    english = _english()
    sheets = [
        (_("Demands by status"), [_("Status"), _("Number of demands")], [[status_label(s), n] for s, n in report.by_status]),
        (_("Demands by category"), [_("Category"), _("Number of demands"), _("Matched")],
         [[r["name_en"] if english else r["name_zh"], r["demands"], r["matched"]] for r in report.by_category]),
        (_("By region"), [_("Region"), _("Number of demands"), _("Matched"), _("Enterprises served"), _("Craftsman visits"),
                          _("Problems solved"), _("Value created (× 10,000 yuan)"), _("Workers trained")],
         [[region_name(r), *(r.get(k, 0) for k in ("demands", "matched", "enterprises", "visits", "problems", "value_wan",
                                                "trained"))] for r in report.by_region]),
        (_("By industry"), [_("Industry"), _("Number of demands"), _("Matched"), _("Value created (× 10,000 yuan)"), _("Workers trained")],
         [[r["name_en"] if english else r["name_zh"], r["demands"], r["matched"], r["value_wan"], r["trained"]]
          for r in report.by_industry]),
        (_("By month"), [_("Month"), _("Demands submitted"), _("Engagements completed"), _("Value created (× 10,000 yuan)"),
                         _("Workers trained")],
         [[m["month"], m["demands"], m["completed"], m["value_wan"], m["trained"]] for m in report.trend]),
        (_("Targets"), [_("Region"), _("Year"), _("Measure"), _("Target"), _("Actual"), _("Progress, percent")],
         [[region_name(t), t["year"], measure_labels()[m["key"]], m["target"], m["actual"], m["percent"]]
          for t in report.targets for m in t["measures"]]),
    ]
    for title, header, rows in sheets:
        sheet = workbook.create_sheet(title[:31])
        sheet.append(header)
        for row in rows:
            sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    buffer.seek(0)
    name = f"craftmatch-report-{report.period.start or 'all'}-{report.period.end or report.today}.xlsx"
    return send_file(buffer, as_attachment=True, download_name=name,
                     mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


def _summary_rows(report: reports.Report) -> list[tuple[str, Any]]:
    h = report.headline
    return [
        (_("Period start"), str(report.period.start or "")), (_("Period end"), str(report.period.end or report.today)),
        (_("Enterprises served"), h["enterprises_served"]), (_("Problems solved"), h["problems_solved"]),
        (_("Workers trained (person-times)"), h["workers_trained"]), (_("Value created (× 10,000 yuan)"), h["value_created_wan"]),
        (_("Apprentices"), h["apprentices"]), (_("Agreements signed"), h["agreements"]),
        (_("Craftsman visits"), h["craftsman_visits"]), (_("Outcomes"), h["outcomes"]),
        (_("Number of demands"), h["demands"]), (_("Match rate, percent"), h["match_rate"]),
        (_("Median days to match"), h["median_days_to_match"]),
        (_("Median days to completion"), h["median_days_to_completion"]),
        (_("Engagements active"), h["engagements_active"]), (_("Follow-ups overdue"), h["follow_ups_overdue"]),
        (_("Average rating"), h["rating_average"]), (_("Rated 4 or 5, percent"), h["satisfied_share"]),
    ]
