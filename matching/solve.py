"""The exact solver: maximise Σ p_d·s_cd·x_cd − λ·Σ_c L_c(L_c−1)/2 over allowed pairs.

Three exact routes; ``method="auto"`` takes the min-cost flow for sparse rounds, the first below for small
dense rounds, the second for the other dense ones:

* "assignment" (dense): expand demands into slots and craftsmen into copies (copy k
  costs λ·(k−1+locked)), solve with `linear_sum_assignment`.  That is a relaxation
  (one craftsman may take two slots of one demand); when its answer has no such
  duplicate it is optimal for the true problem, otherwise we go on with:
* "flow": the problem is a min-cost flow (source → craftsman via unit copy arcs,
  craftsman → demand unit arcs, demand → sink with the open slots), so its LP is
  totally unimodular and the dual simplex ends on an integral vertex.  The LP is
  solved by column generation: a restricted set of pairs, then every candidate pair is
  priced with the duals (vectorised) and the violators are added, until none is left —
  which proves optimality over all pairs.  HiGHS is kept warm between rounds.
  Integrality is verified; `milp` on the same columns is the safety net.
* "mincostflow": the same flow network on every candidate pair at once, solved by OR-Tools' cost-scaling
  min-cost flow on costs scaled to integers; the rounding is certified negligible (`matching.min_cost_flow`).
  A network it cannot scale finely enough goes to the flow LP.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
import os
import sys
import threading
import time
from collections.abc import Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import highspy
import numpy as np

from matching.collector import collector_paused
from matching.groupwise import number_runs, rank_in_sorted_groups, top_k_per_group
from matching.problem import Problem
from matching.result import INFEASIBLE, NO_REQUIRED_SKILL, OPTIMAL, Assignment, Result, gini
from matching.threads import for_row_chunks, map_row_chunks

# scipy (sparse matrices, milp, linear_sum_assignment, max-flows) is imported where a route needs it:
# a plain round solved by `python -m matching` then pays only for numpy and HiGHS at start-up.
if TYPE_CHECKING:
    import scipy.sparse as sp

    from matching.aside import WhileWaiting
    from matching.relevant_fill import PhaseOne, Pricer

METHODS = ("auto", "assignment", "flow", "mincostflow")
# Expanded slot × copy matrices up to this many cells try linear_sum_assignment first; beyond it
# the flow LP alone is as fast (the relaxation's answer often duplicates; see benchmarks/NOTES.md).
ASSIGNMENT_MAX_CELLS = 250_000
# Column generation adds every candidate after this many pricing rounds: a bound on the
# time a degenerate tail of tiny violators can take (warm restarts make rounds cheap).
ROUNDS_BEFORE_ALL_PAIRS = 30
# Pricing adds at most this many columns per round (the most profitable violators), at least
# MIN_PRICING_BATCH: adding every violator at once makes one LP of millions of columns, capped
# batches end in a few short warm rounds (benchmarks/NOTES.md).  Optimality is untouched: the loop
# only stops when no pair prices out positive.
PRICING_BATCH_PER_ROW = 1
MIN_PRICING_BATCH = 1_000
# A re-solve's optimum is mostly the previous assignment: column generation starts with its pairs too (the ones
# still candidates), which saves pricing rounds; the loop still prices every candidate before it stops, so the
# optimum is the same (benchmarks/NOTES.md: 6 -> 3-4 rounds after a lock at 5,000 x 2,000).
SEED_WITH_PREVIOUS = True
# Dual simplex: a vertex, hence integral, with warm restarts after adding columns; steepest-edge
# pricing (fewer iterations on warm restarts; measurements in benchmarks/NOTES.md), plain rather than
# the "less infeasible" variant HiGHS picks for ±1 matrices (the national round: 288k iterations
# instead of 358k).  The LP is scaled so that its largest profit is 1, which makes HiGHS's absolute
# tolerances relative to the objective.
_HIGHS_OPTIONS = {
    "output_flag": False,
    "simplex_strategy": 1,
    "simplex_dual_edge_weight_strategy": 2,
    "less_infeasible_DSE_check": False,
    "primal_feasibility_tolerance": 1e-9,
    "dual_feasibility_tolerance": 1e-9,
}
# The first, cold round of the flow LP skips presolve below this many columns: there its fixed cost
# outweighs what it removes; above, it pays (later rounds are warm restarts without presolve; see
# benchmarks/NOTES.md).
PRESOLVE_MIN_COLUMNS = 100_000
# Reduced profits (in units of the largest profit) this close to 0 count as 0 when the team LP's
# lexicographic phase fixes the optimal face of the previous one.
FACE_TOLERANCE = 1e-7
# The team LP's column generation adds a column when its reduced cost (in units of the largest profit) is below
# minus this: HiGHS's own dual feasibility tolerance (on its scaled LP, so about), so that a column HiGHS would count
# as priced out is not added.
TEAM_PRICING_TOLERANCE = _HIGHS_OPTIONS["dual_feasibility_tolerance"]
LOCKS_CANNOT_TAKE_A_ROLE = "the locked pairs cannot all take a role of their team"
# A warm-started optimum is kept only when no other optimum is within this much (in units of the largest profit):
# well above HiGHS's feasibility tolerances (1e-9), so that no vertex a cold solve may stop at counts as worse.
TIE_TOLERANCE = 1e-7
# The team LP's first columns take tied columns in a rotation of the craftsmen, started at r·φ (mod 1) for role r.
_GOLDEN_RATIO = (5 ** 0.5 - 1) / 2
_BANNER_LOCK = threading.Lock()
_NOTHING_ASIDE = contextlib.nullcontext()
_banner_shown = False


def new_highs() -> highspy.Highs:
    """A quiet HiGHS instance.

    Notes
    -----
    HiGHS prints a banner on the C-level stdout when the first instance of a process is made, before
    any option can silence it; ``python -m matching`` writes its JSON result to stdout, so that first
    construction runs with file descriptor 1 pointed at the null device.
    """
    global _banner_shown
    with _BANNER_LOCK:
        if not _banner_shown:
            sys.stdout.flush()
            saved = os.dup(1)
            try:
                with open(os.devnull, "w") as null:
                    os.dup2(null.fileno(), 1)
                    highs = highspy.Highs()
            finally:
                os.dup2(saved, 1)
                os.close(saved)
            _banner_shown = True
        else:
            highs = highspy.Highs()
    for option, value in _HIGHS_OPTIONS.items():
        highs.setOptionValue(option, value)
    return highs


def solve(problem: Problem, *, method: str = "auto", warm: WarmStart | None = None,
          aside: WhileWaiting | None = None) -> Result:
    """Solve `problem` exactly.

    Parameters
    ----------
    problem : Problem
        The round.
    method : {"auto", "assignment", "flow", "mincostflow"}
        The route for rounds without roles or floor (for relevance first: its second phase): "auto" takes the
        min-cost flow for sparse rounds, and for dense ones the assignment relaxation on small rounds, falling
        back to the flow LP; all are exact.
    warm : WarmStart, optional
        Kept by the caller between solves of one round (same craftsmen and demands): the flow LP
        starts from the last solve's columns and basis (relevance first's max-flows from its pairs),
        and leaves its own for the next solve.  Only the path changes: the loop still prices every
        candidate before it stops, and an optimum that ties with another one is set aside for a
        solve from nothing, so the result is the one without ``warm``.
    aside : WhileWaiting, optional
        Opened around every HiGHS run (which releases the GIL), so that its work uses the second core
        then and only then; told the pairs each flow LP run chose (``lp_chose``).  The result is the
        same without it.

    Returns
    -------
    Result
        Status "optimal" with the assignment, or "infeasible" with the lock conflicts in
        ``message``.

    Notes
    -----
    Maximises Σ priority·score − load_penalty·Σ L(L−1)/2 (plus stickiness on previous pairs).
    With relevance "first"/"only" the objective is lexicographic: first the priority-weighted
    number of slots filled by relevant craftsmen (max-flows per priority level,
    `matching.relevant_fill`), then the score on that phase's optimal face.  With ``floor``,
    the demand floor comes first (`matching.floor`).  Every route ends on an integral vertex of a
    totally unimodular LP (see the module notes).

    Examples
    --------
    >>> import numpy as np
    >>> from matching import Problem
    >>> result = solve(Problem(["c1", "c2"], ["d1"], [1, 1], [1], scores=np.array([[0.9], [0.4]])))
    >>> result.status, [(a.craftsman, a.demand) for a in result.assignments]
    ('optimal', [('c1', 'd1')])
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if method == "assignment" and problem.is_sparse:
        raise ValueError('method "assignment" needs dense scores')
    clock = _Clock()
    instance = _Instance(problem)
    instance.warm, instance.aside = warm, aside
    if warm is not None:  # read once: another solve of the round may replace them meanwhile
        instance.last_lp, instance.last_edges = warm.last, warm.edges
    conflicts = instance.lock_conflicts()
    if conflicts:
        return Result(status=INFEASIBLE, message="; ".join(conflicts), timings=clock.laps)
    candidates = instance.candidates()
    clock.lap("prepare")

    if problem.roles or problem.floor:
        teams = _Teams(instance, candidates)
        if problem.floor:
            teams.set_floor()
        pair_c, pair_d, solver = teams.solve()
        if pair_c is None:
            return Result(status=INFEASIBLE, message=solver, timings=clock.laps)
    else:
        try:
            pair_c, pair_d, solver = _optimise(instance, candidates, method)
        except _TiedOptimum:  # what a solve from nothing finds, then: the result must not depend on earlier solves
            instance.use_warm = False
            candidates = instance.candidates()
            pair_c, pair_d, solver = _optimise(instance, candidates, method)
    clock.lap("optimise")
    with collector_paused():  # an object per assignment and alternate
        result = _build_result(instance, candidates, pair_c, pair_d, solver)
    if problem.roles:
        teams.report(result)
    if problem.floor:
        result.fairness = teams.floor_report(result)
    clock.lap("explain")
    result.timings = clock.laps
    return result


_STATUSES = tuple(highspy.HighsBasisStatus.__members__.values())
_LOWER, _BASIC, _UPPER = (int(highspy.HighsBasisStatus.kLower), int(highspy.HighsBasisStatus.kBasic),
                          int(highspy.HighsBasisStatus.kUpper))


