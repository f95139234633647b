"""Reading an uploaded sheet (XLSX or CSV) that may be hostile, with every cost bounded before it is paid.

An XLSX file is a zip of XML parts, so a few kilobytes can declare a sheet of 17 billion cells, unpack
to gigabytes (a zip bomb), or hold a million rows. The checks run cheapest first and each refuses with
a message naming the limit:

1. the zip directory: number of parts, declared unpacked sizes, compression ratio (nothing unpacked yet);
2. a streaming SAX pass (defusedxml: no DTDs or entities) over every XML part, in constant memory: the
   elements a tree parser would keep (everything outside sheet rows), cells and elements per row;
3. the first sheet's declared ``<dimension>`` (rows and columns), read when openpyxl opens the workbook
   (openpyxl parses through defusedxml when it is installed, see ``openpyxl.DEFUSEDXML``);
4. the rows themselves, streamed (openpyxl read-only mode, never padded past ``max_columns``): the row
   count, cell sizes, total text and a wall-clock budget, checked row by row.
CSV text is bounded the same way: file size, line length, columns, rows, cell sizes, time.
"""

from __future__ import annotations

import codecs
import csv
import io
import struct
import time
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from xml.sax import SAXException
from xml.sax.handler import ContentHandler, feature_external_ges, feature_namespaces

from defusedxml import DefusedXmlException
from defusedxml.sax import make_parser
from flask_babel import lazy_gettext as _l
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter

from web.services.errors import ServiceError

MB = 1024 * 1024
ZIP_END_SIGNATURE = b"PK\x05\x06"
ZIP_END_SEARCH = 22 + 65_535  # the end record plus the longest archive comment


@dataclass(frozen=True)
class SheetLimits:
    max_rows: int = 20_000  # data rows under the header
    max_columns: int = 100
    max_cell_chars: int = 5_000  # the longest field (bio) takes 2,000; longer cells are not a typo
    max_text_chars: int = 20_000_000  # all kept cells together
    max_file_bytes: int = 8 * MB
    max_parts: int = 300
    max_part_bytes: int = 40 * MB
    max_unpacked_bytes: int = 100 * MB
    max_ratio: int = 100  # a zip bomb packs 1,000:1; an ordinary sheet about 5-20:1
    ratio_floor_bytes: int = 1 * MB  # small parts may compress as much as they like
    max_kept_elements: int = 600_000  # per XML part: the elements a tree parser keeps (not inside rows)
    max_elements_per_row: int = 8 * 100
    seconds: float = 20.0  # 20,000 ordinary rows take 4-8 s on a busy 2-core machine

    @property
    def max_sheet_rows(self) -> int:
        return self.max_rows + 1  # with the header


LIMITS = SheetLimits()


class SheetError(ServiceError):
    """The upload is refused as a whole; the message names the limit it hit."""

    def __init__(self, message: Any) -> None:
        super().__init__(message, field="file")


def _n(number: int) -> str:
    return f"{number:,}"


def _mb(size: int) -> str:
    return f"{size / MB:,.1f}"


class Budget:
    """A wall-clock budget for one parse."""

    def __init__(self, seconds: float, clock=time.monotonic) -> None:
        self.seconds = seconds
        self.clock = clock
        self.deadline = clock() + seconds

    def check(self) -> None:
        if self.clock() > self.deadline:
            raise SheetError(_l("Reading the sheet took longer than %(seconds)d seconds; split it into smaller "
                                "imports.", seconds=round(self.seconds)))


