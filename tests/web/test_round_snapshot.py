"""A round's snapshot in two parts: the features stored once per content, the solve inputs on the round. A re-solve
that reuses the features stores exactly what writing them anew would, and the digest is that of the whole."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from tests.conftest import NOW
from tests.factories import make_craftsman, make_demand
from web.caches import LastFew
from web.models import MatchingRound, Proposal, RoundFeatures
from web.models import rounds as round_models
from web.services import features, rounds


def _solved(session):
    people = [make_craftsman(session, skills={"weld": 2 + i % 3}, region_code="510100", round_capacity=2)
              for i in range(5)]
    for _ in range(3):
        make_demand(session, skills={"weld": 3}, team_size=1)
    rnd = rounds.create_round(session, name="快照", actor="test", now=NOW)
    rounds.solve_round(session, rnd, actor="test", now=NOW)
    return rnd, people


def _lock_one(session, rnd):
    proposal = session.scalar(sa.select(Proposal).where(Proposal.round_id == rnd.id, Proposal.assigned)
                              .order_by(Proposal.demand_id, Proposal.craftsman_id))
    rounds.set_pair(session, rnd, proposal.craftsman_id, proposal.demand_id, "lock", actor="test", now=NOW)
    return proposal


def _stored_features(session) -> dict[str, str]:
    return dict(session.execute(sa.select(RoundFeatures.digest, RoundFeatures.data)).all())


def _forget_this_process(monkeypatch):
    """As in another worker: nothing parsed or serialised kept from earlier requests."""
    monkeypatch.setattr(round_models, "parsed_features", LastFew(4))
    monkeypatch.setattr(features, "parsed_features", round_models.parsed_features)
    monkeypatch.setattr(features, "_feature_texts", LastFew(4))


def test_a_re_solve_after_a_lock_keeps_the_stored_features_and_digests_the_whole_snapshot(session, monkeypatch):
    rnd, _ = _solved(session)
    first = rnd.features_digest
    stored = _stored_features(session)
    assert list(stored) == [first]
    assert features.canonical(json.loads(stored[first])) == stored[first]  # the canonical text, keyed by its sha256
    assert rnd.snapshot_digest == features.digest(rnd.snapshot)
    locked = _lock_one(session, rnd)
    written, store = [], features.store_features
    monkeypatch.setattr(features, "store_features", lambda *args, **kw: written.append(1) or store(*args, **kw))
    for forget in (False, True):  # in this process, and as in another one
        if forget:
            _forget_this_process(monkeypatch)
        rounds.solve_round(session, rnd, actor="test", now=NOW)
        session.expire_all()
        rnd = session.get(MatchingRound, rnd.id)
        assert written == [] and rnd.features_digest == first and _stored_features(session) == stored
        assert [str(locked.craftsman_id), str(locked.demand_id)] in rnd.snapshot["locks"]
        assert rnd.snapshot_digest == features.digest(rnd.snapshot)


def test_features_written_anew_are_those_kept(session, monkeypatch):
    """What a reusing re-solve keeps is what serialising the features again would store (same digest, same text)."""
    rnd, _ = _solved(session)
    _lock_one(session, rnd)
    rounds.solve_round(session, rnd, actor="test", now=NOW)
    kept, kept_snapshot = rnd.features_digest, rnd.snapshot
    stored = _stored_features(session)
    monkeypatch.setattr(features, "same_features", lambda *args: False)  # never reuse: write them again
    _forget_this_process(monkeypatch)
    rounds.solve_round(session, rnd, actor="test", now=NOW)
    assert rnd.features_digest == kept and _stored_features(session) == stored
    assert {key: rnd.snapshot[key] for key in features.FEATURE_KEYS} == \
        {key: kept_snapshot[key] for key in features.FEATURE_KEYS}
    assert rnd.snapshot_digest == features.digest(rnd.snapshot)


def test_new_features_replace_the_round_s_old_row(session):
    rnd, people = _solved(session)
    first = rnd.features_digest
    rounds.set_capacity(session, rnd, people[0].id, 1, actor="test", now=NOW)
    assert rounds.pending_changes(session, rnd)
    rounds.solve_round(session, rnd, actor="test", now=NOW)
    assert rnd.features_digest != first and list(_stored_features(session)) == [rnd.features_digest]
    assert rnd.snapshot["craftsmen"]["capacity"][rnd.snapshot["craftsmen"]["ids"].index(str(people[0].id))] == 1
    assert rnd.snapshot_digest == features.digest(rnd.snapshot)
    assert not rounds.pending_changes(session, rnd)


def test_two_rounds_with_the_same_features_share_one_row(session):
    rnd, _ = _solved(session)
    other = rounds.create_round(session, name="同样的池", actor="test", now=NOW)
    rounds.solve_round(session, other, actor="test", now=NOW)
    assert other.features_digest == rnd.features_digest and len(_stored_features(session)) == 1


def test_a_solve_fails_when_serialising_its_features_fails_on_the_other_thread(session, monkeypatch):
    """The features are serialised on another thread while the proposals are written; its error is the solve's."""
    for i in range(3):
        make_craftsman(session, skills={"weld": 2 + i}, region_code="510100")
    make_demand(session, skills={"weld": 3}, team_size=1)
    rnd = rounds.create_round(session, name="后台失败", actor="test", now=NOW)

    calls, serialise = [], features.serialise_features

    def broken_once(values):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("serialising failed")
        return serialise(values)

    monkeypatch.setattr(features, "serialise_features", broken_once)
    with pytest.raises(RuntimeError, match="serialising failed"):
        rounds.solve_round(session, rnd, actor="test", now=NOW)
