"""The craftmatch command group, run as an operator would (on a fresh SQLite file)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.conftest import make_test_app
from web.cli import db_group, seed_group, user_group
from web.db import make_engine


@pytest.fixture()
def fresh_app(tmp_path):
    return make_test_app(f"sqlite:///{tmp_path / 'instance' / 'cli.sqlite'}")


def _count(url: str, table: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
    finally:
        engine.dispose()


def test_upgrade_seed_twice_and_create_user(fresh_app):
    runner = fresh_app.test_cli_runner()
    url = fresh_app.config["DATABASE_URL"]

    assert runner.invoke(db_group, ["upgrade"]).exit_code == 0
    first = runner.invoke(seed_group, ["demo", "--if-empty"])
    assert first.exit_code == 0, first.output
    assert "demo login (coordinator): demo / gongjiang-2026" in first.output
    craftsmen = _count(url, "craftsman")

    second = runner.invoke(seed_group, ["demo", "--if-empty"])
    assert second.exit_code == 0 and "未加载演示数据" in second.output
    assert "demo login: demo / gongjiang-2026" in second.output
    assert _count(url, "craftsman") == craftsmen >= 300

    created = runner.invoke(user_group, ["create", "chengdu", "--role", "coordinator", "--region", "510100",
                                         "--password-stdin"], input="a-long-enough-password\n")
    assert created.exit_code == 0, created.output
    refused = runner.invoke(user_group, ["create", "short", "--role", "viewer", "--password-stdin"], input="short\n")
    assert refused.exit_code != 0 and "10" in refused.output
    assert _count(url, "user_account") == 3


def test_downgrade_to_base_and_current(fresh_app):
    runner = fresh_app.test_cli_runner()
    assert runner.invoke(db_group, ["upgrade"]).exit_code == 0
    assert runner.invoke(db_group, ["current"]).exit_code == 0
    assert runner.invoke(db_group, ["downgrade", "base"]).exit_code == 0
    engine = make_engine(fresh_app.config["DATABASE_URL"])
    try:
        assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()


def test_every_command_has_help(fresh_app):
    runner = fresh_app.test_cli_runner()
    for group, commands in ((db_group, ["upgrade", "downgrade", "current"]), (seed_group, ["demo", "synthetic"]),
                            (user_group, ["create"])):
        for command in commands:
            result = runner.invoke(group, [command, "--help"])
            assert result.exit_code == 0 and "Usage" in result.output


def test_rebuild_summaries_restores_what_a_write_without_triggers_left(fresh_app):
    runner = fresh_app.test_cli_runner()
    url = fresh_app.config["DATABASE_URL"]
    assert runner.invoke(db_group, ["upgrade"]).exit_code == 0
    assert runner.invoke(seed_group, ["demo"]).exit_code == 0
    rows = _count(url, "report_service_month")
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(sa.text("DELETE FROM report_service_month"))
    finally:
        engine.dispose()
    rebuilt = runner.invoke(db_group, ["rebuild-summaries"])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert _count(url, "report_service_month") == rows > 0
