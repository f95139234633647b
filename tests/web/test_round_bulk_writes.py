"""The bulk paths of a solve write exactly what row-by-row writes would: proposals and demand fingerprints."""

from __future__ import annotations

import datetime as dt
import gc
import threading

import pytest
import sqlalchemy as sa

from tests.conftest import NOW
from tests.factories import make_craftsman, make_demand, make_solved_weld_round
from web.caches import LastFew
from web.models import Proposal, RoundCraftsman, RoundDemand
from web.services import demands as demand_service
from web.services import eligibility, rounds

LATER = NOW + dt.timedelta(hours=2)


def _round(session, n_demands=3):
    for i in range(4):
        make_craftsman(session, skills={"weld": 2 + i % 3}, region_code="510100", round_capacity=2)
    needs = [make_demand(session, skills={"weld": 3}) for _ in range(n_demands)]
    rnd = rounds.create_round(session, name="批量写入", actor="test", now=NOW)
    rounds.solve_round(session, rnd, actor="test", now=NOW)
    return rnd, needs


def _stored_fingerprints(session, rnd) -> dict[int, str | None]:
    return dict(session.execute(sa.select(RoundDemand.demand_id, RoundDemand.fingerprint)
                                .where(RoundDemand.round_id == rnd.id)).all())


def test_bulk_inserted_proposals_read_back_as_written(session):
    rnd, needs = _round(session)
    craftsman_id = session.scalar(sa.select(sa.func.min(RoundCraftsman.craftsman_id))
                                  .where(RoundCraftsman.round_id == rnd.id))  # a pair is always the round's
    session.execute(sa.delete(Proposal).where(Proposal.round_id == rnd.id))
    written = [
        {"round_id": rnd.id, "craftsman_id": craftsman_id, "demand_id": needs[0].id, "locked": False,
         "excluded": False, "score": 0.625, "assigned": True, "alternate_rank": None,
         "breakdown": {"skill": 0.5, "distance_km": 12.3, "relevance_tier": 2, "说明": "焊接\ttab \\ \"q\""},
         "warnings": ["far", "cross_province"]},
        {"round_id": rnd.id, "craftsman_id": craftsman_id, "demand_id": needs[1].id, "locked": False,
         "excluded": False, "score": 0.0, "assigned": False, "alternate_rank": 3, "breakdown": {}, "warnings": []},
    ]
    rounds._insert_proposals(session, written)
    session.expire_all()
    read = session.execute(sa.select(Proposal).where(Proposal.round_id == rnd.id).order_by(Proposal.demand_id))
    assert [{name: getattr(p, name) for name in written[0]} for p in read.scalars()] == written


def test_a_re_solve_stores_the_fingerprint_of_every_solved_demand_and_none_for_those_left_out(session):
    rnd, needs = _round(session)
    first = _stored_fingerprints(session, rnd)
    assert first == eligibility.demand_fingerprints(session, [d.id for d in needs])

    withdrawn, edited, kept = needs
    demand_service.withdraw(session, withdrawn, {"text": "已自行解决"}, actor="test", now=LATER)
    demand_service.edit(session, edited, {
        "title": "改为数控机床联网", "description": edited.description, "category_code": edited.category.code,
        "skills": [link.skill.code for link in edited.skills], "team_size": edited.team_size,
        "urgency": edited.urgency, "mode": edited.mode}, actor="test", now=LATER)
    rounds.solve_round(session, rnd, actor="test", now=LATER)

    again = _stored_fingerprints(session, rnd)
    assert again[withdrawn.id] is None
    assert again[edited.id] == eligibility.demand_fingerprints(session, [edited.id])[edited.id] != first[edited.id]
    assert again[kept.id] == first[kept.id]
    assert eligibility.changes_since_solve(session, rnd, LATER.date()) == []


