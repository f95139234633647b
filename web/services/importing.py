"""Craftsman import from the sheets unions keep (XLSX or CSV, Chinese or English headers).

``parse_upload`` reads the file once, bounded against hostile files (``sheet_reading``), into a
``ParsedSheet``; ``stage_import`` keeps it with its preview next to the upload until it is confirmed
or a day old. ``preview_import`` is the dry run: every row is resolved against the reference tables
and validated by ``CraftsmanSchema`` (the same contract as the form and the API), and classified as
would-create / would-update / unchanged, with row-level errors naming row and column in Chinese and
English. ``apply_import`` validates the kept rows again against the pool as it is now and then writes
everything in one go, or nothing: rows with errors block the write unless the coordinator chose to
skip them.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from marshmallow import Schema
from marshmallow import ValidationError as MarshmallowError
from sqlalchemy.orm import Session, selectinload

from web.models import (
    AuditLog,
    Availability,
    Craftsman,
    CraftsmanHonour,
    CraftsmanSkill,
    DemandCategory,
    HonourLevel,
    Industry,
    Region,
    Skill,
    Studio,
    User,
    craftsman_industry,
)
from web.schemas.common import load_or_raise
from web.schemas.craftsmen import CraftsmanSchema
from web.services import audit
from web.services.craftsmen import AUDITED_FIELDS, apply_profile, follow_in_rounds, form_data
from web.services.errors import ServiceError, ValidationFailed
from web.services.exporting import workbook_bytes
from web.services.sheet_reading import LIMITS, Budget, SheetError, SheetLimits, sheet_rows

MAX_ROWS = LIMITS.max_rows
SPLIT = re.compile(r"[,，;；、/\n|]+")
LEVEL = re.compile(r"^(?P<name>.+?)\s*[:：(（]\s*(?P<level>\d+)\s*[)）]?\s*(级)?$")

# column key → (Chinese header, English header, other accepted spellings)
COLUMNS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "name": ("姓名", "name", ()),
    "gender": ("性别", "gender", ("sex",)),
    "phone": ("手机", "phone", ("手机号", "手机号码", "mobile", "联系电话")),
    "email": ("电子邮箱", "email", ("邮箱", "e-mail", "电子邮件")),
    "employer": ("单位", "employer", ("工作单位", "所在单位")),
    "region": ("地区", "region", ("所在地区", "region code", "地区代码")),
    "honours": ("荣誉", "honours", ("honors", "荣誉称号")),
    "skills": ("技能", "skills", ("专业技能", "技能专长")),
    "industries": ("行业", "industries", ("industry", "所属行业")),
    "studio": ("工作室", "studio", ("创新工作室",)),
    "modes": ("服务方式", "service modes", ("modes", "mode", "service mode")),
    "travel_radius_km": ("服务半径（公里）", "travel radius (km)", ("服务半径", "travel radius", "出行半径")),
    "yearly_capacity": ("年度服务次数", "yearly capacity", ("年度上限",)),
    "round_capacity": ("每轮服务数", "capacity per round", ("round capacity", "每轮上限")),
    "bio": ("简介", "bio", ("个人简介", "profile")),
}
REQUIRED_COLUMNS = ("name", "phone", "employer", "region")
# schema field → sheet column (for error messages)
FIELD_COLUMN = {
    "name": "name", "gender": "gender", "phone": "phone", "email": "email", "employer": "employer",
    "region_code": "region",
    "studio": "studio", "bio": "bio", "honours": "honours", "skills": "skills", "industries": "industries",
    "can_onsite": "modes", "can_remote": "modes", "travel_radius_km": "travel_radius_km",
    "yearly_capacity": "yearly_capacity", "round_capacity": "round_capacity", "_schema": "name",
}
TEMPLATE_ORDER = ("name", "gender", "phone", "employer", "region", "honours", "skills", "industries", "studio",
                  "modes", "travel_radius_km", "yearly_capacity", "round_capacity", "bio")
# The templates' example row starts with this mark in its first cell; the reader skips such rows, so an
# example left in a filled template is never imported. Templates handed out before the mark existed had
# this craftsman as their example: recognised by name and (fictional) number.
EXAMPLE_MARK = "【示例 example】"
UNMARKED_EXAMPLES = {("张明", "13800000000")}


@dataclass(frozen=True)
class SheetLayout:
    """What one kind of import sheet holds: its columns (key → Chinese, English header, other spellings),
    those it cannot do without, which column a schema field's errors belong to, and the template's order."""

    columns: dict[str, tuple[str, str, tuple[str, ...]]]
    required: tuple[str, ...]
    field_column: dict[str, str]
    template_order: tuple[str, ...]


CRAFTSMEN = SheetLayout(COLUMNS, REQUIRED_COLUMNS, FIELD_COLUMN, TEMPLATE_ORDER)
# Every layout's column labels, for the row errors (a key shared by two layouts has the same headers).
COLUMN_LABELS: dict[str, tuple[str, str, tuple[str, ...]]] = dict(COLUMNS)

GENDER_WORDS = {"男": "M", "女": "F", "m": "M", "f": "F", "male": "M", "female": "F"}
# One sheet word each: on site, remote, or both (a cell may also list 线下、线上).
MODE_WORDS = {
    "线下": (True, False), "现场": (True, False), "到企": (True, False), "上门": (True, False), "onsite": (True, False),
    "on-site": (True, False), "on site": (True, False), "offline": (True, False),
    "线上": (False, True), "远程": (False, True), "remote": (False, True), "online": (False, True),
    "混合": (True, True), "线上线下": (True, True), "线下线上": (True, True), "hybrid": (True, True),
    "both": (True, True), "on site and remote": (True, True),
}


# What a valid row does, in the preview's list (a demand row "unchanged" was imported before).
VERDICT_LABELS = {"create": _l("New"), "update": _l("Changed"), "unchanged": _l("Unchanged")}


@dataclass
class RowError:
    row: int
    column: str
    message_zh: str
    message_en: str

    @property
    def column_label(self) -> str:
        return f"{COLUMN_LABELS[self.column][0]} / {COLUMN_LABELS[self.column][1]}"

    @property
    def text_zh(self) -> str:
        return f"第 {self.row} 行，「{COLUMN_LABELS[self.column][0]}」列：{self.message_zh}"

    @property
    def text_en(self) -> str:
        return f"Row {self.row}, column \"{COLUMN_LABELS[self.column][1]}\": {self.message_en}"


@dataclass
class ImportReport:
    rows: int = 0
    create: int = 0
    update: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    written: bool = False
    skipped_rows: int = 0
    # the preview's list of who or what each valid row adds or changes: {"row", "verdict", "name", "detail"}
    entries: list[dict[str, Any]] = field(default_factory=list)
    # (row number, values, existing record id or None, verdict) of the valid rows
    plan: list[tuple[int, dict[str, Any], int | None, str]] = field(default_factory=list, repr=False)

    @property
    def error_rows(self) -> int:
        return len({error.row for error in self.errors})

    def to_json(self) -> dict[str, Any]:
        """What the preview page shows, to store next to the upload (the plan is made again on confirm)."""
        return {"rows": self.rows, "create": self.create, "update": self.update, "unchanged": self.unchanged,
                "errors": [[e.row, e.column, e.message_zh, e.message_en] for e in self.errors],
                "entries": self.entries}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ImportReport:
        return cls(rows=data["rows"], create=data["create"], update=data["update"], unchanged=data["unchanged"],
                   errors=[RowError(*error) for error in data["errors"]], entries=data.get("entries", []))

    def add(self, number: int, verdict: str, name: str, detail: str, plan: tuple[Any, ...]) -> None:
        """Count one valid row as ``verdict`` (create, update, unchanged) and list it for the preview."""
        setattr(self, verdict, getattr(self, verdict) + 1)
        self.entries.append({"row": number, "verdict": verdict, "name": name, "detail": detail})
        self.plan.append(plan)

    def as_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "create": self.create, "update": self.update, "unchanged": self.unchanged,
                "error_rows": self.error_rows, "written": self.written, "skipped_rows": self.skipped_rows,
                "errors": [{"row": e.row, "column": e.column, "zh": e.text_zh, "en": e.text_en}
                           for e in self.errors]}


class ImportFileError(SheetError):
    pass


# ---------------------------------------------------------------- reading the file
@dataclass
class ParsedSheet:
    """The import columns of the non-empty rows of an upload, as text: read once, then stored."""

    filename: str
    columns: list[str]  # column keys, in the order of each row's cells
    rows: list[tuple[int, list[str]]]  # (sheet row number, cell texts)

    def cells(self) -> Iterable[tuple[int, dict[str, str]]]:
        for number, texts in self.rows:
            yield number, dict(zip(self.columns, texts, strict=True))

    def to_json(self) -> dict[str, Any]:
        return {"filename": self.filename, "columns": self.columns, "rows": self.rows}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ParsedSheet:
        return cls(data["filename"], list(data["columns"]), [(number, cells) for number, cells in data["rows"]])


def parse_upload(content: bytes, filename: str, *, limits: SheetLimits = LIMITS,
                 budget: Budget | None = None, layout: SheetLayout = CRAFTSMEN) -> ParsedSheet:
    """Read an upload, streaming and bounded (``sheet_reading``): only the import's columns are kept, and
    the templates' example row is left out."""
    with closing(sheet_rows(content, filename, limits=limits, budget=budget)) as rows:
        first = next(rows, None)
        if first is None:
            raise ImportFileError(_l("The file is empty."))
        columns = map_header([_text(cell) for cell in first[1]], layout)
        kept: list[tuple[int, list[str]]] = []
        for number, cells in rows:
            texts = [_text(cells[index]) if index < len(cells) else "" for index in columns.values()]
            if any(texts) and not is_example_row([_text(cell) for cell in cells], dict(zip(columns, texts, strict=True))):
                kept.append((number, texts))
    return ParsedSheet(filename[:200], list(columns), kept)


