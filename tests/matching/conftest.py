"""Shared helpers of the solver tests: random instances, an independent feasibility
checker, an independent objective and an independent MILP of the same model."""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp

from matching import Problem


def random_problem(
    seed: int,
    n_craftsmen: int,
    n_demands: int,
    *,
    max_capacity: int = 3,
    max_slots: int = 3,
    density: float = 0.6,
    locks: int = 0,
    forbidden: int = 0,
    min_score: float = 0.0,
    load_penalty: float = 0.0,
    sparse: bool = False,
    ties: bool = False,
    relevance: str | None = None,
    priority_scale: float = 1.0,
) -> Problem:
    """A random dense (or sparse) instance; locks are drawn so they stay feasible."""
    rng = np.random.default_rng(seed)
    capacity = rng.integers(0 if n_craftsmen > 2 else 1, max_capacity + 1, n_craftsmen)
    slots = rng.integers(1, max_slots + 1, n_demands)
    scores = (
        rng.integers(0, 5, (n_craftsmen, n_demands)) / 4 if ties else rng.random((n_craftsmen, n_demands))
    )
    allowed = rng.random((n_craftsmen, n_demands)) < density
    priority = rng.choice([0.5, 1.0, 2.0], n_demands) * priority_scale
    craftsmen = [f"c{i}" for i in range(n_craftsmen)]
    demands = [f"d{j}" for j in range(n_demands)]
    cells = [(int(c), int(d)) for c, d in np.argwhere(allowed)]
    rng.shuffle(cells)
    load, team, lock_pairs = Counter(), Counter(), []
    for c, d in cells:
        if len(lock_pairs) == locks:
            break
        if load[c] < capacity[c] and team[d] < slots[d]:
            load[c] += 1
            team[d] += 1
            lock_pairs.append((c, d))
    rest = [cell for cell in cells if cell not in lock_pairs]
    forbid_pairs = rest[:forbidden]
    options = dict(
        priority=priority,
        locked=[(craftsmen[c], demands[d]) for c, d in lock_pairs],
        forbidden=[(craftsmen[c], demands[d]) for c, d in forbid_pairs],
        min_score=min_score,
        load_penalty=load_penalty,
    )
    if relevance is not None:  # drawn last: the instances without tiers stay as they were
        tiers = rng.choice(np.array([0, 1, 2], dtype=np.int8), (n_craftsmen, n_demands), p=[0.5, 0.2, 0.3])
        options.update(relevance=tiers, relevance_mode=relevance)
    if sparse:
        c, d = np.nonzero(allowed)
        return Problem(
            craftsmen,
            demands,
            capacity,
            slots,
            pair_craftsman=c,
            pair_demand=d,
            pair_score=scores[c, d],
            **{**options, **({"relevance": options["relevance"][c, d]} if relevance else {})},
        )
    return Problem(craftsmen, demands, capacity, slots, scores=scores, allowed=allowed, **options)


def to_sparse(problem: Problem) -> Problem:
    """The same dense problem given as pair arrays of its allowed pairs."""
    return problem.to_pairs()


def _pair_table(problem: Problem, values: np.ndarray, cast) -> dict[tuple, object]:
    """{(craftsman id, demand id): value} of every allowed pair, from pair arrays or a (C, D) matrix."""
    if problem.is_sparse:
        triples = zip(problem.pair_craftsman, problem.pair_demand, values, strict=True)
        return {(problem.craftsmen[c], problem.demands[d]): cast(v) for c, d, v in triples}
    return {(problem.craftsmen[c], problem.demands[d]): cast(values[c, d]) for c, d in np.argwhere(problem.allowed)}


def score_table(problem: Problem) -> dict[tuple, float]:
    """{(craftsman id, demand id): score} of every allowed pair."""
    return _pair_table(problem, problem.pair_score if problem.is_sparse else problem.scores, float)


def objective_of(problem: Problem, pairs, *, sticky: bool = False) -> float:
    table = score_table(problem)
    priority = dict(zip(problem.demands, problem.priority, strict=True))
    total = sum(priority[d] * table[(c, d)] for c, d in pairs)
    loads = Counter(c for c, _ in pairs)
    total -= problem.load_penalty * sum(n * (n - 1) / 2 for n in loads.values())
    if sticky and problem.previous:
        total += problem.stickiness * len(set(pairs) & set(problem.previous))
    return total


