"""The database → matching bridge: a craftsman without a travel radius is NaN (the round's default), never 0."""

from __future__ import annotations

import collections

import numpy as np

from matching.config import RoundConfig
from matching.scoring import prepare
from tests.conftest import NOW
from tests.factories import make_craftsman, make_demand
from web.services import features, rounds


class _NoRadiusFor:
    """The session's connection, except that craftsman ``craftsman_id`` comes back without a travel radius.

    The column is NOT NULL today; the bridge must still treat a missing radius as "none given"
    (an import or a later schema may leave it empty).
    """

    def __init__(self, connection, craftsman_id: int) -> None:
        self.connection, self.craftsman_id = connection, craftsman_id

    def execute(self, statement, *args, **kwargs):
        result = self.connection.execute(statement, *args, **kwargs)
        columns = list(result.keys())
        if "travel_radius_km" not in columns:
            return result
        row_type = collections.namedtuple("Row", columns)
        rows = [row_type(*row) for row in result]
        rows = [row._replace(travel_radius_km=None) if row.id == self.craftsman_id else row for row in rows]
        return _Rows(rows)


class _Rows:
    def __init__(self, rows) -> None:
        self.rows = rows

    def all(self):
        return self.rows


def test_a_missing_travel_radius_becomes_nan_and_the_default_applies(session, monkeypatch):
    far, near = make_craftsman(session, travel_radius_km=80), make_craftsman(session, travel_radius_km=0)
    make_demand(session, status="open")
    rnd = rounds.create_round(session, name="半径测试", actor="test", now=NOW)
    real_core = features._core
    monkeypatch.setattr(features, "_core", lambda s: _NoRadiusFor(real_core(s), far.id))

    loaded = features.load_craftsmen(session, rnd.id, today=NOW.date())

    radius = dict(zip(loaded.ids, loaded.travel_radius_km.tolist(), strict=True))
    assert np.isnan(radius[str(far.id)])  # none given: not 0 (which would forbid all on-site work)
    assert radius[str(near.id)] == 0.0
    assert features.craftsmen_to_json(loaded)["travel_radius_km"][loaded.ids.index(str(far.id))] is None
    replayed = features.craftsmen_from_json(features.craftsmen_to_json(loaded))
    assert np.isnan(replayed.travel_radius_km[loaded.ids.index(str(far.id))])
    demands = features.load_demands(session, rnd.id, today=NOW.date())
    config = RoundConfig(max_onsite_km_default=321.0)
    prepared = prepare(loaded, demands, config)
    assert prepared.radius_c[loaded.ids.index(str(far.id))] == 321.0
