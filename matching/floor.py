"""Demand-floor fairness (issue 11.3): the largest q such that every demand with an eligible candidate
can get a craftsman scoring at least q × its own best candidate, exactly.

Feasibility of a threshold is a max-flow (demand → craftsman over the pairs whose ratio score / best of
the demand reaches it, one unit per demand that no locked pair already satisfies, craftsmen up to their
free room) and falls as the threshold rises, so q is found by bisection over the sorted distinct ratios
and certified by the next larger ratio being infeasible.  Under the floor the round's usual objective is
one LP with a row "Σ of the demand's qualifying pairs ≥ 1" per demand: such a row's pairs are a subset
of its demand row's, so the rows form two laminar families (craftsman side, demand side) and the
matrix stays totally unimodular — its vertices are integral.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from matching.relevant_fill import flow_through


@dataclass
class Floor:
    """The best floor ``q`` (None: not even the lowest ratio can be met everywhere) and, per demand,
    whether it still needs a qualifying craftsman (no locked pair qualifies)."""

    q: float | None
    ratio: np.ndarray  # per pair: score / best score of its demand
    needs: np.ndarray  # (D,) bool
    served: np.ndarray  # (D,) bool: demands with an eligible candidate
    checked: int  # thresholds tried

    def qualifies(self) -> np.ndarray:
        return self.ratio >= self.q


def best_floor(
    pair_c: np.ndarray,
    pair_d: np.ndarray,
    score: np.ndarray,
    locked: np.ndarray,
    room: np.ndarray,
    open_slots: np.ndarray,
) -> Floor:
    """The largest feasible floor over the eligible pairs (``locked`` marks the locked ones).

    Parameters
    ----------
    pair_c, pair_d, score, locked : arrays (P,)
        Every eligible pair of the round (locked pairs included) and its score.
    room, open_slots : integer arrays (C,), (D,)
        Free capacity and open slots once the locks are taken off.

    Returns
    -------
    Floor
        ``q`` is one of the pairs' ratios; the next larger ratio is infeasible.
    """
    n_c, n_d = room.size, open_slots.size
    best = np.zeros(n_d)
    np.maximum.at(best, pair_d, score)
    served = best > 0
    ratio = np.where(best[pair_d] > 0, score / np.where(best[pair_d] > 0, best[pair_d], 1.0), 0.0)
    levels = np.unique(ratio[served[pair_d]])
    floor = Floor(None, ratio, np.zeros(n_d, dtype=bool), served, 0)

    def needs_at(q: float) -> np.ndarray:
        met = np.zeros(n_d, dtype=bool)
        met[pair_d[locked & (ratio >= q)]] = True
        return served & ~met

    def feasible(q: float) -> bool:
        floor.checked += 1
        needs = needs_at(q)
        if np.any(needs & (open_slots == 0)):
            return False
        use = ~locked & (ratio >= q) & needs[pair_d]
        flow = flow_through(n_c, n_d, pair_c[use], pair_d[use], needs.astype(np.int64), room)
        return flow == int(needs.sum())

    if levels.size == 0 or not feasible(levels[0]):
        return floor
    low, high = 0, levels.size  # levels[low] feasible; levels[high] (if any) infeasible
    while high - low > 1:
        middle = (low + high) // 2
        if feasible(levels[middle]):
            low = middle
        else:
            high = middle
    floor.q = float(levels[low])
    floor.needs = needs_at(floor.q)
    return floor


def worst_normalised(ratio: np.ndarray, pair_d: np.ndarray, chosen: np.ndarray, served: np.ndarray) -> float:
    """The worst demand's best assigned ratio (0 for a demand with a candidate but nobody assigned)."""
    best = np.zeros(served.size)
    np.maximum.at(best, pair_d[chosen], ratio[chosen])
    return float(best[served].min()) if served.any() else 1.0
