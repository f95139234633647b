"""What `solve` returns: the assignment, its explanation and a few round metrics."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field

import numpy as np

OPTIMAL = "optimal"
INFEASIBLE = "infeasible"


NO_REQUIRED_SKILL = "no_required_skill"


@dataclass(frozen=True, slots=True)
class Assignment:
    """One craftsman given to one demand.

    Attributes
    ----------
    craftsman, demand : Hashable
        The ids.
    score : float
        The pair's score; ``weighted`` = priority × score.
    breakdown : dict
        The named score components (they sum to ``score``).
    locked : bool
        Put there by the coordinator.
    tier : int or None
        Relevance: 2 holds a required skill (or, for a demand naming no skill, works in its
        industry), 1 holds a skill of the same family, 0 neither; None when the problem had no tiers.
    role : Hashable or None
        The role of a team demand this craftsman fills.
    flags : tuple of str
        ``"no_required_skill"`` when the craftsman is not relevant (tier 0).
    """

    craftsman: Hashable
    demand: Hashable
    score: float
    weighted: float
    breakdown: dict[str, float]
    locked: bool
    tier: int | None = None
    role: Hashable | None = None
    flags: tuple[str, ...] = ()

    @property
    def relevant(self) -> bool:
        """Tier ≥ 1 (True when tiers are unknown)."""
        return self.tier is None or self.tier >= 1

    def to_dict(self) -> dict:
        return {
            "craftsman": self.craftsman,
            "demand": self.demand,
            "score": self.score,
            "weighted": self.weighted,
            "breakdown": dict(self.breakdown),
            "locked": self.locked,
            "tier": self.tier,
            "relevant": self.relevant,
            "role": self.role,
            "flags": list(self.flags),
        }


@dataclass
class Result:
    """The outcome of `solve`.

    Parameters
    ----------
    status : {"optimal", "infeasible"}
    message : str
        Why it is infeasible (the lock conflicts), else empty.
    objective : float or None
        Σ priority·score − load_penalty·Σ L(L−1)/2 over the assignment (stickiness is a
        tie-breaker toward ``previous`` and is not part of it); None when infeasible.
    assignments : list of Assignment
        Sorted by demand then craftsman (input order).
    unfilled : list of (demand id, missing slots)
    unfilled_roles : list of dict
        Open roles of team demands: {"demand", "role", "missing", "reason"}.
    fairness : dict or None
        The demand floor's report when the problem asked for one: "q", "worst_with_floor",
        "worst_without_floor", "objective_without_floor", "cost", "demands_raised",
        "thresholds_checked".
    loads : dict
        Assigned demands per craftsman with at least one.
    alternates : dict
        Per demand the next best allowed craftsmen (id, score) not assigned to it.
    role_alternates : dict
        Per team demand, per role: the next best allowed craftsmen (id, score) holding the role's
        speciality and not assigned to the demand; a craftsman is listed under one role of a demand
        only (the first, in the order of ``Problem.roles``, whose list has room for him).  A team's
        review takes these; its entry in ``alternates`` stays the demand's, whatever the roles.
    changes : dict or None
        {"added": [...], "removed": [...]} against ``previous`` (None without it).
    metrics, timings : dict
        Coverage, fill rate, relevance rate…; seconds per solver stage.
    solver : str
        The route taken ("assignment", "flow", "mincostflow", "assignment+flow", "flow+relevance",
        "mincostflow+relevance", "roles", "floor", "roles+floor").

    Notes
    -----
    `to_dict` gives plain JSON-ready data.

    Examples
    --------
    >>> Result(status="infeasible", message="locked pair (c, d) is forbidden").objective is None
    True
    """

    status: str
    message: str = ""
    objective: float | None = None
    assignments: list[Assignment] = field(default_factory=list)
    unfilled: list[tuple[Hashable, int]] = field(default_factory=list)
    unfilled_roles: list[dict] = field(default_factory=list)
    fairness: dict | None = None
    loads: dict[Hashable, int] = field(default_factory=dict)
    alternates: dict[Hashable, list[tuple[Hashable, float]]] = field(default_factory=dict)
    role_alternates: dict[Hashable, dict[Hashable, list[tuple[Hashable, float]]]] = field(default_factory=dict)
    changes: dict[str, list[tuple[Hashable, Hashable]]] | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    solver: str = ""

    @property
    def pairs(self) -> set[tuple[Hashable, Hashable]]:
        return {(a.craftsman, a.demand) for a in self.assignments}

    def to_dict(self) -> dict:
        """Plain JSON-ready data (ids kept as they are)."""
        return {
            "status": self.status,
            "message": self.message,
            "objective": self.objective,
            "assignments": [a.to_dict() for a in self.assignments],
            "unfilled": [{"demand": d, "missing": m} for d, m in self.unfilled],
            "unfilled_roles": [dict(role) for role in self.unfilled_roles],
            "fairness": None if self.fairness is None else dict(self.fairness),
            "loads": dict(self.loads),
            "alternates": {
                d: [{"craftsman": c, "score": s} for c, s in alts] for d, alts in self.alternates.items()
            },
            # a list, not a mapping: role ids need not be strings
            "role_alternates": [
                {"demand": d, "role": role, "craftsmen": [{"craftsman": c, "score": s} for c, s in alts]}
                for d, roles in self.role_alternates.items() for role, alts in roles.items()
            ],
            "changes": None
            if self.changes is None
            else {kind: [list(p) for p in pairs] for kind, pairs in self.changes.items()},
            "metrics": dict(self.metrics),
            "timings": dict(self.timings),
            "solver": self.solver,
        }


def gini(values: np.ndarray) -> float:
    """Gini coefficient of non-negative values (0 = all equal); 0 for empty or all-zero."""
    values = np.sort(np.asarray(values, dtype=np.float64))
    total = values.sum()
    if values.size == 0 or total == 0:
        return 0.0
    ranks = np.arange(1, values.size + 1)
    return float(np.sum((2 * ranks - values.size - 1) * values) / (values.size * total))
