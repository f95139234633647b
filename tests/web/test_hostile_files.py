"""Hostile import files are refused early, clearly and cheaply; an accepted upload is parsed once.

The bombs are built here with zipfile, a few hundred kilobytes to a few megabytes on disk. Each must be
refused with a message naming the limit, the parse's peak memory (tracemalloc) staying far below the 100 MB
asserted, and its CPU time at most a few times what parsing the largest accepted file of its kind costs in the same
run (reading a bomb to its end would cost tens of times that; an absolute bound in seconds failed on a loaded
machine). Measured on the shared 2-core machine, tracemalloc on: dimension bomb (5 KB) 0.01 s / 0.1 MB; the same
without <dimension> 0.6 s / 0.3 MB; zip bomb (204 KB, 210 MB unpacked) 0.00 s / 0.03 MB; million-row sheet
(2.5 MB) 0.4 s / 0.5 MB; million-line CSV (7.8 MB) 0.65 s / 44 MB (the decoded text).
"""

from __future__ import annotations

import io
import os
import time
import tracemalloc
import zipfile
from collections.abc import Iterable, Iterator

import openpyxl
import pytest
import sqlalchemy as sa
from defusedxml import DefusedXmlException
from flask_babel import force_locale
from openpyxl import Workbook, load_workbook

from tests.conftest import TEST_PASSWORD, make_test_app
from tests.web.test_import import HEADER_ZH, _row, xlsx
from web.cli import import_group
from web.models import Craftsman
from web.services import importing
from web.services.sheet_reading import LIMITS, Budget, SheetError, SheetLimits, sheet_rows

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
SHEET_PART = "xl/worksheets/sheet1.xml"
HEADER_ROW = ('<row r="1">' + "".join(f'<c r="{col}1" t="inlineStr"><is><t>{name}</t></is></c>'
                                      for col, name in zip("ABCD", ("姓名", "手机", "单位", "地区"), strict=True)) + "</row>")
# a refusal's CPU time, at most this many times the CPU time of the largest accepted upload of its kind
TIMES_AN_ACCEPTED_UPLOAD = 5
PEAK_BYTES = 100 * 1024 * 1024


def workbook_with_sheet(sheet_xml: Iterable[bytes], extra_parts: int = 0) -> bytes:
    """A real workbook (openpyxl) whose first sheet's XML is replaced by ``sheet_xml``, streamed in."""
    buffer = io.BytesIO()
    Workbook().save(buffer)
    source = zipfile.ZipFile(buffer)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            if info.filename == SHEET_PART:
                with target.open(SHEET_PART, "w", force_zip64=True) as part:
                    for chunk in sheet_xml:
                        part.write(chunk)
            else:
                target.writestr(info.filename, source.read(info.filename))
        for n in range(extra_parts):
            target.writestr(f"xl/media/extra{n}.bin", b"\x00")
    return out.getvalue()


def sheet(body: str, dimension: str | None = None) -> Iterator[bytes]:
    yield f'<worksheet xmlns="{MAIN}">'.encode()
    if dimension:
        yield f'<dimension ref="{dimension}"/>'.encode()
    yield f"<sheetData>{HEADER_ROW}{body}</sheetData></worksheet>".encode()


def million_rows() -> Iterator[bytes]:
    """1,000,000 data rows of a few bytes each (3.5 MB packed), with no <dimension> to give them away."""
    yield f'<worksheet xmlns="{MAIN}"><sheetData>{HEADER_ROW}'.encode()
    for start in range(0, 1_000_000, 50_000):
        yield "".join(f"<row><c><v>{n}</v></c></row>" for n in range(start, start + 50_000)).encode()
    yield b"</sheetData></worksheet>"


def zip_bomb() -> Iterator[bytes]:
    """200 MB of whitespace inside <sheetData>: valid XML that packs 1,000:1."""
    yield f'<worksheet xmlns="{MAIN}"><sheetData>{HEADER_ROW}'.encode()
    for _ in range(200):
        yield b" " * (1 << 20)
    yield b"</sheetData></worksheet>"


@pytest.fixture(scope="module")
def babel_app():
    return make_test_app("sqlite://")  # only for messages in both languages: create_app touches no database


def refused(babel_app, content: bytes, filename: str = "pool.xlsx",
            limits: SheetLimits = LIMITS) -> tuple[str, str, float, int]:
    """(English message, Chinese message, CPU seconds, peak bytes) of a refused parse; the seconds of a run
    without tracemalloc, which slows every allocation down."""
    started = time.process_time()
    with pytest.raises(SheetError):
        importing.parse_upload(content, filename, limits=limits)
    seconds = time.process_time() - started
    tracemalloc.start()
    try:
        with pytest.raises(SheetError) as refusal:
            importing.parse_upload(content, filename, limits=limits)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    with babel_app.app_context():
        with force_locale("en"):
            english = str(refusal.value.message)
        with force_locale("zh_CN"):
            chinese = str(refusal.value.message)
    print(f"{filename} ({len(content) / 1024:.0f} KB): refused in {seconds:.2f} s, peak {peak / 1e6:.1f} MB")
    return english, chinese, seconds, peak