def _stored_proposals(session, rnd) -> dict[tuple[int, int], tuple]:
    """Every stored column of the round's proposals but the id, the JSON as the database holds its text."""
    columns = [column for column in Proposal.__table__.c if column.name != "id"]
    rows = session.execute(sa.select(*(sa.cast(c, sa.Text) if isinstance(c.type, sa.JSON) else c for c in columns))
                           .where(Proposal.round_id == rnd.id)).all()
    return {(row.craftsman_id, row.demand_id): tuple(row) for row in rows}


def _proposal_ids(session, rnd) -> dict[tuple[int, int], int]:
    rows = session.execute(sa.select(Proposal.craftsman_id, Proposal.demand_id, Proposal.id)
                           .where(Proposal.round_id == rnd.id)).all()
    return {(c, d): proposal_id for c, d, proposal_id in rows}


def _locked_and_excluded(session, name: str):
    """A solved round with its first assigned pair locked and its second excluded; its assigned pairs."""
    rnd = make_solved_weld_round(session, name, demands=5, levels=3)
    assigned = session.execute(sa.select(Proposal.craftsman_id, Proposal.demand_id).where(
        Proposal.round_id == rnd.id, Proposal.assigned).order_by(Proposal.demand_id, Proposal.craftsman_id)).all()
    rounds.set_pair(session, rnd, *assigned[0], "lock", actor="test", now=NOW)
    rounds.set_pair(session, rnd, *assigned[1], "exclude", actor="test", now=NOW)
    return rnd, assigned


def test_a_re_solve_stores_only_what_changed_and_the_same_as_a_full_rewrite(session, monkeypatch):
    rnd, assigned = _locked_and_excluded(session, "差量保存")
    rounds.set_pair(session, rnd, *assigned[2], "lock", actor="test", now=NOW)
    rounds.solve_round(session, rnd, actor="test", now=NOW)  # the locked rows' JSON now written by an UPDATE
    rounds.set_pair(session, rnd, *assigned[2], "clear", actor="test", now=LATER)
    ids_before = _proposal_ids(session, rnd)

    written = []
    replace = rounds._replace_unflagged_proposals
    monkeypatch.setattr(rounds, "_replace_unflagged_proposals",
                        lambda s, r, rows, *args, **kw: (written.append(list(rows)),
                                                         replace(s, r, written[-1], *args, **kw))[1])
    rounds.solve_round(session, rnd, actor="test", now=LATER)
    session.expire_all()
    after_diff = _stored_proposals(session, rnd)
    ids_after = _proposal_ids(session, rnd)

    session.execute(sa.delete(Proposal).where(Proposal.round_id == rnd.id, Proposal.locked.is_(False),
                                              Proposal.excluded.is_(False)))
    replace(session, rnd, written[0], rounds._save_inputs(session, rnd).stored)  # nothing stored: all written anew
    session.expire_all()
    assert _stored_proposals(session, rnd) == after_diff
    kept = {pair for pair, proposal_id in ids_after.items() if ids_before.get(pair) == proposal_id}
    if session.get_bind().dialect.name == "postgresql":  # the difference alone is written there (SQLite reuses ids)
        assert len(kept) >= len(after_diff) // 2
        assert assigned[2] not in kept or assigned[2] not in after_diff  # its JSON text came from an UPDATE


def _store_and_capture(monkeypatch) -> list:
    """``rounds._store_result`` as it is, its arguments kept to store them again."""
    calls, store = [], rounds._store_result
    monkeypatch.setattr(rounds, "_store_result", lambda *args, **kw: (calls.append((args, kw)), store(*args, **kw))[1])
    return calls


