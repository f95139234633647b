"""Demand import (企业需求导入): the sheets a union office keeps of needs taken by phone, on paper or in WeChat.

The same pipeline as the craftsman import (``web.services.importing``: bounded sheet reading, Chinese or
English headers, names or codes resolved, row errors in Chinese and English, uploads staged between
preview and confirm); each row is checked by ``DemandSchema``, the public form's contract, and written by
``demands.submit_demand`` as the importing coordinator (or the command line). ``approve=True`` approves
the new demands at once, as a coordinator's approval does: they are open for the next matching round.

A row's one-time key is made from the enterprise's credit code and the demand's title, so importing the
same sheet twice adds nothing the second time (those rows are "already imported").
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from marshmallow import ValidationError as MarshmallowError
from sqlalchemy.orm import Session

from web.models import Demand, Enterprise, Region, User
from web.schemas.demands import DemandSchema, parse_roles_text
from web.services import demands as demand_service
from web.services.errors import ServiceError
from web.services.importing import (
    COLUMN_LABELS,
    LIMITS,
    TEMPLATE_NOTES,
    ImportKind,
    ImportReport,
    ParsedSheet,
    Resolver,
    RowError,
    SheetLayout,
    bilingual,
    checked_rows,
    finish_import,
    parse_upload,
    service_modes,
    template_workbook,
)

COLUMNS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "enterprise_name": ("企业名称", "enterprise name", ("企业", "单位名称", "enterprise")),
    "credit_code": ("统一社会信用代码", "credit code", ("信用代码", "社会信用代码", "unified social credit code")),
    "enterprise_type": ("企业类型", "enterprise type", ()),
    "region": ("地区", "region", ("所在地区", "region code", "地区代码")),
    "industry": ("行业", "industry", ("所属行业",)),
    "contact_name": ("联系人", "contact person", ("联系人姓名", "contact")),
    "phone": ("手机", "phone", ("手机号", "手机号码", "mobile", "联系电话", "联系人手机")),
    "email": ("电子邮箱", "email", ("邮箱", "e-mail", "电子邮件")),
    "category": ("需求类别", "category", ("类别", "需求类型", "demand category")),
    "title": ("标题", "title", ("需求标题",)),
    "description": ("描述", "description", ("需求描述", "问题描述")),
    "required_skills": ("所需技能", "required skills", ("技能", "skills", "需求技能")),
    "other_skills": ("其他技能", "other skills", ()),
    "roles": ("团队分工", "team roles", ("分工", "roles")),
    "team_size": ("人数", "team size", ("所需人数", "craftsmen wanted")),
    "mode": ("服务方式", "service mode", ("mode", "modes", "service modes")),
    "address": ("地址", "address", ("服务地址",)),
    "window_start": ("期望开始", "preferred from", ("开始日期", "from")),
    "window_end": ("期望结束", "preferred until", ("结束日期", "until")),
    "urgency": ("紧急程度", "urgency", ("紧急度",)),
}
REQUIRED = ("enterprise_name", "credit_code", "region", "industry", "contact_name", "phone", "category", "title",
            "description")
FIELD_COLUMN = {
    "enterprise_name": "enterprise_name", "credit_code": "credit_code", "enterprise_type": "enterprise_type",
    "region_code": "region", "industry_code": "industry", "contact_name": "contact_name", "contact_phone": "phone",
    "contact_email": "email", "category_code": "category", "title": "title", "description": "description",
    "skills": "required_skills", "other_skills": "other_skills", "roles": "roles", "team_size": "team_size",
    "mode": "mode", "address": "address", "window_start": "window_start", "window_end": "window_end",
    "urgency": "urgency", "consent": "title", "submission_key": "title", "support_needed": "description",
    "_schema": "title",
}
TEMPLATE_ORDER = ("enterprise_name", "credit_code", "region", "industry", "contact_name", "phone", "category",
                  "title", "description", "required_skills", "roles", "team_size", "mode", "address", "urgency",
                  "window_start", "window_end", "email", "enterprise_type", "other_skills")
DEMANDS = SheetLayout(COLUMNS, REQUIRED, FIELD_COLUMN, TEMPLATE_ORDER)
for _key, _labels in COLUMNS.items():  # a key both sheets have must have the same headers in both
    assert COLUMN_LABELS.setdefault(_key, _labels)[:2] == _labels[:2], _key

URGENCY_WORDS = {"高": "high", "紧急": "high", "急": "high", "high": "high", "中": "medium", "一般": "medium",
                 "普通": "medium", "medium": "medium", "低": "low", "不急": "low", "low": "low"}
ENTERPRISE_TYPE_WORDS = {"专精特新": "zjtx", "专精特新企业": "zjtx", "中小微": "smme", "中小微企业": "smme",
                         "大型企业": "large", "大型": "large", "其他": "other"}


def _team_roles(text: str, resolver: Resolver) -> list[dict[str, Any]]:
    """团队分工 such as ``焊接:1、数控铣:1、电气控制:1`` → the contract's roles, each speciality by its code; an
    unknown speciality is named here, in the preview, rather than when the rows are written."""
    try:
        roles = parse_roles_text(text or "")
    except MarshmallowError as error:
        raise ValueError(error.messages[0]) from None
    for role in roles:
        code = resolver.skills.get(role["skill"]) or resolver.skills.get(role["skill"].lower())
        if code is None:
            raise ValueError(_l("Unknown skill: %(code)s.", code=role["skill"]))
        role["skill"] = code
    return roles


def _word(table: dict[str, str], text: str, message) -> str:
    """A cell of one fixed word (urgency, enterprise type) → its value; empty stays empty (the default)."""
    if not text:
        return ""
    value = table.get(text.strip()) or table.get(text.strip().lower())
    if value is None:
        raise ValueError(message(text))
    return value


def _mode(text: str) -> str:
    if not text:
        return ""
    onsite, remote = service_modes(text)
    return "hybrid" if onsite and remote else "remote" if remote else "onsite"


def submission_key(credit_code: str, title: str) -> str:
    """The row's one-time key: the same enterprise and title imported again is recognised, not duplicated."""
    digest = hashlib.sha256(f"{credit_code.strip().upper()}|{title.strip()}".encode()).hexdigest()
    return f"import-{digest[:40]}"


