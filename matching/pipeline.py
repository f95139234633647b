"""Features + round config → the solver's :class:`~matching.problem.Problem`.

Dense when C × D fits ``config.dense_budget_cells`` (full score matrix, allowed
mask and component matrices), otherwise sparse (the exact top-k allowed
craftsmen per demand, plus every allowed locked or previously assigned pair).

Locks are passed to the solver unchanged, even when a hard rule forbids the
pair: the solver then reports the round as infeasible ("locked pair … is not
an allowed candidate"), and :func:`lock_violations` tells the coordinator
which rule stands in the way.  Silently dropping or force-allowing a lock
would hide a contradiction the coordinator has to resolve.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from matching.candidates import CandidatePairs, candidate_pairs
from matching.config import RoundConfig
from matching.features import CraftsmanFeatures, DemandFeatures, FeatureError, History, TrackRecord
from matching.kernels import component_values, relevance_tiers, weighted
from matching.prepared import PreparedRound, prepare
from matching.problem import Problem, Role, handed_over
from matching.rules import ALLOWED, reason_label, rule_codes, score_and_mask
from matching.scoring import explain
from matching.solve import WarmStart

Pair = tuple[str, str]


def uses_dense(n_craftsmen: int, n_demands: int, config: RoundConfig) -> bool:
    """Whether a round of this size is solved from dense matrices."""
    return n_craftsmen * n_demands <= config.dense_budget_cells


def build_problem(
    craftsmen: CraftsmanFeatures,
    demands: DemandFeatures,
    config: RoundConfig | None = None,
    *,
    history: History | None = None,
    locks: Iterable[Pair] = (),
    exclusions: Iterable[Pair] = (),
    previous: Iterable[Pair] | None = None,
    prepared: PreparedRound | None = None,
    skill_parent: np.ndarray | None = None,
    roles: Iterable[tuple[str, int, int]] = (),
    track_record: TrackRecord | None = None,
    role_locks: Iterable[tuple[str, str, int]] = (),
    scored: ScoredRound | None = None,
) -> Problem:
    """Score, apply the hard rules and hand the result to the solver's Problem.

    Parameters
    ----------
    craftsmen, demands : CraftsmanFeatures, DemandFeatures
        The pools as feature arrays (`matching.features`).
    config : RoundConfig, optional
        Weights, thresholds and switches (default: ``RoundConfig()``).
    history : History, optional
        Past engagements (continuity and track record).
    locks, exclusions, previous : iterables of (craftsman id, demand id)
        Pairs to keep, to forbid (forbidden by the rules *and* recorded in the Problem's
        ``forbidden``, so a stored problem replays without features) and the last published
        assignment.
    prepared : PreparedRound, optional
        ``scoring.prepare``'s result when the caller has it already.
    skill_parent : integer array, optional
        The parent column of every skill column (-1 for a root): the families of relevance tier 1.
    roles : iterable of (demand index, skill column, count)
        Team roles.
    track_record : TrackRecord, optional
        Past services per skill family (the ``track_record`` component).
    scored : ScoredRound, optional
        `score_round`'s result for these pools (same `scoring_key`): a dense round takes its scores,
        tiers and rule mask (the exclusions of ``prepared`` applied) instead of scoring again, and
        carries no components (explain pairs with `matching.kernels.component_values`).

    Returns
    -------
    Problem
        Dense below ``config.dense_budget_cells`` C × D cells, else sparse (each demand's
        ``config.top_k`` best candidates plus the locked and previous pairs).

    Notes
    -----
    Relevance tiers, components (for explanations) and ``config.relevance`` / ``config.floor``
    are carried into the Problem.

    Examples
    --------
    >>> import numpy as np
    >>> from matching.features import synthetic_features
    >>> craftsmen, demands, history = synthetic_features(np.random.default_rng(0), 30, 10)
    >>> build_problem(craftsmen, demands, history=history).shape
    (30, 10)
    """
    config = config or RoundConfig()
    locks, exclusions = tuple(locks), tuple(exclusions)
    previous = None if previous is None else tuple(previous)
    rnd = prepared or prepare(
        craftsmen,
        demands,
        config,
        history=history,
        exclusions=exclusions,
        skill_parent=skill_parent,
        track_record=track_record,
    )
    common = {
        "capacity": craftsmen.capacity,
        "slots": demands.slots,
        "priority": demands.priority,
        "locked": locks,
        "forbidden": exclusions,
        "min_score": config.min_score,
        "load_penalty": config.load_penalty,
        "previous": previous,
        "stickiness": config.stickiness if previous is not None else 0.0,
        "alternates_k": config.alternates_k,
        "relevance_mode": config.relevance,
        "floor": config.floor,
        "roles": team_roles(craftsmen, demands, roles, role_locks),
    }
    if scored is not None and scored.total is not None:
        allowed = scored.allowed  # the rules but the exclusions; EXCLUDED is just these pairs
        excluded = rnd.excluded.tocoo()
        if excluded.nnz:  # the kept mask is read-only and shared by the round's solves: a copy with them off
            allowed = allowed.copy(order="K")
            allowed[excluded.row, excluded.col] = False
        return Problem(
            craftsmen.ids,
            demands.ids,
            scores=scored.total,
            allowed=handed_over(allowed),
            relevance=scored.relevance,
            **common,
        )
    if uses_dense(len(craftsmen), len(demands), config):
        table, allowed, _ = score_and_mask(rnd, with_codes=False)  # fresh arrays of this call: handed over, not copied
        return Problem(
            craftsmen.ids,
            demands.ids,
            scores=handed_over(table.total),
            allowed=handed_over(allowed),
            components={name: handed_over(values) for name, values in table.components.items()},
            relevance=handed_over(table.relevance),
            **common,
        )
    candidates = with_required_pairs(
        rnd, candidate_pairs(craftsmen, demands, prepared=rnd), locks + (previous or ())
    )
    return Problem(
        craftsmen.ids,
        demands.ids,
        pair_craftsman=candidates.craftsman,
        pair_demand=candidates.demand,
        pair_score=candidates.total,
        components=candidates.components,
        relevance=candidates.relevance,
        **common,
    )


@dataclass(frozen=True)
class ScoredRound:
    """A round prepared, and when dense scored, without its exclusions (`score_round`).

    Locks, exclusions, capacities and slots do not change a pair's score, tier or rules other than
    the exclusion, so a re-solve with the same `scoring_key` reuses it (``build_problem(scored=…)``).
    """

    key: str
    prepared: PreparedRound  # without exclusions: `with_exclusions` adds a solve's own
    total: np.ndarray | None = None  # (C, D) read-only scores of a dense round
    relevance: np.ndarray | None = None  # (C, D) int8 tiers
    allowed: np.ndarray | None = None  # (C, D) read-only: every hard rule but the exclusions
    # pair key (c·D + d) → `matching.explain.pair_facts` of the pair: they too read only what the key covers
    facts: dict[int, dict] = field(default_factory=dict, compare=False, repr=False)
    # the last solve's flow LP (columns and basis), where the next solve of the round starts (`matching.solve`)
    warm: WarmStart = field(default_factory=WarmStart, compare=False, repr=False)


def score_round(
    craftsmen: CraftsmanFeatures,
    demands: DemandFeatures,
    config: RoundConfig,
    *,
    key: str,
    history: History | None = None,
    skill_parent: np.ndarray | None = None,
    track_record: TrackRecord | None = None,
) -> ScoredRound:
    """Prepare the round without exclusions and, below ``config.dense_budget_cells``, score it densely
    (scores, tiers, rule mask; no component matrices). ``key``: its `scoring_key`."""
    base = prepare(
        craftsmen, demands, config, history=history, skill_parent=skill_parent, track_record=track_record
    )
    if not uses_dense(len(craftsmen), len(demands), config):
        return ScoredRound(key, base)
    # demand-major memory ("F"): the solver reads a dense round by demand (`matching.solve`'s (D, C) weights)
    table, allowed, _ = score_and_mask(base, with_components=False, order="F", with_codes=False)
    allowed.flags.writeable = False
    return ScoredRound(key, base, table.total, table.relevance, allowed)


def team_roles(
    craftsmen: CraftsmanFeatures,
    demands: DemandFeatures,
    roles: Iterable[tuple[str, int, int]],
    role_locks: Iterable[tuple[str, str, int]] = (),
) -> tuple[Role, ...]:
    """The solver's roles from (demand id, speciality skill column, count) triples.

    A craftsman is eligible for a role when he holds its speciality (proficiency > 0 in that
    skill column).  A demand with roles gets as many slots as its roles want in all.  A role lock
    (craftsman id, demand id, skill column) keeps that craftsman out of the demand's other roles,
    so that, locked onto the demand, he can fill only the role he was put on; a role lock whose
    craftsman lacks the speciality, or whose role the demand does not have, is refused.
    """
    result = []
    known = set(demands.ids)
    skills = sp.csc_matrix(craftsmen.skills)
    for i, (demand, column, count) in enumerate(roles):
        if demand not in known:
            raise FeatureError(f"roles[{i}]", f"unknown demand {demand!r}")
        if isinstance(column, bool) or not isinstance(column, int | np.integer) or not (
            0 <= column < skills.shape[1]
        ):
            raise FeatureError(f"roles[{i}]", f"unknown skill column {column!r}")
        eligible = np.zeros(len(craftsmen), dtype=bool)
        eligible[skills[:, int(column)].nonzero()[0]] = True
        result.append(Role(demand, int(column), count, eligible))
    craftsman_index = {c: i for i, c in enumerate(craftsmen.ids)}
    for i, (craftsman, demand, column) in enumerate(role_locks):
        own = [role for role in result if role.demand == demand and role.role == column]
        if craftsman not in craftsman_index or not own:
            raise FeatureError(f"role_locks[{i}]", f"no role {column!r} of demand {demand!r} for {craftsman!r}")
        c = craftsman_index[craftsman]
        if not own[0].eligible[c]:
            raise FeatureError(f"role_locks[{i}]", f"craftsman {craftsman!r} lacks the speciality of role {column!r}")
        for role in result:
            if role.demand == demand and role.role != column:
                role.eligible[c] = False
    return tuple(result)


def _pair_indices(rnd: PreparedRound, pairs: Sequence[Pair], field: str) -> tuple[np.ndarray, np.ndarray]:
    craftsman_index = {c: i for i, c in enumerate(rnd.craftsmen.ids)}
    demand_index = {d: i for i, d in enumerate(rnd.demands.ids)}
    try:
        pc = np.array([craftsman_index[c] for c, _ in pairs], dtype=np.int64)
        pd = np.array([demand_index[d] for _, d in pairs], dtype=np.int64)
    except KeyError as missing:
        raise FeatureError(field, f"unknown id {missing.args[0]!r}") from None
    return pc, pd


def with_required_pairs(
    rnd: PreparedRound, candidates: CandidatePairs, pairs: Sequence[Pair]
) -> CandidatePairs:
    """Add the allowed ones of ``pairs`` (locks, last assignment) that the top k left out."""
    if not pairs:
        return candidates
    pc, pd = _pair_indices(rnd, pairs, "locked")
    n_d = rnd.shape[1]
    present = np.isin(pc * n_d + pd, candidates.craftsman * n_d + candidates.demand)
    key = np.unique((pc * n_d + pd)[~present & (rule_codes(rnd, pc, pd) == ALLOWED)])
    if key.size == 0:
        return candidates
    extra_c, extra_d = np.divmod(key, n_d)
    names = list(candidates.components)
    total, contributions = weighted(rnd, component_values(rnd, extra_c, extra_d, names))
    tiers = relevance_tiers(rnd, extra_c, extra_d)
    return CandidatePairs(
        craftsman_ids=candidates.craftsman_ids,
        demand_ids=candidates.demand_ids,
        craftsman=np.concatenate([candidates.craftsman, extra_c]),
        demand=np.concatenate([candidates.demand, extra_d]),
        total=np.concatenate([candidates.total, total]),
        components={n: np.concatenate([candidates.components[n], contributions[n]]) for n in names},
        weights=candidates.weights,
        relevance=np.concatenate([candidates.relevance, tiers]),
    )


@dataclass(frozen=True)
class LockViolation:
    craftsman: str
    demand: str
    reason: int  # a matching.rules code
    label: str  # English label; use rules.reason_label(code, "zh") for Chinese


def lock_violations(rnd: PreparedRound, locks: Iterable[Pair]) -> list[LockViolation]:
    """The locked pairs a hard rule forbids, with the first failing rule."""
    locks = tuple(locks)
    if not locks:
        return []
    pc, pd = _pair_indices(rnd, locks, "locked")
    codes = rule_codes(rnd, pc, pd)
    return [
        LockViolation(c, d, int(code), reason_label(code))
        for (c, d), code in zip(locks, codes.tolist(), strict=True)
        if code != ALLOWED
    ]


def explain_pair(problem: Problem, config: RoundConfig, craftsman: str, demand: str) -> dict:
    """Breakdown of one pair's score in a built Problem (dense or sparse); KeyError if not a candidate."""
    c, d = problem.craftsmen.index(craftsman), problem.demands.index(demand)
    if problem.is_sparse:
        hit = np.flatnonzero((problem.pair_craftsman == c) & (problem.pair_demand == d))
        if hit.size == 0:
            raise KeyError((craftsman, demand))
        values = {name: float(v[hit[0]]) for name, v in problem.components.items()}
    else:
        values = {name: float(v[c, d]) for name, v in problem.components.items()}
    return explain(values, config.normalised_weights)
