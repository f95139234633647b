"""``craftmatch seed reference`` and ``craftmatch import craftsmen|demands FILE``, run as an operator would on
a fresh database: exit 0 when written, exit 2 and one clear line on bad input, never a traceback, nothing
written unless every row is good or --skip-bad-rows is given."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.conftest import make_test_app
from tests.web.test_demand_import import demand_row, sheet
from tests.web.test_import import _row, xlsx
from web.cli import db_group, import_group, seed_group
from web.db import make_engine


@pytest.fixture()
def fresh_app(tmp_path):
    return make_test_app(f"sqlite:///{tmp_path / 'instance' / 'cli.sqlite'}")


@pytest.fixture()
def runner(fresh_app):
    runner = fresh_app.test_cli_runner()
    assert runner.invoke(db_group, ["upgrade"]).exit_code == 0
    result = runner.invoke(seed_group, ["reference"])
    assert result.exit_code == 0, result.output
    return runner


def _rows(app, sql: str) -> list[tuple]:
    engine = make_engine(app.config["DATABASE_URL"])
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(sa.text(sql))]
    finally:
        engine.dispose()


def _file(tmp_path, content: bytes, name: str = "sheet.xlsx") -> str:
    path = tmp_path / name
    path.write_bytes(content)
    return str(path)


def _clean_exit_2(result) -> None:
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)  # no traceback
    assert "Traceback" not in result.output


def test_seed_reference_loads_only_reference_data(fresh_app, runner):
    for table in ("region", "skill", "industry", "demand_category", "honour_level"):
        assert _rows(fresh_app, f"SELECT count(*) FROM {table}")[0][0] > 0, table
    for table in ("craftsman", "demand", "enterprise", "user_account"):
        assert _rows(fresh_app, f"SELECT count(*) FROM {table}")[0][0] == 0, table
    assert runner.invoke(seed_group, ["reference"]).exit_code == 0  # idempotent


def test_import_demands_all_or_nothing_then_skip_bad_rows_and_approve(fresh_app, runner, tmp_path):
    path = _file(tmp_path, sheet([demand_row(1), demand_row(2, mode="飞鸽传书"), demand_row(3)]))
    refused = runner.invoke(import_group, ["demands", path])
    _clean_exit_2(refused)
    assert "第 3 行，「服务方式」列" in refused.stderr and "飞鸽传书" in refused.stderr
    assert 'Row 3, column "service mode"' in refused.stderr
    assert refused.stderr.strip().splitlines()[-1].startswith("Error: 1 rows have errors; nothing was written")
    assert _rows(fresh_app, "SELECT count(*) FROM demand")[0][0] == 0

    done = runner.invoke(import_group, ["demands", path, "--skip-bad-rows", "--approve"])
    assert done.exit_code == 0, done.output
    assert done.stdout.strip().splitlines()[-1] == ("demands: 2 added and approved (open for matching), "
                                                    "0 already imported, 1 rows skipped")
    assert _rows(fresh_app, "SELECT status, count(*) FROM demand GROUP BY status") == [("open", 2)]
    events = _rows(fresh_app, "SELECT to_status FROM demand_status_event ORDER BY id")
    assert events == [("submitted",), ("open",), ("submitted",), ("open",)]

    again = runner.invoke(import_group, ["demands", path, "--skip-bad-rows"])
    assert again.exit_code == 0 and "0 added" in again.stdout and "2 already imported" in again.stdout
    assert _rows(fresh_app, "SELECT count(*) FROM demand")[0][0] == 2


def test_import_demands_without_approve_leaves_them_for_review(fresh_app, runner, tmp_path):
    path = _file(tmp_path, sheet([demand_row(4)]), "needs.xlsx")
    assert runner.invoke(import_group, ["demands", path]).exit_code == 0
    assert _rows(fresh_app, "SELECT status FROM demand") == [("submitted",)]


def test_import_craftsmen(fresh_app, runner, tmp_path):
    path = _file(tmp_path, xlsx([_row(1), _row(2, skills="焊接:9")]))
    refused = runner.invoke(import_group, ["craftsmen", path])
    _clean_exit_2(refused)
    assert "「焊接:9」的级别" in refused.stderr and "0:" not in refused.stderr
    assert _rows(fresh_app, "SELECT count(*) FROM craftsman")[0][0] == 0
    done = runner.invoke(import_group, ["craftsmen", path, "--skip-bad-rows"])
    assert done.exit_code == 0, done.output
    assert "craftsmen: 1 added, 0 updated, 0 unchanged, 1 rows skipped" in done.stdout


@pytest.mark.parametrize(("name", "content", "says"), [
    ("missing.xlsx", None, "cannot read"),
    ("notes.txt", b"hello", ".xlsx"),
    ("empty.csv", b"", "empty"),
    ("wrong.csv", "姓名,电话\n张三,1\n".encode(), "企业名称"),
    ("broken.xlsx", b"PK\x03\x04 not really a zip", "xlsx"),
])
def test_bad_files_exit_2_with_one_line(fresh_app, runner, tmp_path, name, content, says):
    path = str(tmp_path / name) if content is None else _file(tmp_path, content, name)
    result = runner.invoke(import_group, ["demands", path])
    _clean_exit_2(result)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and says in lines[0], result.stderr


def test_a_database_not_migrated_is_one_line_too(fresh_app, tmp_path):
    runner = fresh_app.test_cli_runner()
    for command in (["import", "demands", _file(tmp_path, sheet([demand_row(5)]))], ["seed", "reference"]):
        group = import_group if command[0] == "import" else seed_group
        result = runner.invoke(group, command[1:])
        _clean_exit_2(result)
        assert "craftmatch db upgrade" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_the_new_commands_have_help(fresh_app):
    runner = fresh_app.test_cli_runner()
    for group, command in ((import_group, "craftsmen"), (import_group, "demands"), (seed_group, "reference")):
        result = runner.invoke(group, [command, "--help"])
        assert result.exit_code == 0 and "Usage" in result.output
    assert "--approve" in runner.invoke(import_group, ["demands", "--help"]).output
