"""Features → explainable score: named components in [0, 1] and their weighted sum.

Components (each a function of one craftsman c and one demand d):

- ``skill``: importance-weighted coverage of d's required skills by c's
  proficiency, ``Σ_s imp[d,s]·prof[c,s]/5 / Σ_s imp[d,s]`` (0 if d lists none).
- ``industry``: share of d's industries that c works in, ``|I_c ∩ I_d| / |I_d|``
  (0 if d lists none).  Not Jaccard: a craftsman active in many industries
  should not be penalised for breadth.
- ``text``: cosine of character 2–3-gram TF-IDF vectors (profile vs description).
- ``distance``: ``exp(−km / scale)`` for on-site demands, where ``scale`` is
  ``config.distance_scale_km / (1 + urgency/2)`` (urgent visits want short
  trips); hybrid demands get ``0.5 + 0.5·exp(…)`` since part of the work can be
  remote; remote demands 1; unknown coordinates 0.5 (no evidence either way).
- ``honour``: ``min(1, rank / target)`` where rank counts 劳模 as one more level
  and target is municipal (2) for routine / training demands, provincial (3)
  for substantial ones and national (4) for hard 联合攻关 problems.
- ``availability``: share of d's window covered by c's availability windows
  (1 if c declared none: no calendar means no known restriction).
- ``continuity``: mean past rating / 5 with d's enterprise; 0.6 (a neutral
  3/5) if they worked together unrated; 0 if never.
- ``track_record``: c's record in the skill families d requires.  Each of c's
  served engagements whose demand required a skill of family f is worth
  ``min(1, rating/5 + 0.2·[an outcome of it was accepted into the outcome
  pool])`` (unrated: 0.6); c's record in f is their mean shrunk toward the
  neutral 0.6 by one pseudo-engagement, ``(Σ value + 0.6) / (n + 1)``.  The
  component is ``0.6 + Σ_f share[d,f]·(record[c,f] − 0.6)`` where ``share``
  is d's importance in family f over its total (0.6 if d names no skill or c
  has no record there).  Weight 0 (``RoundConfig(weights=…)``) turns it off
  and leaves every other score as it was.

Modules: ``matching.prepared`` derives the per-round arrays, ``matching.kernels``
evaluates the components and distances, this module builds the dense table,
``matching.candidates`` the exact sparse top k, ``matching.rules`` the hard
rules and ``matching.groups`` the group bounds of the candidate search.

Everything is evaluated either on a block (rows × columns, dense arrays) or on
arbitrary pairs (1-D index arrays) by the same code: element-wise components
broadcast, product components use a matrix product on blocks and row-wise dot
products on pairs.  There is no Python loop over pairs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from matching.config import COMPONENTS, RoundConfig
from matching.features import CraftsmanFeatures, DemandFeatures, History
from matching.kernels import (  # noqa: F401  (re-exported: the scoring API in one place)
    SIGN_PRODUCTS,
    SIGNS,
    _component,
    block_indices,
    component_values,
    relevance_tiers,
    same_signs,
    weighted,
)
from matching.prepared import PreparedRound, prepare  # noqa: F401  (re-exported)
from matching.threads import for_row_chunks


# ---------------------------------------------------------------- dense table
@dataclass(frozen=True)
class ScoreTable:
    """Dense scores of all C × D pairs.

    ``components[name]`` is the *weighted* contribution of one component;
    contributions of all components with a positive weight sum to ``total``.
    """

    craftsman_ids: tuple[str, ...]
    demand_ids: tuple[str, ...]
    total: np.ndarray  # (C, D) float64 in [0, 1]
    components: Mapping[str, np.ndarray]  # name → (C, D) float32
    weights: Mapping[str, float]  # normalised, sum 1
    relevance: np.ndarray | None = None  # (C, D) int8 tiers, see relevance_tiers


def score(
    craftsmen: CraftsmanFeatures,
    demands: DemandFeatures,
    config: RoundConfig | None = None,
    history: History | None = None,
    *,
    prepared: PreparedRound | None = None,
    with_components: bool = True,
    order: str = "C",
    before_chunk: Callable[[slice, np.ndarray, np.ndarray, dict], None] | None = None,
) -> ScoreTable:
    """Score every pair densely.

    Parameters
    ----------
    craftsmen, demands : CraftsmanFeatures, DemandFeatures
    config : RoundConfig, optional
        Weights (components weighing 0 are not computed); default ``RoundConfig()``.
    history : History, optional
        Past engagements (continuity).
    prepared : PreparedRound, optional
        `matching.prepared.prepare`'s result (then the other inputs are ignored); pass one to score
        with a track record or skill families.
    with_components : bool
        Keep the per-component contributions (explanations) or only the total.
    order : {"C", "F"}
        Memory layout of the (C, D) arrays: "F" keeps each demand's column contiguous, the order in which
        the solver reads a dense round (demand-major), so it need not transpose them.
    before_chunk : callable, optional
        ``before_chunk(rows, ci, di, memo)`` runs first on every chunk and may fill ``memo`` (see
        `matching.kernels.great_circle_km`) for the components to reuse; the rules use it to share one
        distance and coverage computation.

    Returns
    -------
    ScoreTable

    Notes
    -----
    Rows are evaluated in chunks so the temporaries stay in cache.  ``total`` is float64
    (C × D × 8 bytes); the components are stored as float32 (half the memory and write traffic)
    and sum to ``total`` within 1e-6.

    Examples
    --------
    >>> import numpy as np
    >>> from matching.features import synthetic_features
    >>> craftsmen, demands, history = synthetic_features(np.random.default_rng(0), 20, 5)
    >>> table = score(craftsmen, demands, history=history)
    >>> table.total.shape, bool((table.total >= 0).all() and (table.total <= 1).all())
    ((20, 5), True)
    """
    rnd = prepared or prepare(craftsmen, demands, config or RoundConfig(), history=history)
    n_c, n_d = rnd.shape
    norm = rnd.config.normalised_weights
    names = [n for n in COMPONENTS if norm[n] > 0]
    total = np.empty((n_c, n_d), order=order)
    tiers = np.empty((n_c, n_d), dtype=np.int8, order=order)
    contributions = (
        {name: np.empty((n_c, n_d), dtype=np.float32, order=order) for name in names} if with_components else {}
    )
    columns = np.arange(n_d)
    # the tiers take these components' signs instead of computing their own products (`same_signs`)
    signs_of = [name for name in names if name in SIGN_PRODUCTS and same_signs(rnd, name)]

    def fill(rows: slice) -> None:
        ci, di = block_indices(np.arange(rows.start, rows.stop), columns)
        memo: dict = {SIGNS: {}}
        if before_chunk is not None:
            before_chunk(rows, ci, di, memo)
        chunk_total = None
        for name in names:
            # scaled in place: kernels return fresh arrays, or memo ones nobody reads after the hook
            contribution = _component(rnd, name, ci, di, memo)
            if name in signs_of:  # before scaling: a tiny weight could round a product to 0
                memo[SIGNS][SIGN_PRODUCTS[name]] = contribution > 0
            contribution *= norm[name]
            if with_components:
                contributions[name][rows] = contribution
            if chunk_total is None and contribution.shape == (ci.shape[0], n_d):
                # the sum's first term taken as it is: 0.0 + x is x for every x but -0.0, and no component is
                # -0.0 (sums of products of non-negative values, minima, clips, exponentials)
                chunk_total = contribution
            elif chunk_total is None:
                chunk_total = np.zeros((ci.shape[0], n_d))
                chunk_total += contribution
            else:
                chunk_total += contribution
        total[rows] = 0.0 if chunk_total is None else chunk_total
        tiers[rows] = relevance_tiers(rnd, ci, di, memo)

    for_row_chunks(n_c, n_d, fill)
    for array in (total, tiers, *contributions.values()):
        array.flags.writeable = False
    return ScoreTable(
        craftsman_ids=rnd.craftsmen.ids,
        demand_ids=rnd.demands.ids,
        total=total,
        components=MappingProxyType(contributions),
        weights=MappingProxyType(norm),
        relevance=tiers,
    )


def explain(contributions: Mapping[str, float], weights: Mapping[str, float]) -> dict:
    """One pair's breakdown for the UI: per component its raw value, weight and contribution, best first."""
    rows = []
    for name, contribution in contributions.items():
        weight = float(weights.get(name, 0.0))
        rows.append(
            {
                "component": name,
                "value": float(contribution) / weight if weight > 0 else 0.0,
                "weight": weight,
                "contribution": float(contribution),
            }
        )
    rows.sort(key=lambda row: -row["contribution"])
    return {"total": float(sum(r["contribution"] for r in rows)), "components": rows}