def is_example_row(cells: list[str], by_column: dict[str, str]) -> bool:
    """The templates' example row: marked in a cell, or the old craftsman template's unmarked example."""
    if any(cell.startswith(EXAMPLE_MARK) for cell in cells):
        return True
    return (by_column.get("name", ""), by_column.get("phone", "")) in UNMARKED_EXAMPLES


def _normal(header: str) -> str:
    return re.sub(r"[\s_*]+", " ", str(header)).strip().lower()


def map_header(header: list[str], layout: SheetLayout = CRAFTSMEN) -> dict[str, int]:
    """column key → index; each header may be Chinese, English or both ("姓名 / name")."""
    spellings: dict[str, str] = {}
    for key, (zh, en, others) in layout.columns.items():
        for spelling in (zh, en, key, *others):
            spellings[_normal(spelling)] = key
    found: dict[str, int] = {}
    for index, raw in enumerate(header):
        candidates = [_normal(raw)] + [_normal(part) for part in re.split(r"[/（()）]", str(raw)) if part.strip()]
        for candidate in candidates:
            key = spellings.get(candidate)
            if key and key not in found:
                found[key] = index
                break
    missing = [key for key in layout.required if key not in found]
    if missing:
        names = "、".join(f"{layout.columns[key][0]} ({layout.columns[key][1]})" for key in missing)
        raise ImportFileError(_l("Required columns are missing: %(names)s.", names=names))
    return found