def row_to_data(cells: dict[str, str], resolver: Resolver) -> tuple[dict[str, Any], list[tuple[str, Any]]]:
    """Sheet cells → the DemandSchema input (the public form's contract), and (column, message) for what
    could not be resolved."""
    problems: list[tuple[str, Any]] = []
    data: dict[str, Any] = {
        "enterprise_name": cells.get("enterprise_name", ""), "credit_code": cells.get("credit_code", ""),
        "contact_name": cells.get("contact_name", ""), "contact_phone": cells.get("phone", ""),
        "contact_email": cells.get("email", ""), "title": cells.get("title", ""),
        "description": cells.get("description", ""), "other_skills": cells.get("other_skills", ""),
        "team_size": cells.get("team_size", ""), "address": cells.get("address", ""),
        "window_start": cells.get("window_start", ""), "window_end": cells.get("window_end", ""),
        # the office took the need from the enterprise, which agreed to its use (as on the public form)
        "consent": True,
        "submission_key": submission_key(cells.get("credit_code", ""), cells.get("title", "")),
    }
    for column, key, resolve in (
        ("region", "region_code", resolver.region),
        ("industry", "industry_code", lambda text: resolver.one(
            resolver.industries, text, lambda code: _l("Unknown industry: %(code)s.", code=code))),
        ("category", "category_code", lambda text: resolver.one(
            resolver.categories, text, lambda code: _l("Unknown demand category: %(code)s.", code=code))),
        ("required_skills", "skills", lambda text: resolver.many(
            resolver.skills, text, lambda code: _l("Unknown skill: %(code)s.", code=code))),
        ("mode", "mode", _mode),
        ("urgency", "urgency", lambda text: _word(URGENCY_WORDS, text, lambda value: _l(
            "Unknown urgency: %(value)s. Write 高 (high), 中 (medium) or 低 (low).", value=value))),
        ("enterprise_type", "enterprise_type", lambda text: _word(ENTERPRISE_TYPE_WORDS, text, lambda value: _l(
            "Unknown enterprise type: %(value)s.", value=value))),
    ):
        try:
            data[key] = resolve(cells.get(column, "")) if (column != "region" or cells.get(column)) else ""
        except ValueError as error:
            problems.append((column, error.args[0]))
    try:
        data["roles"] = _team_roles(cells.get("roles", ""), resolver)
    except ValueError as error:
        problems.append(("roles", error.args[0]))
    return data, problems


