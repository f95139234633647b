"""Why a proposal: the facts behind a pair's score, the review's warnings, and why an alternate lost.

Everything here is structured data (skill *columns*, kilometres, ranks, shares); turning it into
words in Chinese or English is the application's job (``web/services/explain.py``), so the review,
the export and the command line say the same thing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from matching.config import COMPONENTS, RoundConfig
from matching.features import DEMAND_MODES, MODE_REMOTE
from matching.kernels import _component, availability_coverage, great_circle_km, sparse_lookup
from matching.prepared import HONOUR_TARGET_BY_DIFFICULTY, PreparedRound
from matching.rules import other_province

FAR_KM = 150.0  # an on-site or hybrid pair farther than this is flagged "far"
LOW_SCORE = 0.4  # a score below this (or min_score + 0.1, whichever is higher) is flagged "low_score"
LOW_SCORE_MARGIN = 0.1
NOTABLE_GAP = 0.005  # a component counts as a losing reason when it trails the winner's by more than this
MAX_LOSING_COMPONENTS = 2

FAR = "far"
CROSS_PROVINCE = "cross_province"
LOW = "low_score"
OVERLOADED = "overloaded"
NO_REQUIRED_SKILL = "no_required_skill"


def warning_flags(
    rnd: PreparedRound,
    pc: np.ndarray,
    pd: np.ndarray,
    score: np.ndarray,
    tier: np.ndarray | None = None,
) -> list[list[str]]:
    """The review's warnings for pairs: far, cross-province, low score, no required skill.

    Parameters
    ----------
    rnd : PreparedRound
    pc, pd : (P,) int arrays
        Craftsman and demand indices of the pairs.
    score : (P,) float array
        The pairs' scores.
    tier : (P,) int array, optional
        Relevance tiers; tier 0 adds ``"no_required_skill"`` (pass it for assigned pairs only).

    Returns
    -------
    list of list of str
        One list of warning codes per pair (``"overloaded"`` depends on loads: see `run_round`).

    Notes
    -----
    "far" is an on-site or hybrid pair beyond ``FAR_KM``; "cross_province" a pair whose known
    provinces differ (the rule that forbids them when ``cross_province_allowed`` is off uses the
    same province indices); "low_score" a score below ``max(LOW_SCORE, min_score + 0.1)``.

    Examples
    --------
    >>> import numpy as np
    >>> from matching.features import CraftsmanFeatures, DemandFeatures
    >>> from matching.prepared import prepare
    >>> from matching.config import RoundConfig
    >>> one = {"n_skills": 1, "n_industries": 1}
    >>> rnd = prepare(CraftsmanFeatures.build(("c",), **one), DemandFeatures.build(("d",), **one), RoundConfig())
    >>> warning_flags(rnd, np.array([0]), np.array([0]), np.array([0.1]), np.array([0]))
    [['low_score', 'no_required_skill']]
    """
    km = great_circle_km(rnd, pc, pd)
    far = (km > FAR_KM) & (rnd.mode_d[pd] != MODE_REMOTE)  # NaN (unknown) compares False
    cross = other_province(rnd.province_c[pc], rnd.province_d[pd])
    low = np.asarray(score) < max(LOW_SCORE, rnd.config.min_score + LOW_SCORE_MARGIN)
    # each pair's hits as bits (far 1, cross 2, low 4, no required skill 8) → its codes, in that order
    hits = far.astype(np.int64) | cross.astype(np.int64) << 1 | low.astype(np.int64) << 2
    if tier is not None:
        hits |= (np.asarray(tier) == 0).astype(np.int64) << 3
    return [list(_FLAG_SETS[bits]) for bits in hits.tolist()]


_FLAG_SETS = [tuple(code for n, code in enumerate((FAR, CROSS_PROVINCE, LOW, NO_REQUIRED_SKILL)) if bits >> n & 1)
              for bits in range(16)]


def _rows(matrix):
    """A reader ``i → {column: value}`` of a CSR matrix's rows (converted to Python lists once, not per row)."""
    indptr, indices, data = matrix.indptr.tolist(), matrix.indices.tolist(), matrix.data.tolist()

    def row(i: int) -> dict[int, float]:
        return dict(zip(indices[indptr[i] : indptr[i + 1]], data[indptr[i] : indptr[i + 1]], strict=True))

    return row