# ---------------------------------------------------------------- resolving names to codes
class Resolver:
    """Reference names (Chinese, English) or codes → codes, loaded once per import."""

    def __init__(self, session: Session) -> None:
        self.skills = self._table(session, Skill)
        self.industries = self._table(session, Industry)
        self.honours = self._table(session, HonourLevel)
        self.categories = self._table(session, DemandCategory)
        self.regions = self._regions(session)

    @staticmethod
    def _table(session: Session, model) -> dict[str, str]:
        lookup: dict[str, str] = {}
        for code, name_zh, name_en in session.execute(sa.select(model.code, model.name_zh, model.name_en)):
            for key in (name_en.lower(), name_zh, code.lower()):
                lookup.setdefault(key, code)
        return lookup

    @staticmethod
    def _regions(session: Session) -> dict[str, str | None]:
        rows = session.execute(sa.select(Region.id, Region.code, Region.name, Region.parent_id)).all()
        by_id = {row.id: row for row in rows}
        lookup: dict[str, str | None] = {}

        def put(key: str, code: str) -> None:
            # an ambiguous short name (two 东区) resolves to nothing; the full name still works
            lookup[key] = code if lookup.get(key, code) == code else None

        for row in rows:
            lookup[row.code] = row.code
            names = [row.name]
            parent = by_id.get(row.parent_id)
            while parent is not None:
                if parent.name not in names[0]:
                    names.insert(0, parent.name)
                put("".join(names), row.code)
                parent = by_id.get(parent.parent_id)
            put(row.name, row.code)
        return lookup

    def region(self, text: str) -> str:
        key = text.strip().replace(" ", "")
        code = self.regions.get(key)
        if code is None:
            raise ValueError(_l("Unknown region: %(code)s.", code=text))
        return code

    def one(self, table: dict[str, str], text: str, message) -> str:
        """One name or code of ``table`` → its code; an empty cell stays empty (the schema says it is required)."""
        codes = self.many(table, text, message)
        if len(codes) > 1:
            raise ValueError(_l("Give one value here, not several: %(value)s.", value=text))
        return codes[0] if codes else ""

    def many(self, table: dict[str, str], text: str, message) -> list[str]:
        codes = []
        for part in _parts(text):
            code = table.get(part) or table.get(part.lower())
            if code is None:
                raise ValueError(message(part))
            codes.append(code)
        return list(dict.fromkeys(codes))

    def skill_levels(self, text: str) -> list[dict[str, Any]]:
        result: dict[str, int] = {}
        for part in _parts(text):
            match = LEVEL.match(part)
            name, level = (match["name"], int(match["level"])) if match else (part, 3)
            code = self.skills.get(name) or self.skills.get(name.lower())
            if code is None:
                raise ValueError(_l("Unknown skill: %(code)s.", code=name))
            result[code] = level
        return [{"code": code, "proficiency": level} for code, level in result.items()]


def _parts(text: str) -> list[str]:
    return [part.strip() for part in SPLIT.split(text or "") if part.strip()]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime) and value.time() == dt.time():  # a date cell of a spreadsheet
        return value.date().isoformat()
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()
    return str(value).strip()


