"""One entry for a round: its inputs snapshot in, the proposals with their explanations and warnings out.

`run_round` prepares the round once, builds the Problem, solves it exactly, and describes every
assigned pair and every alternate by the library's own rules (`matching.explain`): the application
only loads the inputs, calls it, stores the proposals and audits.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterator, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np

# A round's relevance-first solve runs max-flows, and a sparse round a min-cost flow (`matching.solve` imports them
# lazily, so that `python -m matching` starts light): loaded with the round's entry, scipy.sparse.csgraph (with the
# scipy.linalg it pulls in) and OR-Tools' min-cost flow weigh on a worker's start instead of its first round.
import matching.min_cost_flow  # noqa: F401
import matching.relevant_fill  # noqa: F401
from matching.aside import WhileWaiting, working_aside
from matching.config import RoundConfig
from matching.explain import OVERLOADED, PairFacts, losing_reasons, pair_facts, warning_flags
from matching.features import CraftsmanFeatures, DemandFeatures, History, TrackRecord
from matching.kernels import component_values, relevance_tiers, weighted
from matching.pipeline import ScoredRound, build_problem, score_round
from matching.prepared import PreparedRound, scoring_key, with_exclusions
from matching.problem import Problem
from matching.result import OPTIMAL, Result
from matching.solve import TOP_K_BY_ARGMAX, solve, top_k_by_argmax

Pair = tuple[str, str]


@dataclass(frozen=True)
class RoundInputs:
    """Everything a round is computed from (what the application stores as the round's snapshot).

    Parameters
    ----------
    craftsmen, demands : CraftsmanFeatures, DemandFeatures
    config : RoundConfig
    history : History, optional
        Past engagements with the demands' enterprises (continuity).
    track_record : TrackRecord, optional
        Past services with ratings and accepted outcomes (the ``track_record`` component).
    skill_parent : (S,) int array, optional
        Skill families (see `matching.prepared.prepare`).
    locks, exclusions : tuple of (craftsman id, demand id)
    previous : tuple of (craftsman id, demand id), optional
        The last solution (a re-solve keeps close to it).
    roles : tuple of (demand id, skill column, count)
    role_locks : tuple of (craftsman id, demand id, skill column)
        Locks onto one role of a team demand (the pair is in ``locks`` too).
    committed : mapping of craftsman id to int
        Engagements each craftsman already serves outside this round (the "overloaded" warning).
    """

    craftsmen: CraftsmanFeatures
    demands: DemandFeatures
    config: RoundConfig = field(default_factory=RoundConfig)
    history: History | None = None
    track_record: TrackRecord | None = None
    skill_parent: np.ndarray | None = None
    locks: tuple[Pair, ...] = ()
    exclusions: tuple[Pair, ...] = ()
    previous: tuple[Pair, ...] | None = None
    roles: tuple[tuple[str, int, int], ...] = ()
    role_locks: tuple[tuple[str, str, int], ...] = ()
    committed: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ProposedPair:
    """One row of a round's review: an assigned craftsman or an alternate.

    Attributes
    ----------
    craftsman, demand : str
    score : float
    assigned : bool
    alternate_rank : int or None
        1 for the best alternate of the demand (of its role, for a team demand), …; None for an assigned pair.
    breakdown : dict
        Weighted components (they sum to ``score``), ``relevance_tier`` (assigned pairs) and
        ``distance_km`` (when both places are known).
    flags : tuple of str
        Warnings: ``far``, ``cross_province``, ``low_score``, ``overloaded``, ``no_required_skill``.
    facts : dict
        `matching.explain.pair_facts`, with the team ``role`` he fills (an alternate's: ``for_role``); the
        best alternate (of each role) also has ``lost`` (his losing reasons,
        `matching.explain.losing_reasons`) and ``lost_to`` (the craftsman he would replace: the weakest one
        proposed for the demand, or for the role).
    role : Hashable or None
        The team role an assigned craftsman fills, or an alternate stands by for.
    """

    craftsman: str
    demand: str
    score: float
    assigned: bool
    alternate_rank: int | None
    breakdown: dict
    flags: tuple[str, ...]
    facts: dict
    role: Hashable | None = None

    def to_dict(self) -> dict:
        return {
            "craftsman": self.craftsman,
            "demand": self.demand,
            "score": self.score,
            "assigned": self.assigned,
            "alternate_rank": self.alternate_rank,
            "breakdown": dict(self.breakdown),
            "flags": list(self.flags),
            "facts": self.facts,
            "role": self.role,
        }


@dataclass
class RoundOutcome:
    """What `run_round` returns: the solver's result, the Problem it solved, and the review's rows.

    ``proposals`` is empty unless ``result.status`` is ``"optimal"``.
    """

    result: Result
    problem: Problem
    proposals: list[ProposedPair]
    timings: dict[str, float] = field(default_factory=dict)  # seconds: "score", "solve", "explain"
    scored: ScoredRound | None = None  # what a re-solve of the same pools may pass back (`run_round`'s reuse)

    def to_dict(self) -> dict:
        return {"result": self.result.to_dict(), "proposals": [p.to_dict() for p in self.proposals]}


def run_round(inputs: RoundInputs, reuse: ScoredRound | None = None, *,
              beside_solver: Callable[[bool], bool] | None = None) -> RoundOutcome:
    """Compute a round: score, rules, exact solve, then explain and flag every proposed pair.

    Parameters
    ----------
    inputs : RoundInputs
    reuse : ScoredRound, optional
        The ``scored`` of an earlier outcome: taken instead of preparing and scoring again when its
        `~matching.prepared.scoring_key` is the one of ``inputs`` (only locks, exclusions, capacities,
        slots or the previous assignment changed), ignored otherwise.  The outcome is the same.
    beside_solver : callable, optional
        ``beside_solver(steps_running)``: whether a core is idle now (see `matching.aside.WhileWaiting`'s
        ``when``).  Given, a dense round's likely pairs are described on that core while HiGHS runs (it releases
        the GIL), so that fewer are left for after the solve; without it, none are.  The outcome is the same.

    Returns
    -------
    RoundOutcome

    Notes
    -----
    The assignment is exactly ``solve(build_problem(...))`` on the same inputs; the explanations
    are computed afterwards and change nothing in it.  Alternates are the solver's (the next best
    allowed craftsmen of each demand); the first one of each demand also says why he lost.

    Examples
    --------
    >>> import numpy as np
    >>> from matching.features import synthetic_features
    >>> craftsmen, demands, history = synthetic_features(np.random.default_rng(0), 30, 10)
    >>> outcome = run_round(RoundInputs(craftsmen, demands, history=history))
    >>> outcome.result.status, all(p.facts for p in outcome.proposals)
    ('optimal', True)
    """
    started = time.perf_counter()
    sources = {"history": inputs.history, "skill_parent": inputs.skill_parent, "track_record": inputs.track_record}
    key = scoring_key(inputs.craftsmen, inputs.demands, inputs.config, **sources)
    scored = reuse if reuse is not None and reuse.key == key else score_round(
        inputs.craftsmen, inputs.demands, inputs.config, key=key, **sources)
    # the prepared round carries history, skill families and track record into the Problem
    rnd = with_exclusions(scored.prepared, inputs.craftsmen, inputs.demands, inputs.exclusions)
    problem = build_problem(inputs.craftsmen, inputs.demands, inputs.config, locks=inputs.locks,
                            exclusions=inputs.exclusions, previous=inputs.previous, prepared=rnd, roles=inputs.roles,
                            role_locks=inputs.role_locks, scored=scored)
    built = time.perf_counter()
    likely = None if scored.total is None or beside_solver is None else working_aside(
        lambda waiting: _likely_facts(waiting, rnd, scored, problem), beside_solver)
    with likely or nullcontext() as aside:
        result = solve(problem, warm=scored.warm, aside=aside)
    solved = time.perf_counter()
    proposals = describe(rnd, result, inputs.committed, facts_memo=scored.facts) if result.status == OPTIMAL else []
    timings = {"score": built - started, "solve": solved - built, "explain": time.perf_counter() - solved}
    return RoundOutcome(result=result, problem=problem, proposals=proposals, timings=timings, scored=scored)


def describe(rnd: PreparedRound, result: Result, committed: Mapping[str, int] | None = None, *,
             facts_memo: dict[int, dict] | None = None) -> list[ProposedPair]:
    """The review's rows of an optimal result: assigned pairs, then alternates, with facts and flags.

    Parameters
    ----------
    rnd : PreparedRound
        The prepared round the result was solved from.
    result : Result
    committed : mapping of craftsman id to int, optional
        Engagements outside the round, counted into the "overloaded" warning.
    facts_memo : dict, optional
        Pair facts of earlier solves of the same pools (``ScoredRound.facts``): only new pairs are
        described, and are added to it.

    Returns
    -------
    list of ProposedPair
    """
    committed = committed or {}
    c_index = {c: i for i, c in enumerate(rnd.craftsmen.ids)}
    d_index = {d: i for i, d in enumerate(rnd.demands.ids)}
    # (craftsman, demand, score, alternate rank, assignment, team role)
    rows: list[tuple[str, str, float, int | None, object, object]] = [
        (a.craftsman, a.demand, a.score, None, a, a.role) for a in result.assignments
    ]
    for demand, alternates in result.alternates.items():
        if demand not in result.role_alternates:  # a team's alternates are its roles'
            rows += [(c, demand, s, rank, None, None) for rank, (c, s) in enumerate(alternates, start=1)]
    for demand, roles in result.role_alternates.items():
        for role, alternates in roles.items():
            rows += [(c, demand, s, rank, None, role) for rank, (c, s) in enumerate(alternates, start=1)]
    if not rows:
        return []
    pc = np.array([c_index[r[0]] for r in rows], dtype=np.int64)
    pd = np.array([d_index[r[1]] for r in rows], dtype=np.int64)
    names = [name for name, weight in rnd.config.normalised_weights.items() if weight > 0]
    _, contributions = weighted(rnd, component_values(rnd, pc, pd, names))
    score = np.array([r[2] for r in rows], dtype=np.float64)
    tier = np.array([r[4].tier if r[4] is not None and r[4].tier is not None else -1 for r in rows])
    flags = warning_flags(rnd, pc, pd, score, np.where(tier == -1, 1, tier))
    facts = pair_facts(rnd, pc, pd) if facts_memo is None else _remembered_facts(rnd, pc, pd, facts_memo)
    relevance = relevance_tiers(rnd, pc, pd).tolist()
    capacity = rnd.craftsmen.capacity[pc].tolist()  # each row's craftsman's; Python ints read once
    breakdowns = []
    listed = {name: contributions[name].tolist() for name in names}  # Python floats once, not per pair
    tiers = tier.tolist()
    for k, (_, _, _, _, assignment, _) in enumerate(rows):
        if assignment is not None and assignment.breakdown:
            breakdown = {name: float(value) for name, value in assignment.breakdown.items()}
        else:
            breakdown = {name: listed[name][k] for name in names}
        if tiers[k] >= 0:
            breakdown["relevance_tier"] = tiers[k]
        if facts[k]["distance_km"] is not None:
            breakdown["distance_km"] = facts[k]["distance_km"]
        breakdowns.append(breakdown)
        if assignment is not None:
            load = result.loads.get(assignment.craftsman, 0) + int(committed.get(assignment.craftsman, 0))
            if load > max(1, capacity[k]):
                flags[k].append(OVERLOADED)
    weakest: dict[tuple[str, object], int] = {}  # per demand (and team role), the pair an alternate would replace
    for k, (_, demand, s, rank, _, role) in enumerate(rows):
        if rank is None and ((demand, role) not in weakest or s < rows[weakest[demand, role]][2]):
            weakest[demand, role] = k
    out = []
    for k, (craftsman, demand, s, rank, _, role) in enumerate(rows):
        # the role he fills, or the one an alternate stands by for
        own_facts = facts[k] if role is None else {**facts[k], "role" if rank is None else "for_role": role}
        if rank == 1:
            winner = weakest.get((demand, role))
            own_facts = {
                **own_facts,
                "lost_to": None if winner is None else rows[winner][0],
                "lost": losing_reasons(
                    rnd.config,
                    {"score": s, "tier": relevance[k], "breakdown": breakdowns[k]},
                    None
                    if winner is None
                    else {"score": rows[winner][2], "tier": relevance[winner], "breakdown": breakdowns[winner]},
                    load=result.loads.get(craftsman, 0),
                    capacity=capacity[k],
                ),
            }
        out.append(
            ProposedPair(
                craftsman=craftsman,
                demand=demand,
                score=float(s),
                assigned=rank is None,
                alternate_rank=rank,
                breakdown=breakdowns[k],
                flags=tuple(flags[k]),
                facts=own_facts,
                role=role,
            )
        )
    return out


# A re-solve proposes mostly the pairs of the last one; more remembered facts than this start afresh.
FACTS_REMEMBERED = 200_000


# `_likely_facts` steps: rows of the (D, C) scores ranked at a time, pairs described at a time (each ~0.3-0.5 ms)
LIKELY_ROWS = 16
LIKELY_BATCH = 48


def _likely_facts(waiting: WhileWaiting, rnd: PreparedRound, scored: ScoredRound, problem: Problem) -> Iterator[None]:
    """Steps that describe, into ``scored.facts``, the pairs the review of a dense round will most likely show,
    while the solver waits in HiGHS: each demand's best ``alternates_k`` + its slots allowed craftsmen by score (its
    alternates are among them; not when a solve of the round has described its pairs already), then the pairs the
    last LP run chose.  Guesses only: `describe` takes the facts it finds (a pair's facts do not depend on who
    computed them) and computes the rest."""
    memo, reader = scored.facts, PairFacts(rnd)
    n_d = rnd.shape[1]
    total, allowed = scored.total.T, scored.allowed.T  # (D, C), demand-major as scored
    per_demand = min(problem.alternates_k + int(problem.slots.max(initial=0)), total.shape[1], TOP_K_BY_ARGMAX)

    def describe_new(pc: np.ndarray, pd: np.ndarray) -> Iterator[None]:
        keys = pc * n_d + pd
        new = np.flatnonzero([key not in memo for key in keys.tolist()])
        if len(memo) + new.size > FACTS_REMEMBERED:  # `describe` decides what to forget
            return
        for start in range(0, new.size, LIKELY_BATCH):
            batch = new[start : start + LIKELY_BATCH]
            memo.update(zip(keys[batch].tolist(), reader(pc[batch], pd[batch]), strict=True))
            yield

    if per_demand > 0 and not memo:  # a re-solve's alternates are mostly the last solve's, their facts remembered
        for start in range(0, n_d, LIKELY_ROWS):
            rows = slice(start, min(start + LIKELY_ROWS, n_d))
            ranked = np.where(allowed[rows], total[rows], -np.inf)
            top = top_k_by_argmax(ranked, per_demand)
            wanted = np.isfinite(np.take_along_axis(ranked, top, axis=1))
            wanted &= np.arange(per_demand) < problem.alternates_k + problem.slots[rows, None]
            yield
            yield from describe_new(top[wanted], np.repeat(np.arange(rows.start, rows.stop), per_demand)[wanted.ravel()])
    described = None
    while (chosen := waiting.news(described)) is not None:  # the LP's latest choice, each time it changes
        described = chosen
        yield  # the news comes between two runs: describe while the next one runs
        yield from describe_new(*chosen)


def _remembered_facts(rnd: PreparedRound, pc: np.ndarray, pd: np.ndarray, memo: dict[int, dict]) -> list[dict]:
    """`pair_facts` of the pairs, the ones in ``memo`` taken from it (a pair's facts do not depend on the others)."""
    keys = (pc * rnd.shape[1] + pd).tolist()
    known = [memo.get(key) for key in keys]  # read once: another solve of the round may clear the memo meanwhile
    new = [k for k, facts in enumerate(known) if facts is None]
    if new:
        chosen = np.asarray(new, dtype=np.int64)
        for k, facts in zip(new, pair_facts(rnd, pc[chosen], pd[chosen]), strict=True):
            known[k] = facts
        if len(memo) + len(new) > FACTS_REMEMBERED:
            memo.clear()
        memo.update((keys[k], known[k]) for k in new)
    return known