def pair_facts(rnd: PreparedRound, pc: np.ndarray, pd: np.ndarray) -> list[dict]:
    """The facts that explain each pair, by skill and industry *column* (the caller names them).

    Parameters
    ----------
    rnd : PreparedRound
    pc, pd : (P,) int arrays
        Craftsman and demand indices.

    Returns
    -------
    list of dict
        Per pair: ``skills`` (required skills he holds: column, level 1–5, importance 1–3),
        ``family_skills`` (required skills he lacks but holds one of the same family: column,
        ``via`` column, level), ``missing`` (required columns he has neither way), ``industries``
        (shared industry columns), ``distance_km`` (None if unknown), ``mode`` (the demand's),
        ``can_onsite`` / ``can_remote``, ``honour_rank`` (effective, 劳模 counted),
        ``title_rank`` (his craftsman's title alone), ``model_worker`` (holds a 劳模 honour) and
        ``honour_target``, ``availability`` (share of the demand's window), ``continuity``,
        ``track_record`` (value, services, rated, mean rating, accepted outcomes in the demand's
        skill families).

    Examples
    --------
    >>> import numpy as np
    >>> from matching.features import synthetic_features
    >>> from matching.prepared import prepare
    >>> from matching.config import RoundConfig
    >>> c, d, _ = synthetic_features(np.random.default_rng(0), 3, 2)
    >>> sorted(pair_facts(prepare(c, d, RoundConfig()), np.array([0]), np.array([1]))[0])[:3]
    ['availability', 'can_onsite', 'can_remote']
    """
    return PairFacts(rnd)(pc, pd)


class PairFacts:
    """`pair_facts` of one prepared round for pairs handed in batches: each craftsman's and demand's rows are read
    once for all of them (a batch of a few pairs costs what its pairs do, not a pass over the pools).

    Not thread-safe: one reader per thread.
    """

    def __init__(self, rnd: PreparedRound) -> None:
        self.rnd = rnd
        self._services = _services_by_craftsman(rnd)
        self._craftsman_of, self._demand_of = _craftsman_facts(rnd), _demand_facts(rnd)

    def __call__(self, pc: np.ndarray, pd: np.ndarray) -> list[dict]:
        """`pair_facts` of the pairs (pc[k], pd[k])."""
        rnd = self.rnd
        pc, pd = np.asarray(pc, dtype=np.int64), np.asarray(pd, dtype=np.int64)
        ids = rnd.craftsmen.ids
        # per pair, Python numbers read once from each array (numpy scalars cost ~10x a list item)
        kms = great_circle_km(rnd, pc, pd).tolist()
        coverages = availability_coverage(rnd, pc, pd).tolist()
        continuities = sparse_lookup(rnd.continuity, pc, rnd.enterprise_d[pd]).tolist()
        tracks = _component(rnd, "track_record", pc, pd).tolist()  # the component's own value, not a second formula
        services, craftsman_of, demand_of = self._services, self._craftsman_of, self._demand_of
        facts = []
        for i, j, km, coverage, continuity, track in zip(pc.tolist(), pd.tolist(), kms, coverages, continuities, tracks,
                                                         strict=True):
            held, by_family, held_industries, can_onsite, can_remote, rank, title, model_worker = craftsman_of(i)
            required, families, named_industries, mode, target = demand_of(j)
            skills, family_skills, missing = [], [], []
            for column, importance, family in required:
                if column in held:
                    skills.append({"column": column, "level": held[column], "importance": importance})
                elif family in by_family:
                    level, via = by_family[family]
                    family_skills.append({"column": column, "via": via, "level": level})
                else:
                    missing.append(column)
            facts.append(
                {
                    "skills": skills,
                    "family_skills": family_skills,
                    "missing": missing,
                    "industries": sorted(held_industries & named_industries),
                    "distance_km": None if math.isnan(km) else round(km, 1),
                    "mode": mode,
                    "can_onsite": can_onsite,
                    "can_remote": can_remote,
                    "honour_rank": rank,
                    "title_rank": title,
                    "model_worker": model_worker,
                    "honour_target": target,
                    "availability": round(coverage, 3),
                    "continuity": round(continuity, 3),
                    "track_record": _track_facts(services.get(ids[i], []), families, track),
                }
            )
        return facts


def _craftsman_facts(rnd: PreparedRound):
    """A memoised reader ``i → (held skills {column: level}, best held (level, column) per family, held industry
    columns, can_onsite, can_remote, honour rank, title rank, model worker)`` of the craftsmen (read only by
    `pair_facts`)."""
    c = rnd.craftsmen
    family_of = rnd.to_family.indices.tolist()  # one family column per skill column
    held_skills, held_industries = _rows(c.skills), _rows(c.industries)
    memo: dict[int, tuple] = {}

    def read(i: int) -> tuple:
        if i not in memo:
            held = held_skills(i)
            by_family: dict[int, tuple[float, int]] = {}
            for column, level in held.items():
                family = family_of[column]
                by_family[family] = max(by_family.get(family, (0.0, -1)), (level, column))
            memo[i] = (held, by_family, set(held_industries(i)), bool(c.can_onsite[i]), bool(c.can_remote[i]),
                       int(rnd.rank_c[i]), int(c.honour_rank[i]), bool(c.model_worker[i]))
        return memo[i]

    return read