def row_to_data(cells: dict[str, str], resolver: Resolver) -> tuple[dict[str, Any], list[tuple[str, Any]]]:
    """Sheet cells → the CraftsmanSchema input dict, and (column, message) for what could not be resolved."""
    problems: list[tuple[str, Any]] = []
    data: dict[str, Any] = {"name": cells.get("name", ""), "phone": cells.get("phone", ""),
                            "employer": cells.get("employer", ""), "studio": cells.get("studio", ""),
                            "bio": cells.get("bio", "")}
    if cells.get("email"):  # an empty cell keeps the address on record
        data["email"] = cells["email"]
    gender = cells.get("gender", "")
    data["gender"] = GENDER_WORDS.get(gender.lower(), gender)
    for column, key, resolve in (
        ("region", "region_code", resolver.region),
        ("honours", "honours", lambda text: [{"code": code, "year": None} for code in resolver.many(
            resolver.honours, text, lambda code: _l("Unknown honour level: %(code)s.", code=code))]),
        ("skills", "skills", resolver.skill_levels),
        ("industries", "industries", lambda text: resolver.many(
            resolver.industries, text, lambda code: _l("Unknown industry: %(code)s.", code=code))),
    ):
        try:
            data[key] = resolve(cells.get(column, ""))
        except ValueError as error:
            problems.append((column, error.args[0]))
    if cells.get("modes"):
        try:
            data["can_onsite"], data["can_remote"] = service_modes(cells["modes"])
        except ValueError as error:
            problems.append(("modes", error.args[0]))
    for column in ("travel_radius_km", "yearly_capacity", "round_capacity"):
        if cells.get(column):
            data[column] = cells[column]
    return data, problems


def service_modes(text: str) -> tuple[bool, bool]:
    """A service-mode cell (线下, 线上, 混合, or a list such as 线下、线上) → (on site, remote).

    A word that is not a service mode is named in the error, not passed on as "no mode chosen"."""
    onsite = remote = False
    for part in _parts(text.lower()):
        if part not in MODE_WORDS:
            raise ValueError(_l("Unknown service mode: %(value)s. Write 线下 (on site), 线上 (remote) or 混合 "
                                "(both).", value=part))
        onsite, remote = onsite or MODE_WORDS[part][0], remote or MODE_WORDS[part][1]
    return onsite, remote


def bilingual(message: Any) -> tuple[str, str]:
    with force_locale("zh_CN"):
        zh = str(message)
    with force_locale("en"):
        en = str(message)
    return zh, en


# ---------------------------------------------------------------- preview and apply
def _existing(session: Session, phones: Iterable[str], names: Iterable[tuple[str, str]]):
    by_phone: dict[str, int] = {}
    phones = list(phones)
    for start in range(0, len(phones), 500):
        by_phone.update(session.execute(sa.select(Craftsman.phone, Craftsman.id)
                                        .where(Craftsman.phone.in_(phones[start:start + 500]))).all())
    by_name: dict[tuple[str, str], int] = {}
    wanted = {name for name, _ in names}
    wanted_list = list(wanted)
    for start in range(0, len(wanted_list), 500):
        rows = session.execute(sa.select(Craftsman.name, Craftsman.employer, Craftsman.id)
                               .where(Craftsman.name.in_(wanted_list[start:start + 500]))).all()
        by_name.update({(row.name, row.employer): row.id for row in rows})
    return by_phone, by_name


def _comparable(values: dict[str, Any]) -> dict[str, Any]:
    data = dict(values)
    data.pop("status", None)
    data.pop("availability", None)
    data["honours"] = sorted(h["code"] for h in data.get("honours", []))
    data["skills"] = sorted((s["code"], s["proficiency"]) for s in data.get("skills", []))
    data["industries"] = sorted(data.get("industries", []))
    return data


