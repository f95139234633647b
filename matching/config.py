"""Settings of one matching round, stored with the round so it can be replayed."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType

from matching.features import FeatureError
from matching.problem import RELEVANCE_MODES

COMPONENTS = (
    "skill", "industry", "text", "distance", "honour", "availability", "continuity", "track_record",
)

DEFAULT_WEIGHTS = MappingProxyType(
    {
        "skill": 0.35,
        "industry": 0.15,
        "text": 0.10,
        "distance": 0.15,
        "honour": 0.10,
        "availability": 0.10,
        "continuity": 0.05,
        "track_record": 0.05,
    }
)


@dataclass(frozen=True)
class RoundConfig:
    """Weights, thresholds and switches of a round (stored with the round, replayable).

    Parameters
    ----------
    weights : mapping of component name to float ≥ 0
        Replaces the defaults as a whole: components it leaves out weigh 0 (and are not
        computed).  The score of a pair is ``Σ w_i·component_i / Σ w_i``, in [0, 1] whatever the
        weights' scale.
    min_score, load_penalty, alternates_k, stickiness, cross_province_allowed,
    max_onsite_km_default, distance_scale_km, top_k, dense_budget_cells, chunk_cells,
    relevance, floor
        See the list below.

    Raises
    ------
    FeatureError
        On a bad value; its ``field`` names the setting.

    Notes
    -----
    - ``min_score``, ``load_penalty``, ``alternates_k``, ``stickiness``: passed to the solver.
    - ``cross_province_allowed``: False forbids pairs whose known provinces differ.
    - ``max_onsite_km_default``: travel radius of craftsmen who did not give one.
    - ``distance_scale_km``: e-folding distance of the distance component (urgency shortens it).
    - ``top_k``: candidates per demand in sparse mode.
    - ``dense_budget_cells``: C × D above which rounds use sparse candidates.
      Dense needs about 36 bytes per cell in scoring (float64 total, float32
      components, mask) and the solver's Problem copies components as float64.
    - ``chunk_cells``: cells per chunk of the sparse candidate search (memory ≈ 60 bytes × this).
    - ``relevance``: "first" (the default) fills as many slots (priority-weighted) with relevant
      craftsmen as possible before the score counts, irrelevant ones only where no relevant one
      can, flagged "no_required_skill"; "only" leaves such slots unfilled; "off" is the plain
      weighted sum.  Tier 2 does not outrank tier 1 here: both are relevant, and the skill
      component of the score already prefers the holder of the required skill.
    - ``floor``: demand-floor fairness (`matching.floor`): first the largest q such that every
      demand with an eligible candidate gets a craftsman scoring ≥ q × its own best candidate
      (demands with team roles excepted), then the usual objective under that floor, as one
      explicit LP over all candidate pairs (slower than the default route on province rounds).

    Examples
    --------
    >>> config = RoundConfig(min_score=0.3)
    >>> config.relevance, config.floor, RoundConfig.from_dict(config.to_dict()) == config
    ('first', False, True)
    """

    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    min_score: float = 0.2
    load_penalty: float = 0.05
    alternates_k: int = 3
    stickiness: float = 0.02
    cross_province_allowed: bool = True
    max_onsite_km_default: float = 300.0
    distance_scale_km: float = 150.0
    top_k: int = 30
    dense_budget_cells: float = 25e6
    chunk_cells: float = 4e6
    relevance: str = "first"
    floor: bool = False

    def __post_init__(self):
        weights = dict(self.weights)
        unknown = sorted(set(weights) - set(COMPONENTS))
        if unknown:
            raise FeatureError("weights", f"unknown component(s) {unknown}; known: {COMPONENTS}")
        weights = {name: float(weights.get(name, 0.0)) for name in COMPONENTS}
        if any(not math.isfinite(w) or w < 0 for w in weights.values()):
            raise FeatureError("weights", "weights must be finite and >= 0")
        if sum(weights.values()) <= 0:
            raise FeatureError("weights", "at least one weight must be > 0")
        object.__setattr__(self, "weights", MappingProxyType(weights))
        _check_range("min_score", self.min_score, 0.0, 1.0)
        _check_range("load_penalty", self.load_penalty, 0.0, math.inf)
        _check_range("stickiness", self.stickiness, 0.0, math.inf)
        _check_range("max_onsite_km_default", self.max_onsite_km_default, 0.0, math.inf)
        _check_range("distance_scale_km", self.distance_scale_km, 1e-9, math.inf)
        _check_range("dense_budget_cells", self.dense_budget_cells, 0.0, math.inf)
        _check_range("chunk_cells", self.chunk_cells, 1.0, math.inf)
        for name in ("alternates_k", "top_k"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < (1 if name == "top_k" else 0):
                raise FeatureError(
                    name, f"must be an integer >= {1 if name == 'top_k' else 0}, got {value!r}"
                )
        for name in ("cross_province_allowed", "floor"):
            if not isinstance(getattr(self, name), bool):
                raise FeatureError(name, "must be true or false")
        if self.relevance not in RELEVANCE_MODES:
            raise FeatureError("relevance", f"must be one of {RELEVANCE_MODES}, got {self.relevance!r}")

    def __hash__(self) -> int:  # the weights mapping is not hashable itself
        return hash(
            tuple((k, v) if k != "weights" else (k, tuple(v.items())) for k, v in self.to_dict().items())
        )

    @property
    def normalised_weights(self) -> dict[str, float]:
        """Weights divided by their sum, in ``COMPONENTS`` order."""
        total = sum(self.weights.values())
        return {name: self.weights[name] / total for name in COMPONENTS}

    def to_dict(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["weights"] = dict(self.weights)
        return data

    @classmethod
    def from_dict(cls, data: Mapping) -> RoundConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise FeatureError(unknown[0], f"unknown round setting(s) {unknown}")
        return cls(**dict(data))


def _check_range(name: str, value, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise FeatureError(name, f"must be a number in [{low}, {high}], got {value!r}")