def sheet_rows(content: bytes, filename: str, *, limits: SheetLimits = LIMITS,
               budget: Budget | None = None) -> Iterator[tuple[int, Sequence[Any]]]:
    """(sheet row number, cells) of the first sheet, header first, each row checked before it is yielded."""
    budget = budget or Budget(limits.seconds)
    if len(content) > limits.max_file_bytes:
        raise SheetError(_l("The file is %(size)s MB; at most %(limit)d MB are accepted.", size=_mb(len(content)),
                            limit=limits.max_file_bytes // MB))
    name = filename.lower()
    if name.endswith(".csv"):
        rows = _csv_rows(content, limits)
    elif name.endswith((".xlsx", ".xlsm")):
        rows = _xlsx_rows(content, limits, budget)
    else:
        raise SheetError(_l("Upload an .xlsx or .csv file."))
    return _bounded(rows, limits, budget)


def _bounded(rows: Iterator[tuple[int, Sequence[Any]]], limits: SheetLimits,
             budget: Budget) -> Iterator[tuple[int, Sequence[Any]]]:
    text_chars = 0
    for number, cells in rows:
        budget.check()
        if number > limits.max_sheet_rows:
            raise _too_many_rows(limits)
        if len(cells) > limits.max_columns:
            raise _too_many_columns(limits)
        for index, value in enumerate(cells):
            if isinstance(value, str):
                if len(value) > limits.max_cell_chars:
                    raise SheetError(_l("Row %(row)d, column %(column)s holds %(length)s characters; a cell "
                                        "holds at most %(limit)s.", row=number, column=get_column_letter(index + 1),
                                        length=_n(len(value)), limit=_n(limits.max_cell_chars)))
                text_chars += len(value)
        if text_chars > limits.max_text_chars:
            raise SheetError(_l("The sheet holds more than %(limit)s characters of text; split it into several "
                                "imports.", limit=_n(limits.max_text_chars)))
        yield number, cells


def _too_many_rows(limits: SheetLimits) -> SheetError:
    return SheetError(_l("The sheet has more than %(limit)s rows (a header and %(data)s data rows); split it into "
                         "several imports, and delete empty formatted rows below the data.",
                         limit=_n(limits.max_sheet_rows), data=_n(limits.max_rows)))


def _too_many_columns(limits: SheetLimits) -> SheetError:
    return SheetError(_l("The sheet has more than %(limit)d columns; delete the columns the import does not "
                         "need.", limit=limits.max_columns))


# ---------------------------------------------------------------- CSV
def _csv_rows(content: bytes, limits: SheetLimits) -> Iterator[tuple[int, Sequence[Any]]]:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = content.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise SheetError(_l("The CSV file is neither UTF-8 nor GB18030 text."))
    longest_line = limits.max_columns * (limits.max_cell_chars + 3)
    reader = csv.reader(_bounded_lines(text, longest_line))
    try:
        yield from enumerate(reader, start=1)
    except csv.Error:
        raise SheetError(_l("This file cannot be read as CSV text (a field is too long or the file holds "
                            "binary data).")) from None


def _bounded_lines(text: str, longest: int) -> Iterator[str]:
    """The lines of ``text``, refusing one longer than ``longest`` before csv splits it into fields."""
    for line in io.StringIO(text, newline=""):
        if len(line) > longest:
            raise SheetError(_l("A line of the CSV file is longer than %(limit)s characters.", limit=_n(longest)))
        yield line


# ---------------------------------------------------------------- XLSX
def _xlsx_rows(content: bytes, limits: SheetLimits, budget: Budget) -> Iterator[tuple[int, Sequence[Any]]]:
    archive = _checked_archive(content, limits)
    try:
        for info in archive.infolist():
            _scan_xml_part(archive, info, limits, budget)
    finally:
        archive.close()
    budget.check()
    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as error:  # noqa: BLE001 - any unreadable upload is the same error for the user
        raise _unreadable(error) from None
    try:
        if not book.worksheets:
            raise SheetError(_l("The file is empty."))
        sheet = book.worksheets[0]
        _check_dimension(sheet, limits)
        sheet.reset_dimensions()  # a wrong dimension must neither cut rows off nor pad them
        try:
            yield from enumerate(sheet.iter_rows(max_col=limits.max_columns, values_only=True), start=1)
        except SheetError:
            raise
        except Exception as error:  # noqa: BLE001
            raise _unreadable(error) from None
    finally:
        book.close()


def _unreadable(error: BaseException | None = None) -> SheetError:
    while error is not None:  # openpyxl wraps defusedxml's refusal in a ValueError
        if isinstance(error, DefusedXmlException):
            return _forbidden_xml()
        error = error.__cause__ or error.__context__
    return SheetError(_l("This file cannot be read as an Excel workbook (.xlsx)."))


def _forbidden_xml() -> SheetError:
    return SheetError(_l("The workbook contains XML entity or DTD declarations, which are not accepted; save it "
                         "again from Excel or as CSV."))


def _zip_part_count(content: bytes) -> int | None:
    """The part count the zip's end record declares, read before Python builds its directory."""
    end = content.rfind(ZIP_END_SIGNATURE, max(0, len(content) - ZIP_END_SEARCH))
    if end < 0 or len(content) < end + 22:
        return None
    return struct.unpack_from("<H", content, end + 10)[0]


def _checked_archive(content: bytes, limits: SheetLimits) -> zipfile.ZipFile:
    parts = _zip_part_count(content)
    if parts is None:
        raise _unreadable()
    if parts > limits.max_parts:
        raise SheetError(_l("The workbook has %(count)s parts; at most %(limit)d are accepted. Save the sheet "
                            "alone as a new .xlsx file or as CSV.", count=_n(parts), limit=limits.max_parts))
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        raise _unreadable() from None
    unpacked = 0
    for info in archive.infolist():
        if info.file_size > limits.ratio_floor_bytes and info.file_size > limits.max_ratio * max(
                info.compress_size, 1):
            archive.close()
            raise SheetError(_l("The file looks like a zip bomb: its part %(name)s would unpack to %(ratio)s times "
                                "its packed size (at most %(limit)d times is accepted).", name=info.filename[:80],
                                ratio=_n(info.file_size // max(info.compress_size, 1)), limit=limits.max_ratio))
        if info.file_size > limits.max_part_bytes:
            archive.close()
            raise SheetError(_l("The workbook part %(name)s unpacks to %(size)s MB; at most %(limit)d MB are "
                                "accepted.", name=info.filename[:80], size=_mb(info.file_size),
                                limit=limits.max_part_bytes // MB))
        unpacked += info.file_size
    if unpacked > limits.max_unpacked_bytes:
        archive.close()
        raise SheetError(_l("The workbook unpacks to %(size)s MB; at most %(limit)d MB are accepted.",
                            size=_mb(unpacked), limit=limits.max_unpacked_bytes // MB))
    return archive


class _StopScan(Exception):  # noqa: N818 - control flow, not an error
    pass


class _PartScanner(ContentHandler):
    """Counts what a tree parser of this part would keep, in constant memory.

    openpyxl keeps every element outside the rows, and it looks for a sheet's ``<dimension>`` with a
    tree parser that stops only at the end of ``<sheetData>``: in a sheet without a dimension it keeps
    every element of every row, so there all elements count and the row limit refuses the file. A sheet
    with a dimension is scanned up to the row limit; if it is the one imported, its reading refuses it.
    """

    def __init__(self, name: str, limits: SheetLimits, budget: Budget) -> None:
        super().__init__()
        self.name, self.limits, self.budget = name, limits, budget
        self.depth = 0
        self.row_depth = 0  # depth of the open <row>, 0 outside rows
        self.kept = 0
        self.rows = 0
        self.in_row = 0
        self.cells = 0
        self.has_dimension = False
        self.keeps_rows = False  # a sheet without <dimension>: openpyxl keeps its rows too

    def startElement(self, name, attrs):  # noqa: N802 - the SAX API's name
        self.depth += 1
        local = name.rpartition(":")[2]  # without namespace processing, which doubles the scan's time
        if self.row_depth:
            self.in_row += 1
            if self.depth == self.row_depth + 1 and local == "c":
                self.cells += 1
                if self.cells > self.limits.max_columns:
                    raise _too_many_columns(self.limits)
            if self.in_row > self.limits.max_elements_per_row:
                raise SheetError(_l("A row of the sheet holds more than %(limit)s XML elements; save the workbook "
                                    "again from Excel or as CSV.", limit=_n(self.limits.max_elements_per_row)))
            if self.keeps_rows:
                self._keep()
            return
        if local == "dimension":
            self.has_dimension = True
        elif local == "sheetData":
            self.keeps_rows = not self.has_dimension
        elif local == "row":
            self.rows += 1
            if self.rows % 1000 == 0:
                self.budget.check()
            if self.rows > self.limits.max_sheet_rows:
                if self.keeps_rows:
                    raise _too_many_rows(self.limits)
                raise _StopScan
            self.row_depth, self.in_row, self.cells = self.depth, 0, 0
        self._keep()

    def _keep(self) -> None:
        self.kept += 1
        if self.kept > self.limits.max_kept_elements:
            raise SheetError(_l("The workbook part %(name)s holds more than %(limit)s XML elements; save it again "
                                "from Excel or as CSV.", name=self.name[:80], limit=_n(self.limits.max_kept_elements)))
        if self.kept % 10_000 == 0:
            self.budget.check()

    def endElement(self, name):  # noqa: N802
        if self.depth == self.row_depth:
            self.row_depth = 0
        self.depth -= 1


def _scan_xml_part(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limits: SheetLimits, budget: Budget) -> None:
    """Every part that is XML (whatever its name: openpyxl finds parts through the content types)."""
    with archive.open(info) as stream:
        head = stream.read(4)
    if not head.lstrip(codecs.BOM_UTF8).lstrip().startswith(b"<"):
        return  # an image or other binary part: openpyxl's read-only mode does not parse it
    parser = make_parser()
    parser.setFeature(feature_namespaces, False)
    parser.setFeature(feature_external_ges, False)
    parser.setContentHandler(_PartScanner(info.filename, limits, budget))
    try:
        with archive.open(info) as stream:
            parser.parse(stream)
    except _StopScan:
        return
    except DefusedXmlException:
        raise _forbidden_xml() from None
    except (SAXException, zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise _unreadable() from None


def _check_dimension(sheet, limits: SheetLimits) -> None:
    """The sheet's declared ``<dimension>``, refused before a single cell is read."""
    rows, columns = sheet.max_row, sheet.max_column
    if rows is None or columns is None:
        return  # no dimension declared: the streamed rows are bounded as they come
    reference = f"A1:{get_column_letter(min(columns, 18_278))}{rows}"
    if rows > limits.max_sheet_rows:
        raise SheetError(_l("The sheet declares %(rows)s rows (%(reference)s); at most %(limit)s are accepted "
                            "(a header and %(data)s data rows). Delete the empty rows below the data or split the "
                            "sheet.", rows=_n(rows), reference=reference, limit=_n(limits.max_sheet_rows),
                            data=_n(limits.max_rows)))
    if columns > limits.max_columns:
        raise SheetError(_l("The sheet declares %(columns)s columns (%(reference)s); at most %(limit)d are "
                            "accepted. Delete the columns the import does not need.", columns=_n(columns),
                            reference=reference, limit=limits.max_columns))
