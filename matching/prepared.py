"""Per-round derived arrays shared by the scoring kernels, the rules and the candidate search.

:func:`prepare` turns the feature containers and the round config into a :class:`PreparedRound`
once per round: sparse products for the skill, industry, text and relevance components, unit
vectors for distances, lookup tables for continuity, conflicts and exclusions.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, is_dataclass, replace
from types import MappingProxyType

import numpy as np
import scipy.sparse as sp

from matching.config import RoundConfig
from matching.features import (
    MODE_HYBRID,
    MODE_ONSITE,
    MODE_REMOTE,
    CraftsmanFeatures,
    DemandFeatures,
    FeatureError,
    History,
    TrackRecord,
    check_compatible,
)
from matching.text import tfidf_pair

EARTH_RADIUS_KM = 6371.0088
HONOUR_TARGET_BY_DIFFICULTY = (2, 3, 4)  # municipal, provincial, national by difficulty 0, 1, 2
UNRATED_CONTINUITY = 0.6
UNKNOWN_DISTANCE_SCORE = 0.5
# track record: an engagement scores rating / 5 (unrated: the neutral value), plus a bonus when it
# gave an accepted outcome; a family's record is their mean shrunk toward the neutral value by
# TRACK_PRIOR_WEIGHT pseudo-engagements, so one glowing rating does not outweigh ten good ones
TRACK_NEUTRAL = 0.6
TRACK_OUTCOME_BONUS = 0.2
TRACK_PRIOR_WEIGHT = 1.0
DENSE_PRODUCT_CELLS = 2**23  # a dense copy of a product's demand side up to 64 MB
DISTANCE_SLOPE_BY_MODE = MappingProxyType({MODE_ONSITE: 1.0, MODE_HYBRID: 0.5, MODE_REMOTE: 0.0})


# ---------------------------------------------------------------- prepared round
@dataclass(frozen=True)
class Product:
    """A component that is a dot product of a craftsman row and a demand row.

    When small enough the demand side is also kept dense and transposed, so a
    block is a sparse × dense product (cost: craftsman non-zeros × columns)
    instead of sparse × sparse, which is slow once the result is dense (short,
    common n-grams make most text pairs overlap a little).
    """

    left: sp.csr_matrix  # (C, K)
    right: sp.csr_matrix  # (D, K)
    right_dense_t: np.ndarray | None  # (K, D)

    @classmethod
    def of(cls, left: sp.csr_matrix, right: sp.csr_matrix) -> Product:
        left, right = sp.csr_matrix(left), sp.csr_matrix(right)
        small = right.shape[0] * right.shape[1] <= DENSE_PRODUCT_CELLS
        return cls(left, right, np.ascontiguousarray(right.T.toarray()) if small else None)


@dataclass(frozen=True)
class PreparedRound:
    """Per-round derived arrays shared by scoring and rules (built once by :func:`prepare`)."""

    craftsmen: CraftsmanFeatures
    demands: DemandFeatures
    config: RoundConfig
    skill: Product  # proficiency / 5  ·  importance / total importance of the demand
    industry: Product  # 0/1  ·  1/|I_d|
    text: Product  # L2-normalised TF-IDF rows
    unit_c: np.ndarray  # (C, 3) unit vectors on the sphere, 0 if unknown
    unit_d: np.ndarray  # (D, 3)
    known_c: np.ndarray  # (C,) coordinates known
    known_d: np.ndarray  # (D,)
    distance_scale_d: np.ndarray  # (D,) km
    distance_slope_d: np.ndarray  # (D,) 1 on-site, 0.5 hybrid, 0 remote
    mode_d: np.ndarray  # (D,) MODE_* codes
    rank_c: np.ndarray  # (C,) effective honour rank
    target_d: np.ndarray  # (D,) honour rank wanted
    window_length_d: np.ndarray  # (D,) days
    enterprise_d: np.ndarray  # (D,) index into the round's enterprises
    employer_c: np.ndarray  # (C,) index into the round's enterprises, -1 if none there
    links: sp.csr_matrix  # (C, E) declared conflict links, bool
    continuity: sp.csr_matrix  # (C, E) continuity value (> 0 where they worked together)
    excluded: sp.csr_matrix  # (C, D) explicit exclusions, bool
    radius_c: np.ndarray  # (C,) km, defaults filled in
    province_c: np.ndarray  # (C,) index into the round's provinces, -1 if unknown
    province_d: np.ndarray  # (D,)
    held: Product  # 0/1 holds a skill · 0/1 requires it (relevance tier 2)
    family: Product  # 0/1 holds a skill of a family · 0/1 requires one of it (tier 1)
    names_skill_d: np.ndarray  # (D,) the demand requires at least one skill
    names_industry_d: np.ndarray  # (D,) the demand names at least one industry
    track: Product  # record − neutral per skill family · the demand's share of importance in it
    to_family: sp.csr_matrix  # (S, S) 0/1 skill column → its family's column
    track_record: TrackRecord | None  # the raw services, for explanations

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.craftsmen), len(self.demands)


def _unit_vectors(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    phi, lam = np.radians(lat), np.radians(lon)
    unit = np.column_stack([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)])
    # column-major: pairs gather each coordinate from one contiguous column
    return np.asfortranarray(np.nan_to_num(unit, nan=0.0))  # unknown places are masked by known_c / known_d


def _row_scaled(mat: sp.csr_matrix, row_factor: np.ndarray) -> sp.csr_matrix:
    return sp.csr_matrix(sp.diags(row_factor) @ mat)


def _inverse_or_zero(values: np.ndarray) -> np.ndarray:
    return np.divide(1.0, values, out=np.zeros_like(values, dtype=np.float64), where=values > 0)


def prepare(
    craftsmen: CraftsmanFeatures,
    demands: DemandFeatures,
    config: RoundConfig,
    *,
    history: History | None = None,
    exclusions: Iterable[tuple[str, str]] = (),
    skill_parent: np.ndarray | None = None,
    track_record: TrackRecord | None = None,
) -> PreparedRound:
    """Derive everything the component and rule kernels need, once per round.

    Parameters
    ----------
    craftsmen, demands : CraftsmanFeatures, DemandFeatures
        The round's two sides, on the same skill and industry vocabularies.
    config : RoundConfig
    history : History, optional
        Past engagements (continuity).
    exclusions : iterable of (craftsman id, demand id)
        Pairs the coordinator excluded.
    skill_parent : (S,) int array, optional
        The parent column of every skill column, -1 for a root: skills sharing a parent (or a
        root and its children) form a family, which decides relevance tier 1.  None: every skill
        is its own family.
    track_record : TrackRecord, optional
        Past services with their ratings and accepted outcomes (the ``track_record`` component);
        None: nobody has a record (the component is the neutral value for everyone).

    Returns
    -------
    PreparedRound
    """
    check_compatible(craftsmen, demands)
    n_c = len(craftsmen)
    importance_total = np.asarray(demands.required_skills.sum(axis=1)).ravel()
    industry_count = np.asarray(demands.industries.sum(axis=1)).ravel()
    text_c, text_d = tfidf_pair(craftsmen.profile_text, demands.description)

    enterprises = sorted(set(demands.enterprise_id))
    enterprise_index = {e: i for i, e in enumerate(enterprises)}
    craftsman_index = {c: i for i, c in enumerate(craftsmen.ids)}
    demand_index = {d: i for i, d in enumerate(demands.ids)}
    link_rows, link_cols = [], []
    for row, own in enumerate(craftsmen.conflict_enterprise_ids):
        for enterprise in own:
            if enterprise in enterprise_index:
                link_rows.append(row)
                link_cols.append(enterprise_index[enterprise])
    links = sp.csr_matrix(
        (np.ones(len(link_rows), dtype=bool), (link_rows, link_cols)), shape=(n_c, len(enterprises))
    )

    excluded = _exclusion_table(exclusions, craftsman_index, demand_index)

    provinces = {p: i for i, p in enumerate(sorted((set(craftsmen.province) | set(demands.province)) - {""}))}
    provinces[""] = -1
    radius = craftsmen.travel_radius_km.copy()
    radius[np.isnan(radius)] = config.max_onsite_km_default
    holds = sp.csr_matrix((craftsmen.skills > 0).astype(np.float64))
    requires = sp.csr_matrix((demands.required_skills > 0).astype(np.float64))
    to_family = _family_map(skill_parent, craftsmen.skills.shape[1])
    return PreparedRound(
        craftsmen=craftsmen,
        demands=demands,
        config=config,
        skill=Product.of(
            sp.csr_matrix(craftsmen.skills / 5.0),
            _row_scaled(demands.required_skills, _inverse_or_zero(importance_total)),
        ),
        industry=Product.of(
            sp.csr_matrix((craftsmen.industries > 0).astype(np.float64)),
            _row_scaled((demands.industries > 0).astype(np.float64), _inverse_or_zero(industry_count)),
        ),
        text=Product.of(text_c, text_d),
        unit_c=_unit_vectors(craftsmen.lat, craftsmen.lon),
        unit_d=_unit_vectors(demands.lat, demands.lon),
        known_c=~np.isnan(craftsmen.lat),
        known_d=~np.isnan(demands.lat),
        distance_scale_d=config.distance_scale_km / (1.0 + demands.urgency / 2.0),
        distance_slope_d=np.array([DISTANCE_SLOPE_BY_MODE[m] for m in demands.mode_code]),
        mode_d=demands.mode_code,
        rank_c=craftsmen.effective_rank,
        target_d=np.asarray(HONOUR_TARGET_BY_DIFFICULTY)[demands.difficulty],
        window_length_d=(demands.window_end - demands.window_start + 1).astype(np.float64),
        enterprise_d=np.array([enterprise_index[e] for e in demands.enterprise_id], dtype=np.int64),
        employer_c=np.array([enterprise_index.get(e, -1) for e in craftsmen.employer_id], dtype=np.int64),
        links=links,
        continuity=_continuity_table(history, craftsman_index, enterprise_index),
        excluded=excluded,
        radius_c=radius,
        province_c=np.array([provinces[p] for p in craftsmen.province], dtype=np.int64),
        province_d=np.array([provinces[p] for p in demands.province], dtype=np.int64),
        held=Product.of(holds, requires),
        family=Product.of(_binary(holds @ to_family), _binary(requires @ to_family)),
        names_skill_d=importance_total > 0,
        names_industry_d=industry_count > 0,
        track=Product.of(
            _track_table(track_record, craftsman_index, to_family),
            _row_scaled(demands.required_skills @ to_family, _inverse_or_zero(importance_total)),
        ),
        to_family=to_family,
        track_record=track_record,
    )


def _exclusion_table(
    exclusions: Iterable[tuple[str, str]], craftsman_index: Mapping[str, int], demand_index: Mapping[str, int]
) -> sp.csr_matrix:
    """(C, D) bool: the pairs the coordinator excluded."""
    excluded_rows, excluded_cols = [], []
    for craftsman_id, demand_id in exclusions:
        if craftsman_id not in craftsman_index or demand_id not in demand_index:
            raise FeatureError("exclusions", f"unknown pair ({craftsman_id!r}, {demand_id!r})")
        excluded_rows.append(craftsman_index[craftsman_id])
        excluded_cols.append(demand_index[demand_id])
    return sp.csr_matrix(
        (np.ones(len(excluded_rows), dtype=bool), (excluded_rows, excluded_cols)),
        shape=(len(craftsman_index), len(demand_index)),
    )


# What a round's scores, relevance tiers and hard rules do not read: a change of only these (and of the
# exclusions, applied afterwards) leaves a prepared round and its scores valid (`scoring_key`).
NOT_SCORED = {CraftsmanFeatures: ("capacity",), DemandFeatures: ("slots", "priority")}


def scoring_key(
    craftsmen: CraftsmanFeatures,
    demands: DemandFeatures,
    config: RoundConfig,
    *,
    history: History | None = None,
    skill_parent: np.ndarray | None = None,
    track_record: TrackRecord | None = None,
) -> str:
    """A digest of everything :func:`prepare` (without exclusions), the scores and the rules read.

    Two rounds with the same key score and rule every pair alike, so a re-solve after a lock, an
    exclusion or a capacity change may reuse the first one's prepared round and score matrices.
    """
    digest = hashlib.blake2b(digest_size=20)

    def feed(value) -> None:
        if isinstance(value, np.ndarray):
            digest.update(f"a{value.dtype.str}{value.shape}".encode())
            digest.update(np.ascontiguousarray(value).tobytes())
        elif sp.issparse(value):
            matrix = sp.csr_matrix(value)
            matrix.sort_indices()
            digest.update(f"s{matrix.shape}".encode())
            for part in (matrix.indptr, matrix.indices, matrix.data):
                feed(part)
        elif isinstance(value, tuple | list) and all(type(item) is str for item in value):
            digest.update(b"j" + json.dumps(value).encode())  # ids, texts: one C-level encoding, unambiguous
        elif isinstance(value, tuple | list) and all(
            type(item) in (tuple, list) and all(type(part) is str for part in item) for item in value
        ):  # per craftsman a few ids (conflicts): one encoding, not one call per craftsman
            digest.update(b"J" + json.dumps(value).encode())
        elif isinstance(value, tuple | list):
            digest.update(f"t{len(value)}(".encode())
            for item in value:
                feed(item)
            digest.update(b")")
        elif is_dataclass(value):
            skip = NOT_SCORED.get(type(value), ())
            digest.update(value.__class__.__name__.encode())
            for item in fields(value):
                if item.name not in skip:
                    feed(getattr(value, item.name))
        else:
            digest.update(f"{type(value).__name__}:{value!r};".encode())

    feed([craftsmen, demands, json.dumps(config.to_dict(), sort_keys=True), history, skill_parent, track_record])
    return digest.hexdigest()


def with_exclusions(
    base: PreparedRound,
    craftsmen: CraftsmanFeatures,
    demands: DemandFeatures,
    exclusions: Iterable[tuple[str, str]],
) -> PreparedRound:
    """``base`` (prepared without exclusions) for pools of the same `scoring_key` and these exclusions."""
    craftsman_index = {c: i for i, c in enumerate(craftsmen.ids)}
    demand_index = {d: i for i, d in enumerate(demands.ids)}
    return replace(
        base,
        craftsmen=craftsmen,
        demands=demands,
        excluded=_exclusion_table(exclusions, craftsman_index, demand_index),
    )


def _family_map(skill_parent: np.ndarray | None, n_skills: int) -> sp.csr_matrix:
    """(S, S) 0/1: skill column → its family's column (its parent's, or its own for a root)."""
    if skill_parent is None:
        family = np.arange(n_skills)
    else:
        parent = np.asarray(skill_parent)
        if parent.shape != (n_skills,) or parent.dtype.kind not in "iu" or (
            n_skills and (parent.min() < -1 or parent.max() >= n_skills)
        ):
            raise FeatureError("skill_parent", f"must hold {n_skills} column indices (or -1 for a root)")
        family = np.where(parent >= 0, parent, np.arange(n_skills))
    return sp.csr_matrix((np.ones(n_skills), (np.arange(n_skills), family)), shape=(n_skills, n_skills))


def _binary(matrix: sp.csr_matrix) -> sp.csr_matrix:
    matrix = sp.csr_matrix(matrix)
    matrix.data[:] = 1.0
    return matrix


def _continuity_table(
    history: History | None, craftsman_index: Mapping[str, int], enterprise_index: Mapping[str, int]
) -> sp.csr_matrix:
    shape = (len(craftsman_index), len(enterprise_index))
    if history is None or not len(history.craftsman_id):
        return sp.csr_matrix(shape)
    rows = np.array([craftsman_index.get(c, -1) for c in history.craftsman_id], dtype=np.int64)
    cols = np.array([enterprise_index.get(e, -1) for e in history.enterprise_id], dtype=np.int64)
    known = (rows >= 0) & (cols >= 0)  # engagements of people / firms outside this round do not matter
    rows, cols, rating = rows[known], cols[known], history.rating[known]
    rated = ~np.isnan(rating)
    worked = sp.csr_matrix((np.ones(rows.size), (rows, cols)), shape=shape)
    rating_sum = sp.csr_matrix((rating[rated], (rows[rated], cols[rated])), shape=shape)
    rating_count = sp.csr_matrix((np.ones(int(rated.sum())), (rows[rated], cols[rated])), shape=shape)
    worked.data[:] = UNRATED_CONTINUITY
    mean = rating_sum.multiply(_sparse_inverse(rating_count)) / 5.0
    # where a rating exists, the mean replaces the neutral value
    return sp.csr_matrix(worked - worked.multiply(rating_count > 0) + mean)


def _sparse_inverse(mat: sp.csr_matrix) -> sp.csr_matrix:
    out = mat.copy()
    out.data = 1.0 / out.data
    return out


def _track_table(
    record: TrackRecord | None, craftsman_index: Mapping[str, int], to_family: sp.csr_matrix
) -> sp.csr_matrix:
    """(C, S) per craftsman and family column: shrunk mean engagement value − TRACK_NEUTRAL (0 without record)."""
    shape = (len(craftsman_index), to_family.shape[1])
    if record is None or not len(record):
        return sp.csr_matrix(shape)
    if record.skills.shape[1] != to_family.shape[0]:
        raise FeatureError("track_record.skills", f"expected {to_family.shape[0]} skill columns")
    rows = np.array([craftsman_index.get(c, -1) for c in record.craftsman_id], dtype=np.int64)
    known = rows >= 0  # services of craftsmen outside this round do not matter
    value = np.where(np.isnan(record.rating), TRACK_NEUTRAL, record.rating / 5.0)
    value = np.minimum(1.0, value + TRACK_OUTCOME_BONUS * (record.outcomes > 0))
    families = _binary(record.skills[known] @ to_family)  # (N, S): the families each service counts for
    owner = sp.csr_matrix((np.ones(int(known.sum())), (rows[known], np.arange(int(known.sum())))),
                          shape=(shape[0], int(known.sum())))
    count = owner @ families
    total = owner @ _row_scaled(families, value[known])
    # (Σ value + w·neutral) / (n + w) − neutral = (Σ value − n·neutral) / (n + w), non-zero only where n > 0
    deviation = sp.csr_matrix(total - count * TRACK_NEUTRAL)
    denominator = count.copy()
    denominator.data = 1.0 / (denominator.data + TRACK_PRIOR_WEIGHT)
    return sp.csr_matrix(deviation.multiply(denominator))

