"""XLSX and CSV export: one writer each; every text cell is neutralised against formula injection."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Sequence
from typing import Any

from openpyxl import Workbook

# A cell that starts with one of these is read as a formula by spreadsheet programs (CSV/formula injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Characters a sheet's name may not hold, as their full-width forms: a round's default name holds the time
# (匹配轮次 2026-12-02 03:14), and openpyxl refused its export.
SHEET_TITLE_FORBIDDEN = str.maketrans({":": "：", "/": "／", "\\": "＼", "?": "？", "*": "＊", "[": "［", "]": "］"})


def safe_cell(value: Any) -> Any:
    """Numbers and dates pass through; text that a spreadsheet would evaluate gets a leading apostrophe."""
    if value is None or isinstance(value, bool | int | float | dt.date | dt.datetime):
        return value
    text = str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def sheet_title(title: str) -> str:
    """``title`` as a sheet's name: no forbidden character, at most 31 characters, not quoted, not empty."""
    return title.translate(SHEET_TITLE_FORBIDDEN)[:31].strip("'") or "Sheet"


def workbook_bytes(sheets: Sequence[tuple[str, Sequence[str], Iterable[Sequence[Any]]]]) -> bytes:
    """An XLSX file with one sheet per (title, header, rows); written in streaming mode (large exports)."""
    book = Workbook(write_only=True)
    for title, header, rows in sheets:
        sheet = book.create_sheet(title=sheet_title(title))
        sheet.append([safe_cell(name) for name in header])
        for row in rows:
            sheet.append([safe_cell(value) for value in row])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def single_sheet(title: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    return workbook_bytes([(title, header, rows)])


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """A UTF-8 CSV (with a byte-order mark, so spreadsheet programs read the Chinese right)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([safe_cell(name) for name in header])
    writer.writerows([safe_cell(value) for value in row] for row in rows)
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")
