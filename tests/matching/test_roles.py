"""Teams by role (issue 11.2): each role of a team demand is filled by a distinct craftsman holding its
speciality; exact against brute force over (craftsman, demand, role) triples on seeded instances."""

import itertools
from collections import Counter
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matching import Problem, ProblemError, solve
from matching.problem import Role

from .conftest import random_problem

SEEDS = st.integers(0, 2**32 - 1)


def team_problem(seed, *, relevance=None, load_penalty=0.0, lock=False):
    rng = np.random.default_rng(seed)
    n_c, n_d = 5, 3
    capacity = rng.integers(1, 3, n_c)
    scores = rng.random((n_c, n_d)).round(3)
    allowed = rng.random((n_c, n_d)) < 0.8
    counts = [int(x) for x in rng.integers(1, 3, 3)]
    roles = [Role("d0", name, count, rng.random(n_c) < 0.5) for name, count in zip(["weld", "cnc", "elec"], counts, strict=True)]
    slots = [sum(counts), int(rng.integers(1, 3)), 1]
    options = dict(
        scores=scores, allowed=allowed, priority=rng.choice([0.5, 1.0, 2.0], n_d), roles=roles,
        load_penalty=load_penalty,
    )
    if relevance:
        options.update(relevance=rng.choice(np.array([0, 1, 2], np.int8), (n_c, n_d), p=[0.4, 0.2, 0.4]),
                       relevance_mode=relevance)
    if lock:
        c = int(np.flatnonzero(allowed[:, 1])[0]) if allowed[:, 1].any() else None
        if c is not None:
            options["locked"] = [(f"c{c}", "d1")]
    return Problem([f"c{i}" for i in range(n_c)], [f"d{j}" for j in range(n_d)], capacity, slots, **options)


def brute_force(problem):
    """Best (relevant weight, objective) over every feasible set of (craftsman, demand, role) triples."""
    c_index = {c: i for i, c in enumerate(problem.craftsmen)}
    d_index = {d: j for j, d in enumerate(problem.demands)}
    roles = {(r.demand, r.role): r for r in problem.roles}
    team_demands = {r.demand for r in problem.roles}
    triples = []
    for c, i in c_index.items():
        for d, j in d_index.items():
            if not problem.allowed[i, j]:
                continue
            if d in team_demands:
                triples += [(c, d, key[1]) for key, r in roles.items() if key[0] == d and r.eligible[i]]
            else:
                triples.append((c, d, None))
    count = {key: r.count for key, r in roles.items()}
    capacity = dict(zip(problem.craftsmen, problem.capacity, strict=True))
    slots = dict(zip(problem.demands, problem.slots, strict=True))
    locked = set(problem.locked)
    best = (-np.inf, -np.inf)
    for size in range(0, min(len(triples), int(sum(problem.slots))) + 1):
        for subset in itertools.combinations(triples, size):
            pairs = [(c, d) for c, d, _ in subset]
            if len(set(pairs)) < len(pairs) or not locked <= set(pairs):
                continue
            loads = Counter(c for c, _ in pairs)
            if any(n > capacity[c] for c, n in loads.items()):
                continue
            if any(n > slots[d] for d, n in Counter(d for _, d in pairs).items()):
                continue
            if any(n > count[(d, r)] for (d, r), n in Counter((d, r) for _, d, r in subset if r).items()):
                continue
            tiers_ok = [problem.relevance[c_index[c], d_index[d]] >= 1 if problem.relevance is not None else True
                        for c, d in pairs]
            if problem.relevance_mode == "only" and problem.relevance is not None and not all(
                ok or (c, d) in locked for ok, (c, d) in zip(tiers_ok, pairs, strict=True)
            ):
                continue
            priority = [problem.priority[d_index[d]] for _, d in pairs]
            objective = sum(p * problem.scores[c_index[c], d_index[d]] for p, (c, d) in zip(priority, pairs, strict=True))
            objective -= problem.load_penalty * sum(n * (n - 1) / 2 for n in loads.values())
            relevant = 0.0
            if problem.relevance is not None and problem.relevance_mode != "off":
                relevant = round(sum(p for p, ok in zip(priority, tiers_ok, strict=True) if ok), 9)
            best = max(best, (relevant, objective))
    return best