def _demand_facts(rnd: PreparedRound):
    """A memoised reader ``j → (required (column, importance, family) most important first, their families, named
    industry columns, mode, honour target)`` of the demands (read only by `pair_facts`)."""
    d = rnd.demands
    family_of = rnd.to_family.indices.tolist()
    required_skills, named_industries = _rows(d.required_skills), _rows(d.industries)
    targets = np.asarray(HONOUR_TARGET_BY_DIFFICULTY)
    memo: dict[int, tuple] = {}

    def read(j: int) -> tuple:
        if j not in memo:
            required = required_skills(j)
            ordered = [(column, importance, family_of[column])
                       for column, importance in sorted(required.items(), key=lambda item: (-item[1], item[0]))]
            memo[j] = (ordered, {family_of[col] for col in required}, set(named_industries(j)),
                       DEMAND_MODES[int(rnd.mode_d[j])], int(targets[d.difficulty[j]]))
        return memo[j]

    return read


def _services_by_craftsman(rnd: PreparedRound) -> dict[str, list[tuple[set[int], float, int]]]:
    """Per craftsman id: (families, rating or NaN, accepted outcomes) of each past service."""
    record = rnd.track_record
    by_craftsman: dict[str, list[tuple[set[int], float, int]]] = {}
    if record is None:
        return by_craftsman
    family_of = rnd.to_family.indices.tolist()
    skills = _rows(record.skills)
    for n, owner in enumerate(record.craftsman_id):
        families = {family_of[column] for column in skills(n)}
        by_craftsman.setdefault(owner, []).append((families, float(record.rating[n]), int(record.outcomes[n])))
    return by_craftsman


def _track_facts(services: list[tuple[set[int], float, int]], families: set[int], value: float) -> dict:
    """The craftsman's services in the families of the demand's required skills."""
    relevant = [(rating, outcomes) for own, rating, outcomes in services if own & families]
    ratings = [rating for rating, _ in relevant if not math.isnan(rating)]  # per float: math, not numpy
    return {
        "value": round(value, 3),
        "services": len(relevant),
        "rated": len(ratings),
        "mean_rating": round(sum(ratings) / len(ratings), 2) if ratings else None,
        "outcomes": sum(1 for _, outcomes in relevant if outcomes > 0),
    }


def losing_reasons(
    config: RoundConfig,
    alternate: dict,
    winner: dict | None,
    *,
    load: int,
    capacity: int,
) -> list[dict]:
    """Why an alternate is not proposed: what the chosen craftsman has that he lacks, best reason first.

    Parameters
    ----------
    config : RoundConfig
        The round's settings (minimum score, relevance mode).
    alternate, winner : dict
        ``{"score", "tier", "breakdown"}`` of the alternate and of the proposed craftsman he would
        replace (the lowest-scoring one of the demand); ``winner`` None when the demand got nobody.
    load, capacity : int
        The alternate's demands in this solution and his capacity.

    Returns
    -------
    list of dict
        Codes: ``busy`` (his capacity went to other demands: ``load``, ``capacity``),
        ``less_relevant`` (lower relevance tier), a component name (he trails the winner there
        by ``gap`` in weighted score; at most two, largest first), ``below_min_score``,
        ``not_relevant`` (the round keeps relevant craftsmen only), ``fairness`` (a demand left
        unfilled: one more demand for him costs more load penalty than it adds).

    Examples
    --------
    >>> alt = {"score": 0.5, "tier": 2, "breakdown": {"distance": 0.01, "skill": 0.3}}
    >>> won = {"score": 0.6, "tier": 2, "breakdown": {"distance": 0.12, "skill": 0.3}}
    >>> losing_reasons(RoundConfig(), alt, won, load=0, capacity=1)
    [{'code': 'distance', 'gap': 0.11}]
    """
    reasons: list[dict] = []
    if capacity > 0 and load >= capacity:
        reasons.append({"code": "busy", "load": int(load), "capacity": int(capacity)})
    if winner is None:
        if alternate["score"] < config.min_score:
            reasons.append({"code": "below_min_score", "min_score": config.min_score})
        elif config.relevance == "only" and (alternate.get("tier") or 0) == 0:
            reasons.append({"code": "not_relevant"})
        elif not reasons and load > 0:  # another demand for him costs more fairness penalty than it adds
            reasons.append({"code": "fairness", "load": int(load)})
        return reasons
    if (alternate.get("tier") or 0) < (winner.get("tier") or 0):
        reasons.append({"code": "less_relevant"})
    gaps = _gaps(alternate["breakdown"], winner["breakdown"])
    reasons += [{"code": name, "gap": round(gap, 4)} for name, gap in gaps[:MAX_LOSING_COMPONENTS]]
    return reasons


_COMPONENT_NAMES = frozenset(COMPONENTS)


def _gaps(mine: Mapping[str, float], theirs: Mapping[str, float]) -> list[tuple[str, float]]:
    """The components where ``theirs`` leads ``mine`` by more than `NOTABLE_GAP`, largest lead first (ties: in
    ``theirs``' order)."""
    gaps = []
    for name, value in theirs.items():
        if name in _COMPONENT_NAMES:
            gap = float(value) - float(mine.get(name, 0.0))
            if gap > NOTABLE_GAP:
                gaps.append((name, gap))
    gaps.sort(key=lambda item: -item[1])
    return gaps