def check_feasible(problem: Problem, result) -> None:
    """Independent check of every hard constraint of an "optimal" result."""
    assert result.status == "optimal", result.message
    pairs = [(a.craftsman, a.demand) for a in result.assignments]
    assert len(pairs) == len(set(pairs)), "a craftsman appears twice in one team"
    table = score_table(problem)
    forbidden, locked = set(problem.forbidden), set(problem.locked)
    for a in result.assignments:
        pair = (a.craftsman, a.demand)
        assert pair in table, f"{pair} is not allowed"
        assert pair not in forbidden
        assert a.locked == (pair in locked)
        assert pair in locked or table[pair] >= problem.min_score
        assert a.score == table[pair]
    assert locked <= set(pairs)
    capacity = dict(zip(problem.craftsmen, problem.capacity, strict=True))
    slots = dict(zip(problem.demands, problem.slots, strict=True))
    for c, n in Counter(c for c, _ in pairs).items():
        assert n <= capacity[c]
        assert result.loads[c] == n
    for d, n in Counter(d for _, d in pairs).items():
        assert n <= slots[d]
    assert np.isclose(result.objective, objective_of(problem, pairs), atol=1e-9)


def usable_pairs(problem: Problem) -> list[tuple]:
    forbidden, locked = set(problem.forbidden), set(problem.locked)
    return [
        pair
        for pair, s in score_table(problem).items()
        if pair in locked or (pair not in forbidden and s >= problem.min_score)
    ]


def brute_force(problem: Problem, key=None, pairs=None):
    """Best sticky objective by enumerating every subset of usable pairs (``key(subset)`` instead
    of the objective, over ``pairs`` instead of every usable pair, when given)."""
    pairs = usable_pairs(problem) if pairs is None else pairs
    locked = set(problem.locked)
    key = key or (lambda subset: objective_of(problem, subset, sticky=True))
    capacity = dict(zip(problem.craftsmen, problem.capacity, strict=True))
    slots = dict(zip(problem.demands, problem.slots, strict=True))
    best = None
    for size in range(len(pairs) + 1):
        for subset in itertools.combinations(pairs, size):
            if not locked <= set(subset):
                continue
            loads, teams = Counter(c for c, _ in subset), Counter(d for _, d in subset)
            if any(n > capacity[c] for c, n in loads.items()) or any(n > slots[d] for d, n in teams.items()):
                continue
            best = key(subset) if best is None else max(best, key(subset))
    return best


def milp_optimum(
    problem: Problem, *, relevance_floor: float | None = None, at_least_one: list[set] = (), feasible_only=False
) -> float | None:
    """Best sticky objective from scipy's MILP: x per usable pair, binary copy variables
    y_ck (k-th demand of craftsman c, costing λ(k−1)) with Σ_d x_cd = Σ_k y_ck.

    ``relevance_floor``: also require Σ priority over relevant pairs ≥ it (the lexicographic
    second phase); relevance "only" drops irrelevant pairs that are not locked.  ``at_least_one``:
    sets of pairs of which every assignment must hold one (the demand floor); with
    ``feasible_only`` None is returned when no assignment can."""
    pairs, locked = usable_pairs(problem), set(problem.locked)
    tiers = tier_table(problem)
    if tiers is not None and problem.relevance_mode == "only":
        pairs = [p for p in pairs if p in locked or tiers[p] >= 1]
    table = score_table(problem)
    priority, c_row, d_row = _rows(problem)
    previous = set(problem.previous or ())
    copies = [(c, k) for c, cap in zip(problem.craftsmen, problem.capacity, strict=True) for k in range(cap)]
    n_x, n = len(pairs), len(pairs) + len(copies)
    gain = np.zeros(n)
    matrix = np.zeros((len(c_row) + len(d_row) + 1 + len(at_least_one), n))
    for row, required in enumerate(at_least_one, start=len(c_row) + len(d_row) + 1):
        matrix[row, : len(pairs)] = [pair in required for pair in pairs]
    for i, (c, d) in enumerate(pairs):
        gain[i] = priority[d] * table[(c, d)] + problem.stickiness * ((c, d) in previous)
        matrix[c_row[c], i] = 1
        matrix[d_row[d], i] = 1
        if tiers is not None and tiers[(c, d)] >= 1:
            matrix[len(c_row) + len(d_row), i] = priority[d]
    for i, (c, k) in enumerate(copies, start=n_x):
        gain[i] = -problem.load_penalty * k
        matrix[c_row[c], i] = -1
    floor = -np.inf if relevance_floor is None else relevance_floor - 1e-9
    lower = np.r_[np.zeros(len(c_row)), np.full(len(d_row), -np.inf), floor, np.ones(len(at_least_one))]
    upper = np.r_[np.zeros(len(c_row)), problem.slots, np.inf, np.full(len(at_least_one), np.inf)]
    low_bound = np.array([1.0 if i < n_x and pairs[i] in locked else 0.0 for i in range(n)])
    if n == 0:
        return None if at_least_one and feasible_only else 0.0
    solution = milp(
        -gain,
        constraints=LinearConstraint(matrix, lower, upper),
        integrality=np.ones(n),
        bounds=Bounds(low_bound, np.ones(n)),
    )
    if feasible_only and solution.status == 2:
        return None
    assert solution.status == 0, solution.message
    return -solution.fun


