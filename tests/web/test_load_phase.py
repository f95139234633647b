"""The first solve's reads (issue 15 item 3, the click's load phase): the same fingerprints and features, read with
less of this process's work."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
import scipy.sparse as sp
import sqlalchemy as sa

from tests.factories import make_craftsman, make_demand, make_enterprise
from web.models import ConflictLink, CraftsmanSkill, Demand, DemandRole, Skill
from web.models.craftsmen import CONFLICT_KINDS
from web.services import eligibility, features

TRICKY_TEXTS = ['引号"与\\反斜杠', "换行\n回车\r制表\t退格\b换页\f", "控制\x01\x1f与\x7f删除", "emoji 🔧 与 ü é",
                "", "None", "'单引号' -- ;"]


def _python_fingerprints(session, monkeypatch, ids):
    with monkeypatch.context() as patched:
        patched.setattr(eligibility, "hashes_on_server", lambda session: False)
        return eligibility.demand_fingerprints(session, ids)


def test_the_server_hashes_the_fingerprints_python_would(session, monkeypatch):
    if not eligibility.hashes_on_server(session):
        pytest.skip("only PostgreSQL hashes them itself")
    weld, electrical = (session.scalar(sa.select(Skill.id).where(Skill.code == code)) for code in ("weld", "electrical"))
    demands = [make_demand(session, title=text[:100] or "空", description=text, support_needed=text[::-1],
                           other_skills=text, skills={"weld": 3, "electrical": 1}, industries=None)
               for text in TRICKY_TEXTS]
    demands.append(make_demand(session, skills={}, window_start=None, window_end=None, team_size=3, mode="remote",
                               urgency="high"))
    demands.append(make_demand(session, window_start=dt.date(987, 1, 2), window_end=dt.date(9999, 12, 31)))
    for demand, roles in ((demands[0], [(weld, 2)]), (demands[-1], [(weld, 3), (electrical, 1)])):
        session.execute(sa.insert(DemandRole), [{"demand_id": demand.id, "skill_id": skill, "count": count}
                                                for skill, count in roles])
    ids = [demand.id for demand in demands]
    session.expire_all()
    assert session.scalar(sa.select(Demand.description).where(Demand.id == ids[1])) == TRICKY_TEXTS[1]

    by_server = eligibility.demand_fingerprints(session, ids)
    by_python = _python_fingerprints(session, monkeypatch, ids)
    assert dict(by_server) == dict(by_python) and len(by_server) == len(ids)
    assert by_server.revisions == by_python.revisions


def _dense_matrix(n_rows, n_cols, rows, cols, values, parent):
    """The matrix as the features were built before: a dense one, maximum per cell, then its CSR form."""
    dense = np.zeros((n_rows, n_cols), dtype=np.float64)
    rows, cols, values = np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64), np.asarray(values, float)
    if rows.size:
        np.maximum.at(dense, (rows, cols), values)
        if parent is not None:
            up = parent[cols]
            keep = up >= 0
            np.maximum.at(dense, (rows[keep], up[keep]), values[keep])
    return sp.csr_matrix(dense)


@pytest.mark.parametrize("seed", range(20))
def test_matrices_are_the_csr_form_of_the_dense_ones(seed):
    rng = np.random.default_rng(seed)
    n_rows, n_cols, n = int(rng.integers(0, 30)), int(rng.integers(1, 12)), int(rng.integers(0, 80))
    rows, cols = rng.integers(0, max(n_rows, 1), n), rng.integers(0, n_cols, n)
    values = rng.integers(0, 6, n).astype(float)  # zeros and repeated cells among them
    parent = np.where(rng.random(n_cols) < 0.5, rng.integers(0, n_cols, n_cols), -1)
    if n_rows == 0:
        rows = cols = values = np.zeros(0)
    for family in (parent, None):
        built, reference = (function(n_rows, n_cols, rows.tolist(), cols.tolist(), values.tolist(), family)
                            for function in (features._matrix, _dense_matrix))
        assert built.shape == reference.shape and built.has_sorted_indices == reference.has_sorted_indices
        for part in ("indptr", "indices", "data"):
            assert getattr(built, part).dtype == getattr(reference, part).dtype
            assert np.array_equal(getattr(built, part), getattr(reference, part))


def test_days_are_counted_from_the_epoch():
    dates = [dt.date(1999, 12, 31), dt.date(2000, 1, 1), dt.date(2026, 12, 1)]
    assert features._days(dates).tolist() == [features.day(value) for value in dates] == [-1, 0, 9831]


def test_a_craftsmans_honours_windows_and_skill_families_become_his_features(session):
    day = dt.date
    honoured = make_craftsman(
        session, honours=["national_model_worker", "municipal_craftsman", "trainee"],
        skills={"weld.argon_arc": 5, "weld": 2, "electrical": 3},
        availability=[(day(2026, 3, 1), day(2026, 3, 10)), (day(2026, 1, 1), day(2026, 2, 28)),
                      (day(2026, 3, 11), day(2026, 3, 20)), (day(2026, 5, 1), day(2026, 5, 2))])
    great = make_craftsman(session, honours=["great_craftsman", "trainee"], skills={"weld.manual_arc": 1},
                           availability=[])
    model = make_craftsman(session, honours=["provincial_model_worker"], skills={},
                           availability=[(day(2026, 1, 1), day(2026, 12, 31)), (day(2026, 2, 1), day(2026, 2, 2))])
    ids = [honoured.id, great.id, model.id]
    loaded = features.load_craftsmen(session, 0, today=day(2026, 12, 1), only=ids)

    assert loaded.ids == tuple(map(str, ids))
    assert loaded.model_worker.tolist() == [True, False, True]
    assert loaded.honour_rank.tolist() == [2, 4, 0]
    assert loaded.availability.indptr.tolist() == [0, 2, 2, 3]
    assert [(int(s), int(e)) for s, e in zip(loaded.availability.start, loaded.availability.end, strict=True)] == [
        (features.day(day(2026, 1, 1)), features.day(day(2026, 3, 20))),
        (features.day(day(2026, 5, 1)), features.day(day(2026, 5, 2))),
        (features.day(day(2026, 1, 1)), features.day(day(2026, 12, 31)))]
    column = {code: index for index, code in enumerate(session.scalars(sa.select(Skill.code).order_by(Skill.id)))}
    skills = loaded.skills.toarray()
    assert (skills[0, column["weld"]], skills[0, column["weld.argon_arc"]], skills[0, column["electrical"]]) == (5, 5, 3)
    assert (skills[1, column["weld"]], skills[1, column["weld.manual_arc"]]) == (1, 1)
    assert skills.sum() == 5 + 5 + 3 + 1 + 1 and not skills[2].any()
    names = session.execute(sa.select(CraftsmanSkill.craftsman_id, Skill.name_zh).join(Skill)
                            .where(CraftsmanSkill.craftsman_id.in_(ids)).order_by(CraftsmanSkill.id)).all()
    assert loaded.profile_text[0] == " ".join([honoured.bio, *(name for owner, name in names if owner == honoured.id)])
    assert loaded.profile_text[2] == model.bio


def test_a_craftsmans_skill_names_and_conflicts_load_in_the_order_they_were_recorded(session):
    """The profile text (skill names, which the text similarity reads as a sequence) and the conflicts (stored in the
    snapshot, which a digest covers) come in their rows' id order, whatever order the database finds the rows in: on
    PostgreSQL an updated row's new version lies after the others, and an unordered scan returns it last."""
    craftsman = make_craftsman(session, skills={"weld.argon_arc": 5, "electrical": 3, "weld": 2})  # not by skill id
    enterprises = [make_enterprise(session) for _ in range(3)]
    session.execute(sa.insert(ConflictLink), [{"craftsman_id": craftsman.id, "enterprise_id": enterprise.id,
                                              "kind": CONFLICT_KINDS[0]} for enterprise in enterprises])
    first_skill = session.scalar(sa.select(sa.func.min(CraftsmanSkill.id)).where(
        CraftsmanSkill.craftsman_id == craftsman.id))
    first_link = session.scalar(sa.select(sa.func.min(ConflictLink.id)).where(
        ConflictLink.craftsman_id == craftsman.id))
    session.execute(sa.update(CraftsmanSkill).where(CraftsmanSkill.id == first_skill)
                    .values(proficiency=CraftsmanSkill.proficiency))
    session.execute(sa.update(ConflictLink).where(ConflictLink.id == first_link).values(note="改过"))
    if session.get_bind().dialect.name == "postgresql":  # scans in storage order, as a larger table's plan would
        session.execute(sa.text("SET LOCAL enable_indexscan = off"))
        session.execute(sa.text("SET LOCAL enable_bitmapscan = off"))

    loaded = features.load_craftsmen(session, 0, today=dt.date(2026, 12, 1), only=[craftsman.id])

    names = session.scalars(sa.select(Skill.name_zh).join(CraftsmanSkill)
                            .where(CraftsmanSkill.craftsman_id == craftsman.id).order_by(CraftsmanSkill.id)).all()
    assert loaded.profile_text[0] == " ".join([craftsman.bio, *names])
    assert loaded.conflict_enterprise_ids[0] == tuple(str(enterprise.id) for enterprise in enterprises)
