"""Two rounds with the same features solving at once (PostgreSQL, real commits): one round's solve stores the
features another round's solve is dropping. Neither fails, and the row stays while a round points at it."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from tests.conftest import NOW
from web import migrate
from web.db import make_engine
from web.models import MatchingRound, RoundFeatures
from web.services import features

VALUES = {"craftsmen": {"ids": ["1"]}, "demands": {"ids": ["7"]}}


def test_a_round_taking_features_while_another_drops_them_keeps_them(fresh_database_url):
    if not fresh_database_url.startswith("postgresql"):
        pytest.skip("SQLite runs one writer at a time")
    migrate.upgrade(fresh_database_url)
    engine = make_engine(fresh_database_url)
    try:
        with Session(engine) as session:  # round A's earlier features; round B has none yet
            digest, _ = features.store_features(session, VALUES, now=NOW)
            session.add_all([MatchingRound(name="A", created_at=NOW), MatchingRound(name="B", created_at=NOW)])
            session.commit()
        with Session(engine) as taking:  # round B's solve stores the same features (they exist) ...
            assert features.store_features(taking, VALUES, now=NOW)[0] == digest
            outcome = []

            def drop():  # ... while round A's solve, having moved off them, drops them
                with Session(engine) as dropping:
                    features.drop_unused_features(dropping, digest)
                    dropping.commit()
                    outcome.append("committed")

            dropper = threading.Thread(target=drop)
            dropper.start()
            dropper.join(timeout=1)
            assert dropper.is_alive()  # it waits for round B's solve, which holds the row
            taking.execute(sa.update(MatchingRound).where(MatchingRound.name == "B").values(features_digest=digest))
            taking.commit()
            dropper.join(timeout=30)
        assert outcome == ["committed"]
        with Session(engine) as session:
            assert session.get(RoundFeatures, digest) is not None
    finally:
        engine.dispose()
