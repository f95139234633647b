"""One entry for a round: its inputs snapshot in, the proposals with their explanations and warnings out.

`run_round` prepares the round once, builds the Problem, solves it exactly, and describes every
assigned pair and every alternate by the library's own rules (`matching.explain`): the application
only loads the inputs, calls it, stores the proposals and audits.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

# A round's relevance-first solve runs max-flows (`matching.solve` imports them lazily, so that `python -m matching`
# starts light): loaded with the round's entry, scipy.sparse.csgraph and the scipy.linalg it pulls in (~0.1 s CPU)
# weigh on a worker's start instead of its first round.
import matching.relevant_fill  # noqa: F401
from matching.config import RoundConfig
from matching.explain import OVERLOADED, iter_pair_facts, losing_reasons, warning_flags
from matching.features import CraftsmanFeatures, DemandFeatures, History, TrackRecord
from matching.kernels import component_values, relevance_tiers, weighted
from matching.pipeline import ScoredRound, build_problem, score_round
from matching.prepared import PreparedRound, scoring_key, with_exclusions
from matching.problem import Problem
from matching.result import OPTIMAL, Result
from matching.solve import solve

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
        1 for the best alternate of the demand, …; None for an assigned pair.
    breakdown : dict
        Weighted components (they sum to ``score``), ``relevance_tier`` (assigned pairs) and
        ``distance_km`` (when both places are known).
    flags : tuple of str
        Warnings: ``far``, ``cross_province``, ``low_score``, ``overloaded``, ``no_required_skill``.
    facts : dict
        `matching.explain.pair_facts`; the best alternate also has ``lost`` (his losing reasons,
        `matching.explain.losing_reasons`) and ``lost_to`` (the craftsman he would replace).
    role : Hashable or None
        The team role an assigned craftsman fills.
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


class Proposals(Sequence[ProposedPair]):
    """The review's rows of a round (`describe`): a sequence whose rows are made when first read, in order.

    Its length is known at once; reading it (iterating, indexing) makes the rows up to the one read, each once,
    and keeps them: read again, from any thread, it gives the same rows, as a list would.  A caller that stores
    the rows as it reads them (the application's COPY) thus describes each pair while the database stores the
    ones before, instead of waiting for all 8,500 rows of a province round to be described first (~0.13 s).
    """

    def __init__(self, rows: Iterator[ProposedPair], count: int) -> None:
        self._rows, self._count = rows, count
        self._made: list[ProposedPair] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return self._count

    def _make(self, count: int) -> None:
        """Make the rows up to ``count`` (at most the length)."""
        with self._lock:
            while len(self._made) < count:
                self._made.append(next(self._rows))

    def __getitem__(self, index):
        if isinstance(index, slice):
            return list(self)[index]
        position = index + self._count if index < 0 else index
        if not 0 <= position < self._count:
            raise IndexError("proposal index out of range")
        self._make(position + 1)
        return self._made[position]

    def __iter__(self) -> Iterator[ProposedPair]:
        for position in range(self._count):
            if position >= len(self._made):
                self._make(position + 1)
            yield self._made[position]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]  # equal to a list: unhashable as lists are

    def __repr__(self) -> str:
        return f"Proposals({len(self._made)} of {self._count} rows made)"


@dataclass
class RoundOutcome:
    """What `run_round` returns: the solver's result, the Problem it solved, and the review's rows.

    ``proposals`` is empty unless ``result.status`` is ``"optimal"``; its rows are described as they are read
    (`Proposals`).
    """

    result: Result
    problem: Problem
    proposals: Sequence[ProposedPair]
    # seconds: "score", "solve", "explain" (its vectorised part: each row's own Python work is done when it is read)
    timings: dict[str, float] = field(default_factory=dict)
    scored: ScoredRound | None = None  # what a re-solve of the same pools may pass back (`run_round`'s reuse)

    def to_dict(self) -> dict:
        return {"result": self.result.to_dict(), "proposals": [p.to_dict() for p in self.proposals]}


def run_round(inputs: RoundInputs, reuse: ScoredRound | None = None) -> RoundOutcome:
    """Compute a round: score, rules, exact solve, then explain and flag every proposed pair.

    Parameters
    ----------
    inputs : RoundInputs
    reuse : ScoredRound, optional
        The ``scored`` of an earlier outcome: taken instead of preparing and scoring again when its
        `~matching.prepared.scoring_key` is the one of ``inputs`` (only locks, exclusions, capacities,
        slots or the previous assignment changed), ignored otherwise.  The outcome is the same.

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
    result = solve(problem, warm=scored.warm)
    solved = time.perf_counter()
    proposals = describe(rnd, result, inputs.committed, facts_memo=scored.facts) if result.status == OPTIMAL else []
    timings = {"score": built - started, "solve": solved - built, "explain": time.perf_counter() - solved}
    return RoundOutcome(result=result, problem=problem, proposals=proposals, timings=timings, scored=scored)


def describe(rnd: PreparedRound, result: Result, committed: Mapping[str, int] | None = None, *,
             facts_memo: dict[int, dict] | None = None) -> Proposals:
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
        described, and are added to it as their rows are made.

    Returns
    -------
    Proposals
        The vectorised work is done now, each row's own when it is first read.
    """
    committed = committed or {}
    c_index = {c: i for i, c in enumerate(rnd.craftsmen.ids)}
    d_index = {d: i for i, d in enumerate(rnd.demands.ids)}
    rows: list[tuple[str, str, float, int | None, object]] = [
        (a.craftsman, a.demand, a.score, None, a) for a in result.assignments
    ]
    for demand, alternates in result.alternates.items():
        rows += [(c, demand, s, rank, None) for rank, (c, s) in enumerate(alternates, start=1)]
    if not rows:
        return Proposals(iter(()), 0)
    pc = np.array([c_index[r[0]] for r in rows], dtype=np.int64)
    pd = np.array([d_index[r[1]] for r in rows], dtype=np.int64)
    names = [name for name, weight in rnd.config.normalised_weights.items() if weight > 0]
    _, contributions = weighted(rnd, component_values(rnd, pc, pd, names))
    score = np.array([r[2] for r in rows], dtype=np.float64)
    tier = np.array([r[4].tier if r[4] is not None and r[4].tier is not None else -1 for r in rows])
    flags = warning_flags(rnd, pc, pd, score, np.where(tier == -1, 1, tier))
    facts = iter_pair_facts(rnd, pc, pd) if facts_memo is None else _remembered_facts(rnd, pc, pd, facts_memo)
    relevance = relevance_tiers(rnd, pc, pd).tolist()
    weakest: dict[str, int] = {}  # per demand, the assigned pair an alternate would replace
    for k, (_, demand, s, rank, _) in enumerate(rows):
        if rank is None and (demand not in weakest or s < rows[weakest[demand]][2]):
            weakest[demand] = k
    listed = {name: contributions[name].tolist() for name in names}  # Python floats once, not per pair
    return Proposals(_described(rnd, result, committed, rows, pc.tolist(), names, listed, tier.tolist(), flags,
                                facts, relevance, weakest), len(rows))


def _described(rnd: PreparedRound, result: Result, committed: Mapping[str, int], rows: list[tuple], pc: list[int],
               names: list[str], listed: dict[str, list[float]], tiers: list[int], flags: list[list[str]],
               facts: Iterator[dict], relevance: list[int], weakest: dict[str, int]) -> Iterator[ProposedPair]:
    """`describe`'s rows one by one, in order: assigned pairs first, so the pair an alternate would replace is
    described before him."""
    capacity = rnd.craftsmen.capacity.tolist()
    breakdowns = []
    for k, (craftsman, demand, s, rank, assignment) in enumerate(rows):
        own_facts = next(facts)
        if assignment is not None and assignment.breakdown:
            breakdown = {name: float(value) for name, value in assignment.breakdown.items()}
        else:
            breakdown = {name: listed[name][k] for name in names}
        if tiers[k] >= 0:
            breakdown["relevance_tier"] = tiers[k]
        if own_facts["distance_km"] is not None:
            breakdown["distance_km"] = own_facts["distance_km"]
        breakdowns.append(breakdown)
        if assignment is not None:
            load = result.loads.get(assignment.craftsman, 0) + int(committed.get(assignment.craftsman, 0))
            if load > max(1, int(capacity[pc[k]])):
                flags[k].append(OVERLOADED)
            if assignment.role is not None:
                own_facts = {**own_facts, "role": assignment.role}
        if rank == 1:
            winner = weakest.get(demand)
            own_facts = {
                **own_facts,
                "lost_to": None if winner is None else rows[winner][0],
                "lost": losing_reasons(
                    rnd.config,
                    {"score": s, "tier": int(relevance[k]), "breakdown": breakdown},
                    None
                    if winner is None
                    else {"score": rows[winner][2], "tier": int(relevance[winner]), "breakdown": breakdowns[winner]},
                    load=result.loads.get(craftsman, 0),
                    capacity=int(capacity[pc[k]]),
                ),
            }
        yield ProposedPair(
            craftsman=craftsman,
            demand=demand,
            score=float(s),
            assigned=rank is None,
            alternate_rank=rank,
            breakdown=breakdown,
            flags=tuple(flags[k]),
            facts=own_facts,
            role=None if assignment is None else assignment.role,
        )


# A re-solve proposes mostly the pairs of the last one; more remembered facts than this start afresh.
FACTS_REMEMBERED = 200_000


def _remembered_facts(rnd: PreparedRound, pc: np.ndarray, pd: np.ndarray, memo: dict[int, dict]) -> Iterator[dict]:
    """`iter_pair_facts` of the pairs, the ones in ``memo`` taken from it (a pair's facts do not depend on the others);
    the others are added to it as they are made."""
    keys = (pc * rnd.shape[1] + pd).tolist()
    known = [memo.get(key) for key in keys]  # read once: another solve of the round may clear the memo meanwhile
    new = [k for k, facts in enumerate(known) if facts is None]
    if not new:
        return iter(known)
    if len(memo) + len(new) > FACTS_REMEMBERED:
        memo.clear()
    chosen = np.asarray(new, dtype=np.int64)
    return _with_new_facts(keys, known, iter_pair_facts(rnd, pc[chosen], pd[chosen]), memo)


def _with_new_facts(keys: list[int], known: list[dict | None], new: Iterator[dict], memo: dict[int, dict]
                    ) -> Iterator[dict]:
    for key, facts in zip(keys, known, strict=True):
        if facts is None:
            facts = memo[key] = next(new)
        yield facts