def preview_import(session: Session, sheet: ParsedSheet | bytes, filename: str = "", *,
                   scope: list[int] | None = None) -> ImportReport:
    """The dry run: validates every row of a parsed sheet (or of a file's bytes, parsed here); writes nothing.

    ``scope`` (region ids, None = everywhere) limits a city's coordinator to the own pool: a row placed
    outside it, or matching a craftsman of another region, is a row error.
    """
    if isinstance(sheet, bytes):
        sheet = parse_upload(sheet, filename)
    report = ImportReport(rows=len(sheet.rows))
    resolver = Resolver(session)
    schema = CraftsmanSchema()
    valid: list[tuple[int, dict[str, Any]]] = []
    seen_phones: dict[str, int] = {}
    places: dict[int, str] = {}
    for number, cells, _data, values in checked_rows(sheet, report, schema, CRAFTSMEN,
                                                     lambda cells: row_to_data(cells, resolver)):
        places[number] = f"{values['employer']} · {cells.get('region', '')}"
        first = seen_phones.setdefault(values["phone"], number)
        if first != number:
            zh = f"与第 {first} 行手机号重复"
            en = f"the same mobile number as row {first}"
            report.errors.append(RowError(number, "phone", zh, en))
            continue
        valid.append((number, values))
    by_phone, by_name = _existing(session, (v["phone"] for _, v in valid),
                                  ((v["name"], v["employer"]) for _, v in valid))
    matched = {number: by_phone.get(v["phone"]) or by_name.get((v["name"], v["employer"])) for number, v in valid}
    if scope is not None:
        valid = _within_scope(session, report, valid, matched, set(scope))
    current = _current_values(session, [cid for cid in matched.values() if cid])
    for number, values in valid:
        craftsman_id = matched[number]
        changed: list[str] = []
        if craftsman_id is None:
            verdict = "create"
        else:
            if values["email"] is None:  # no e-mail in the sheet: the one on record stays
                values = {**values, "email": current[craftsman_id]["email"]}
            changed = _changed_columns(_comparable(current[craftsman_id]), _comparable(values))
            verdict = "update" if changed else "unchanged"
        detail = places[number] + "".join(f" · {COLUMNS[key][0]} / {COLUMNS[key][1]}" for key in changed)
        report.add(number, verdict, values["name"], detail, (number, values, craftsman_id, verdict))
    report.errors.sort(key=lambda error: error.row)
    return report


def checked_rows(sheet: ParsedSheet, report: ImportReport, schema: Schema, layout: SheetLayout,
                 to_data: Callable[[dict[str, str]], tuple[dict[str, Any], list[tuple[str, Any]]]],
                 ) -> Iterator[tuple[int, dict[str, str], dict[str, Any], dict[str, Any]]]:
    """Each row's cells resolved (``to_data`` → the schema's input and the problems) and validated by
    ``schema``; a bad row's errors go to ``report`` and the row is left out. Yields (row number, cells,
    the schema's input, the loaded values)."""
    for number, cells in sheet.cells():
        data, problems = to_data(cells)
        for column, message in problems:
            report.errors.append(RowError(number, column, *bilingual(message)))
        if problems:
            continue
        try:
            values = load_or_raise(schema, data)
        except ValidationFailed:
            report.errors.extend(schema_errors(schema, number, data, cells, layout))
            continue
        yield number, cells, data, values


