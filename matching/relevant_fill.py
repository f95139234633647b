"""The first phase of relevance first, by max-flows instead of a degenerate LP.

Phase 1 maximises Σ_d p_d·(relevant craftsmen on d) over the flow polytope (craftsman rows ≤ room,
demand rows ≤ open slots, pairs in [0, 1]).  Its profits depend on the demand only, so the demand
slots that can be filled together form a matroid and, with the distinct priorities p_1 > … > p_K
(p_{K+1} = 0) and S_k the demands of priority ≥ p_k::

    optimum = Σ_k (p_k − p_{k+1}) · maxflow(S_k)

Each level's minimum cut (A = nodes reachable from the source in the residual graph) is an optimal
dual of the 0/1 problem "fill S_k": u_c = 1 for craftsmen in A, v_d = 1 for demands of S_k outside
A, z_cd = 1 for relevant pairs from a demand in A to a craftsman outside it.  The sum of the level
duals weighted by p_k − p_{k+1} is feasible for phase 1 and its value is the optimum, so it is an
optimal dual; complementary slackness with it describes the whole optimal face exactly, from sets
alone (no floating-point reduced profits):

* a pair is excluded from every optimum when some level prices it negative (`PhaseOne.dropped`);
* a pair is in every optimum when some level has z_cd = 1 (``fixed``);
* a craftsman with u_c > 0 is full (``tight_craftsmen``), a demand with v_d > 0 too (``tight_demands``).

The max-flows run on a growing subset of the relevant pairs (column generation): a level is done
when no relevant pair leaves the reachable set A, which certifies the restricted cut in the full
graph.  An optimal primal solution inside the face (the seed of the second phase) comes from one
more max-flow with lower bounds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import breadth_first_order, maximum_flow

# (demands to price: bool (D,), craftsmen to skip: bool (C,)) -> relevant pairs (c, d) not handed out
# before, a bounded batch; nothing left when both arrays are empty.
Pricer = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass
class LevelCut:
    """The minimum cut of one priority level: who is reachable from the source."""

    craftsmen: np.ndarray  # (C,) bool, u_c = 1
    demands: np.ndarray  # (D,) bool, reachable demands of the level (z on their pairs leaving A)


@dataclass
class PhaseOne:
    """The optimum of phase 1, its optimal face and one optimal assignment on it."""

    value: float
    tight_craftsmen: np.ndarray
    tight_demands: np.ndarray
    cuts: list[LevelCut]
    pair_c: np.ndarray
    pair_d: np.ndarray
    fixed_c: np.ndarray
    fixed_d: np.ndarray
    edge_c: np.ndarray  # every relevant pair the max-flows saw
    edge_d: np.ndarray
    flows: list[int] = field(default_factory=list)

    def dropped(self, c, d, relevant) -> np.ndarray:
        """True for the pairs (c, d) that no phase-1 optimum uses (negative reduced profit at some
        level).  ``c``, ``d`` and ``relevant`` broadcast: pair arrays or a row block against all
        craftsmen.  A relevant pair priced at level k has profit 1 when its demand is in S_k."""
        drop = ~relevant & self.tight_demands[d]
        for cut in self.cuts:
            if cut.craftsmen.any():
                drop = drop | (cut.craftsmen[c] & ~(relevant & cut.demands[d]))
        return drop


def max_relevant_fill(
    room: np.ndarray, open_slots: np.ndarray, priority: np.ndarray, price: Pricer,
    start: tuple[np.ndarray, np.ndarray] | None = None,
) -> PhaseOne:
    """Phase 1 of relevance first, exactly (see the module notes).

    Parameters
    ----------
    room, open_slots : integer arrays (C,), (D,)
        Free capacity of each craftsman and open slots of each demand (locks taken off).
    priority : (D,) float array
        Weight of a slot of each demand.
    price : callable
        Hands out relevant candidate pairs (see ``Pricer``); it remembers what it handed out.
    start : (craftsmen, demands) int arrays, optional
        Relevant candidate pairs to start from, distinct and never handed out by ``price`` (e.g. the
        pairs of the round's last solve).  The optimum, the cuts and the face do not depend on them: each
        level's cut is the set reachable from the source in the residual graph of every maximum flow, and
        it is certified on all relevant pairs.  The assignment and the pairs seen may differ.

    Returns
    -------
    PhaseOne
    """
    n_c, n_d = room.size, open_slots.size
    edge_c, edge_d = start if start is not None else (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
    open_demand = open_slots > 0
    levels = np.unique(priority[open_demand])[::-1]
    tight_c, tight_d = np.zeros(n_c, dtype=bool), np.zeros(n_d, dtype=bool)
    cuts, flows = [], []
    for level in levels:
        level_demands = open_demand & (priority >= level)
        while True:
            flow, _, reach_d, reach_c = _fill(n_c, n_d, edge_c, edge_d, np.where(level_demands, open_slots, 0), room)
            new_c, new_d = price(reach_d & level_demands, reach_c)
            if new_c.size == 0:
                break
            edge_c, edge_d = np.r_[edge_c, new_c], np.r_[edge_d, new_d]
        cuts.append(LevelCut(reach_c, reach_d & level_demands))
        flows.append(flow)
        tight_c |= reach_c
        tight_d |= level_demands & ~reach_d
    steps = np.r_[levels[:-1] - levels[1:], levels[-1:]] if levels.size else levels
    value = float(np.dot(steps, flows)) if flows else 0.0

    fixed = np.zeros(edge_c.size, dtype=bool)
    for cut in cuts:
        fixed |= cut.demands[edge_d] & ~cut.craftsmen[edge_c]
    phase = PhaseOne(
        value, tight_c, tight_d, cuts, edge_c, edge_d, edge_c[fixed], edge_d[fixed], edge_c, edge_d, flows
    )
    usable = ~phase.dropped(edge_c, edge_d, np.ones(edge_c.size, dtype=bool))
    if np.any(fixed & ~usable):  # pragma: no cover - one optimal dual cannot both force and forbid a pair
        raise RuntimeError("relevance phase 1: inconsistent optimal face")
    phase.pair_c, phase.pair_d = _optimal_assignment(phase, room, open_slots, edge_c[usable], edge_d[usable], fixed[usable])
    reached = float(np.sum(priority[phase.pair_d]))
    if not np.isclose(reached, value, rtol=1e-9, atol=0.0):  # pragma: no cover - certificate
        raise RuntimeError(f"relevance phase 1: assignment worth {reached}, optimum {value}")
    return phase


def flow_through(n_c: int, n_d: int, edge_c, edge_d, demand_cap, craftsman_cap) -> int:
    """The max-flow source → demand (demand_cap) → craftsman (1 per pair) → sink (craftsman_cap)."""
    return _fill(n_c, n_d, edge_c, edge_d, demand_cap, craftsman_cap)[0]


def _fill(n_c: int, n_d: int, edge_c, edge_d, demand_cap, craftsman_cap, lower_d=None, lower_c=None):
    """Max-flow source → demand (demand_cap) → craftsman (1 per pair) → sink (craftsman_cap).

    With ``lower_d`` / ``lower_c`` (bool masks: those arcs must be full) it is the feasibility
    problem of a flow with lower bounds instead, solved as one max-flow between a super source and
    a super sink; then the returned value is the shortfall (0 when feasible).
    Returns (value, flow on each pair, reachable demands, reachable craftsmen)."""
    source, sink = 0, n_d + n_c + 1
    demand_node, craftsman_node = 1 + np.arange(n_d), 1 + n_d + np.arange(n_c)
    tails = [np.zeros(n_d, dtype=np.int64), demand_node[edge_d], craftsman_node]
    heads = [demand_node, craftsman_node[edge_c], np.full(n_c, sink)]
    caps = [np.asarray(demand_cap, dtype=np.int64), np.ones(edge_c.size, dtype=np.int64), np.asarray(craftsman_cap, dtype=np.int64)]
    n_nodes = sink + 1
    if lower_d is not None:
        # lower bound l on a → b: capacity u − l, super source → b and a → super sink carry l
        super_source, super_sink = sink + 1, sink + 2
        n_nodes = sink + 3
        need_d = np.where(lower_d, caps[0], 0)
        need_c = np.where(lower_c, caps[2], 0)
        caps[0], caps[2] = caps[0] - need_d, caps[2] - need_c
        tails += [np.array([sink]), np.full(n_d, super_source), np.array([source]), np.full(n_c, super_source),
                  craftsman_node, ]
        heads += [np.array([source]), demand_node, np.array([super_sink]), np.array([sink]).repeat(n_c),
                  np.full(n_c, super_sink)]
        caps += [np.array([int(caps[0].sum() + need_d.sum()) + 1]), need_d, np.array([int(need_d.sum())]),
                 need_c, need_c]
        source, sink, required = super_source, super_sink, int(need_d.sum() + need_c.sum())
    tail, head, cap = np.concatenate(tails), np.concatenate(heads), np.concatenate(caps)
    keep = cap > 0
    graph = sp.csr_matrix(
        (cap[keep].astype(np.int32), (tail[keep], head[keep])), shape=(n_nodes, n_nodes)
    )
    result = maximum_flow(graph, source, sink, method="dinic")
    flow = result.flow.tocsr()
    pair_flow = np.asarray(flow[demand_node[edge_d], craftsman_node[edge_c]]).ravel() if edge_c.size else np.zeros(0)
    residual = (graph - flow).tocsr()
    residual.data[residual.data < 0] = 0
    residual.eliminate_zeros()
    reachable = np.zeros(n_nodes, dtype=bool)
    reachable[breadth_first_order(residual, source, directed=True, return_predecessors=False)] = True
    value = int(result.flow_value)
    if lower_d is not None:
        value = required - value
    return value, pair_flow, reachable[demand_node], reachable[craftsman_node]


def _optimal_assignment(phase: PhaseOne, room, open_slots, edge_c, edge_d, fixed):
    """A phase-1 optimum: a feasible assignment on the face's pairs (complementary slackness with
    the level duals) — the forced pairs, tight rows full — found as a flow with lower bounds."""
    left_room = room - np.bincount(edge_c[fixed], minlength=room.size)
    left_slots = open_slots - np.bincount(edge_d[fixed], minlength=open_slots.size)
    free = ~fixed
    shortfall, pair_flow, _, _ = _fill(
        room.size, open_slots.size, edge_c[free], edge_d[free], left_slots, left_room,
        lower_d=phase.tight_demands, lower_c=phase.tight_craftsmen,
    )
    if shortfall:  # pragma: no cover - the face of an optimal dual holds an optimal solution
        raise RuntimeError("relevance phase 1: no assignment on the optimal face")
    chosen = pair_flow > 0.5
    return np.r_[edge_c[fixed], edge_c[free][chosen]], np.r_[edge_d[fixed], edge_d[free][chosen]]