def _rows(problem: Problem) -> tuple[dict, dict, dict]:
    """Priority per demand, and the MILP row of every craftsman and demand."""
    c_row = {c: i for i, c in enumerate(problem.craftsmen)}
    d_row = {d: len(c_row) + j for j, d in enumerate(problem.demands)}
    return dict(zip(problem.demands, problem.priority, strict=True)), c_row, d_row


def tier_table(problem: Problem) -> dict[tuple, int] | None:
    """{(craftsman id, demand id): relevance tier} of every allowed pair, None without tiers."""
    if problem.relevance is None:
        return None
    return _pair_table(problem, problem.relevance, int)


def relevant_weight(problem: Problem, pairs) -> float:
    """Σ priority over the pairs whose craftsman is relevant (tier ≥ 1)."""
    tiers = tier_table(problem)
    priority = dict(zip(problem.demands, problem.priority, strict=True))
    return sum(priority[d] for c, d in pairs if tiers[(c, d)] >= 1)


def relevance_optimum(problem: Problem, at_least_one: list[set] = ()) -> tuple[float, float]:
    """The lexicographic reference by two MILPs: the most priority-weighted relevant slots, then the
    best sticky objective among the assignments reaching it (under ``at_least_one``, see milp_optimum)."""
    tiers = tier_table(problem)
    best_relevant = _milp_relevant(problem, tiers, at_least_one)
    return best_relevant, milp_optimum(problem, relevance_floor=best_relevant, at_least_one=at_least_one)


def _milp_relevant(problem: Problem, tiers, at_least_one: list[set] = ()) -> float:
    pairs, locked = usable_pairs(problem), set(problem.locked)
    if problem.relevance_mode == "only":
        pairs = [p for p in pairs if p in locked or tiers[p] >= 1]
    priority, c_row, d_row = _rows(problem)
    if not pairs:
        return 0.0
    gain = np.array([priority[d] * (tiers[(c, d)] >= 1) for c, d in pairs])
    matrix = np.zeros((len(c_row) + len(d_row) + len(at_least_one), len(pairs)))
    for i, (c, d) in enumerate(pairs):
        matrix[c_row[c], i] = matrix[d_row[d], i] = 1
    for row, required in enumerate(at_least_one, start=len(c_row) + len(d_row)):
        matrix[row] = [pair in required for pair in pairs]
    upper = np.r_[problem.capacity, problem.slots, np.full(len(at_least_one), np.inf)]
    lower = np.r_[np.full(len(c_row) + len(d_row), -np.inf), np.ones(len(at_least_one))]
    low_bound = np.array([1.0 if p in locked else 0.0 for p in pairs])
    solution = milp(
        -gain,
        constraints=LinearConstraint(matrix, lower, upper),
        integrality=np.ones(len(pairs)),
        bounds=Bounds(low_bound, np.ones(len(pairs))),
    )
    assert solution.status == 0, solution.message
    return -solution.fun