def _changed_columns(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """The sheet columns whose values differ (once each, in sheet order)."""
    keys = {FIELD_COLUMN.get(name, "name") for name in before.keys() | after.keys()
            if before.get(name) != after.get(name)}
    return [key for key in COLUMNS if key in keys]


# A nested field's part, named in a row error ("技能「焊接」的级别: …" rather than "0: proficiency: …").
PART_LABELS = {"proficiency": _l("level"), "year": _l("year"), "code": _l("code"), "count": _l("number"),
               "skill": _l("skill")}


def schema_errors(schema: Schema, number: int, data: dict[str, Any], cells: dict[str, str],
                  layout: SheetLayout) -> list[RowError]:
    """The schema's messages for one bad row in Chinese and in English (validated once per language).

    An error inside a list (a skill's level) names the entry as the sheet wrote it and the part in words."""
    texts: dict[str, dict[str, Any]] = {}
    for locale in ("zh_CN", "en"):
        with force_locale(locale):
            try:
                schema.load(data)
            except MarshmallowError as failure:
                messages = failure.messages if isinstance(failure.messages, dict) else {"_schema": failure.messages}
                texts[locale] = _in_words(messages)  # the lazy messages, translated while the locale holds
    errors = []
    for key, english in texts.get("en", {}).items():
        column = layout.field_column.get(key, next(iter(layout.columns)))
        entries = _parts(cells.get(column, ""))
        chinese = texts.get("zh_CN", {}).get(key, english)
        zh, en = _readable(chinese, entries, "zh_CN"), _readable(english, entries, "en")
        errors.append(RowError(number, column, zh, en))
    return errors


def _in_words(messages: Any) -> Any:
    if isinstance(messages, dict):
        return {key: _in_words(value) for key, value in messages.items()}
    if isinstance(messages, list | tuple):
        return [_in_words(value) for value in messages]
    return str(messages)


def _readable(messages: Any, entries: list[str], locale: str) -> str:
    """marshmallow's messages of one field as one line: a list entry by its sheet text, a part by its name."""
    zh = locale == "zh_CN"
    if not isinstance(messages, dict):
        return ("；" if zh else "; ").join(str(m) for m in messages) if isinstance(messages, list) else str(messages)
    lines = []
    for index, inner in messages.items():
        entry = entries[index] if isinstance(index, int) and index < len(entries) else str(index)
        if isinstance(inner, dict):
            with force_locale(locale):
                parts = [(str(PART_LABELS.get(part, part)), _readable(text, [], locale)) for part, text in inner.items()]
            lines.extend(f"「{entry}」的{label}：{text}" if zh else f"“{entry}”, {label}: {text}" for label, text in parts)
        else:
            lines.append(f"「{entry}」：{_readable(inner, [], locale)}" if zh
                         else f"“{entry}”: {_readable(inner, [], locale)}")
    return ("；" if zh else "; ").join(lines)


def _within_scope(session: Session, report: ImportReport, valid: list[tuple[int, dict[str, Any]]],
                  matched: dict[int, int | None], scope: set[int]) -> list[tuple[int, dict[str, Any]]]:
    """Drop (as row errors) the rows placed outside ``scope`` or matching a craftsman of another region."""
    codes = {v["region_code"] for _, v in valid}
    region_ids = dict(session.execute(sa.select(Region.code, Region.id).where(Region.code.in_(codes))).all())
    existing = [cid for cid in matched.values() if cid]
    homes: dict[int, int] = {}
    for start in range(0, len(existing), 500):
        homes.update(session.execute(sa.select(Craftsman.id, Craftsman.region_id)
                                     .where(Craftsman.id.in_(existing[start:start + 500]))).all())
    kept = []
    for number, values in valid:
        if region_ids.get(values["region_code"]) not in scope:
            report.errors.append(RowError(number, "region", *bilingual(
                _l("This region is outside your area; only your own region's craftsmen can be imported."))))
        elif matched[number] and homes.get(matched[number]) not in scope:
            report.errors.append(RowError(number, "phone", *bilingual(
                _l("This craftsman is already in another region's pool."))))
        else:
            kept.append((number, values))
    return kept


def _current_values(session: Session, ids: list[int]) -> dict[int, dict[str, Any]]:
    result: dict[int, dict[str, Any]] = {}
    for start in range(0, len(ids), 500):
        rows = session.scalars(sa.select(Craftsman).where(Craftsman.id.in_(ids[start:start + 500])).options(
            selectinload(Craftsman.region), selectinload(Craftsman.studio), selectinload(Craftsman.industries),
            selectinload(Craftsman.availability),
            selectinload(Craftsman.honours).selectinload(CraftsmanHonour.honour),
            selectinload(Craftsman.skills).selectinload(CraftsmanSkill.skill)))
        for craftsman in rows:
            data = form_data(craftsman)
            result[craftsman.id] = load_or_raise(CraftsmanSchema(), data)
    return result


def apply_import(session: Session, sheet: ParsedSheet | bytes, filename: str = "", *, skip_invalid: bool,
                 actor: User | str | None, now: dt.datetime, scope: list[int] | None = None) -> ImportReport:
    """Write the import: all valid rows or nothing. Rows with errors block it unless ``skip_invalid``.

    The rows are validated again against the pool as it is now (it may have changed since the preview).
    """
    if isinstance(sheet, bytes):
        sheet = parse_upload(sheet, filename)
    report = preview_import(session, sheet, scope=scope)
    if report.errors and not skip_invalid:
        raise ServiceError(_l("%(count)d rows have errors: fix them, or confirm that they are skipped.",
                              count=report.error_rows), field="file")
    with session.begin_nested():  # all or nothing: any failure rolls every row back
        created = _bulk_create(session, [values for _, values, cid, verdict in report.plan if verdict == "create"],
                               actor=actor, now=now)
        updates = [(cid, values) for _, values, cid, verdict in report.plan if verdict == "update"]
        _update_existing(session, updates, actor=actor, now=now)
        return finish_import(session, report, sheet, "craftsman", actor=actor, now=now,
                             counts={"created": len(created), "updated": len(updates)})


def finish_import(session: Session, report: ImportReport, sheet: ParsedSheet, entity_type: str, *,
                  actor: User | str | None, now: dt.datetime, counts: dict[str, Any]) -> ImportReport:
    """One audit entry for the whole import (file, counts, rows skipped); the report marked as written."""
    session.add(AuditLog(actor_id=actor.id if isinstance(actor, User) else None,
                         actor_label=actor.username if isinstance(actor, User) else (actor or "system"),
                         action=f"{entity_type}.import", entity_type=entity_type, entity_id=None,
                         after={"file": sheet.filename[:120], **counts, "unchanged": report.unchanged,
                                "skipped_rows": report.error_rows}, at=now))
    session.flush()
    report.written = True
    report.skipped_rows = report.error_rows
    return report


def _studio_ids(session: Session, wanted: dict[str, int | None]) -> dict[str, int]:
    names = [name for name in wanted if name]
    ids: dict[str, int] = {}
    for start in range(0, len(names), 500):
        ids.update(session.execute(sa.select(Studio.name, Studio.id)
                                   .where(Studio.name.in_(names[start:start + 500]))).all())
    missing = [name for name in names if name not in ids]
    if missing:
        new_ids = session.scalars(sa.insert(Studio).returning(Studio.id, sort_by_parameter_order=True),
                                  [{"name": name, "level": "municipal", "region_id": wanted[name]}
                                   for name in missing]).all()
        ids.update(zip(missing, new_ids, strict=True))
    return ids


def _bulk_create(session: Session, records: list[dict[str, Any]], *, actor: User | str | None,
                 now: dt.datetime) -> list[int]:
    """Insert new craftsmen with executemany statements (5,000 rows in seconds, not minutes)."""
    if not records:
        return []

    def lookup(model) -> dict[str, int]:
        return dict(session.execute(sa.select(model.code, model.id)).all())

    regions, skills, industries, honours = lookup(Region), lookup(Skill), lookup(Industry), lookup(HonourLevel)
    studios = _studio_ids(session, {v["studio"]: regions[v["region_code"]] for v in records if v["studio"]})
    rows = [{
        "name": v["name"], "gender": v["gender"], "phone": v["phone"], "employer": v["employer"],
        "region_id": regions[v["region_code"]], "studio_id": studios.get(v["studio"]), "bio": v["bio"],
        "can_onsite": v["can_onsite"], "can_remote": v["can_remote"], "travel_radius_km": v["travel_radius_km"],
        "yearly_capacity": v["yearly_capacity"], "round_capacity": v["round_capacity"], "status": "active",
        "points_balance": 0, "created_at": now, "updated_at": now,
    } for v in records]
    ids = session.scalars(sa.insert(Craftsman).returning(Craftsman.id, sort_by_parameter_order=True), rows).all()
    pairs = list(zip(records, ids, strict=True))

    def insert(target, link_rows: list[dict[str, Any]]) -> None:
        if link_rows:
            session.execute(sa.insert(target), link_rows)

    insert(CraftsmanHonour, [{"craftsman_id": cid, "honour_level_id": honours[h["code"]], "year": h["year"]}
                             for v, cid in pairs for h in v["honours"]])
    insert(CraftsmanSkill, [{"craftsman_id": cid, "skill_id": skills[s["code"]], "proficiency": s["proficiency"]}
                            for v, cid in pairs for s in v["skills"]])
    insert(craftsman_industry, [{"craftsman_id": cid, "industry_id": industries[code]}
                                for v, cid in pairs for code in v["industries"]])
    insert(Availability, [{"craftsman_id": cid, "starts_on": w["start"], "ends_on": w["end"]}
                          for v, cid in pairs for w in v["availability"]])
    label = actor.username if isinstance(actor, User) else (actor or "system")
    actor_id = actor.id if isinstance(actor, User) else None
    insert(AuditLog, [{
        "actor_id": actor_id, "actor_label": label, "action": "craftsman.create", "entity_type": "craftsman",
        "entity_id": cid, "before": None, "at": now,
        "after": {name: row[name] for name in AUDITED_FIELDS if name in row} | {"source": "import"},
    } for row, cid in zip(rows, ids, strict=True)])
    return list(ids)


def _update_existing(session: Session, updates: list[tuple[int, dict[str, Any]]], *,
                     actor: User | str | None, now: dt.datetime) -> None:
    for craftsman_id, values in updates:
        craftsman = session.get(Craftsman, craftsman_id)
        before = audit.snapshot(craftsman, AUDITED_FIELDS)
        values = dict(values)
        values["availability"] = [{"start": w.starts_on, "end": w.ends_on} for w in craftsman.availability]
        apply_profile(session, craftsman, values, now)
        session.flush()
        audit.record(session, actor=actor, action="craftsman.update", entity=craftsman, now=now, before=before,
                     after=audit.snapshot(craftsman, AUDITED_FIELDS) | {"source": "import"})
        follow_in_rounds(session, craftsman, before, actor=actor, now=now)


# ---------------------------------------------------------------- uploads kept between preview and confirm
STASH_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}\.(xlsx|csv)$")
STASH_MAX_AGE = dt.timedelta(days=1)