def check_roles(problem, result):
    assert result.status == "optimal", result.message
    roles = {(r.demand, r.role): r for r in problem.roles}
    c_index = {c: i for i, c in enumerate(problem.craftsmen)}
    filled = Counter()
    for a in result.assignments:
        if a.demand == "d0":
            assert a.role is not None and roles[(a.demand, a.role)].eligible[c_index[a.craftsman]]
            filled[a.role] += 1
        else:
            assert a.role is None
    for (_, name), role in roles.items():
        assert filled[name] <= role.count
        missing = role.count - filled[name]
        reported = [u for u in result.unfilled_roles if u["role"] == name]
        assert (missing > 0) == bool(reported)
        if reported:
            assert reported[0]["missing"] == missing and reported[0]["reason"]


@settings(derandomize=True, max_examples=40, deadline=None)
@given(
    seed=SEEDS,
    relevance=st.sampled_from([None, "first", "only", "off"]),
    load_penalty=st.sampled_from([0.0, 0.3]),
    lock=st.booleans(),
)
def test_teams_by_role_match_brute_force(seed, relevance, load_penalty, lock):
    problem = team_problem(seed, relevance=relevance, load_penalty=load_penalty, lock=lock)
    result = solve(problem)
    check_roles(problem, result)
    relevant_best, objective_best = brute_force(problem)
    assert result.objective == pytest.approx(objective_best, abs=1e-9)
    if problem.relevance is not None and relevance != "off":
        priority = dict(zip(problem.demands, problem.priority, strict=True))
        weight = sum(priority[a.demand] for a in result.assignments if a.relevant)
        assert weight == pytest.approx(relevant_best, abs=1e-9)


def test_the_three_role_team_is_filled_role_by_role():
    # 焊接, 数控加工, 电气控制: the fitter (c2) holds none of them; the electrician (c3) must be taken
    eligible = {
        "焊接": np.array([True, False, False, False]),
        "数控加工": np.array([False, True, False, False]),
        "电气控制": np.array([False, False, False, True]),
    }
    roles = [Role("team", name, 1, mask) for name, mask in eligible.items()]
    scores = np.array([[0.9], [0.8], [0.95], [0.3]])
    result = solve(Problem(["c0", "c1", "c2", "c3"], ["team"], [1, 1, 1, 1], [3], scores=scores, roles=roles))
    assert {(a.craftsman, a.role) for a in result.assignments} == {("c0", "焊接"), ("c1", "数控加工"), ("c3", "电气控制")}
    assert result.unfilled_roles == []
    # without an electrician the role stays open, with a reason
    scores[3, 0] = 0.0
    result = solve(Problem(["c0", "c1", "c2", "c3"], ["team"], [1, 1, 1, 1], [3], scores=scores, roles=roles,
                           allowed=np.array([[True], [True], [True], [False]])))
    assert result.unfilled_roles == [{"demand": "team", "role": "电气控制", "missing": 1, "reason": "no eligible craftsman"}]


def test_roles_must_add_up_to_the_slots():
    with pytest.raises(ProblemError, match="roles"):
        Problem(["c"], ["d"], [1], [2], scores=[[0.5]], roles=[Role("d", "weld", 1, np.array([True]))])


def _two_skill_team():
    """One team demand wanting a welder (column 0) and a CNC machinist (column 1); c0 holds both (a better
    welder than c2), c1 only CNC, c2 only welding."""
    import scipy.sparse as sp

    from matching.features import CraftsmanFeatures, DemandFeatures

    craftsmen = CraftsmanFeatures.build(["c0", "c1", "c2"], n_skills=2, n_industries=1,
                                        skills=sp.csr_matrix(np.array([[5.0, 4.0], [0.0, 5.0], [2.0, 0.0]])),
                                        capacity=np.array([1, 1, 1]))
    demands = DemandFeatures.build(["team"], n_skills=2, n_industries=1,
                                   required_skills=sp.csr_matrix(np.array([[3.0, 3.0]])), slots=np.array([2]))
    return craftsmen, demands, [("team", 0, 1), ("team", 1, 1)]


def test_a_craftsman_locked_onto_a_role_fills_that_role_only():
    from matching.config import RoundConfig
    from matching.pipeline import build_problem

    craftsmen, demands, roles = _two_skill_team()
    config = RoundConfig(min_score=0.0)
    free = solve(build_problem(craftsmen, demands, config, roles=roles, locks=[("c0", "team")]))
    assert {(a.craftsman, a.role) for a in free.assignments} == {("c0", 0), ("c1", 1)}  # his best use: welding
    pinned = solve(build_problem(craftsmen, demands, config, roles=roles, locks=[("c0", "team")],
                                 role_locks=[("c0", "team", 1)]))
    assert {(a.craftsman, a.role) for a in pinned.assignments} == {("c0", 1), ("c2", 0)}