def rows_at_the_limit() -> Iterator[bytes]:
    """As many data rows as an upload may hold, in the form of :func:`million_rows`."""
    yield f'<worksheet xmlns="{MAIN}"><sheetData>{HEADER_ROW}'.encode()
    yield "".join(f"<row><c><v>{n}</v></c></row>" for n in range(LIMITS.max_rows)).encode()
    yield b"</sheetData></worksheet>"


@pytest.fixture(scope="module")
def accepted_seconds() -> dict[str, float]:
    """CPU seconds of parsing the largest accepted upload, by kind (as many rows as allowed; a CSV file as large as
    allowed too, as a refused one is decoded whole): what a refusal may cost a few times over (on the same machine,
    in the same run)."""
    line = b"a,1,b," + b"c" * (LIMITS.max_file_bytes // LIMITS.max_rows - 16) + b"\n"  # the rows fill the file
    uploads = {"xlsx": workbook_with_sheet(rows_at_the_limit()),
               "csv": b"name,phone,employer,region\n" + line * LIMITS.max_rows}
    seconds = {}
    for kind, content in uploads.items():
        started = time.process_time()
        assert len(importing.parse_upload(content, f"pool.{kind}").rows) == LIMITS.max_rows
        seconds[kind] = time.process_time() - started
    return seconds


def cheap(seconds: float, accepted_seconds: dict[str, float], kind: str = "xlsx") -> bool:
    return seconds < TIMES_AN_ACCEPTED_UPLOAD * accepted_seconds[kind]


def test_openpyxl_parses_through_defusedxml():
    assert openpyxl.DEFUSEDXML is True
    laughs = ('<?xml version="1.0"?><!DOCTYPE worksheet [<!ENTITY a "ha"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
              f'<worksheet xmlns="{MAIN}"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>&b;</t></is>'
              "</c></row></sheetData></worksheet>")
    with pytest.raises(ValueError) as refusal:  # openpyxl wraps the error while it reads the sheet's dimension
        load_workbook(io.BytesIO(workbook_with_sheet([laughs.encode()])), read_only=True)
    assert isinstance(refusal.value.__cause__, DefusedXmlException)


def test_entities_are_refused(babel_app):
    laughs = ('<?xml version="1.0"?><!DOCTYPE worksheet [<!ENTITY a "ha">]>'
              f'<worksheet xmlns="{MAIN}"><sheetData>{HEADER_ROW}<row r="2"><c r="A2" t="inlineStr"><is><t>&a;'
              "</t></is></c></row></sheetData></worksheet>")
    english, chinese, _, _ = refused(babel_app, workbook_with_sheet([laughs.encode()]))
    assert "entity" in english and "实体" in chinese


def test_dimension_bomb_is_refused_before_a_cell_is_read(babel_app, accepted_seconds):
    body = '<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>'
    content = workbook_with_sheet(sheet(body, dimension="A1:XFD1048576"))
    assert len(content) < 10_000
    english, chinese, seconds, peak = refused(babel_app, content)
    assert "declares 1,048,576 rows (A1:XFD1048576)" in english and "at most 20,001" in english
    assert "1,048,576 行" in chinese
    assert cheap(seconds, accepted_seconds) and peak < PEAK_BYTES


def test_declared_columns_are_refused(babel_app):
    english, chinese, _, _ = refused(babel_app, workbook_with_sheet(sheet("", dimension="A1:XFD20")))
    assert "declares 16,384 columns" in english and "16,384 列" in chinese


def test_dimension_bomb_without_a_dimension_stops_at_the_row_limit(babel_app, accepted_seconds):
    body = '<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>'
    english, chinese, seconds, peak = refused(babel_app, workbook_with_sheet(sheet(body)))
    assert "more than 20,001 rows" in english and "20,001 行" in chinese
    assert cheap(seconds, accepted_seconds) and peak < PEAK_BYTES


def test_zip_bomb_is_refused_from_the_zip_directory(babel_app, accepted_seconds):
    content = workbook_with_sheet(zip_bomb())
    assert len(content) < 400_000
    english, chinese, seconds, peak = refused(babel_app, content)
    assert "zip bomb" in english and "xl/worksheets/sheet1.xml" in english and "100 times" in english
    assert "压缩炸弹" in chinese
    assert cheap(seconds, accepted_seconds) and peak < PEAK_BYTES


def test_a_million_row_sheet_is_refused_at_the_row_limit(babel_app, accepted_seconds):
    content = workbook_with_sheet(million_rows())
    assert len(content) < 8 * 1024 * 1024
    english, chinese, seconds, peak = refused(babel_app, content)
    assert "more than 20,001 rows" in english and "20,000" in chinese
    assert cheap(seconds, accepted_seconds) and peak < PEAK_BYTES


def test_a_row_of_a_million_cells_is_refused_while_scanning(babel_app):
    body = "<row r=\"2\">" + "<c><v>1</v></c>" * 1000 + "</row>"
    english, chinese, seconds, _ = refused(babel_app, workbook_with_sheet(sheet(body)))
    assert "more than 100 columns" in english and "100 列" in chinese


def test_many_parts_and_big_parts_are_refused(babel_app):
    english, _, _, _ = refused(babel_app, workbook_with_sheet(sheet(""), extra_parts=400))
    assert "parts; at most 300" in english
    rows = "".join(f'<row r="{n}"><c r="A{n}"><v>{n * 7919}</v></c></row>' for n in range(2, 40_000))
    content = workbook_with_sheet(sheet(rows))  # 1.7 MB of XML packed about 7:1, as ordinary sheets are
    small = SheetLimits(max_part_bytes=1024 * 1024)
    english, chinese, _, _ = refused(babel_app, content, limits=small)
    assert "xl/worksheets/sheet1.xml unpacks to 2.1 MB; at most 1 MB" in english and "解压后为" in chinese
    english, _, _, _ = refused(babel_app, content, limits=SheetLimits(max_unpacked_bytes=1024 * 1024))
    assert "The workbook unpacks to 2.1 MB; at most 1 MB" in english


def test_elements_a_tree_parser_would_keep_are_counted(babel_app):
    columns = "<cols>" + '<col min="1" max="1" width="9"/>' * 2000 + "</cols>"
    content = workbook_with_sheet([f'<worksheet xmlns="{MAIN}">{columns}<sheetData>{HEADER_ROW}</sheetData>'
                                   "</worksheet>".encode()])
    english, _, _, _ = refused(babel_app, content, limits=SheetLimits(max_kept_elements=1000))
    assert "sheet1.xml holds more than 1,000 XML elements" in english
    rich = '<row r="2"><c r="A2" t="inlineStr"><is>' + "<r><t>x</t></r>" * 500 + "</is></c></row>"
    english, _, _, _ = refused(babel_app, workbook_with_sheet(sheet(rich, dimension="A1:D2")))
    assert "A row of the sheet holds more than 800 XML elements" in english
    rows = "".join(f"<row><c><v>{n}</v></c></row>" for n in range(400))  # no dimension: openpyxl keeps rows
    english, _, _, _ = refused(babel_app, workbook_with_sheet(sheet(rows)), limits=SheetLimits(max_kept_elements=1000))
    assert "holds more than 1,000 XML elements" in english
    assert importing.parse_upload(workbook_with_sheet(sheet(rows, dimension="A1:D401")), "pool.xlsx",
                                  limits=SheetLimits(max_kept_elements=1000)).rows[-1][0] == 401


def test_a_huge_cell_is_refused_naming_row_and_column(babel_app):
    content = xlsx([_row(1), _row(2, employer="厂" * 6000)])
    english, chinese, _, _ = refused(babel_app, content)
    assert "Row 3, column D holds 6,000 characters" in english and "第 3 行" in chinese


def test_the_time_budget_is_enforced(babel_app):
    ticks = iter(range(0, 10_000, 5))
    budget = Budget(20, clock=lambda: next(ticks))
    with pytest.raises(SheetError) as refusal:
        list(sheet_rows(xlsx([_row(n) for n in range(10)]), "pool.xlsx", budget=budget))
    with babel_app.app_context(), force_locale("en"):
        assert "longer than 20 seconds" in str(refusal.value.message)


# ---------------------------------------------------------------- CSV
def test_csv_encodings_are_read(session):
    text = ",".join(HEADER_ZH) + "\n" + ",".join(str(cell) for cell in _row(1)) + "\n"
    for encoded in (text.encode("utf-8"), text.encode("utf-8-sig"), text.encode("gb18030")):
        parsed = importing.parse_upload(encoded, "pool.csv")
        assert parsed.columns[0] == "name" and parsed.rows[0][1][0] == "导入工匠1", encoded[:6]


def test_csv_limits(babel_app, accepted_seconds):
    million = b"name,phone,employer,region\n" + b"a,1,b,c\n" * 1_000_000
    english, _, seconds, peak = refused(babel_app, million, "pool.csv")
    assert "more than 20,001 rows" in english and cheap(seconds, accepted_seconds, "csv") and peak < PEAK_BYTES
    english, _, _, _ = refused(babel_app, b"name," + b"," * 600_000, "pool.csv")
    assert "A line of the CSV file is longer than" in english
    english, _, _, _ = refused(babel_app, b"\xff\xfe\x00n\x00a", "pool.csv")
    assert "neither UTF-8 nor GB18030" in english
    english, _, _, _ = refused(babel_app, b"x" * (8 * 1024 * 1024 + 1), "pool.csv")
    assert "The file is 8.0 MB; at most 8 MB" in english


# ---------------------------------------------------------------- the upload, parsed once, cleaned up
@pytest.fixture()
def upload_dir(app, service_app, tmp_path, monkeypatch):
    for each in (app, service_app):  # service_app: a CLI command run inside the test's own app context
        monkeypatch.setitem(each.config, "UPLOAD_DIR", str(tmp_path))
    return importing.staging_directory(tmp_path)


def _upload(browser, content: bytes, filename: str = "pool.xlsx"):
    return browser.submit("/workspace/craftsmen/import", {"file": (io.BytesIO(content), filename)},
                          content_type="multipart/form-data")


def _count(session) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(Craftsman))