def staging_directory(upload_dir: str | Path) -> Path:
    return Path(upload_dir) / "imports"


@dataclass
class StagedImport:
    token: str
    owner_id: int | None
    sheet: ParsedSheet
    report: ImportReport


@dataclass(frozen=True)
class ImportKind:
    """One kind of import: its sheet layout, its dry run ``preview(session, sheet, scope=…) → ImportReport``
    and the limits of an upload in the workspace."""

    name: str
    layout: SheetLayout
    preview: Any
    limits: SheetLimits = LIMITS


def stage_import(session: Session, directory: Path, content: bytes, filename: str, *, owner_id: int | None,
                 now: dt.datetime, scope: list[int] | None = None, kind: ImportKind | None = None) -> StagedImport:
    """Parse and check an upload once, and keep the upload with its parsed rows and preview in ``directory``.

    The preview page and the confirmation read what is kept; the file is never parsed again. A refused
    file (``SheetError``) keeps nothing. Uploads abandoned for a day are deleted on the way.
    """
    kind = kind or CRAFTSMAN_IMPORT
    sheet = parse_upload(content, filename, layout=kind.layout, limits=kind.limits)
    report = kind.preview(session, sheet, scope=scope)
    directory.mkdir(parents=True, exist_ok=True)
    cleanup_stashes(directory, now=now)
    suffix = "csv" if filename.lower().endswith(".csv") else "xlsx"
    token = f"{secrets.token_urlsafe(18)}.{suffix}"
    (directory / token).write_bytes(content)
    staged = {"owner_id": owner_id, "uploaded_at": now.isoformat(), "sheet": sheet.to_json(),
              "report": report.to_json(), "kind": kind.name}
    partial = directory / f"{token}.json.part"
    partial.write_text(json.dumps(staged, ensure_ascii=False), encoding="utf-8")
    partial.replace(directory / f"{token}.json")  # whole or absent, never half written
    return StagedImport(token, owner_id, sheet, report)


