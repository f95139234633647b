"""A team demand's alternates are its roles': per role, the `alternates_k` best craftsmen holding the role's
speciality who are still open to the demand, against an independent reference; nobody under two roles of one
demand, nobody already on the team."""

from dataclasses import replace

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from matching import solve
from matching.problem import Role

from .conftest import random_problem, score_table

TEAM_DEMANDS = ("d0", "d1")


def team_round(seed, *, sparse, ties, k, mode, sticky=False):
    """Two team demands (two and three roles) among four; ``sticky``: a re-solve, stickiness on a previous set."""
    problem = random_problem(seed, 12, 4, forbidden=3, min_score=0.1, sparse=sparse, ties=ties, density=0.8,
                             relevance=None if mode == "off" else mode)
    rng = np.random.default_rng(seed + 1)
    roles, slots = [], problem.slots.copy()
    for j, demand in enumerate(TEAM_DEMANDS):
        counts = rng.integers(1, 3, 2 + j)
        roles += [Role(demand, f"role{r}", int(count), rng.random(12) < 0.6) for r, count in enumerate(counts)]
        slots[j] = counts.sum()
    problem = replace(problem, slots=slots, roles=roles, alternates_k=k)
    if sticky:
        previous = [(c, d) for c in problem.craftsmen for d in problem.demands if rng.random() < 0.3]
        problem = replace(problem, previous=previous, stickiness=0.05)
    return problem


def reference_role_alternates(problem, result) -> dict:
    table, forbidden, chosen = score_table(problem), set(problem.forbidden), result.pairs
    relevant = None
    if problem.relevance is not None and problem.relevance_mode == "only":
        tiers = problem.relevance if problem.is_sparse else problem.relevance[problem.allowed]
        pairs = (zip(problem.pair_craftsman, problem.pair_demand, strict=True) if problem.is_sparse
                 else map(tuple, np.argwhere(problem.allowed)))
        relevant = {(problem.craftsmen[c], problem.demands[d]) for (c, d), tier in zip(pairs, tiers, strict=True)
                    if tier >= 1}
    expected, listed = {}, {}
    for role in problem.roles:
        taken = listed.setdefault(role.demand, set())
        open_to = [(c, table[c, role.demand]) for i, c in enumerate(problem.craftsmen)
                   if role.eligible[i] and (c, role.demand) in table and (c, role.demand) not in chosen
                   and (c, role.demand) not in forbidden and c not in taken
                   and table[c, role.demand] > 0 and table[c, role.demand] >= problem.min_score
                   and (relevant is None or (c, role.demand) in relevant)]
        open_to.sort(key=lambda item: -item[1])  # stable: ties stay in input order
        best = open_to[: problem.alternates_k]
        taken.update(c for c, _ in best)
        expected.setdefault(role.demand, {})[role.role] = best
    return expected


@settings(derandomize=True, max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), sparse=st.booleans(), ties=st.booleans(), k=st.sampled_from([1, 2, 4]),
       mode=st.sampled_from(["off", "first", "only"]), sticky=st.booleans())
def test_each_role_lists_its_best_open_holders(seed, sparse, ties, k, mode, sticky):
    """Also on a re-solve: stickiness lifts previous pairs, never into an alternate who is not open (an irrelevant
    one under relevance "only")."""
    problem = team_round(seed, sparse=sparse, ties=ties, k=k, mode=mode, sticky=sticky)
    result = solve(problem)
    assert result.status == "optimal", result.message
    assert result.role_alternates == reference_role_alternates(problem, result)
    assert set(result.role_alternates) == set(TEAM_DEMANDS)


def test_no_role_alternates_without_teams_or_without_alternates():
    plain = random_problem(3, 8, 3, density=0.9)
    assert solve(plain).role_alternates == {}
    assert solve(team_round(3, sparse=False, ties=False, k=0, mode="off")).role_alternates == {}


def test_result_json_lists_role_alternates():
    problem = team_round(11, sparse=False, ties=False, k=2, mode="off")
    result = solve(problem)
    listed = result.to_dict()["role_alternates"]
    assert [(entry["demand"], entry["role"]) for entry in listed] == [(r.demand, r.role) for r in problem.roles]
    for entry in listed:
        assert [(c["craftsman"], c["score"]) for c in entry["craftsmen"]] == \
            result.role_alternates[entry["demand"]][entry["role"]]


def test_review_rows_rank_a_teams_alternates_role_by_role():
    """`describe`: a team's alternates come from its roles, ranked within each, stand by for their role, and the
    best of each role says whom of that role he would replace."""
    import scipy.sparse as sp

    from matching.features import synthetic_features
    from matching.outcome import RoundInputs, run_round

    craftsmen, demands, history = synthetic_features(np.random.default_rng(5), 80, 12)
    held = np.asarray((sp.csr_matrix(craftsmen.skills) > 0).sum(axis=0)).ravel()
    first, second = np.argsort(-held, kind="stable")[:2].tolist()  # the two most held skills: rich role lists
    team = demands.ids[0]
    demands = replace(demands, slots=np.r_[3, demands.slots[1:]])  # as the application gives a team its roles' sum
    outcome = run_round(RoundInputs(craftsmen, demands, history=history, roles=((team, first, 2), (team, second, 1))))
    result = outcome.result
    assert result.status == "optimal"
    assert set(result.role_alternates) == {team}
    rows = [p for p in outcome.proposals if p.demand == team and not p.assigned]
    by_role = {role: [(p.craftsman, p.score) for p in rows if p.role == role] for role in (first, second)}
    assert by_role == result.role_alternates[team]
    assert all(any(pairs) for pairs in by_role.values())
    members = {p.craftsman: p for p in outcome.proposals if p.demand == team and p.assigned}
    for p in rows:
        assert p.facts["for_role"] == p.role and "role" not in p.facts
        assert p.alternate_rank == [c for c, _ in by_role[p.role]].index(p.craftsman) + 1
        if p.alternate_rank == 1:
            same_role = [m for m in members.values() if m.role == p.role]
            assert p.facts["lost_to"] == min(same_role, key=lambda m: m.score).craftsman
    assert all(m.facts["role"] == m.role for m in members.values())
    # the other demands keep their alternates per demand
    other = [p for p in outcome.proposals if p.demand != team and not p.assigned]
    assert other and all(p.role is None and "for_role" not in p.facts for p in other)