def test_a_role_lock_the_craftsman_cannot_fill_is_refused():
    from matching.features import FeatureError
    from matching.pipeline import build_problem

    craftsmen, demands, roles = _two_skill_team()
    with pytest.raises(FeatureError, match="lacks the speciality"):
        build_problem(craftsmen, demands, roles=roles, locks=[("c1", "team")], role_locks=[("c1", "team", 0)])
    with pytest.raises(FeatureError, match="no role"):
        build_problem(craftsmen, demands, roles=roles, role_locks=[("c0", "team", 7)])


def larger_team_problem(seed, *, sparse, relevance, load_penalty, floor):
    """40 craftsmen × 14 demands, four of them teams of two or three roles: large enough that the team LP's
    column generation starts from a fraction of the columns and prices the rest in."""
    problem = random_problem(seed, 40, 14, locks=2, forbidden=6, min_score=0.05, sparse=sparse, density=0.9,
                             relevance=relevance, load_penalty=load_penalty)
    rng = np.random.default_rng(seed + 7)
    locked_demands = {d for _, d in problem.locked}
    teams = [d for d in problem.demands if d not in locked_demands][:4]
    roles, slots = [], problem.slots.copy()
    for demand in teams:
        counts = rng.integers(1, 3, int(rng.integers(2, 4)))
        roles += [Role(demand, f"r{r}", int(count), rng.random(40) < 0.5) for r, count in enumerate(counts)]
        slots[problem.demands.index(demand)] = counts.sum()
    return replace(problem, slots=slots, roles=roles, floor=floor)


@settings(derandomize=True, max_examples=30, deadline=None)
@given(seed=SEEDS, sparse=st.booleans(), relevance=st.sampled_from([None, "first", "only"]),
       load_penalty=st.sampled_from([0.0, 0.05]), floor=st.booleans(), one_by_one=st.booleans())
def test_team_column_generation_reaches_the_whole_lps_optimum(seed, sparse, relevance, load_penalty, floor,
                                                               one_by_one):
    """The team LP prices every column in: the same optimum (and the same relevant weight first) as the LP that
    holds every column from the start; also when each pricing round adds only its most violated column."""
    import importlib

    solver = importlib.import_module("matching.solve")  # the module: the package's ``solve`` is the function

    problem = larger_team_problem(seed, sparse=sparse, relevance=relevance, load_penalty=load_penalty, floor=floor)
    with pytest.MonkeyPatch.context() as patch:
        if one_by_one:
            patch.setattr(solver, "MIN_PRICING_BATCH", 1)
            patch.setattr(solver, "PRICING_BATCH_PER_ROW", 0)
        generated = solve(problem)
    started = []
    original = solver._Teams._first_columns

    def every_column(self, keys, col_upper, n_x):
        started.append(original(self, keys, col_upper, n_x).mean())
        return np.ones(col_upper.size, dtype=bool)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(solver._Teams, "_first_columns", every_column)
        whole = solve(problem)
    assert generated.status == whole.status
    if whole.status != "optimal":
        return
    roles = {(r.demand, r.role): r for r in problem.roles}
    c_index = {c: i for i, c in enumerate(problem.craftsmen)}
    teams = {r.demand for r in problem.roles}
    for a in generated.assignments:  # each team member in a role he holds, no role over its count
        assert (a.role is not None) == (a.demand in teams)
        assert a.role is None or roles[a.demand, a.role].eligible[c_index[a.craftsman]]
    for key, n in Counter((a.demand, a.role) for a in generated.assignments if a.role is not None).items():
        assert n <= roles[key].count
    assert generated.objective == pytest.approx(whole.objective, abs=1e-9)
    assert generated.metrics.get("relevant_weight") == pytest.approx(whole.metrics.get("relevant_weight"), abs=1e-9)
    assert started[-1] < 1  # the generation had columns to add


def relevance_team_round():
    """600 craftsmen × 200 demands under relevance first, 40 of them teams of three roles: large enough that the
    team LP's first columns decide how many HiGHS runs pricing takes."""
    problem = random_problem(2, 600, 200, density=0.9, relevance="first", load_penalty=0.05, max_capacity=2)
    rng = np.random.default_rng(3)
    roles, slots = [], problem.slots.copy()
    for j in range(40):
        counts = rng.integers(1, 3, 3)
        roles += [Role(problem.demands[j], f"r{r}", int(count), rng.random(600) < 0.6) for r, count in enumerate(counts)]
        slots[j] = counts.sum()
    return replace(problem, slots=slots, roles=roles)


