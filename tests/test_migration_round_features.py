"""Migration 0012 on data: a round's snapshot splits into its features (stored once per content) and its solve
inputs, reads back whole through ``MatchingRound.snapshot``, and the downgrade puts it back as it was."""

from __future__ import annotations

import datetime as dt
import json

import sqlalchemy as sa
from alembic.script import ScriptDirectory
from sqlalchemy.orm import Session

from web import migrate
from web.db import make_engine


def _revision_before_this_one() -> str:
    script = ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
    [mine] = [rev for rev in script.walk_revisions() if rev.path.endswith("_round_features.py")]
    return mine.down_revision  # re-chained at merge: still the revision just before this migration


def _snapshot(n: int, *, old: bool = False) -> dict:
    snapshot = {
        "version": 1, "config": {"min_score": 0.1 * n}, "craftsmen": {"ids": ["1", "2"], "capacity": [2, n],
                                                                         "profile_text": ["焊接", "数控"]},
        "demands": {"ids": ["7"], "lat": [30.5, None]}, "history": {"craftsman_id": [], "enterprise_id": [],
                                                                   "rating": []},
        "locks": [["1", "7"]] if n else [], "exclusions": [], "previous": None if n else [["2", "7"]], "kept": [],
    }
    if not old:  # a snapshot taken before roles, skill families and track records were stored has none
        snapshot |= {"roles": [["7", 3, 2, 41]], "skill_parent": [-1, 0], "track_record": None}
    return snapshot


def test_snapshots_split_into_features_and_solve_inputs_and_back(fresh_database_url):
    from web.models import MatchingRound
    from web.services import features

    migrate.upgrade(fresh_database_url, _revision_before_this_one())
    engine = make_engine(fresh_database_url)
    # two rounds with the same features (one row for both), one with its own, one old, one never solved
    snapshots = {1: _snapshot(1), 2: _snapshot(0), 3: {**_snapshot(1), "demands": {"ids": ["8"]}},
                 4: _snapshot(2, old=True), 5: None}
    snapshots[2]["craftsmen"] = dict(snapshots[1]["craftsmen"])
    with engine.begin() as connection:
        for round_id, snapshot in snapshots.items():
            connection.execute(sa.text(
                "INSERT INTO matching_round (id, name, status, config, filters, snapshot, snapshot_digest, version, "
                "created_at) VALUES (:id, :name, 'solved', '{}', '{}', :snapshot, :digest, 1, :at)"),
                {"id": round_id, "name": f"r{round_id}", "snapshot": None if snapshot is None else json.dumps(snapshot),
                 "digest": f"kept-{round_id}", "at": dt.datetime(2026, 11, 30)})
    migrate.upgrade(fresh_database_url)
    with Session(bind=engine) as session:
        rounds = {rnd.id: rnd for rnd in session.scalars(sa.select(MatchingRound))}
        assert {round_id: rnd.snapshot for round_id, rnd in rounds.items()} == snapshots
        assert {round_id: rnd.snapshot_digest for round_id, rnd in rounds.items()} == {
            round_id: f"kept-{round_id}" for round_id in snapshots}
        assert rounds[1].features_digest == rounds[2].features_digest != rounds[3].features_digest
        assert rounds[5].features_digest is None and rounds[5].solve_inputs is None
        assert rounds[1].solve_inputs == {key: value for key, value in snapshots[1].items()
                                          if key not in features.FEATURE_KEYS}
        texts = dict(session.execute(sa.text("SELECT digest, data FROM round_features")).all())
        assert len(texts) == 3
        for digest, text in texts.items():  # the canonical text, keyed by its sha256, as a solve stores it
            assert features.digest(json.loads(text)) == digest
            assert features.canonical(json.loads(text)) == text
    migrate.downgrade(fresh_database_url, _revision_before_this_one())
    with engine.connect() as connection:
        back = {round_id: None if snapshot is None else json.loads(snapshot) if isinstance(snapshot, str) else snapshot
                for round_id, snapshot in connection.execute(sa.text("SELECT id, snapshot FROM matching_round"))}
    assert back == snapshots
    engine.dispose()
