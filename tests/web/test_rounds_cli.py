"""`craftmatch round create|solve|publish` on the demo pools, as a scripted run would do it."""

from __future__ import annotations

import re

import sqlalchemy as sa

from tests.conftest import make_test_app
from web.cli import db_group, round_group, seed_group
from web.db import make_engine


def test_create_solve_publish(tmp_path):
    app = make_test_app(f"sqlite:///{tmp_path / 'cli.sqlite'}")
    runner = app.test_cli_runner()
    assert runner.invoke(db_group, ["upgrade"]).exit_code == 0
    assert runner.invoke(seed_group, ["demo"]).exit_code == 0
    created = runner.invoke(round_group, ["create", "--name", "脚本轮次", "--config", '{"min_score": 0.1}'])
    assert created.exit_code == 0, created.output
    round_id = re.search(r"round (\d+):", created.output).group(1)
    solved = runner.invoke(round_group, ["solve", round_id])
    assert solved.exit_code == 0 and "optimal" in solved.output, solved.output
    published = runner.invoke(round_group, ["publish", round_id])
    assert published.exit_code == 0, published.output
    made = int(re.search(r"(\d+) engagements", published.output).group(1))
    again = runner.invoke(round_group, ["publish", round_id])
    assert again.exit_code == 0 and "already published" in again.output and "nothing new" in again.output
    engine = make_engine(app.config["DATABASE_URL"])
    try:
        with engine.connect() as connection:
            count = connection.execute(sa.text("SELECT count(*) FROM engagement WHERE round_id = :r"),
                                       {"r": int(round_id)}).scalar_one()
    finally:
        engine.dispose()
    assert count == made > 0
    bad = runner.invoke(round_group, ["create", "--name", "x", "--config", '{"min_score": 7}'])
    assert bad.exit_code != 0 and "min_score" in bad.output
    for config, says in (("{bad", "not JSON"), ("[1]", "JSON object")):
        refused = runner.invoke(round_group, ["create", "--name", "x", "--config", config])
        assert refused.exit_code == 2 and says in refused.output and refused.exception is not None
        assert not isinstance(refused.exception, TypeError | ValueError), refused.exception