def solved_counting_runs(problem, **settings):
    """The result and the number of HiGHS runs of solving `problem` with `matching.solve`'s ``settings``."""
    import importlib

    import highspy

    solver = importlib.import_module("matching.solve")  # the module: the package's ``solve`` is the function
    runs = []
    original = highspy.Highs.run

    def counted(highs):
        runs.append(1)
        return original(highs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(highspy.Highs, "run", counted)
        for name, value in settings.items():
            patch.setattr(solver, name, value)
        return solve(problem), len(runs)


def test_the_first_columns_spread_the_relevance_phases_ties_over_the_craftsmen():
    """Under relevance first every relevant column of a demand costs the same in the first phase.  The roles'
    first columns take those ties in a rotation of the craftsmen that starts elsewhere for every role; started all
    at the same place (the first craftsmen by index, as before), the roles' first columns name the same few
    craftsmen, and pricing needs many more HiGHS runs to spread them (13 against 30).  The optimum is the same."""
    problem = relevance_team_round()
    spread, spread_runs = solved_counting_runs(problem)
    bunched, bunched_runs = solved_counting_runs(problem, _GOLDEN_RATIO=0.0)
    assert spread.status == bunched.status == "optimal"
    assert spread.objective == pytest.approx(bunched.objective, abs=1e-9)
    assert spread.metrics["relevant_weight"] == bunched.metrics["relevant_weight"]
    assert spread_runs * 2 <= bunched_runs


def test_a_team_re_solve_starts_from_the_previous_pairs():
    """A re-solve names the last proposals (``previous``): their columns are among the team LP's first, as they are
    the flow LP's seeds, which saves pricing runs (8 against 13 here, one proposed pair forbidden), the optimum
    the same.  They come from the problem, not from an earlier solve's state: the same problem, the same answer."""
    problem = relevance_team_round()
    first = solve(problem)
    dropped = next(a for a in first.assignments if a.role is None)
    again = replace(problem, previous=[(a.craftsman, a.demand) for a in first.assignments],
                    forbidden=[*problem.forbidden, (dropped.craftsman, dropped.demand)])
    seeded, seeded_runs = solved_counting_runs(again)
    cold, cold_runs = solved_counting_runs(again, SEED_WITH_PREVIOUS=False)
    assert seeded.status == cold.status == "optimal"
    assert seeded.objective == pytest.approx(cold.objective, abs=1e-9)
    assert seeded_runs + 3 <= cold_runs


def test_a_craftsman_locked_onto_a_team_without_any_of_its_specialities_is_infeasible():
    """He can take no role, so the lock cannot hold: the solve says so rather than seating him outside the roles."""
    problem = Problem(["welder", "clerk"], ["team"], [1, 1], [1], scores=np.array([[0.9], [0.8]]),
                      roles=[Role("team", "weld", 1, np.array([True, False]))], locked=[("clerk", "team")])
    result = solve(problem)
    assert result.status == "infeasible" and "role" in result.message
    assert solve(replace(problem, locked=[("welder", "team")])).status == "optimal"


def test_a_team_round_where_nothing_can_be_chosen_is_solved_empty():
    """Relevance "only" and nobody relevant: no column can be chosen (a sticky previous pair is one, held at 0), and
    the round is optimal and empty, not infeasible; a lock onto the team is what makes it infeasible."""
    n_c = 4
    roles = [Role("d0", "a", 1, np.ones(n_c, bool)), Role("d0", "b", 1, np.ones(n_c, bool))]
    problem = Problem([f"c{i}" for i in range(n_c)], ["d0", "d1"], np.ones(n_c, int), [2, 1],
                      scores=np.full((n_c, 2), 0.5), roles=roles, relevance=np.zeros((n_c, 2), np.int8),
                      relevance_mode="only", previous=[("c0", "d0")], stickiness=0.1)
    result = solve(problem)
    assert (result.status, result.objective, result.assignments) == ("optimal", 0.0, [])
    c1_holds_neither = [Role("d0", "a", 1, np.array([True, False, True, True])), Role("d0", "b", 1, np.zeros(n_c, bool))]
    assert solve(replace(problem, roles=c1_holds_neither, locked=[("c1", "d0")], previous=None,
                         stickiness=0.0)).status == "infeasible"