# ---------------------------------------------------------------- preview and apply
def preview_demands(session: Session, sheet: ParsedSheet | bytes, filename: str = "", *,
                    scope: list[int] | frozenset[int] | None = None) -> ImportReport:
    """The dry run: every row resolved and validated as the public form's contract; writes nothing.

    A row already imported (same enterprise and title) is "unchanged"; a row in a region outside ``scope``
    (a city coordinator's regions), a province instead of a city, or twice in the sheet is a row error."""
    if isinstance(sheet, bytes):
        sheet = parse_upload(sheet, filename, layout=DEMANDS)
    report = ImportReport(rows=len(sheet.rows))
    resolver = Resolver(session)
    schema = DemandSchema()
    valid: list[tuple[int, dict[str, Any], dict[str, Any], dict[str, str]]] = []
    seen: dict[str, int] = {}
    for number, cells, data, values in checked_rows(sheet, report, schema, DEMANDS,
                                                    lambda cells: row_to_data(cells, resolver)):
        first = seen.setdefault(values["submission_key"], number)
        if first != number:
            report.errors.append(RowError(number, "title", f"与第 {first} 行是同一企业的同一需求",
                                          f"the same enterprise and title as row {first}"))
            continue
        valid.append((number, data, values, cells))
    regions = {row.code: row for row in session.execute(sa.select(Region.code, Region.id, Region.level).where(
        Region.code.in_({values["region_code"] for _, _, values, _ in valid})))}
    keys = [values["submission_key"] for _, _, values, _ in valid]
    imported = set(session.scalars(sa.select(Demand.submission_key).where(Demand.submission_key.in_(keys))))
    known = set(session.scalars(sa.select(Enterprise.credit_code).where(
        Enterprise.credit_code.in_({values["credit_code"] for _, _, values, _ in valid}))))
    for number, data, values, cells in valid:
        region = regions[values["region_code"]]
        if region.level == "province":
            report.errors.append(RowError(number, "region", *bilingual(
                _l("Choose the city and district, not only the province."))))
            continue
        if scope is not None and region.id not in scope:
            report.errors.append(RowError(number, "region", *bilingual(
                _l("This region is outside your area; only your own region's demands can be imported."))))
            continue
        verdict = "unchanged" if values["submission_key"] in imported else "create"
        enterprise = "" if values["credit_code"] in known else " · 新企业 / new enterprise"
        detail = " · ".join(part for part in (values["title"], cells.get("category", ""), cells.get("region", ""),
                                              cells.get("required_skills", ""), cells.get("roles", "")) if part)
        report.add(number, verdict, values["enterprise_name"] + enterprise, detail, (number, data, None, verdict))
    report.errors.sort(key=lambda error: error.row)
    return report


def apply_demands(session: Session, sheet: ParsedSheet | bytes, filename: str = "", *, skip_invalid: bool,
                  approve: bool, actor: User | str, now: dt.datetime,
                  scope: list[int] | frozenset[int] | None = None) -> ImportReport:
    """Write the import: every valid new row or nothing. Rows with errors block it unless ``skip_invalid``.

    Each demand is submitted as ``actor`` (the status event and audit entry name who entered it); with
    ``approve`` it is approved at once and open for matching. The rows are checked again first."""
    if isinstance(sheet, bytes):
        sheet = parse_upload(sheet, filename, layout=DEMANDS)
    report = preview_demands(session, sheet, scope=scope)
    if report.errors and not skip_invalid:
        raise ServiceError(_l("%(count)d rows have errors: fix them, or confirm that they are skipped.",
                              count=report.error_rows), field="file")
    note = str(_l("Entered by the union office from an imported sheet."))
    created = []
    with session.begin_nested():  # all or nothing: any failure rolls every row back
        for number, data, _none, verdict in report.plan:
            if verdict != "create":
                continue
            try:
                demand = demand_service.submit_demand(session, data, now=now, actor=actor, note=note)
                if approve:
                    demand_service.approve(session, demand, actor=actor, now=now)
            except ServiceError as error:
                zh, en = bilingual(error.message)
                raise ServiceError(f"第 {number} 行：{zh} / Row {number}: {en}", field="file") from None
            created.append(demand.id)
        return finish_import(session, report, sheet, "demand", actor=actor, now=now,
                             counts={"created": len(created), "approved": approve})


# Each demand is written through the public form's service (about 30 ms a row on a busy 2-core machine):
# a workspace upload stays well inside the web worker's 60 s; the command line takes the full 20,000 rows.
WEB_LIMITS = dataclasses.replace(LIMITS, max_rows=1_000)
DEMAND_IMPORT = ImportKind("demands", DEMANDS, preview_demands, WEB_LIMITS)


def template_bytes() -> bytes:
    """The demand import template: bilingual headers, one marked example row (never imported), instructions."""
    example = ["攀钢集团示例有限公司", "91510400MA62X5XXXX", "四川省攀枝花市东区", "先进材料", "王工", "13800000000",
               "安全生产", "行车吊运钢水作业安全排查", "炼钢车间行车吊运钢水作业风险高，希望工匠进厂排查隐患并培训班组长。",
               "安全培训", "焊接:1、电气控制:1", 2, "线下", "攀枝花市东区炼钢厂", "高", "", "", "", "", ""]
    notes = [*TEMPLATE_NOTES,
             "团队分工写作「技能:人数」，用顿号分隔，如 焊接:1、数控铣:1、电气控制:1。 / Team roles as “skill:count”,"
             " e.g. 焊接:1、数控铣:1、电气控制:1.",
             "服务方式：线下、线上或混合；紧急程度：高、中或低。 / Service mode: 线下 (on site), 线上 (remote) or 混合"
             " (both); urgency: 高, 中 or 低."]
    return template_workbook(DEMANDS, "demands 需求", example, notes)
