"""The flow model solved as a min-cost flow on integer costs, exact for the real-valued weights.

The flow LP of `matching.solve` is a min-cost flow: source → craftsman (copy k of craftsman c costs
λ·(k + his locks)), craftsman → demand (one unit arc per candidate pair, cost −weight), demand → sink (its
open slots), and a free source → sink arc, since flow need not be maximal.  Here that network goes to
OR-Tools' `SimpleMinCostFlow` (a cost-scaling push-relabel code) with every cost multiplied by a power of two
``U`` and rounded to an integer.

Notes
-----
Why the integer optimum is the real one.  Costs are divided by the largest one, ``M``, and scaled by ``2^b``:
each rounded cost ``C_a`` is within 1/2 of ``2^b·c_a/M``.  For the integer optimum ``x`` and any other
feasible flow ``y`` (integral or not), ``c·y − c·x ≥ M·2^-b·((C·y − C·x) − Σ_a |y_a − x_a|/2)`` and
``C·y ≥ C·x``.  Only the copy and pair arcs have costs, and on each kind ``Σ|y − x| ≤ 2P``, with ``P`` the most
flow they can carry, so no flow beats ``x`` by more than ``2P·M·2^-b`` (`FlowOptimum.gap_bound`): at most
``M·2^(1−b)`` per unit of flow.  The flow LP's column generation stops when no pair's reduced profit exceeds
1e-9 of the largest weight, so the route is taken only when ``M·2^(1−b)`` is at most that
(`ROUNDING_TOLERANCE`); ``b`` is as large as the code allows (it multiplies costs by the node count and checks
int64 overflow): 41 bits for a national round, where the bound is 7e-8 of the largest weight for 75,000 units
of flow, 5e-13 of the objective.  Weights closer than ``M·2^-b`` are ties here.

Certifying from duals instead was measured and set aside: the potentials of the residual graph need
Bellman-Ford passes over it, whose shortest paths run thousands of arcs deep here, many times the flow's own
time (benchmarks/NOTES.md).

A lexicographic face (`matching.solve._Face`) is a network too: a craftsman with an exact load supplies it
himself instead of drawing on the source, a demand with an exact team consumes it instead of passing it to
the sink, and a pair fixed at 1 becomes a supply at its demand and a demand at its craftsman (the standard
lower-bound transformation).

References
----------
.. [1] A. V. Goldberg, "An efficient implementation of a scaling minimum-cost flow algorithm",
   Journal of Algorithms 22 (1997) 1-29.
.. [2] R. K. Ahuja, T. L. Magnanti and J. B. Orlin, "Network Flows", Prentice Hall, 1993, section 2.4
   (lower bounds) and section 10.2 (ε-optimality and cost scaling).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ortools.graph.python import min_cost_flow

from matching.groupwise import number_runs

# OR-Tools' cost scaling multiplies each cost by the node count + 1 and refuses a network where that may
# overflow int64 (BAD_COST_RANGE): the largest cost is scaled to 2^(LARGEST_COST_BITS − bits of the node
# count), COST_BITS_STEP bits fewer after a refusal.
LARGEST_COST_BITS = 59
COST_BITS_STEP = 4
# The rounding's bound per unit of flow, relative to the largest weight: the flow LP's pricing tolerance.  A
# network whose costs cannot be scaled that finely (copies far dearer than the weights) goes to the LP.
ROUNDING_TOLERANCE = 1e-9


class FlowRefused(RuntimeError):
    """The network could not be solved here (cost range or an infeasible face): use the LP route."""


@dataclass(frozen=True)
class FlowOptimum:
    """Which candidate pairs the optimum takes (a bool mask over the pairs given) and its certified bound.

    ``gap_bound``: no feasible flow has a larger real objective by more than this (see the module notes).
    """

    chosen: np.ndarray
    gap_bound: float
    cost_bits: int


def max_profit_flow(
    pair_c: np.ndarray,
    pair_d: np.ndarray,
    weight: np.ndarray,
    *,
    room: np.ndarray,
    open_slots: np.ndarray,
    locked_load: np.ndarray,
    load_penalty: float,
    exact_load: np.ndarray | None = None,
    exact_team: np.ndarray | None = None,
    fixed: np.ndarray | None = None,
) -> FlowOptimum:
    """Maximise Σ weight·x − λ·Σ_c (L_c(L_c−1)/2 + locked_c·L_c) over the candidate pairs.

    Parameters
    ----------
    pair_c, pair_d : int arrays
        Craftsman and demand index of each candidate pair (distinct pairs).
    weight : float array
        Each pair's weight (priority·score, stickiness included); only pairs with a positive weight are used,
        unless fixed.
    room, open_slots : int arrays
        What each craftsman may still take and each demand still needs (locks taken off).
    locked_load : int array
        Each craftsman's locked demands: his copies cost λ·(k + locked).
    load_penalty : float
        λ ≥ 0.
    exact_load : int array, optional
        A lexicographic face: a craftsman's load when ≥ 0 (−1: free).
    exact_team : bool array, optional
        A lexicographic face: demands whose open slots must all be filled.
    fixed : bool array, optional
        A lexicographic face: pairs that must be taken.

    Returns
    -------
    FlowOptimum

    Raises
    ------
    FlowRefused
        When the costs cannot be scaled finely enough, or the face admits no flow.
    """
    n_c, n_d = room.size, open_slots.size
    fixed = np.zeros(pair_c.size, dtype=bool) if fixed is None else fixed
    exact_load = np.full(n_c, -1) if exact_load is None else exact_load
    exact_team = np.zeros(n_d, dtype=bool) if exact_team is None else exact_team
    usable = (weight > 0) | fixed
    arc_pairs = np.flatnonzero(usable & ~fixed)
    fixed_c, fixed_d = pair_c[fixed], pair_d[fixed]
    fixed_load = np.bincount(fixed_c, minlength=n_c)
    largest_weight = float(weight[usable].max(initial=0.0)) or 1.0

    # copy k of a free craftsman: his copies are the units his load may take, the first `fixed_load` always
    free = exact_load < 0
    copies = np.where(free, np.minimum(room, np.bincount(pair_c[usable], minlength=n_c)), 0)
    if load_penalty > 0:
        copy_c, copy_k = number_runs(copies)
        copy_cost = load_penalty * (copy_k + locked_load[copy_c])
        if not exact_team.any():
            # a copy dearer than any weight is never worth its unit: its craftsman would rather drop the pair it
            # carries (which an exact team forbids: a dropped place must be filled again, perhaps by a chain
            # of moves that pays for a dear copy); the forced ones are a constant, capped
            keep = (copy_cost <= largest_weight) | (copy_k < fixed_load[copy_c])
            copy_c, copy_cost = copy_c[keep], np.minimum(copy_cost[keep], largest_weight)
        copy_capacity = np.ones(copy_c.size, dtype=np.int64)
    else:
        copy_c = np.flatnonzero(copies)
        copy_capacity, copy_cost = copies[copy_c].astype(np.int64), np.zeros(copy_c.size)

    source, sink = n_c + n_d, n_c + n_d + 1
    supply = np.zeros(n_c + n_d + 2, dtype=np.int64)
    outflow = int(copy_capacity.sum())
    supply[source] = outflow
    supply[:n_c] += np.where(free, 0, exact_load) - fixed_load
    supply[n_c:source] += np.bincount(fixed_d, minlength=n_d) - np.where(exact_team, open_slots, 0)
    supply[sink] = -int(supply[:sink].sum())
    team_d = np.flatnonzero(~exact_team & (open_slots > 0))
    tails = np.concatenate([np.full(copy_c.size, source), pair_c[arc_pairs], n_c + team_d, [source]]).astype(np.int32)
    heads = np.concatenate([copy_c, n_c + pair_d[arc_pairs], np.full(team_d.size, sink), [sink]]).astype(np.int32)
    capacities = np.concatenate([
        copy_capacity, np.ones(arc_pairs.size, dtype=np.int64), open_slots[team_d].astype(np.int64), [outflow]
    ])
    real_costs = np.concatenate([copy_cost, -weight[arc_pairs]])

    largest = max(largest_weight, float(copy_cost.max(initial=0.0)))
    normalised = real_costs / largest  # in [-1, 1]: ldexp then scales it without overflow, whatever the weights
    most = min(outflow + int(np.maximum(exact_load, 0).sum()), int(open_slots.sum()))
    bits = LARGEST_COST_BITS - int(np.ceil(np.log2(sink + 2)))
    while np.ldexp(largest, 1 - bits) <= ROUNDING_TOLERANCE * largest_weight:
        costs = np.concatenate([np.rint(np.ldexp(normalised, bits)), np.zeros(team_d.size + 1)]).astype(np.int64)
        flow = min_cost_flow.SimpleMinCostFlow()
        arcs = flow.add_arcs_with_capacity_and_unit_cost(tails, heads, capacities, costs)
        flow.set_nodes_supplies(np.arange(sink + 1), supply)
        status = flow.solve()
        if status == flow.OPTIMAL:
            taken = flow.flows(arcs[copy_c.size : copy_c.size + arc_pairs.size]) > 0
            chosen = fixed.copy()
            chosen[arc_pairs[taken]] = True
            return FlowOptimum(chosen, gap_bound=float(np.ldexp(2.0 * most * largest, -bits)), cost_bits=bits)
        if status != flow.BAD_COST_RANGE:
            raise FlowRefused(f"min-cost flow: {status!r}")
        bits -= COST_BITS_STEP
    raise FlowRefused("min-cost flow: the costs cannot be scaled finely enough for this network")