def test_a_hostile_upload_is_refused_on_the_form_and_nothing_is_kept(coordinator_browser, session, upload_dir):
    before = _count(session)
    response = _upload(coordinator_browser, workbook_with_sheet(zip_bomb()))
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and "压缩炸弹" in page
    assert "最多 20,000 行、100 列、8 MB" in page  # the limits are stated before anyone hits them
    response = _upload(coordinator_browser, workbook_with_sheet(sheet("", dimension="A1:XFD1048576")))
    assert response.status_code == 422 and "1,048,576" in response.get_data(as_text=True)
    assert not upload_dir.exists() or not any(upload_dir.iterdir())
    assert _count(session) == before


def test_the_preview_and_the_confirmation_read_the_stored_rows(coordinator_browser, session, upload_dir,
                                                               monkeypatch):
    response = _upload(coordinator_browser, xlsx([_row(n) for n in range(3)] + [_row(9, phone="1")]))
    assert response.status_code == 302
    preview_url = response.headers["Location"]
    token = preview_url.rsplit("/", 1)[1]
    assert sorted(path.name for path in upload_dir.iterdir()) == [token, f"{token}.json"]

    def no_parsing(*_args, **_kwargs):
        raise AssertionError("the upload was parsed again")

    monkeypatch.setattr(importing, "sheet_rows", no_parsing)
    for _ in range(3):
        page = coordinator_browser.text(preview_url)
        assert "第 5 行" in page and 'data-count="create">3<' in page
    before = _count(session)
    assert coordinator_browser.submit(preview_url, {"skip_invalid": "y"}).status_code == 302
    assert _count(session) == before + 3
    assert not any(upload_dir.iterdir())  # confirmed: the upload and its rows are gone
    response = coordinator_browser.get(preview_url)
    assert response.status_code == 302 and response.headers["Location"].endswith("/workspace/craftsmen/import")