def load_staged(directory: Path, token: str, kind: ImportKind | None = None) -> StagedImport | None:
    """The kept upload of ``token``, or None when it is unknown, confirmed, cleaned up or of another kind."""
    if not STASH_TOKEN.match(token):
        return None
    try:
        staged = json.loads((directory / f"{token}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if staged.get("kind", CRAFTSMAN_IMPORT.name) != (kind or CRAFTSMAN_IMPORT).name:
        return None
    return StagedImport(token, staged["owner_id"], ParsedSheet.from_json(staged["sheet"]),
                        ImportReport.from_json(staged["report"]))


def discard_staged(directory: Path, token: str) -> None:
    if STASH_TOKEN.match(token):
        for path in (directory / token, directory / f"{token}.json"):
            path.unlink(missing_ok=True)


def cleanup_stashes(directory: Path, *, now: dt.datetime, max_age: dt.timedelta = STASH_MAX_AGE) -> int:
    """Delete the uploads (and their parsed rows) last written more than ``max_age`` before ``now``."""
    if not directory.is_dir():
        return 0
    cutoff = (now - max_age).replace(tzinfo=dt.UTC).timestamp()  # ``now`` is naive UTC
    removed = 0
    for path in directory.iterdir():
        try:
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:  # a parallel cleanup got there first
            continue
    return removed


# ---------------------------------------------------------------- the templates
def template_header(layout: SheetLayout = CRAFTSMEN) -> list[str]:
    return [f"{layout.columns[key][0]} / {layout.columns[key][1]}" for key in layout.template_order]


def template_workbook(layout: SheetLayout, title: str, example: list[Any], notes: list[str]) -> bytes:
    """A template: the first sheet (the one read) has the bilingual header and one example row marked so that
    the reader skips it; a second sheet explains the columns."""
    marked = [EXAMPLE_MARK + str(example[0]), *example[1:]]
    instructions = [[note] for note in notes] + [[f"{layout.columns[key][0]} / {layout.columns[key][1]}"
                                                  + ("（必填 required）" if key in layout.required else "")]
                                                 for key in layout.template_order]
    return workbook_bytes([(title, template_header(layout), [marked]),
                           ("说明 instructions", ["说明 / instructions"], instructions)])


TEMPLATE_NOTES = [
    f"第一张表的第二行是示例，以「{EXAMPLE_MARK}」开头，导入时总被跳过；可以直接在其下填写。"
    f" / The first sheet's second row is an example starting with “{EXAMPLE_MARK}”: the import always skips it;"
    " write your rows below it.",
    "名称或代码均可（地区、行业、技能、荣誉）；多个值用顿号、逗号或分号分隔。 / Names or codes (regions, industries,"
    " skills, honours); separate several values with 、 , or ;.",
]


def sample_sheet_bytes() -> bytes:
    """The demo sheet (seeds/samples): 20 invented craftsmen of Sichuan and Chongqing, Chinese headers."""
    return resources.files("seeds").joinpath("samples/craftsmen_import_sample.csv").read_bytes()


def template_bytes() -> bytes:
    """The craftsman import template: bilingual headers and one marked example row."""
    example = ["张明", "男", "13800000000", "东方电气集团东方锅炉股份有限公司", "四川省德阳市旌阳区", "四川工匠",
               "焊接:5、无损检测:3", "装备制造", "张明焊接创新工作室", "线下、线上", 200, 6, 1,
               "压力容器焊接工艺专家，带徒20余名。"]
    return template_workbook(CRAFTSMEN, "craftsmen 工匠", example, TEMPLATE_NOTES)


CRAFTSMAN_IMPORT = ImportKind("craftsmen", CRAFTSMEN, preview_import)