def test_rows_remembered_from_the_last_solve_store_what_rows_made_afresh_store(session, monkeypatch):
    rnd, _ = _locked_and_excluded(session, "记住的行")
    remembered = rounds._remembered_rows(rnd.id, rounds.explain.vocabulary_ids(session))
    calls = _store_and_capture(monkeypatch)
    rounds.solve_round(session, rnd, actor="test", now=LATER)
    session.expire_all()
    with_remembered = _stored_proposals(session, rnd)
    if session.get_bind().dialect.name == "postgresql":  # where rows are remembered (elsewhere all are written anew)
        reused = [row for _, row in rounds._remembered_rows(rnd.id, rounds.explain.vocabulary_ids(session)).values()
                  if any(row is before for _, before in remembered.values())]
        assert len(remembered) > 5 and len(reused) > 5  # most rows came from the last solve

    monkeypatch.setattr(rounds, "_written_rows", LastFew(2))  # nothing remembered: every row made anew
    session.execute(sa.delete(Proposal).where(Proposal.round_id == rnd.id, Proposal.locked.is_(False),
                                              Proposal.excluded.is_(False)))
    (args, kw), = calls
    _, rnd_, proposed, _ = args  # what the solve read before is deleted now: read again
    rounds._store_result(session, rnd_, proposed, rounds._save_inputs(session, rnd_), **kw)
    session.expire_all()
    assert _stored_proposals(session, rnd) == with_remembered


def test_a_re_solve_rewrites_a_stored_row_whose_json_text_changed_and_keeps_the_others(session):
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("only PostgreSQL writes the difference (SQLite rewrites every row)")
    rnd = make_solved_weld_round(session, "改过的行", demands=5, levels=3)
    expected = _stored_proposals(session, rnd)
    ids = _proposal_ids(session, rnd)
    breakdown_changed, warnings_changed = sorted(expected)[:2]
    for (craftsman_id, demand_id), column, text in ((breakdown_changed, "breakdown", '{"skill": 0.5}'),
                                                   (warnings_changed, "warnings", '["far"]')):
        session.execute(sa.text(f"UPDATE proposal SET {column} = CAST(:text AS json) WHERE round_id = :r "
                                "AND craftsman_id = :c AND demand_id = :d"),
                        {"text": text, "r": rnd.id, "c": craftsman_id, "d": demand_id})
    rounds.solve_round(session, rnd, actor="test", now=LATER)  # nothing changed for the solve: the same rows
    session.expire_all()
    assert _stored_proposals(session, rnd) == expected  # the two edited rows written again as the solve made them
    ids_after = _proposal_ids(session, rnd)
    assert {pair for pair in ids if ids_after[pair] != ids[pair]} == {breakdown_changed, warnings_changed}


def test_the_rows_a_round_remembers_leave_the_cyclic_collectors_walks(session):
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("rows are remembered where they are copied (PostgreSQL)")
    rnd, _ = _round(session)
    remembered = rounds._remembered_rows(rnd.id, rounds.explain.vocabulary_ids(session))
    assert remembered
    gc.collect()  # a row made of strings, numbers and None is left alone from its first collection on
    assert not any(gc.is_tracked(entry) or gc.is_tracked(entry[1]) for entry in remembered.values())


def test_deferred_work_runs_once_whichever_thread_comes_first():
    calls, started, release = [], threading.Event(), threading.Event()

    def work():
        calls.append(threading.current_thread().name)
        started.set()
        release.wait(5)
        return 42

    deferred = rounds._Deferred(work)
    runner = threading.Thread(target=deferred.run, name="runner")
    runner.start()
    started.wait(5)
    asked = []
    reader = threading.Thread(target=lambda: asked.append(deferred.result()))
    reader.start()  # asks while the runner works: waits for its result instead of working too
    release.set()
    runner.join(5)
    reader.join(5)
    deferred.run()  # done already: nothing more
    assert asked == [42] and calls == ["runner"] and deferred.result() == 42
    failing = rounds._Deferred(lambda: 1 / 0)
    failing.run()
    with pytest.raises(ZeroDivisionError):
        failing.result()


def test_fingerprints_read_through_the_round_are_those_read_by_ids(session):
    rnd, needs = _round(session)
    outsider = make_demand(session, skills={"weld": 2})  # not in the round: read by its id
    ids = [d.id for d in needs] + [outsider.id]
    by_ids = eligibility.demand_fingerprints(session, ids)
    assert set(by_ids) == set(ids)
    assert eligibility.demand_fingerprints(session, ids, round_id=rnd.id) == by_ids
    assert eligibility.demand_fingerprints(session, ids[1:2], round_id=rnd.id) == {ids[1]: by_ids[ids[1]]}