def test_another_users_upload_cannot_be_opened(coordinator_browser, make_user, app, session, upload_dir):
    preview_url = _upload(coordinator_browser, xlsx([_row(1)])).headers["Location"]
    make_user("second", "coordinator")
    other = type(coordinator_browser)(app.test_client())
    other.login("second", TEST_PASSWORD)
    response = other.get(preview_url)
    assert response.status_code == 302
    before = _count(session)
    other.client.post(preview_url, data={"csrf_token": other.csrf_token("/workspace/craftsmen/import")})
    assert _count(session) == before and len(list(upload_dir.iterdir())) == 2


def _age(directory, hours: float) -> None:
    stamp = time.time() - hours * 3600  # the app stamps uploads with the real clock
    for path in directory.iterdir():
        os.utime(path, (stamp, stamp))


def test_abandoned_uploads_are_deleted_after_a_day(coordinator_browser, app, session, upload_dir):
    old_url = _upload(coordinator_browser, xlsx([_row(1)])).headers["Location"]
    _age(upload_dir, 25)
    recent_url = _upload(coordinator_browser, xlsx([_row(2)])).headers["Location"]  # cleans up on the way
    assert coordinator_browser.get(old_url).status_code == 302
    assert coordinator_browser.get(recent_url).status_code == 200
    assert len(list(upload_dir.iterdir())) == 2
    _age(upload_dir, 23)
    runner = app.test_cli_runner()
    result = runner.invoke(import_group, ["cleanup"])
    assert result.exit_code == 0 and "import files deleted: 0" in result.output
    _age(upload_dir, 24.5)
    result = runner.invoke(import_group, ["cleanup"])
    assert result.exit_code == 0 and "import files deleted: 2" in result.output
    assert not any(upload_dir.iterdir())
    response = coordinator_browser.get(recent_url, follow_redirects=True)
    assert "已过期" in response.get_data(as_text=True)
