"""A re-solve in the process that solved the round reuses its scored pools and stores exactly what a re-solve
that scores everything again stores."""

from __future__ import annotations

import sqlalchemy as sa

from matching import outcome
from tests.conftest import NOW
from tests.factories import make_solved_weld_round
from web.models import Proposal
from web.services import rounds

score_round = outcome.score_round  # the real one, before a test replaces it


def _stored(session, rnd):
    session.flush()
    session.expire_all()
    rows = session.execute(sa.select(Proposal.craftsman_id, Proposal.demand_id, Proposal.score, Proposal.assigned,
                                      Proposal.alternate_rank, Proposal.warnings, Proposal.breakdown, Proposal.locked,
                                      Proposal.excluded)
                           .where(Proposal.round_id == rnd.id)
                           .order_by(Proposal.demand_id, Proposal.craftsman_id)).all()
    return [tuple(row) for row in rows], rnd.objective, rnd.metrics["changes"]


def test_a_re_solve_reusing_the_scored_pools_stores_what_a_fresh_one_stores(session, monkeypatch):
    rnd = make_solved_weld_round(session, "复用评分")
    assigned = session.execute(sa.select(Proposal.craftsman_id, Proposal.demand_id)
                               .where(Proposal.round_id == rnd.id, Proposal.assigned)
                               .order_by(Proposal.demand_id, Proposal.craftsman_id)).all()
    alternate = session.execute(sa.select(Proposal.craftsman_id, Proposal.demand_id)
                                .where(Proposal.round_id == rnd.id, Proposal.alternate_rank == 1)
                                .order_by(Proposal.demand_id)).first()
    rounds.set_pair(session, rnd, *alternate, "lock", actor="test", now=NOW)
    excluded = next(pair for pair in assigned if pair[0] != alternate[0])
    rounds.set_pair(session, rnd, *excluded, "exclude", actor="test", now=NOW)
    rounds.set_capacity(session, rnd, assigned[-1][0], 3, actor="test", now=NOW)

    scorings = []
    monkeypatch.setattr(outcome, "score_round", lambda *a, **k: scorings.append(1) or score_round(*a, **k))
    savepoint = session.begin_nested()
    rounds.solve_round(session, rnd, actor="test", now=NOW)
    reused = _stored(session, rnd)
    assert scorings == []
    savepoint.rollback()

    rounds._scored_rounds.keep(rnd.id, None)  # as in another process: score everything again
    rounds.solve_round(session, rnd, actor="test", now=NOW)
    assert scorings == [1]
    assert _stored(session, rnd) == reused
    rows = {(c, d): (assigned_, locked, excluded_) for c, d, _, assigned_, _, _, _, locked, excluded_ in reused[0]}
    assert rows[tuple(alternate)] == (True, True, False) and rows[tuple(excluded)] == (False, False, True)



def test_engagement_members_are_indexed_by_proposal_so_a_re_solve_deletes_its_old_proposals_fast(session):
    """Every deleted proposal is checked against engagement_member.proposal_id: without an index PostgreSQL scans
    the members once per proposal (a re-solve deletes thousands)."""
    indexes = sa.inspect(session.connection()).get_indexes("engagement_member")
    assert ["proposal_id"] in [index["column_names"] for index in indexes]