class _LastLP:
    """The final flow LP of a solve: its columns by key and the simplex status of each column and row.

    The statuses are read out of the kept copy of HiGHS's basis when a solve starts from them: ~32k pybind enums
    turned into ints (~15-25 ms) that a first solve would otherwise pay for a re-solve that may never come.
    """

    def __init__(self, shape: tuple[int, int], pair_keys: np.ndarray, copy_keys: np.ndarray,
                 basis: highspy.HighsBasis, n_rows: int) -> None:
        self.shape = shape
        self._pair_order, self._copy_order = np.argsort(pair_keys), np.argsort(copy_keys)
        self.pair_keys = pair_keys[self._pair_order]  # sorted c·D + d of the pair columns
        self.copy_keys = copy_keys[self._copy_order]  # sorted k·C + c of the paid copy columns (copy k of craftsman c)
        self._basis, self._n_rows = basis, n_rows

    @functools.cached_property
    def _statuses(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # (cached_property locks: read once)
        n_copies = self._copy_order.size
        column = np.fromiter(map(int, self._basis.col_status), dtype=np.int8, count=n_copies + self._pair_order.size)
        row = np.fromiter(map(int, self._basis.row_status), dtype=np.int8, count=self._n_rows)
        return column[n_copies:][self._pair_order], column[:n_copies][self._copy_order], row

    @property
    def pair_status(self) -> np.ndarray:
        """int8 HighsBasisStatus of each pair column (in ``pair_keys``' order)."""
        return self._statuses[0]

    @property
    def copy_status(self) -> np.ndarray:
        return self._statuses[1]

    @property
    def row_status(self) -> np.ndarray:
        """Craftsman rows, then demand rows."""
        return self._statuses[2]


class WarmStart:
    """What one solve of a round leaves for the next (see `solve`'s ``warm``): the final flow LP's pair columns
    and basis, and the pairs relevance first's max-flows saw.  A re-solve after a lock starts from them, so its
    first LP is a short warm restart instead of a cold dual simplex, fewer pricing passes follow, and the
    max-flows need few pricing rounds (benchmarks/NOTES.md)."""

    def __init__(self) -> None:
        # each replaced whole, never changed in place: concurrent solves of the round read them once
        self.last: _LastLP | None = None
        self.edges: tuple[tuple[int, int], np.ndarray] | None = None  # (shape, c·D + d keys)


class _TiedOptimum(Exception):
    """A warm-started LP reached an optimum that ties with another: the solve starts again from nothing."""


class _Clock:
    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._start = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = now - self._start
        self._start = now


def _lookup(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Positions of `keys` in `sorted_keys`, −1 where absent."""
    if sorted_keys.size == 0:
        return np.full(keys.size, -1, dtype=np.int64)
    position = np.minimum(np.searchsorted(sorted_keys, keys), sorted_keys.size - 1)
    return np.where(sorted_keys[position] == keys, position, -1)


class _Instance:
    """The problem in index space: locks applied, forbidden pairs and weights resolved."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self.n_c, self.n_d = problem.shape
        self.c_index = {c: i for i, c in enumerate(problem.craftsmen)}
        self.d_index = {d: i for i, d in enumerate(problem.demands)}
        # a pair locked twice is reported as such, not as the capacity and slot overflows it causes
        self.locked_c, self.locked_d = self._index_pairs(tuple(dict.fromkeys(problem.locked)))
        self.forbidden_c, self.forbidden_d = self._index_pairs(problem.forbidden)
        self.previous_c, self.previous_d = self._index_pairs(problem.previous or ())
        self.locked_load = np.bincount(self.locked_c, minlength=self.n_c)
        self.locked_team = np.bincount(self.locked_d, minlength=self.n_d)
        self.room = np.maximum(problem.capacity - self.locked_load, 0)
        self.open_slots = np.maximum(problem.slots - self.locked_team, 0)
        self.warm: WarmStart | None = None  # set by `solve`
        self.aside: WhileWaiting | None = None  # set by `solve`
        self.use_warm = True  # false once a warm start met a tie: start from nothing, but still leave a warm start
        self.last_lp: _LastLP | None = None  # `warm`'s, as the solve began
        self.last_edges: tuple[tuple[int, int], np.ndarray] | None = None
        self.lexicographic = problem.relevance is not None and problem.relevance_mode != "off"
        self.relevant_only = problem.relevance is not None and problem.relevance_mode == "only"
        if problem.is_sparse:
            keys = problem.pair_craftsman * self.n_d + problem.pair_demand
            self.key_order = np.argsort(keys, kind="stable")
            self.sorted_keys = keys[self.key_order]

    def _index_pairs(self, pairs) -> tuple[np.ndarray, np.ndarray]:
        c = np.fromiter((self.c_index[p[0]] for p in pairs), dtype=np.int64, count=len(pairs))
        d = np.fromiter((self.d_index[p[1]] for p in pairs), dtype=np.int64, count=len(pairs))
        return c, d

    def pair_position(self, c: np.ndarray, d: np.ndarray) -> np.ndarray:
        """Sparse mode: index into the pair arrays of each (c, d), −1 if not a candidate."""
        position = _lookup(self.sorted_keys, c * self.n_d + d)
        return np.where(position >= 0, self.key_order[np.maximum(position, 0)], -1)

    def cells_of(self, c: np.ndarray, d: np.ndarray):
        """Where the pairs' scores, components and tiers are: their candidate positions (sparse), or their cells."""
        return self.pair_position(c, d) if self.problem.is_sparse else (c, d)

    def score_at(self, cells) -> np.ndarray:
        """The scores at `cells_of`'s answer."""
        return (self.problem.pair_score if self.problem.is_sparse else self.problem.scores)[cells]

    def score_of(self, c: np.ndarray, d: np.ndarray) -> np.ndarray:
        return self.score_at(self.cells_of(c, d))

    def lock_conflicts(self) -> list[str]:
        problem, messages = self.problem, []
        all_c, all_d = self._index_pairs(problem.locked)
        keys = all_c * self.n_d + all_d
        forbidden = set((self.forbidden_c * self.n_d + self.forbidden_d).tolist())
        if problem.is_sparse:
            allowed = self.pair_position(all_c, all_d) >= 0
        else:
            allowed = problem.allowed[all_c, all_d]
        seen: set[int] = set()
        for (c, d), key, ok in zip(problem.locked, keys.tolist(), allowed.tolist(), strict=True):
            if key in seen:
                messages.append(f"locked pair ({c}, {d}) is listed twice")
            elif key in forbidden:
                messages.append(f"locked pair ({c}, {d}) is forbidden")
            elif not ok:
                messages.append(f"locked pair ({c}, {d}) is not an allowed candidate")
            seen.add(key)
        for i in np.flatnonzero(self.locked_load > problem.capacity):
            messages.append(
                f"craftsman {problem.craftsmen[i]} has {self.locked_load[i]} locked demands "
                f"but capacity {problem.capacity[i]}"
            )
        for j in np.flatnonzero(self.locked_team > problem.slots):
            messages.append(
                f"demand {problem.demands[j]} has {self.locked_team[j]} locked craftsmen "
                f"but {problem.slots[j]} slots"
            )
        return messages

    def candidates(self) -> _DenseCandidates | _SparseCandidates:
        """Pairs the optimiser may still choose, with their objective weight."""
        problem = self.problem
        if problem.is_sparse:
            eligible = problem.pair_score >= problem.min_score
            forbidden = self.pair_position(self.forbidden_c, self.forbidden_d)
            eligible[forbidden[forbidden >= 0]] = False
            eligible[self.pair_position(self.locked_c, self.locked_d)] = False
            if self.relevant_only:
                eligible &= problem.relevance >= 1
            weight = problem.priority[problem.pair_demand] * problem.pair_score
            sticky = self.pair_position(self.previous_c, self.previous_d)
            weight[sticky[sticky >= 0]] += problem.stickiness
            keep = np.flatnonzero(eligible & (weight > 0))
            return _SparseCandidates(self, keep, weight[keep])
        return _DenseCandidates(self, self.dense_weight(problem.priority, problem.stickiness))

    def dense_weight(self, priority: np.ndarray, stickiness: float) -> np.ndarray:
        """Demand-major (D, C) weights priority·score (+ stickiness on previous pairs) of the
        pairs still open to choice; 0 elsewhere.  Demand-major because the hot loops (best
        craftsmen of a demand, slot expansion) then read contiguous rows."""
        problem = self.problem
        weight = np.empty((self.n_d, self.n_c))
        scores, allowed = problem.scores.T, problem.allowed.T
        every_allowed, min_score = bool(problem.allowed.all()), problem.min_score

        def fill(rows: slice) -> None:  # element-wise: the same values whatever the chunks
            np.multiply(scores[rows], priority[rows, None], out=weight[rows])
            ineligible = None if every_allowed else ~allowed[rows]
            if min_score > 0:
                below = np.less(scores[rows], min_score)
                ineligible = below if ineligible is None else ineligible | below
            if self.relevant_only:
                irrelevant = problem.relevance.T[rows] == 0
                ineligible = irrelevant if ineligible is None else ineligible | irrelevant
            if ineligible is not None:
                np.copyto(weight[rows], 0.0, where=ineligible)

        for_row_chunks(self.n_d, self.n_c, fill)
        if stickiness and problem.previous:
            sticky_c, sticky_d = self.previous_c, self.previous_d
            usable = problem.allowed[sticky_c, sticky_d] & (
                problem.scores[sticky_c, sticky_d] >= problem.min_score
            )
            weight[sticky_d[usable], sticky_c[usable]] += stickiness
        weight[self.forbidden_d, self.forbidden_c] = 0.0
        weight[self.locked_d, self.locked_c] = 0.0
        return weight


class _DenseCandidates:
    """Candidates as a demand-major (D, C) weight matrix; 0 means "never worth it"."""

    def __init__(self, instance: _Instance, weight: np.ndarray, start=None) -> None:
        self.instance, self.weight, self.start = instance, weight, start
        # positive pairs not yet in the restricted problem: one mask for `add` and `violators` to read
        self.outside = outside = np.empty(weight.shape, dtype=bool)

        def count(rows: slice) -> tuple[np.ndarray, float]:
            np.greater(weight[rows], 0.0, out=outside[rows])
            return np.count_nonzero(outside[rows], axis=0), float(weight[rows].max(initial=0.0))

        chunks = map_row_chunks(*weight.shape, count)
        self.degree = np.sum([degree for degree, _ in chunks], axis=0, dtype=np.int64) if chunks \
            else np.zeros(weight.shape[1], dtype=np.int64)
        self.scale = max((most for _, most in chunks), default=0.0)
        self._relevant_weight: np.ndarray | None = None
        # a (D, C) float array of the same shape nobody reads any more (`_relevance_first`), for the alternates
        self.spare: np.ndarray | None = None
        # when watched (a warm start): did the last pricing pass meet an outside pair of reduced profit ~0
        # (within ``tie_band``)?
        self.watch_ties = self.tied = False
        self.tie_band = 0.0

    def initial(self) -> tuple[np.ndarray, np.ndarray]:
        """The best few craftsmen of every demand (or the ``start`` pairs given)."""
        if self.start is not None:
            return self.start
        n_d, n_c = self.weight.shape
        per_demand = min(n_c, int(self.instance.open_slots.max(initial=0)) + 2)
        top_c = _top_k_per_row(self.weight, per_demand)
        return top_c.ravel(), np.repeat(np.arange(n_d), per_demand)

    def add(self, c: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mark (c, d) as in the restricted problem; returns the new positive ones."""
        new = self.outside[d, c]
        key = np.unique(d[new] * self.weight.shape[1] + c[new])
        d, c = np.divmod(key, self.weight.shape[1])
        self.outside[d, c] = False
        return c, d

    def weights(self, c: np.ndarray, d: np.ndarray) -> np.ndarray:
        return self.weight[d, c]

    def weighted_pairs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`everything` with the pairs' weights."""
        c, d = self.everything()
        return c, d, self.weights(c, d)

    def relevant_pricer(self, start_c: np.ndarray, start_d: np.ndarray) -> tuple[Pricer, np.ndarray, np.ndarray]:
        """Phase 1 of relevance first: hands out, per demand asked for, its best relevant candidates
        (by weight, at most its open slots + 2 per call) among craftsmen not skipped, each pair once.
        Also returns the relevant candidates among the distinct pairs ``start_c``, ``start_d``, counted as
        handed out."""
        instance, tiers = self.instance, self.instance.problem.relevance
        # the weights of relevant pairs, 0 elsewhere: priced here, then most of the second phase's face
        self._relevant_weight = relevant_weight = np.empty_like(self.weight)
        for_row_chunks(*self.weight.shape, lambda rows: np.multiply(self.weight[rows], tiers[:, rows].T >= 1,
                                                                     out=relevant_weight[rows]))
        handed = np.zeros(self.weight.shape, dtype=bool)
        usable = relevant_weight[start_d, start_c] > 0
        start_c, start_d = start_c[usable], start_d[usable]
        handed[start_d, start_c] = True
        per_demand = min(instance.n_c, int(instance.open_slots.max(initial=0)) + 2)

        def price(demands: np.ndarray, skip_c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            rows = np.flatnonzero(demands)
            skip = skip_c.any()

            def best(chunk: slice) -> tuple[np.ndarray, np.ndarray]:  # reads `handed`, written once all chunks are done
                d = rows[chunk]
                block = relevant_weight[d]
                block[handed[d]] = 0.0
                if skip:
                    block[:, skip_c] = 0.0
                top = _top_k_per_row(block, per_demand)
                keep = np.take_along_axis(block, top, axis=1) > 0
                return top[keep], np.repeat(d, top.shape[1])[keep.ravel()]

            found = [_no_pairs(), *map_row_chunks(rows.size, instance.n_c, best)]
            c, d = np.concatenate([c for c, _ in found]), np.concatenate([d for _, d in found])
            handed[d, c] = True
            return c, d

        return price, start_c, start_d

    def on_face(self, phase: PhaseOne) -> _DenseCandidates:
        """These candidates without the pairs that no optimum of relevance phase 1 uses; phase 1's
        relevant pairs (the best relevant ones of every demand) start the restricted problem.

        Built from the pricer's relevant weights (the face of a full demand): the rows of the other
        demands get their irrelevant pairs back, the columns of craftsmen some level's cut reaches
        are recomputed as a whole (`PhaseOne.dropped`)."""
        weight, self._relevant_weight = self._relevant_weight, None
        open_rows = np.flatnonzero(~phase.tight_demands)
        weight[open_rows] = self.weight[open_rows]
        cut_c = np.flatnonzero(np.any([cut.craftsmen for cut in phase.cuts], axis=0))
        if cut_c.size:
            relevant = self.instance.problem.relevance[cut_c].T >= 1
            every_d = np.arange(weight.shape[0])[:, None]
            dropped = phase.dropped(cut_c[None, :], every_d, relevant)
            weight[:, cut_c] = np.where(dropped, 0.0, self.weight[:, cut_c])
        return _DenseCandidates(self.instance, weight, start=(phase.edge_c, phase.edge_d))

    def violators(self, dual_c: np.ndarray, dual_d: np.ndarray, tolerance: float):
        """Pairs outside the restricted set whose reduced profit is positive (``tied``: some are ~0)."""
        self.tied = False
        if self.weight.shape[0] == 0:
            return _no_pairs()
        threshold = -self.tie_band if self.watch_ties else tolerance

        def price(rows: slice) -> tuple[np.ndarray, np.ndarray, bool]:  # cache-sized temporaries, one chunk's
            profit = np.add(self.weight[rows], dual_d[rows, None])  # the same sums, in the same order, as before
            np.add(profit, dual_c[None, :], out=profit)
            hit = np.greater(profit, threshold)
            hit &= self.outside[rows]
            d, c = _nonzero(hit)
            tied = False
            if self.watch_ties:
                above = profit[d, c] > tolerance
                tied = not above.all()
                d, c = d[above], c[above]
            return c, d + rows.start, tied

        found = map_row_chunks(*self.weight.shape, price)
        self.tied = any(tied for _, _, tied in found)
        return np.concatenate([c for c, _, _ in found]), np.concatenate([d for _, d, _ in found])

    def everything(self) -> tuple[np.ndarray, np.ndarray]:
        d, c = _nonzero(self.weight > 0)
        return c, d

    def _unsticky_scores(self) -> np.ndarray:
        """``dense_weight(1, 0)``'s positive entries (the only ones the top-k argmax passes of the alternates
        keep, in the same order) from the weights in one pass instead of that function's several: a pair's
        weight is positive exactly when it is open with a positive score, or a previous pair that stickiness
        lifts, which is not open only when relevance "only" rules it out."""
        instance, problem = self.instance, self.instance.problem
        if self.spare is not None and self.spare.shape == self.weight.shape:
            # in memory already faulted in (a fresh 72 MB array at 5,000 x 2,000: ~18k page faults); scores are
            # finite and ≥ 0, so score·1 and score·0 are np.where's score and 0.0 to the bit
            ranking, self.spare = self.spare, None
            np.multiply(problem.scores.T, self.weight > 0, out=ranking)
        else:
            ranking = np.where(self.weight > 0, problem.scores.T, 0.0)
        if instance.relevant_only:
            sticky_c, sticky_d = instance.previous_c, instance.previous_d
            irrelevant = problem.relevance[sticky_c, sticky_d] == 0
            ranking[sticky_d[irrelevant], sticky_c[irrelevant]] = 0.0
        return ranking

    def alternates(self, pair_c: np.ndarray, pair_d: np.ndarray, k: int):
        """(craftsman, demand, score) of the k best open pairs per demand, by score."""
        instance, problem = self.instance, self.instance.problem
        if problem.stickiness and problem.previous:
            ranking = (self._unsticky_scores() if k <= TOP_K_BY_ARGMAX
                       else instance.dense_weight(np.ones(instance.n_d), 0.0))
        else:  # within one demand, priority·score ranks as score does
            ranking = self.weight
        saved = ranking[pair_d, pair_c]
        ranking[pair_d, pair_c] = 0.0
        top = _top_k_per_row(ranking, min(k, instance.n_c))
        d = np.repeat(np.arange(instance.n_d), top.shape[1])
        c = top.ravel()
        keep = ranking[d, c] > 0
        ranking[pair_d, pair_c] = saved
        c, d = c[keep], d[keep]
        return c, d, problem.scores[c, d]


class _SparseCandidates:
    """Candidates as parallel pair arrays: the problem's pairs still open to choice with
    a positive weight (`kept` are their positions in the problem's pair arrays)."""

    def __init__(self, instance: _Instance, kept: np.ndarray, weight: np.ndarray) -> None:
        problem = instance.problem
        self.instance, self.weight, self.kept = instance, weight, kept
        self.c, self.d = problem.pair_craftsman[kept], problem.pair_demand[kept]
        self.score = problem.pair_score[kept]
        self.candidate_of_pair = np.full(problem.pair_score.size, -1, dtype=np.int64)
        self.candidate_of_pair[kept] = np.arange(kept.size)
        self.chosen = np.zeros(kept.size, dtype=bool)
        self.degree = np.bincount(self.c, minlength=instance.n_c)
        self.scale = float(weight.max(initial=0.0))
        self.watch_ties = self.tied = False  # as `_DenseCandidates`
        self.tie_band = 0.0
        self.spare = None  # as `_DenseCandidates` (unused)

    def initial(self) -> tuple[np.ndarray, np.ndarray]:
        """Each demand's best craftsmen for its open slots and each craftsman's best demands for its room
        (no spares: faster on scored rounds, see benchmarks/NOTES.md)."""
        instance = self.instance
        by_demand = _rank_within(self.d, -self.weight, self.c)
        by_craftsman = _rank_within(self.c, -self.weight, self.d)
        copies = np.minimum(instance.room, self.degree)  # as the flow LP counts a craftsman's copies
        keep = (by_demand < instance.open_slots[self.d]) | (by_craftsman < copies[self.c])
        return self.c[keep], self.d[keep]

    def _positions(self, c: np.ndarray, d: np.ndarray) -> np.ndarray:
        """Candidate positions of the pairs (c, d) that are candidates."""
        pair = self.instance.pair_position(c, d)
        candidate = self.candidate_of_pair[pair[pair >= 0]]
        return candidate[candidate >= 0]

    def add(self, c: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        position = np.unique(self._positions(c, d))
        position = position[~self.chosen[position]]
        self.chosen[position] = True
        return self.c[position], self.d[position]

    def weights(self, c: np.ndarray, d: np.ndarray) -> np.ndarray:
        return self.weight[self._positions(c, d)]

    def relevant_pricer(self, start_c: np.ndarray, start_d: np.ndarray) -> tuple[Pricer, np.ndarray, np.ndarray]:
        """Phase 1 of relevance first: hands out, per demand asked for, its best relevant candidates
        (by weight, at most its open slots + 2 per call) among craftsmen not skipped, each pair once.
        Also returns the relevant candidates among the distinct pairs ``start_c``, ``start_d``, counted as
        handed out."""
        instance = self.instance
        relevant = instance.problem.relevance[self.kept] >= 1
        handed = np.zeros(self.kept.size, dtype=bool)
        start = self._positions(start_c, start_d)
        start = start[relevant[start]]
        handed[start] = True
        per_demand = instance.open_slots + 2

        def price(demands: np.ndarray, skip_c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            position = np.flatnonzero(relevant & ~handed & demands[self.d] & ~skip_c[self.c])
            rank = _rank_within(self.d[position], -self.weight[position], self.c[position])
            position = position[rank < per_demand[self.d[position]]]
            handed[position] = True
            return self.c[position], self.d[position]

        return price, self.c[start], self.d[start]

    def on_face(self, phase: PhaseOne) -> _SparseCandidates:
        """These candidates without the pairs that no optimum of relevance phase 1 uses."""
        keep = ~phase.dropped(self.c, self.d, self.instance.problem.relevance[self.kept] >= 1)
        return _SparseCandidates(self.instance, self.kept[keep], self.weight[keep])

    def violators(self, dual_c: np.ndarray, dual_d: np.ndarray, tolerance: float):
        profit = self.weight + dual_c[self.c] + dual_d[self.d]
        hit = (profit > tolerance) & ~self.chosen
        self.tied = self.watch_ties and bool(np.any((profit > -self.tie_band) & ~hit & ~self.chosen))
        return self.c[hit], self.d[hit]

    def everything(self) -> tuple[np.ndarray, np.ndarray]:
        return self.c, self.d

    def weighted_pairs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`everything` with the pairs' weights (in the candidates' order: no lookup)."""
        return self.c, self.d, self.weight

    def alternates(self, pair_c: np.ndarray, pair_d: np.ndarray, k: int):
        """(craftsman, demand, score) of the k best open pairs per demand, by score."""
        available = self.score > 0
        available[self._positions(pair_c, pair_d)] = False
        c, d, score = self.c[available], self.d[available], self.score[available]
        keep = top_k_per_group(d, score, c, k)  # a cut at each demand's k-th best first: no sort of every pair
        return c[keep], d[keep], score[keep]


# Up to this k, `_top_k_per_row` takes k row-wise argmax passes, much faster than a full
# argpartition for the few best of a row (benchmarks/NOTES.md).
TOP_K_BY_ARGMAX = 16


def _top_k_per_row(matrix: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the k largest entries of every row (unordered), k ≤ row length.

    Ties go to the lower column index when k is small (argmax passes over cache-sized row chunks, on a few
    threads; the matrix is restored)."""
    if k <= 0:
        return np.zeros((matrix.shape[0], 0), dtype=np.int64)
    n = matrix.shape[1]
    if k > TOP_K_BY_ARGMAX or k >= n or not matrix.flags.writeable or matrix.dtype.kind != "f":
        return np.argpartition(matrix, n - k, axis=1)[:, n - k :]
    picked = np.empty((matrix.shape[0], k), dtype=np.int64)

    def top(rows: slice) -> None:
        picked[rows] = top_k_by_argmax(matrix[rows], k)

    for_row_chunks(matrix.shape[0], n, top)
    return picked


def top_k_by_argmax(matrix: np.ndarray, k: int) -> np.ndarray:
    """`_top_k_per_row` by k row-wise argmax passes, each best one set to −inf until the end."""
    rows = np.arange(matrix.shape[0])
    picked = np.empty((matrix.shape[0], k), dtype=np.int64)
    saved = np.empty((matrix.shape[0], k), dtype=matrix.dtype)
    done = 0
    try:
        for i in range(k):
            picked[:, i] = np.argmax(matrix, axis=1)
            saved[:, i] = matrix[rows, picked[:, i]]
            matrix[rows, picked[:, i]] = -np.inf
            done = i + 1
    finally:
        for j in range(done):
            matrix[rows, picked[:, j]] = saved[:, j]
    return picked


def _rank_within(group: np.ndarray, key: np.ndarray, tie: np.ndarray) -> np.ndarray:
    """0-based rank of each element inside its group, ordered by (key, tie); ``group``, ``tie`` ≥ 0.

    One integer argsort of (group, rank of key, tie) packed into int64 where it fits: the order of
    a three-key lexsort in a fraction of its time.
    """
    if group.size == 0:
        return np.zeros(0, dtype=np.int64)
    _, key_rank = np.unique(key, return_inverse=True)  # equal keys share a rank
    n_key, n_tie = int(key_rank.max()) + 1, int(tie.max()) + 1
    if (int(group.max()) + 1) * n_key * n_tie < 2**62:
        order = np.argsort((group * n_key + key_rank.ravel()) * n_tie + tie, kind="stable")
    else:
        order = np.lexsort((tie, key, group))
    rank = np.empty(group.size, dtype=np.int64)
    rank[order] = rank_in_sorted_groups(group[order])
    return rank


def _optimise(instance: _Instance, candidates, method: str) -> tuple[np.ndarray, np.ndarray, str]:
    """The chosen (craftsman, demand) index pairs, locks excluded, and the route taken."""
    if instance.lexicographic:
        return _relevance_first(instance, candidates, method)
    if method == "auto" and not instance.problem.is_sparse:
        cells = int(instance.open_slots.sum()) * int(np.minimum(instance.room, candidates.degree).sum())
        method = "assignment" if cells <= ASSIGNMENT_MAX_CELLS else "flow"
    if method != "assignment":
        return _exact_flow(instance, candidates, *_no_pairs(), method=method)
    pair_c, pair_d = _assignment_relaxation(instance, candidates)
    keys = pair_c * instance.n_d + pair_d
    if np.unique(keys).size == keys.size:
        return pair_c, pair_d, "assignment"
    pair_c, pair_d, _ = _column_generation(instance, candidates, pair_c, pair_d)
    return pair_c, pair_d, "assignment+flow"


def _takes_min_cost_flow(instance: _Instance, method: str) -> bool:
    return method == "mincostflow" or (method == "auto" and instance.problem.is_sparse)


def _exact_flow(instance: _Instance, candidates, seed_c: np.ndarray, seed_d: np.ndarray, *, method: str,
                face: _Face | None = None, seeds_from_history: bool = False) -> tuple[np.ndarray, np.ndarray, str]:
    """The flow model's optimum (on ``face``) and its route: the min-cost flow on integer costs for sparse rounds
    ("auto") or when asked for, else the flow LP by column generation (seeded with the pairs given).  Seeds that
    an earlier solve led to (``seeds_from_history``) may only seed the min-cost flow, which ignores them: a cold
    LP from them might stop at another optimum of a tie than a solve from nothing (`_TiedOptimum` then).

    Sparse rounds take the min-cost flow, several times faster than the LP on them (benchmarks/NOTES.md); dense
    ones keep the LP, whose pricing reads the weight matrix without listing its millions of pairs, and whose warm
    start serves a dense round's re-solves."""
    if _takes_min_cost_flow(instance, method):
        from matching.min_cost_flow import FlowRefused

        try:
            return (*_min_cost_flow(instance, candidates, face), "mincostflow")
        except FlowRefused:
            if seeds_from_history:
                raise _TiedOptimum from None
            # else the LP, exact on every network
    pair_c, pair_d, _ = _column_generation(instance, candidates, seed_c, seed_d, face=face)
    return pair_c, pair_d, "flow"


def _min_cost_flow(instance: _Instance, candidates, face: _Face | None) -> tuple[np.ndarray, np.ndarray]:
    """`matching.min_cost_flow.max_profit_flow` on every candidate pair."""
    from matching.min_cost_flow import max_profit_flow

    pair_c, pair_d, weight = candidates.weighted_pairs()
    fixed = None
    if face is not None and face.fixed_keys.size:
        fixed = _lookup(face.fixed_keys, pair_c * instance.n_d + pair_d) >= 0
    optimum = max_profit_flow(
        pair_c, pair_d, weight, room=instance.room, open_slots=instance.open_slots,
        locked_load=instance.locked_load, load_penalty=instance.problem.load_penalty,
        exact_load=None if face is None else face.exact_load, exact_team=None if face is None else face.exact_team,
        fixed=fixed,
    )
    if instance.aside is not None:
        instance.aside.lp_chose(pair_c[optimum.chosen], pair_d[optimum.chosen])
    return pair_c[optimum.chosen], pair_d[optimum.chosen]


@dataclass
class _Face:
    """Where a lexicographic phase leaves the next one: the optimal face of its LP.

    Complementary slackness with the phase's optimal duals: a pair with negative reduced profit stays
    out (dropped from the candidates), one with positive reduced profit stays in (``fixed_keys``,
    c·D + d), a craftsman / demand row with a non-zero dual stays tight (``exact_load`` ≥ 0,
    ``exact_team``).  Fixing inequalities of a totally unimodular system to equalities gives a face
    of an integral polytope, so the next phase still ends on an integral vertex.
    """

    exact_load: np.ndarray
    exact_team: np.ndarray
    fixed_keys: np.ndarray


def _relevance_first(instance: _Instance, candidates, method: str) -> tuple[np.ndarray, np.ndarray, str]:
    """Lexicographic: first the priority-weighted number of slots filled by relevant craftsmen
    (tier ≥ 1), exactly by max-flows (`matching.relevant_fill`), then priority·score minus the load
    penalty by the flow LP on the optimal face of the first, seeded with a first-phase optimum."""
    from matching.relevant_fill import max_relevant_fill

    shape, warm = (instance.n_c, instance.n_d), instance.warm
    last, last_lp = (instance.last_edges, instance.last_lp) if instance.use_warm else (None, None)
    # the last solve's max-flow pairs: the same cuts and face (`max_relevant_fill`), other phase-2 seeds, which
    # only a warm phase 2 (checked for ties) may take, or the min-cost flow, which takes no seeds
    warm_lp = last_lp is not None and last_lp.shape == shape
    usable = last is not None and last[0] == shape and (warm_lp or _takes_min_cost_flow(instance, method))
    start_c, start_d = np.divmod(last[1], instance.n_d) if usable else _no_pairs()
    price, start_c, start_d = candidates.relevant_pricer(start_c, start_d)
    phase = max_relevant_fill(
        instance.room, instance.open_slots, instance.problem.priority, price, start=(start_c, start_d)
    )
    if warm is not None:
        warm.edges = (shape, phase.edge_c * instance.n_d + phase.edge_d)
    if phase.value == 0:  # no relevant pair can be filled: the first phase constrains nothing
        return _exact_flow(instance, candidates, *_no_pairs(), method=method)
    face = _Face(
        exact_load=np.where(phase.tight_craftsmen, instance.room, -1),
        exact_team=phase.tight_demands,
        fixed_keys=np.sort(phase.fixed_c * instance.n_d + phase.fixed_d),
    )
    second = candidates.on_face(phase)
    pair_c, pair_d, route = _exact_flow(instance, second, phase.pair_c, phase.pair_d, method=method, face=face,
                                        seeds_from_history=usable and not warm_lp)
    candidates.spare = second.weight  # phase 2 is done: its weights' memory may serve the alternates' ranking
    return pair_c, pair_d, f"{route}+relevance"


class _Teams:
    """Rounds with team roles, as one LP over every usable column, solved by column generation.

    Columns x_cdr: craftsman c fills role r of demand d (a demand without roles has one role: its
    slots).  Rows: per craftsman Σ x − Σ_k copy_k ≤ 1 (copy k ≥ 1 costs λ·k), per team pair (c, d) that
    could fill two roles or is locked Σ_r x_cdr ≤ 1 (one role of a team; ≥ 1 when locked), per role Σ_c x_cdr ≤
    count.  The craftsman and pair rows form one laminar family and the role rows another, so the
    matrix is totally unimodular and simplex vertices are integral.  Relevance first runs the same
    lexicographic phases as `_relevance_first`, fixing the optimal face with HiGHS's duals.  The
    model knows every column's rows (no matrix is built); HiGHS sees the columns `_first_columns` picks
    and those pricing adds.
    """

    def __init__(self, instance: _Instance, candidates) -> None:
        problem = self.problem = instance.problem
        self.instance = instance
        n_d = instance.n_d
        if problem.is_sparse:
            usable = np.zeros(problem.pair_score.size, dtype=bool)
            usable[candidates.kept] = True
            usable[instance.pair_position(instance.locked_c, instance.locked_d)] = True
            position = np.flatnonzero(usable)
            c, d = problem.pair_craftsman[position], problem.pair_demand[position]
        else:
            d, c = _nonzero(candidates.weight > 0)
            c, d = np.r_[c, instance.locked_c], np.r_[d, instance.locked_d]
            position = (c, d)
        weight = problem.priority[d] * instance.score_of(c, d)
        previous = np.isin(c * n_d + d, instance.previous_c * n_d + instance.previous_d) if problem.previous \
            else np.zeros(c.size, dtype=bool)
        if problem.stickiness:
            weight[previous] += problem.stickiness
        tier = None if problem.relevance is None else problem.relevance[position]
        locked = np.isin(c * n_d + d, instance.locked_c * n_d + instance.locked_d)
        self.roles = [(d_index, None, int(problem.slots[d_index]), None) for d_index in range(n_d)]
        team = np.zeros(n_d, dtype=bool)
        for role in problem.roles:
            j = instance.d_index[role.demand]
            if not team[j]:
                self.roles[j] = None
                team[j] = True
            self.roles.append((j, role.role, role.count, role.eligible))
        self.roles = [role for role in self.roles if role is not None]
        by_demand = np.argsort(d, kind="stable")  # each demand's pairs in index order, as flatnonzero(d == j) lists them
        # the roles list the plain demands first, in index order, each one role: their columns are their pairs
        plain_role = np.full(n_d, -1)
        plain_role[~team] = np.arange(n_d - int(team.sum()))
        col_c = [by_demand[~team[d[by_demand]]]]
        col_r = [plain_role[d[col_c[0]]]]
        bounds = np.searchsorted(d[by_demand], np.arange(n_d + 1))
        for r in range(n_d - int(team.sum()), len(self.roles)):
            j, _, _, eligible = self.roles[r]
            of_demand = by_demand[bounds[j]:bounds[j + 1]]
            if eligible is not None:
                of_demand = of_demand[eligible[c[of_demand]]]
            col_c.append(of_demand)
            col_r.append(np.full(of_demand.size, r))
        self.col_pair, self.col_role = np.concatenate(col_c), np.concatenate(col_r)
        self.c, self.d, self.weight, self.tier, self.locked, self.team = c, d, weight, tier, locked, team
        self.previous = previous
        self.floor_columns: list[np.ndarray] = []  # set_floor: per raised demand, its qualifying columns

    def _model(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
        """Row bounds, column lower bounds, the copies' costs and the number of pair columns; the matrix stays
        implicit: every column's rows are kept (`_entries` writes a column set out for HiGHS, `_row_duals_sum`
        prices every column), which spares building and transposing a sparse matrix of every column."""
        problem, instance = self.problem, self.instance
        n_c = instance.n_c
        pair, role = self.col_pair, self.col_role
        spare = np.maximum(problem.capacity - 1, 0)
        copies_c, copy_k = number_runs(spare)
        self.copies_c = copies_c
        copy_k += 1
        # a pair row Σ_r x_cdr ≤ 1 only where he could fill two roles of the team, or is locked onto it: with one role
        # column, x ≤ 1 is the same constraint, and the LP is spared a row per such pair
        team_pairs = np.flatnonzero(self.team[self.d]
                                    & ((np.bincount(pair, minlength=self.c.size) >= 2) | self.locked))
        pair_row = np.full(self.c.size, -1)
        pair_row[team_pairs] = n_c + np.arange(team_pairs.size)
        n_x = pair.size
        # each pair column's rows, in increasing order: its craftsman's, its team pair's (some), its role's, its
        # raised demand's floor row (some)
        self.col_craftsman = self.c[pair]
        self.paired = np.flatnonzero(pair_row[pair] >= 0)
        self.paired_row = pair_row[pair[self.paired]]
        self.first_role_row = n_c + team_pairs.size
        self.role_size = np.bincount(role, minlength=len(self.roles))
        n_rows = self.first_role_row + len(self.roles)
        floor_row = np.full(n_x, -1)
        for k, columns in enumerate(self.floor_columns):
            floor_row[columns] = n_rows + k
        self.floored = np.flatnonzero(floor_row >= 0)
        self.floored_row = floor_row[self.floored]
        row_lower = np.full(n_rows, -np.inf)
        row_lower[n_c:][: team_pairs.size][self.locked[team_pairs]] = 1.0
        row_upper = np.r_[np.minimum(problem.capacity, 1), np.ones(team_pairs.size),
                          [count for _, _, count, _ in self.roles]].astype(np.float64)
        n_floor = len(self.floor_columns)
        row_lower, row_upper = np.r_[row_lower, np.ones(n_floor)], np.r_[row_upper, np.full(n_floor, np.inf)]
        col_lower = np.zeros(n_x + copies_c.size)
        col_lower[:n_x][self.locked[pair] & (pair_row[pair] < 0)] = 1.0
        return row_lower, row_upper, col_lower, problem.load_penalty * copy_k, n_x

    def _entries(self, columns: np.ndarray, n_x: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The model's columns ``columns`` (pair columns, then copies) for HiGHS, column-wise: each column's count of
        entries, their rows (increasing within a column) and values."""
        pairs, copies = columns[columns < n_x], columns[columns >= n_x] - n_x
        rows = np.full((pairs.size, 4), -1)
        rows[:, 0] = self.col_craftsman[pairs]
        at = _lookup(self.paired, pairs)
        rows[at >= 0, 1] = self.paired_row[at[at >= 0]]
        rows[:, 2] = self.first_role_row + self.col_role[pairs]
        at = _lookup(self.floored, pairs)
        rows[at >= 0, 3] = self.floored_row[at[at >= 0]]
        present = rows >= 0
        count = np.r_[present.sum(axis=1), np.ones(copies.size, dtype=np.int64)]
        index = np.r_[rows[present], self.copies_c[copies]]
        value = np.r_[np.ones(int(present.sum())), -np.ones(copies.size)]
        return count, index, value

    def _row_duals_sum(self, dual: np.ndarray) -> np.ndarray:
        """Aᵀy for every column, each column's terms summed in its rows' order (as a CSR product would)."""
        product = dual[self.col_craftsman]
        product[self.paired] += dual[self.paired_row]
        product += np.repeat(dual[self.first_role_row:self.first_role_row + len(self.roles)], self.role_size)
        product[self.floored] += dual[self.floored_row]
        return np.r_[product, -dual[self.copies_c]]

    def set_floor(self) -> None:
        """Demand-floor fairness (`matching.floor`): the best q over the pairs of demands without team
        roles, then one row per demand still short of a qualifying craftsman: Σ qualifying x ≥ 1."""
        instance = self.instance
        plain = ~self.team[self.d]
        score = instance.score_of(self.c, self.d)
        from matching.floor import best_floor

        floor = best_floor(
            self.c[plain], self.d[plain], score[plain], self.locked[plain], instance.room, instance.open_slots
        )
        ratio = np.zeros(self.c.size)
        ratio[plain] = floor.ratio
        self.floor, self.ratio = floor, ratio
        if floor.q is None:
            return
        column_d = self.d[self.col_pair]
        qualifying = ~self.locked[self.col_pair] & (ratio[self.col_pair] >= floor.q)
        self.floor_demands = np.flatnonzero(floor.needs)
        self.floor_columns = [np.flatnonzero(qualifying & (column_d == j)) for j in self.floor_demands]

    def floor_report(self, result: Result) -> dict:
        """q, the worst demand's best normalised score with and without the floor, and what it costs."""
        problem = self.problem
        from matching.floor import worst_normalised

        without = solve(dataclasses.replace(problem, floor=False))
        served = self.floor.served

        def worst(res: Result) -> float:
            chosen_keys = {(self.instance.c_index[a.craftsman], self.instance.d_index[a.demand]) for a in res.assignments}
            chosen = np.fromiter(((c, d) in chosen_keys for c, d in zip(self.c.tolist(), self.d.tolist(), strict=True)),
                                 dtype=bool, count=self.c.size)
            return worst_normalised(self.ratio, self.d, chosen & ~self.team[self.d], served)

        return {
            "q": self.floor.q,
            "worst_with_floor": worst(result),
            "worst_without_floor": worst(without),
            "objective_without_floor": without.objective,
            "cost": without.objective - result.objective,
            "demands_raised": int(self.floor.needs.sum()) if self.floor.q is not None else 0,
            "thresholds_checked": self.floor.checked,
        }

    def solve(self):
        """(chosen pair indices without locks, route) or (None, None, message) when infeasible."""
        row_lower, row_upper, col_lower, copy_cost, n_x = self._model()
        profit = self.weight[self.col_pair]
        unit = float(profit.max(initial=0.0)) or 1.0
        phases = [np.r_[-profit / unit, np.minimum(copy_cost / unit, row_upper.sum() + 1)]]
        if self.problem.relevance is not None and self.problem.relevance_mode != "off":
            relevant = self.tier[self.col_pair] >= 1
            if self.problem.relevance_mode == "only":
                col_upper_mask = relevant | self.locked[self.col_pair]
            else:
                col_upper_mask = np.ones(n_x, dtype=bool)
            priority = self.problem.priority[self.d[self.col_pair]]
            first = np.where(relevant & col_upper_mask, priority, 0.0)
            phases.insert(0, np.r_[-first / (float(first.max(initial=0.0)) or 1.0), np.zeros(copy_cost.size)])
        else:
            col_upper_mask = np.ones(n_x, dtype=bool)
        col_upper = np.r_[col_upper_mask.astype(np.float64), np.ones(copy_cost.size)]
        # column generation: HiGHS holds `order`'s columns; every other column is priced after each run
        # each role's best columns by each phase's cost (one phase: its cost is −profit, so once)
        active = self._first_columns((phases[0][:n_x], -profit) if len(phases) > 1 else (-profit,), col_upper, n_x)
        order = np.flatnonzero(active)
        if order.size == 0:  # no column can be chosen: HiGHS would call the model empty, not optimal
            if np.any(row_lower > 0):
                return None, None, LOCKS_CANNOT_TAKE_A_ROLE
            self.chosen_role, self.chosen = {}, np.zeros(0, dtype=np.int64)
            return self.chosen, self.chosen, self._route()
        highs = new_highs()
        lp = highspy.HighsLp()
        count, index, value = self._entries(order, n_x)
        lp.num_col_, lp.num_row_ = order.size, row_lower.size
        lp.col_cost_, lp.col_lower_, lp.col_upper_ = phases[0][order], col_lower[order], col_upper[order]
        lp.row_lower_ = np.where(np.isfinite(row_lower), row_lower, -highspy.kHighsInf)
        lp.row_upper_ = row_upper
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = np.r_[0, np.cumsum(count)].astype(np.int32)
        lp.a_matrix_.index_ = index.astype(np.int32)
        lp.a_matrix_.value_ = value
        highs.passModel(lp)
        batch = max(MIN_PRICING_BATCH, PRICING_BATCH_PER_ROW * (self.instance.n_c + len(self.roles)))
        x = np.zeros(col_lower.size)
        for phase, cost in enumerate(phases):
            while True:
                with self.instance.aside or _NOTHING_ASIDE:
                    highs.run()
                status = highs.getModelStatus()
                if status == highspy.HighsModelStatus.kInfeasible:  # the first run's: added columns only relax it
                    return None, None, LOCKS_CANNOT_TAKE_A_ROLE
                if status != highspy.HighsModelStatus.kOptimal:
                    raise RuntimeError(f"team LP failed: {highs.modelStatusToString(status)}")
                solution = highs.getSolution()
                x[order] = np.asarray(solution.col_value)
                reduced = cost - self._row_duals_sum(np.asarray(solution.row_dual))
                new = np.flatnonzero(~active & (col_upper > 0) & (reduced < -TEAM_PRICING_TOLERANCE))
                if new.size == 0:  # every column prices out: optimal over all of them
                    break
                if new.size > batch:  # the most violated first
                    new = new[np.argpartition(reduced[new], batch)[:batch]]
                new.sort()
                count, index, value = self._entries(new, n_x)
                highs.addCols(new.size, cost[new], col_lower[new], col_upper[new], index.size,
                              (np.cumsum(count) - count).astype(np.int32), index.astype(np.int32), value)
                active[new] = True
                order = np.r_[order, new]
            if phase + 1 < len(phases):  # this phase's optimal face for the next: fix what the last pricing (the
                # same solution's reduced costs) prices away, over every column
                activity, dual = np.asarray(solution.row_value), np.asarray(solution.row_dual)
                fix = np.abs(reduced) > FACE_TOLERANCE
                col_lower, col_upper = np.where(fix, np.round(x), col_lower), np.where(fix, np.round(x), col_upper)
                tight = np.abs(dual) > FACE_TOLERANCE
                row_lower = np.where(tight, np.round(activity), row_lower)
                row_upper = np.where(tight, np.round(activity), row_upper)
                n_col, n_row = order.size, row_lower.size
                highs.changeColsBounds(n_col, np.arange(n_col, dtype=np.int32), col_lower[order], col_upper[order])
                highs.changeRowsBounds(
                    n_row, np.arange(n_row, dtype=np.int32),
                    np.where(np.isfinite(row_lower), row_lower, -highspy.kHighsInf), row_upper,
                )
                highs.changeColsCost(n_col, np.arange(n_col, dtype=np.int32), phases[phase + 1][order])
        x = x[:n_x] > 0.5
        chosen = self.col_pair[x]
        self.chosen_role = dict(zip(chosen.tolist(), self.col_role[x].tolist(), strict=True))
        free = ~self.locked[chosen]
        self.chosen = chosen
        return self.c[chosen][free], self.d[chosen][free], self._route()

    def _route(self) -> str:
        return "+".join(name for name, used in (("roles", self.problem.roles), ("floor", self.problem.floor)) if used)

    def _first_columns(self, keys: tuple[np.ndarray, ...], col_upper: np.ndarray, n_x: int) -> np.ndarray:
        """The columns HiGHS starts with (a mask over the model's): every copy, lock and floor column, each role's
        best columns for its count and two spares by each of ``keys`` (per pair column, lowest first; the last one
        −profit), each craftsman's best one by the last and, as the flow LP's seeds (`SEED_WITH_PREVIOUS`), every
        column of a previous pair.  Only the time depends on them: pricing adds whatever else an optimum needs.

        Ties at a role's cut are taken in a rotation of the craftsmen that starts at another place for every role
        (offsets spread by the golden ratio).  The relevance phase's cost ties every relevant column of a demand:
        taken in index order (or by profit) the roles' first columns named the same few craftsmen, and pricing
        needed 8-9 runs to spread them (benchmarks/NOTES.md)."""
        n_c = self.instance.n_c
        start = np.zeros(col_upper.size, dtype=bool)
        start[n_x:] = True
        start[:n_x] |= self.locked[self.col_pair]
        for columns in self.floor_columns:
            start[columns] = True
        least = np.full(n_c, np.inf)  # each craftsman's least last key over his usable columns
        bounds = np.searchsorted(self.col_role, np.arange(len(self.roles) + 1))  # a role's columns are one block
        for r, (_, _, count, _) in enumerate(self.roles):
            block = np.arange(bounds[r], bounds[r + 1])
            block = block[col_upper[block] > 0]
            craftsmen = self.col_craftsman[block]
            least[craftsmen] = np.minimum(least[craftsmen], keys[-1][block])  # (a craftsman once in a role)
            want = count + 2
            if block.size <= want:
                start[block] = True
                continue
            turn = (craftsmen - int(n_c * ((r * _GOLDEN_RATIO) % 1.0))) % n_c
            for key in keys:
                value = key[block]
                cut = np.partition(value, want - 1)[want - 1]
                start[block[value < cut]] = True
                tied = np.flatnonzero(value == cut)
                room = want - int(np.count_nonzero(value < cut))
                start[block[tied[np.argpartition(turn[tied], room - 1)[:room]] if tied.size > room else tied]] = True
        usable = np.flatnonzero(col_upper[:n_x] > 0)
        start[usable[keys[-1][usable] <= least[self.col_craftsman[usable]]]] = True
        if SEED_WITH_PREVIOUS:
            start[usable[self.previous[self.col_pair[usable]]]] = True
        return start

    def report(self, result: Result) -> None:
        """Name the role of every team member, and why each open role stays open."""
        problem = self.problem
        role_of = {
            (problem.craftsmen[self.c[p]], problem.demands[self.d[p]]): self.roles[r][1]
            for p, r in self.chosen_role.items()
        }
        result.assignments = [
            dataclasses.replace(a, role=role_of.get((a.craftsman, a.demand))) for a in result.assignments
        ]
        filled = np.bincount(np.asarray(list(self.chosen_role.values()), dtype=np.int64), minlength=len(self.roles))
        offered = np.bincount(self.col_role, minlength=len(self.roles))
        for r, (j, role, count, _) in enumerate(self.roles):
            if role is None or filled[r] >= count:
                continue
            reason = "eligible craftsmen are taken" if offered[r] else "no eligible craftsman"
            result.unfilled_roles.append(
                {"demand": problem.demands[j], "role": role, "missing": int(count - filled[r]), "reason": reason}
            )
        result.role_alternates = self._role_alternates(problem.alternates_k)

    def _role_alternates(self, k: int) -> dict[Hashable, dict[Hashable, list[tuple[Hashable, float]]]]:
        """Per team demand and role, the k best open craftsmen holding the role's speciality, by score, ties in input
        order.  Open: one of the role's columns (allowed, not forbidden, score ≥ min_score, relevant under relevance
        "only"; a sticky previous pair is a column even when it is not; a sparse round's are among each demand's
        candidates), 0 < score, and not chosen for the demand in any role.  Someone who could fill two roles of a
        demand is listed under the first that has room for him: a replacement the coordinator picks for one role is
        then not also offered for another."""
        problem = self.problem
        by_demand: dict[Hashable, dict[Hashable, list[tuple[Hashable, float]]]] = {}
        team_roles = [r for r, (_, role, _, _) in enumerate(self.roles) if role is not None]
        if k == 0 or not team_roles:
            return by_demand
        for r in team_roles:  # every role has its list, even an empty one, in the order of the problem's roles
            j, role_id = self.roles[r][:2]
            by_demand.setdefault(problem.demands[j], {})[role_id] = []
        chosen = np.zeros(self.c.size, dtype=bool)
        chosen[self.chosen] = True
        column = np.flatnonzero(np.isin(self.col_role, team_roles) & ~chosen[self.col_pair])
        pair = self.col_pair[column]
        c, score = self.c[pair], self.instance.score_of(self.c[pair], self.d[pair])
        open_ = score > 0
        if self.instance.relevant_only:
            open_ &= self.tier[pair] >= 1
        column, c, score = column[open_], c[open_], score[open_]
        if column.size == 0:
            return by_demand
        role = self.col_role[column]
        order = np.lexsort((c, -score, role))
        role, c, score = role[order], c[order].tolist(), score[order].tolist()
        starts = np.flatnonzero(np.r_[True, role[1:] != role[:-1]]).tolist()
        listed: dict[int, set[int]] = {}  # per demand, craftsmen listed under one of its roles
        for start, end in zip(starts, [*starts[1:], role.size], strict=True):
            j, role_id = self.roles[int(role[start])][:2]
            taken, best = listed.setdefault(j, set()), by_demand[problem.demands[j]][role_id]
            for i in range(start, end):
                if c[i] not in taken:
                    taken.add(c[i])
                    best.append((problem.craftsmen[c[i]], score[i]))
                    if len(best) == k:
                        break
        return by_demand


def _nonzero(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.nonzero`` of a 2-D mask, same indices in the same (row-major) order: flat positions split by
    divmod take ~1/20 of the time of numpy's 2-D nonzero on a mostly false mask (benchmarks/NOTES.md)."""
    return np.divmod(np.flatnonzero(mask), mask.shape[1])


def _no_pairs() -> tuple[np.ndarray, np.ndarray]:
    return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)


def slot_matrix(problem: Problem) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The dense assignment relaxation of `problem` (locks applied): the matrix, the demand
    index of each row and the craftsman index of each column.  For benchmarks and tests."""
    instance = _Instance(problem)
    return _expand_slots(instance, instance.candidates().weight)


def _expand_slots(instance: _Instance, weight: np.ndarray):
    """The slot × copy matrix of the assignment relaxation (rows: demand slots, columns:
    craftsman copies), clamped at 0, with the demand of each row and craftsman of each
    column.  Copy k (0-based) of craftsman c loses λ·(k + locks of c)."""
    positive = weight > 0
    copies = np.minimum(instance.room, np.count_nonzero(positive, axis=0))
    team = np.minimum(instance.open_slots, np.count_nonzero(positive, axis=1))
    row_d = np.repeat(np.arange(instance.n_d), team)
    col_c, col_k = number_runs(copies)
    matrix = weight[np.ix_(row_d, col_c)]
    if instance.problem.load_penalty:
        matrix -= instance.problem.load_penalty * (col_k + instance.locked_load[col_c])
        np.maximum(matrix, 0.0, out=matrix)
    return matrix, row_d, col_c


def _assignment_relaxation(instance: _Instance, candidates: _DenseCandidates):
    matrix, row_d, col_c = _expand_slots(instance, candidates.weight)
    if matrix.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(matrix, maximize=True)
    used = matrix[rows, cols] > 0
    return col_c[cols[used]], row_d[rows[used]]


def _column_generation(
    instance: _Instance,
    candidates,
    seed_c: np.ndarray,
    seed_d: np.ndarray,
    *,
    load_penalty: float | None = None,
    face: _Face | None = None,
):
    """Solve the flow LP over a growing pair set until no pair prices out positive.

    Started from the last solve's LP (``instance.warm``), it keeps the optimum only when no other optimum
    chooses other pairs: then every route reaches it; otherwise it raises `_TiedOptimum`.

    Returns the chosen pairs and the LP (its last duals are optimal for every candidate)."""
    start_c, start_d = candidates.initial()
    if SEED_WITH_PREVIOUS:
        seed_c, seed_d = np.r_[seed_c, instance.previous_c], np.r_[seed_d, instance.previous_d]
    last = instance.last_lp if instance.use_warm else None
    if last is not None and last.shape == (instance.n_c, instance.n_d):
        last_c, last_d = np.divmod(last.pair_keys, instance.n_d)
        seed_c, seed_d = np.r_[seed_c, last_c], np.r_[seed_d, last_d]
    else:
        last = None
    candidates.watch_ties = last is not None
    new_c, new_d = candidates.add(np.r_[start_c, seed_c], np.r_[start_d, seed_d])
    penalty = instance.problem.load_penalty if load_penalty is None else load_penalty
    flow = _FlowLP(instance, candidates, penalty, face)
    if new_c.size == 0:
        return new_c, new_d, flow
    tolerance = 1e-9 * max(candidates.scale, np.finfo(float).tiny)
    candidates.tie_band = TIE_TOLERANCE * max(candidates.scale, np.finfo(float).tiny)
    for rounds in itertools.count(1):
        flow.add(new_c, new_d)
        if rounds == 1 and last is not None:
            flow.start_from(last)
        dual_c, dual_d = flow.run()
        new_c, new_d = candidates.violators(dual_c, dual_d, tolerance)
        if new_c.size == 0:
            if last is not None and (candidates.tied or not flow.unique_optimum()):
                raise _TiedOptimum  # a solve from nothing might reach the other optimum
            if instance.warm is not None:
                instance.warm.last = flow.final()
            return (*flow.chosen_pairs(), flow)
        batch = max(MIN_PRICING_BATCH, PRICING_BATCH_PER_ROW * (instance.n_c + instance.n_d))
        if new_c.size > batch:  # the most violated columns first
            profit = candidates.weights(new_c, new_d) + dual_c[new_c] + dual_d[new_d]
            keep = np.argpartition(-profit, batch)[:batch]
            new_c, new_d = new_c[keep], new_d[keep]
        if rounds >= ROUNDS_BEFORE_ALL_PAIRS:
            new_c, new_d = candidates.everything()
        new_c, new_d = candidates.add(new_c, new_d)
    raise AssertionError("unreachable")  # pragma: no cover


class _FlowLP:
    """The LP of the flow model over a growing set of pair columns.

    Rows: one per craftsman, Σ_d x − Σ_k copy_k ≤ free copies, and one per demand,
    Σ_c x ≤ open slots.  Copy k (0-based) of craftsman c costs λ·(k + locks of c); the
    copies that cost nothing (all when λ = 0, else the first of an unlocked craftsman)
    are the right-hand side instead of columns, which keeps the LP small.  HiGHS keeps
    its basis between `run`s, so a round after adding columns is a short warm restart
    of the dual simplex.  Profits and costs are divided by the largest profit (``unit``):
    HiGHS's tolerances are absolute, so this makes them relative to the objective's scale.
    A ``face`` (see `_Face`) turns rows into equalities and fixes pairs at 1.
    """

    def __init__(self, instance: _Instance, candidates, penalty: float, face: _Face | None) -> None:
        self.candidates, self.face = candidates, face
        n_c, n_d = instance.n_c, instance.n_d
        self.n_c, self.n_d = n_c, n_d
        self.unit = candidates.scale if candidates.scale > 0 else 1.0
        copies = instance.room if penalty == 0 else np.minimum(instance.room, candidates.degree)
        free = copies if penalty == 0 else np.minimum(copies, instance.locked_load == 0)
        row_lower = np.full(n_c + n_d, -np.inf)
        if face is not None:
            exact = face.exact_load >= 0
            free = np.where(exact, face.exact_load, free)
            copies = np.where(exact, face.exact_load, copies)
            row_lower[:n_c][exact] = face.exact_load[exact]
            row_lower[n_c:][face.exact_team] = instance.open_slots[face.exact_team]
        paid = copies - free
        self.copy_rows, copy_k = number_runs(paid)
        self.copy_k = copy_k = copy_k + free[self.copy_rows]
        # a copy dearer than every profit together is never used: capping its cost keeps it finite; not on a face
        # with exact teams, where a place must be filled whatever it costs (two capped copies would tie)
        most = float(instance.open_slots.sum()) + 1.0
        if face is not None and face.exact_team.any():
            most = np.inf
        self.copy_cost = np.minimum(penalty * (copy_k + instance.locked_load[self.copy_rows]) / self.unit, most)
        self.bound = np.r_[free.astype(np.float64), instance.open_slots.astype(np.float64)]
        self.row_lower = row_lower
        self.pair_c: list[np.ndarray] = []
        self.pair_d: list[np.ndarray] = []
        self.profit: list[np.ndarray] = []
        self.lower: list[np.ndarray] = []
        self.x = np.zeros(0)
        self.duals = (np.zeros(n_c), np.zeros(n_d))
        self.highs = self._start_highs()
        self.aside = instance.aside

    def _start_highs(self) -> highspy.Highs:
        highs = new_highs()
        lp = highspy.HighsLp()
        n_copies, n_rows = self.copy_rows.size, self.bound.size
        lp.num_col_, lp.num_row_ = n_copies, n_rows
        lp.col_cost_, lp.col_lower_, lp.col_upper_ = self.copy_cost, np.zeros(n_copies), np.ones(n_copies)
        lp.row_lower_ = np.where(np.isfinite(self.row_lower), self.row_lower, -highspy.kHighsInf)
        lp.row_upper_ = self.bound
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = np.arange(n_copies + 1, dtype=np.int32)
        lp.a_matrix_.index_ = self.copy_rows.astype(np.int32)
        lp.a_matrix_.value_ = -np.ones(n_copies)
        highs.passModel(lp)
        return highs

    def add(self, pair_c: np.ndarray, pair_d: np.ndarray) -> None:
        profit = self.candidates.weights(pair_c, pair_d) / self.unit
        lower = np.zeros(pair_c.size)
        if self.face is not None and self.face.fixed_keys.size:
            lower[_lookup(self.face.fixed_keys, pair_c * self.n_d + pair_d) >= 0] = 1.0
        self.pair_c.append(pair_c)
        self.pair_d.append(pair_d)
        self.profit.append(profit)
        self.lower.append(lower)
        n = pair_c.size
        rows = np.empty(2 * n, dtype=np.int32)
        rows[0::2], rows[1::2] = pair_c, self.n_c + pair_d
        starts = np.arange(0, 2 * n, 2, dtype=np.int32)
        self.highs.addCols(n, -profit, lower, np.ones(n), 2 * n, starts, rows, np.ones(2 * n))

    def _keys(self) -> tuple[np.ndarray, np.ndarray]:
        """Each copy column's key k·C + c and each pair column's c·D + d, in column order."""
        pair_keys = np.concatenate(self.pair_c) * self.n_d + np.concatenate(self.pair_d)
        return self.copy_k * self.n_c + self.copy_rows, pair_keys

    def unique_optimum(self) -> bool:
        """Whether every optimum over these columns chooses the pairs the last run chose.

        The LP is a min-cost flow (source → craftsman: free room and paid copies; craftsman → demand: pairs;
        demand → sink: open slots; the flow's value is free).  Another optimum differs from this one by a
        cycle of residual arcs whose reduced costs are all 0, so the chosen pairs are the only optimal ones
        when no pair arc with a ~0 reduced cost lies on a cycle of such arcs: its two ends are in different
        strongly connected components of the graph of the ~0 residual arcs."""
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        solution = self.highs.getSolution()
        x, column_dual = np.asarray(solution.col_value), np.asarray(solution.col_dual)
        activity, row_dual = np.asarray(solution.row_value), np.asarray(solution.row_dual)
        tolerance = TIE_TOLERANCE  # the LP's units: the largest profit is 1
        n_c, n_copies = self.n_c, self.copy_rows.size
        source, sink = n_c + self.n_d, n_c + self.n_d + 1
        craftsman_node, demand_node = np.arange(n_c), n_c + np.arange(self.n_d)
        zero_row = np.abs(row_dual) <= tolerance
        loose = self.row_lower < self.bound  # not an equality of a lexicographic face
        room = zero_row & loose & (activity < self.bound - 0.5)  # a row's flow may rise at no cost…
        used = zero_row & loose & (activity > np.where(np.isfinite(self.row_lower), self.row_lower, 0) + 0.5)
        load = np.bincount(np.concatenate(self.pair_c), weights=x[n_copies:], minlength=n_c)
        used[:n_c] &= load > 0.5  # … or fall (a craftsman row counts his copies: only his pairs' flow can fall)
        copy_zero = np.abs(column_dual[:n_copies]) <= tolerance
        pair_c, pair_d = np.concatenate(self.pair_c), np.concatenate(self.pair_d)
        pair_x = x[n_copies:] > 0.5
        pair_zero = (np.abs(column_dual[n_copies:]) <= tolerance) & (np.concatenate(self.lower) < 1.0)
        tails = [np.array([sink, source]), np.full(int(room[:n_c].sum()), source), craftsman_node[used[:n_c]],
                 np.full(int((copy_zero & (x[:n_copies] < 0.5)).sum()), source),
                 self.copy_rows[copy_zero & (x[:n_copies] > 0.5)],
                 demand_node[room[n_c:]], np.full(int(used[n_c:].sum()), sink),
                 pair_c[pair_zero & ~pair_x], demand_node[pair_d[pair_zero & pair_x]]]
        heads = [np.array([source, sink]), craftsman_node[room[:n_c]], np.full(int(used[:n_c].sum()), source),
                 self.copy_rows[copy_zero & (x[:n_copies] < 0.5)],
                 np.full(int((copy_zero & (x[:n_copies] > 0.5)).sum()), source),
                 np.full(int(room[n_c:].sum()), sink), demand_node[used[n_c:]],
                 demand_node[pair_d[pair_zero & ~pair_x]], pair_c[pair_zero & pair_x]]
        tail, head = np.concatenate(tails), np.concatenate(heads)
        graph = coo_matrix((np.ones(tail.size), (tail, head)), shape=(sink + 1, sink + 1)).tocsr()
        _, component = connected_components(graph, directed=True, connection="strong")
        ends_c, ends_d = pair_c[pair_zero], demand_node[pair_d[pair_zero]]
        return not np.any(component[ends_c] == component[ends_d])

    def final(self) -> _LastLP:
        """This LP's columns and basis, for the next solve of the round to start from."""
        copy_keys, pair_keys = self._keys()
        return _LastLP((self.n_c, self.n_d), pair_keys, copy_keys, self.highs.getBasis(), self.bound.size)

    def start_from(self, last: _LastLP) -> None:
        """Hand HiGHS the statuses ``last`` had for the columns and rows this LP shares with it (others at their
        lower bound).  As an "alien" basis: HiGHS completes or repairs it (a lock changes rooms, bounds and
        columns), then the dual simplex runs from there."""
        copy_keys, pair_keys = self._keys()
        column = np.full(copy_keys.size + pair_keys.size, _LOWER, dtype=np.int8)
        for keys, offset, known, status in ((copy_keys, 0, last.copy_keys, last.copy_status),
                                            (pair_keys, copy_keys.size, last.pair_keys, last.pair_status)):
            position = _lookup(known, keys)
            found = position >= 0
            column[offset:offset + keys.size][found] = status[position[found]]
        row = last.row_status.copy()
        # a row status must name a finite bound: a ≤ row (no lower bound) is nonbasic at its upper one
        row[(row == _LOWER) & ~np.isfinite(self.row_lower)] = _UPPER
        basis = highspy.HighsBasis()
        basis.col_status = [_STATUSES[s] for s in column.tolist()]
        basis.row_status = [_STATUSES[s] for s in row.tolist()]
        basis.valid, basis.alien = True, True
        self.highs.setBasis(basis)
        self.highs.setOptionValue("presolve", "off")  # presolve would set the basis aside

    def _matrix(self) -> tuple[np.ndarray, sp.csc_matrix]:
        import scipy.sparse as sp

        pair_c, pair_d = np.concatenate(self.pair_c), np.concatenate(self.pair_d)
        n_copies, n = self.copy_rows.size, pair_c.size
        rows = np.r_[self.copy_rows, pair_c, self.n_c + pair_d]
        cols = np.r_[np.arange(n_copies), np.tile(n_copies + np.arange(n), 2)]
        values = np.r_[-np.ones(n_copies), np.ones(2 * n)]
        cost = np.r_[self.copy_cost, -np.concatenate(self.profit)]
        return cost, sp.csc_matrix((values, (rows, cols)), shape=(self.bound.size, cost.size))

    def run(self) -> tuple[np.ndarray, np.ndarray]:
        """Solve; returns the craftsman and demand row duals (≤ 0 on ≤ rows), in profit units."""
        if self.x.size == 0 and self.highs.getNumCol() < PRESOLVE_MIN_COLUMNS:  # the cold first round
            self.highs.setOptionValue("presolve", "off")
        with self.aside or _NOTHING_ASIDE:
            self.highs.run()
        status = self.highs.getModelStatus()
        if status != highspy.HighsModelStatus.kOptimal:  # pragma: no cover - always feasible, bounded
            raise RuntimeError(f"flow LP failed: {self.highs.modelStatusToString(status)}")
        solution = self.highs.getSolution()
        self.x = np.asarray(solution.col_value)
        dual = np.asarray(solution.row_dual) * self.unit
        self.duals = (dual[: self.n_c], dual[self.n_c :])
        if self.aside is not None:
            picked = self.x[self.copy_rows.size :] > 0.5
            self.aside.lp_chose(np.concatenate(self.pair_c)[picked], np.concatenate(self.pair_d)[picked])
        return self.duals

    def chosen_pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """The pairs at 1 in the last solution, which is integral (a TU vertex)."""
        x = self.x
        if np.any(np.abs(x - np.round(x)) > 1e-6):  # pragma: no cover - TU ⇒ vertices are integral
            from scipy.optimize import Bounds, LinearConstraint, milp

            cost, matrix = self._matrix()
            lower = np.r_[np.zeros(self.copy_rows.size), np.concatenate(self.lower)]
            x = milp(
                cost,
                constraints=LinearConstraint(matrix, self.row_lower, self.bound),
                integrality=np.ones(cost.size),
                bounds=Bounds(lower, 1),
            ).x
        picked = x[self.copy_rows.size :] > 0.5
        return np.concatenate(self.pair_c)[picked], np.concatenate(self.pair_d)[picked]


def _build_result(
    instance: _Instance, candidates, pair_c: np.ndarray, pair_d: np.ndarray, solver: str
) -> Result:
    problem = instance.problem
    locked = np.r_[np.ones(instance.locked_c.size, bool), np.zeros(pair_c.size, bool)]
    pair_c = np.r_[instance.locked_c, pair_c].astype(np.int64)
    pair_d = np.r_[instance.locked_d, pair_d].astype(np.int64)
    order = np.lexsort((pair_c, pair_d))
    pair_c, pair_d, locked = pair_c[order], pair_d[order], locked[order]

    component_index = instance.cells_of(pair_c, pair_d)  # found once: the scores, components and tiers are there
    score = instance.score_at(component_index)
    weighted = score * problem.priority[pair_d]
    load = np.bincount(pair_c, minlength=instance.n_c)
    team = np.bincount(pair_d, minlength=instance.n_d)
    penalty_cost = problem.load_penalty * float(np.sum(load * (load - 1)) / 2)
    objective = float(weighted.sum()) - penalty_cost

    breakdowns = _breakdowns(problem, component_index, pair_c.size)
    craftsmen, demands = problem.craftsmen, problem.demands
    tiers = [None] * pair_c.size if problem.relevance is None else problem.relevance[component_index].tolist()
    assignments = [
        Assignment(craftsmen[c], demands[d], s, w, b, k, t, None, () if t is None or t else (NO_REQUIRED_SKILL,))
        for c, d, s, w, b, k, t in zip(
            pair_c.tolist(),
            pair_d.tolist(),
            score.tolist(),
            weighted.tolist(),
            breakdowns,
            locked.tolist(),
            tiers,
            strict=True,
        )
    ]
    missing = problem.slots - team
    unfilled = [(demands[d], int(missing[d])) for d in np.flatnonzero(missing > 0)]
    loads = {craftsmen[c]: int(load[c]) for c in np.flatnonzero(load)}

    result = Result(
        status=OPTIMAL,
        objective=objective,
        assignments=assignments,
        unfilled=unfilled,
        loads=loads,
        alternates=_alternates(problem, candidates, pair_c, pair_d),
        solver=solver,
    )
    if problem.previous is not None:
        result.changes = _changes(problem.previous, [(a.craftsman, a.demand) for a in assignments])
    active = problem.capacity > 0
    result.metrics = {
        "demand_coverage": float(np.mean(team > 0)) if instance.n_d else 0.0,
        "slot_fill_rate": float(team.sum() / problem.slots.sum()) if instance.n_d else 0.0,
        "mean_score": float(score.mean()) if score.size else 0.0,
        "load_gini": gini(load[active]),
        "assigned_pairs": int(pair_c.size),
        "craftsmen_used": int(np.count_nonzero(load)),
        "weighted_score": float(weighted.sum()),
        "load_penalty_cost": penalty_cost,
    }
    if problem.relevance is not None:
        relevant = problem.relevance[component_index] >= 1
        result.metrics["relevant_pairs"] = int(np.count_nonzero(relevant))
        result.metrics["relevance_rate"] = float(relevant.mean()) if relevant.size else 1.0
        result.metrics["relevant_weight"] = float(problem.priority[pair_d][relevant].sum())
    return result


def _breakdowns(problem: Problem, index, count: int) -> list[dict[str, float]]:
    if not problem.components:
        return [{} for _ in range(count)]
    columns = {name: values[index].tolist() for name, values in problem.components.items()}
    names = list(columns)
    return [dict(zip(names, row, strict=True)) for row in zip(*columns.values(), strict=True)]


def _alternates(problem: Problem, candidates, pair_c: np.ndarray, pair_d: np.ndarray) -> dict:
    """Per demand the next `alternates_k` best craftsmen still open to it (allowed, not
    forbidden, 0 < score, score ≥ min_score, not assigned to it), best first; ties are
    broken deterministically (listed in input order)."""
    alternates: dict[Hashable, list] = {demand: [] for demand in problem.demands}
    if problem.alternates_k == 0 or not problem.demands or not problem.craftsmen:
        return alternates
    c, d, score = candidates.alternates(pair_c, pair_d, problem.alternates_k)
    if c.size == 0:
        return alternates
    order = np.lexsort((c, -score, d))
    c, d = c[order], d[order]
    listed = list(zip(map(problem.craftsmen.__getitem__, c.tolist()), score[order].tolist(), strict=True))
    starts = np.flatnonzero(np.r_[True, d[1:] != d[:-1]]).tolist()  # one slice per demand, not one append per pair
    for start, end, demand in zip(starts, [*starts[1:], d.size], d[starts].tolist(), strict=True):
        alternates[problem.demands[demand]] = listed[start:end]
    return alternates


def _changes(previous, current) -> dict[str, list]:
    before, after = set(previous), set(current)
    return {
        "added": [p for p in current if p not in before],
        "removed": list(dict.fromkeys(p for p in previous if p not in after)),
    }
