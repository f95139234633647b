"""The only bridge between the database and ``matching``: rows → feature arrays, snapshot ↔ JSON.

Everything is read with column queries (tuples, never ORM objects per row) and turned into numpy
arrays, so a province-scale round (5,000 craftsmen × 2,000 demands) loads in a fraction of a second.
The features of a round are frozen in ``MatchingRound.snapshot`` (``round_features`` + ``solve_inputs``) on the first solve: a re-solve or a
replay (``problem_from_snapshot``) uses the same inputs and gives the same answer.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from collections import defaultdict
from collections.abc import Collection
from typing import Any

import numpy as np
import scipy.sparse as sp
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased

from matching.config import RoundConfig
from matching.features import CraftsmanFeatures, DemandFeatures, History, TrackRecord, Windows
from matching.pipeline import build_problem
from matching.problem import Problem
from web.caches import LastFew
from web.models import (
    Availability,
    ConflictLink,
    Craftsman,
    CraftsmanHonour,
    CraftsmanSkill,
    Demand,
    DemandCategory,
    DemandRole,
    DemandSkill,
    Engagement,
    EngagementMember,
    Feedback,
    FollowUp,
    HonourLevel,
    Industry,
    MatchingRound,
    Outcome,
    Region,
    RoundCraftsman,
    RoundDemand,
    RoundFeatures,
    Skill,
    Studio,
    craftsman_industry,
    demand_industry,
)
from web.models.rounds import parsed_features
from web.services import eligibility

EPOCH = dt.date(2000, 1, 1)
DEFAULT_WINDOW_DAYS = 180
DIFFICULTY = {"tech_tackling": 2, "digital": 1, "management": 1, "standards": 1, "transfer": 1}
URGENCY = {"low": 0, "medium": 1, "high": 2}
HONOUR_KINDS_RANKED = ("craftsman", "trainee")
SNAPSHOT_VERSION = 1


def _core(session: Session):
    """The session's connection: plain Core rows, without the ORM's per-row result processing."""
    return session.connection()


def day(value: dt.date) -> int:
    return (value - EPOCH).days


# ---------------------------------------------------------------- vocabularies
def _vocabulary(session: Session, model) -> tuple[dict[int, int], np.ndarray]:
    """id → column, and the parent column of every column (-1 for roots)."""
    rows = _core(session).execute(sa.select(model.id, model.parent_id).order_by(model.id)).all()
    column = {row_id: index for index, (row_id, _) in enumerate(rows)}
    parent = np.array([column.get(parent_id, -1) for _, parent_id in rows], dtype=np.int64)
    return column, parent


def _vocabulary_ids(session: Session, model) -> tuple[np.ndarray, np.ndarray]:
    """The vocabulary's ids in column order (ascending), and the parent column of every column (-1 for roots)."""
    column, parent = _vocabulary(session, model)
    return np.fromiter(column, dtype=np.int64, count=len(column)), parent


def _matrix(n_rows: int, n_cols: int, rows, cols, values, parent: np.ndarray | None) -> sp.csr_matrix:
    """A (rows × vocabulary) matrix; a child skill also counts for its parent (max of the two); a cell given twice
    keeps its largest value. Built as the CSR form of that dense matrix (cells in row-major order, zeros left out),
    without the dense matrix (a 4,535 × 190 one and a scan of it for a province round)."""
    rows, cols, values = (np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64),
                          np.asarray(values, dtype=np.float64))
    if parent is not None and rows.size:
        up = parent[cols]
        keep = up >= 0
        rows, cols, values = (np.concatenate([rows, rows[keep]]), np.concatenate([cols, up[keep]]),
                              np.concatenate([values, values[keep]]))
    cells = rows * n_cols + cols
    order = np.lexsort((values, cells))  # by cell, its largest value last
    cells, values = cells[order], values[order]
    last = np.append(cells[1:] != cells[:-1], True) if cells.size else np.zeros(0, dtype=bool)
    cells, values = cells[last], np.maximum(values[last], 0.0)  # a dense matrix starts at zero
    cells, values = cells[values != 0], values[values != 0]
    indptr = np.searchsorted(cells, np.arange(n_rows + 1, dtype=np.int64) * n_cols)
    return sp.csr_matrix((values, (cells % n_cols).astype(np.int32), indptr.astype(np.int32)),
                         shape=(n_rows, n_cols))


def _positions(ids: np.ndarray, wanted) -> np.ndarray:
    """The index of each of ``wanted`` in ``ids`` (ascending, holding every one of them)."""
    return np.searchsorted(ids, np.fromiter(wanted, dtype=np.int64, count=len(wanted)))


def _days(dates) -> np.ndarray:
    """``day`` of each date (numpy's own conversion of dates takes ~1.7 us each)."""
    return np.fromiter(map(dt.date.toordinal, dates), dtype=np.int64, count=len(dates)) - EPOCH.toordinal()


def _columns(rows, width: int) -> list[tuple[Any, ...]]:
    """The rows' columns, each a tuple in row order: one transposition, instead of a SQLAlchemy row attribute
    (~1 us each) per row and column (tens of thousands for a province round's craftsmen)."""
    return list(zip(*rows, strict=True)) if rows else [()] * width


def _places(lat, lon, parent_lat, parent_lon) -> tuple[np.ndarray, np.ndarray]:
    def pick(own, parent):
        return np.array([np.nan if (a if a is not None else b) is None else (a if a is not None else b)
                         for a, b in zip(own, parent, strict=True)], dtype=np.float64)

    lat, lon = pick(lat, parent_lat), pick(lon, parent_lon)
    unknown = np.isnan(lat) | np.isnan(lon)
    lat[unknown] = lon[unknown] = np.nan
    return lat, lon


# ---------------------------------------------------------------- craftsmen
def load_craftsmen(session: Session, round_id: int, *, today: dt.date,
                   only: Collection[int] | None = None) -> CraftsmanFeatures:
    """The round's craftsmen; ``only``: just these, in the round or not yet (then with their own capacity per
    round), e.g. to check a lock before the craftsman joins the round."""
    parent = aliased(Region)
    members = RoundCraftsman.round_id == round_id if only is None else Craftsman.id.in_(sorted(only))
    rows = _core(session).execute(
        sa.select(Craftsman.id, Craftsman.travel_radius_km, Craftsman.can_onsite, Craftsman.can_remote,
                  Craftsman.status, Craftsman.paused_until, Craftsman.employer_enterprise_id, Craftsman.bio,
                  Studio.name.label("studio"), Region.latitude, Region.longitude, Region.province_code,
                  parent.latitude.label("plat"), parent.longitude.label("plon"),
                  sa.func.coalesce(RoundCraftsman.capacity, Craftsman.round_capacity).label("capacity"))
        .outerjoin(RoundCraftsman, sa.and_(RoundCraftsman.craftsman_id == Craftsman.id,
                                           RoundCraftsman.round_id == round_id))
        .join(Region, Region.id == Craftsman.region_id)
        .outerjoin(parent, parent.id == Region.parent_id)
        .outerjoin(Studio, Studio.id == Craftsman.studio_id)
        .where(members).order_by(Craftsman.id)
    ).all()
    (ids, radius, onsite, remote, status, paused_until, employer, bio, studio, own_lat, own_lon, province_code,
     parent_lat, parent_lon, capacity) = _columns(rows, 15)
    id_array = np.array(ids, dtype=np.int64)  # ascending
    n = len(rows)
    in_round = sa.select(RoundCraftsman.craftsman_id).where(RoundCraftsman.round_id == round_id) if only is None \
        else sa.select(Craftsman.id).where(members)

    skill_ids, skill_parent = _vocabulary_ids(session, Skill)
    skill_rows = _core(session).execute(
        sa.select(CraftsmanSkill.craftsman_id, CraftsmanSkill.skill_id, CraftsmanSkill.proficiency, Skill.name_zh)
        .join(Skill, Skill.id == CraftsmanSkill.skill_id).where(CraftsmanSkill.craftsman_id.in_(in_round))
        .order_by(CraftsmanSkill.id)).all()  # the names in the profile text in the order recorded, whatever the plan
    owner, skill, proficiency, names = _columns(skill_rows, 4)
    skills = _matrix(n, len(skill_ids), _positions(id_array, owner), _positions(skill_ids, skill), proficiency,
                     skill_parent)
    words: dict[int, list[str]] = defaultdict(list)
    for craftsman_id, name in zip(owner, names, strict=True):
        words[craftsman_id].append(name)

    industry_ids, industry_parent = _vocabulary_ids(session, Industry)
    owner, industry = _columns(_core(session).execute(
        sa.select(craftsman_industry.c.craftsman_id, craftsman_industry.c.industry_id)
        .where(craftsman_industry.c.craftsman_id.in_(in_round))).all(), 2)
    industries = _matrix(n, len(industry_ids), _positions(id_array, owner), _positions(industry_ids, industry),
                         np.ones(len(owner)), industry_parent)

    owner, kind, level = _columns(_core(session).execute(
        sa.select(CraftsmanHonour.craftsman_id, HonourLevel.kind, HonourLevel.rank)
        .join(HonourLevel, HonourLevel.id == CraftsmanHonour.honour_level_id)
        .where(CraftsmanHonour.craftsman_id.in_(in_round))).all(), 3)
    holder, model = _positions(id_array, owner), np.array(kind, dtype=object) == "model_worker"
    model_worker = np.zeros(n, dtype=bool)
    model_worker[holder[model]] = True
    rank = np.zeros(n, dtype=np.int64)
    np.maximum.at(rank, holder[~model], np.minimum(np.array(level, dtype=np.int64)[~model], 4))

    owner, starts_on, ends_on = _columns(_core(session).execute(
        sa.select(Availability.craftsman_id, Availability.starts_on, Availability.ends_on)
        .where(Availability.craftsman_id.in_(in_round))).all(), 3)
    windows = Windows.from_arrays(n, _positions(id_array, owner), _days(starts_on), _days(ends_on))

    index = {craftsman_id: i for i, craftsman_id in enumerate(ids)}
    conflicts: list[list[str]] = [[] for _ in range(n)]
    for craftsman_id, enterprise_id in _core(session).execute(
            sa.select(ConflictLink.craftsman_id, ConflictLink.enterprise_id)
            .where(ConflictLink.craftsman_id.in_(in_round)).order_by(ConflictLink.id)).all():  # the snapshot's digest
        conflicts[index[craftsman_id]].append(str(enterprise_id))

    lat, lon = _places(own_lat, own_lon, parent_lat, parent_lon)
    active = np.array([eligibility.is_active(state, until, today)
                       for state, until in zip(status, paused_until, strict=True)], dtype=bool)
    return CraftsmanFeatures(
        ids=tuple(map(str, ids)),
        skills=skills,
        industries=industries,
        profile_text=tuple(" ".join(filter(None, [own_bio or "", studio_name or "", " ".join(words[craftsman_id])]))
                           for craftsman_id, own_bio, studio_name in zip(ids, bio, studio, strict=True)),
        lat=lat, lon=lon,
        province=tuple((code or "")[:2] for code in province_code),
        travel_radius_km=_nan(radius),  # NaN: none given, the round's default
        honour_rank=rank,
        model_worker=model_worker,
        can_onsite=np.array(onsite, dtype=bool),
        can_remote=np.array(remote, dtype=bool),
        availability=windows,
        active=active,
        employer_id=tuple(str(e or "") for e in employer),
        conflict_enterprise_ids=tuple(tuple(c) for c in conflicts),
        capacity=np.array(capacity, dtype=np.int64),
    )


# ---------------------------------------------------------------- demands
def load_demands(session: Session, round_id: int, *, today: dt.date,
                 only: Collection[int] | None = None) -> DemandFeatures:
    """The round's demands; ``only``: just these of them."""
    parent = aliased(Region)
    members = [RoundDemand.round_id == round_id] + ([] if only is None else [RoundDemand.demand_id.in_(sorted(only))])
    rows = _core(session).execute(
        sa.select(Demand.id, Demand.enterprise_id, Demand.mode, Demand.window_start, Demand.window_end,
                  Demand.urgency, DemandCategory.code.label("category"), Demand.title, Demand.description,
                  Demand.support_needed, Demand.other_skills, Region.latitude, Region.longitude,
                  Region.province_code, parent.latitude.label("plat"), parent.longitude.label("plon"),
                  RoundDemand.slots, RoundDemand.priority)
        .join(RoundDemand, RoundDemand.demand_id == Demand.id)
        .join(DemandCategory, DemandCategory.id == Demand.category_id)
        .join(Region, Region.id == Demand.region_id)
        .outerjoin(parent, parent.id == Region.parent_id)
        .where(*members).order_by(Demand.id)
    ).all()
    (ids, enterprise_id, mode, window_start, window_end, urgency, category, title, description, support_needed,
     other_skills, own_lat, own_lon, province_code, parent_lat, parent_lon, slots, priority) = _columns(rows, 18)
    index = {demand_id: i for i, demand_id in enumerate(ids)}
    n = len(rows)
    in_round = sa.select(RoundDemand.demand_id).where(*members)
    skill_col, _ = _vocabulary(session, Skill)
    skill_rows = _core(session).execute(sa.select(DemandSkill.demand_id, DemandSkill.skill_id, DemandSkill.importance)
                                 .where(DemandSkill.demand_id.in_(in_round))).all()
    # a team demand's role specialities are required skills too (relevance, scores, explanations)
    skill_rows += _core(session).execute(sa.select(DemandRole.demand_id, DemandRole.skill_id, sa.literal(2))
                                         .where(DemandRole.demand_id.in_(in_round))).all()
    required = _matrix(n, len(skill_col), [index[r[0]] for r in skill_rows], [skill_col[r[1]] for r in skill_rows],
                       [r[2] for r in skill_rows], None)
    industry_col, _ = _vocabulary(session, Industry)
    industry_rows = _core(session).execute(sa.select(demand_industry.c.demand_id, demand_industry.c.industry_id)
                                    .where(demand_industry.c.demand_id.in_(in_round))).all()
    industries = _matrix(n, len(industry_col), [index[d] for d, _ in industry_rows],
                         [industry_col[i] for _, i in industry_rows], [1.0] * len(industry_rows), None)
    lat, lon = _places(own_lat, own_lon, parent_lat, parent_lon)
    start = np.array([day(begins or today) for begins in window_start], dtype=np.int64)
    end = np.array([day(ends) if ends else day(begins or today) + DEFAULT_WINDOW_DAYS
                    for begins, ends in zip(window_start, window_end, strict=True)], dtype=np.int64)
    return DemandFeatures(
        ids=tuple(map(str, ids)),
        enterprise_id=tuple(map(str, enterprise_id)),
        required_skills=required,
        industries=industries,
        description=tuple(" ".join(filter(None, texts))
                          for texts in zip(title, description, support_needed, other_skills, strict=True)),
        lat=lat, lon=lon,
        province=tuple((code or "")[:2] for code in province_code),
        mode=tuple(mode),
        window_start=start,
        window_end=np.maximum(end, start),
        difficulty=np.array([DIFFICULTY.get(code, 0) for code in category], dtype=np.int64),
        urgency=np.array([URGENCY.get(level, 1) for level in urgency], dtype=np.int64),
        slots=np.array(slots, dtype=np.int64),
        priority=np.array(priority, dtype=np.float64),
    )


# ---------------------------------------------------------------- team roles (跨界攻关小组)
# A role as the web keeps it: (demand id, skill column, count, skill id); matching takes the first three
# (``pipeline.team_roles``: a craftsman holding the column's skill, or a sub-skill of it, is eligible).
TeamRole = tuple[str, int, int, int]


def load_roles(session: Session, round_id: int) -> list[TeamRole]:
    """The roles of the round's team demands, in demand then role order."""
    skill_col, _ = _vocabulary(session, Skill)
    rows = _core(session).execute(
        sa.select(DemandRole.demand_id, DemandRole.skill_id, DemandRole.count)
        .where(DemandRole.demand_id.in_(sa.select(RoundDemand.demand_id).where(RoundDemand.round_id == round_id)))
        .order_by(DemandRole.demand_id, DemandRole.id)).all()
    return [(str(demand_id), skill_col[skill_id], count, skill_id) for demand_id, skill_id, count in rows]


def roles_from_snapshot(snapshot: dict[str, Any]) -> list[TeamRole] | None:
    """The stored roles; None for a snapshot taken before roles were stored."""
    roles = snapshot.get("roles")
    return None if roles is None else [tuple(role) for role in roles]


def with_role_slots(demands: DemandFeatures, roles: list[TeamRole]) -> DemandFeatures:
    """A team demand wants as many craftsmen as its roles add up to (matching requires it)."""
    total: dict[str, int] = defaultdict(int)
    for demand, _, count, _ in roles:
        total[demand] += count
    if not total:
        return demands
    return dataclasses.replace(demands, slots=np.array([total.get(d, s) for d, s in
                                                        zip(demands.ids, demands.slots.tolist(), strict=True)],
                                                       dtype=np.int64))


def solver_roles(roles: list[TeamRole], demand_ids) -> list[tuple[str, int, int]]:
    """The roles of the demands still in the round, as ``matching.pipeline.build_problem`` takes them."""
    known = set(demand_ids)
    return [(demand, column, count) for demand, column, count, _ in roles if demand in known]


def load_history(session: Session, craftsmen: Collection, demands: DemandFeatures) -> History:
    """Past ratings for continuity, from the engagements feature's history service; ``craftsmen``: the round's
    (their features, or their ids): none, no history."""
    try:
        from web.services.history import build_history
    except ImportError:  # pragma: no cover - the engagements feature not installed
        return History.empty()
    enterprise_ids = sorted({int(e) for e in demands.enterprise_id})
    if not enterprise_ids or not len(craftsmen):
        return History.empty()
    return build_history(session, enterprise_ids=enterprise_ids)


def load_track_record(session: Session, round_id: int) -> TrackRecord:
    """The served engagements of the round's craftsmen with their rating, the required skills of their demand and
    the outcomes accepted from their follow-ups (the ``track_record`` component), in one query."""
    from web.services.history import SERVED_ENGAGEMENTS, SERVING_MEMBERS

    accepted = (sa.select(FollowUp.engagement_id, sa.func.count(Outcome.id).label("n"))
                .join(Outcome, Outcome.follow_up_id == FollowUp.id).group_by(FollowUp.engagement_id).subquery())
    rating = (sa.select(Feedback.engagement_id, sa.func.avg(Feedback.rating).label("rating"))
              .group_by(Feedback.engagement_id).subquery())
    rows = _core(session).execute(
        sa.select(EngagementMember.craftsman_id, Engagement.id, rating.c.rating, sa.func.coalesce(accepted.c.n, 0),
                  DemandSkill.skill_id)
        .join(Engagement, Engagement.id == EngagementMember.engagement_id)
        .join(DemandSkill, DemandSkill.demand_id == Engagement.demand_id)
        .outerjoin(rating, rating.c.engagement_id == Engagement.id)
        .outerjoin(accepted, accepted.c.engagement_id == Engagement.id)
        .where(Engagement.status.in_(SERVED_ENGAGEMENTS), EngagementMember.status.in_(SERVING_MEMBERS),
               EngagementMember.craftsman_id.in_(
                   sa.select(RoundCraftsman.craftsman_id).where(RoundCraftsman.round_id == round_id)))
        .order_by(Engagement.id, EngagementMember.craftsman_id)
    ).all()
    skill_col, _ = _vocabulary(session, Skill)
    services: dict[tuple[int, int], tuple[float | None, int, list[int]]] = {}
    for craftsman_id, engagement_id, stars, outcomes, skill_id in rows:
        services.setdefault((craftsman_id, engagement_id), (stars, outcomes, []))[2].append(skill_col[skill_id])
    keys = list(services)
    return TrackRecord(
        craftsman_id=tuple(str(c) for c, _ in keys),
        skills=_matrix(len(keys), len(skill_col), [n for n, key in enumerate(keys) for _ in services[key][2]],
                       [col for key in keys for col in services[key][2]],
                       [1.0] * sum(len(services[key][2]) for key in keys), None),
        rating=_nan([None if services[key][0] is None else float(services[key][0]) for key in keys]),
        outcomes=np.array([int(services[key][1]) for key in keys], dtype=np.int64),
    )


def declined_pairs(session: Session, round_id: int) -> list[tuple[str, str]]:
    """(craftsman, demand) pairs of this round's demands that a craftsman declined after an earlier publish."""
    return sorted((str(c), str(d)) for c, d in eligibility.declined_pairs(session, round_id))


# ---------------------------------------------------------------- snapshot (JSON) and replay
def _csr(matrix: sp.csr_matrix) -> dict[str, Any]:
    return {"shape": list(matrix.shape), "indptr": matrix.indptr.tolist(), "indices": matrix.indices.tolist(),
            "data": matrix.data.tolist()}


def _from_csr(data: dict[str, Any]) -> sp.csr_matrix:
    return sp.csr_matrix((np.asarray(data["data"], dtype=np.float64), np.asarray(data["indices"], dtype=np.int64),
                          np.asarray(data["indptr"], dtype=np.int64)), shape=tuple(data["shape"]))


def _floats(values: np.ndarray) -> list[float | None]:
    return [None if np.isnan(v) else float(v) for v in values.tolist()]


def _nan(values) -> np.ndarray:
    """Floats with NaN for None: an unknown place, a missing radius (``matching`` applies its default), …"""
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def craftsmen_to_json(c: CraftsmanFeatures) -> dict[str, Any]:
    return {
        "ids": list(c.ids), "skills": _csr(c.skills), "industries": _csr(c.industries),
        "profile_text": list(c.profile_text), "lat": _floats(c.lat), "lon": _floats(c.lon),
        "province": list(c.province), "travel_radius_km": _floats(c.travel_radius_km),
        "honour_rank": c.honour_rank.tolist(), "model_worker": c.model_worker.tolist(),
        "can_onsite": c.can_onsite.tolist(), "can_remote": c.can_remote.tolist(),
        "availability": {"indptr": c.availability.indptr.tolist(), "start": c.availability.start.tolist(),
                         "end": c.availability.end.tolist()},
        "active": c.active.tolist(), "employer_id": list(c.employer_id),
        "conflict_enterprise_ids": [list(x) for x in c.conflict_enterprise_ids], "capacity": c.capacity.tolist(),
    }


def craftsmen_from_json(d: dict[str, Any]) -> CraftsmanFeatures:
    w = d["availability"]
    return CraftsmanFeatures(
        ids=tuple(d["ids"]), skills=_from_csr(d["skills"]), industries=_from_csr(d["industries"]),
        profile_text=tuple(d["profile_text"]), lat=_nan(d["lat"]), lon=_nan(d["lon"]), province=tuple(d["province"]),
        travel_radius_km=_nan(d["travel_radius_km"]), honour_rank=np.asarray(d["honour_rank"], dtype=np.int64),
        model_worker=np.asarray(d["model_worker"], dtype=bool), can_onsite=np.asarray(d["can_onsite"], dtype=bool),
        can_remote=np.asarray(d["can_remote"], dtype=bool),
        availability=Windows(np.asarray(w["indptr"], dtype=np.int64), np.asarray(w["start"], dtype=np.int64),
                             np.asarray(w["end"], dtype=np.int64)),
        active=np.asarray(d["active"], dtype=bool), employer_id=tuple(d["employer_id"]),
        conflict_enterprise_ids=tuple(tuple(x) for x in d["conflict_enterprise_ids"]),
        capacity=np.asarray(d["capacity"], dtype=np.int64),
    )


def demands_to_json(m: DemandFeatures) -> dict[str, Any]:
    return {
        "ids": list(m.ids), "enterprise_id": list(m.enterprise_id), "required_skills": _csr(m.required_skills),
        "industries": _csr(m.industries), "description": list(m.description), "lat": _floats(m.lat),
        "lon": _floats(m.lon), "province": list(m.province), "mode": list(m.mode),
        "window_start": m.window_start.tolist(), "window_end": m.window_end.tolist(),
        "difficulty": m.difficulty.tolist(), "urgency": m.urgency.tolist(), "slots": m.slots.tolist(),
        "priority": m.priority.tolist(),
    }


def demands_from_json(d: dict[str, Any]) -> DemandFeatures:
    return DemandFeatures(
        ids=tuple(d["ids"]), enterprise_id=tuple(d["enterprise_id"]), required_skills=_from_csr(d["required_skills"]),
        industries=_from_csr(d["industries"]), description=tuple(d["description"]), lat=_nan(d["lat"]),
        lon=_nan(d["lon"]), province=tuple(d["province"]), mode=tuple(d["mode"]),
        window_start=np.asarray(d["window_start"], dtype=np.int64),
        window_end=np.asarray(d["window_end"], dtype=np.int64),
        difficulty=np.asarray(d["difficulty"], dtype=np.int64), urgency=np.asarray(d["urgency"], dtype=np.int64),
        slots=np.asarray(d["slots"], dtype=np.int64), priority=np.asarray(d["priority"], dtype=np.float64),
    )


def history_to_json(h: History) -> dict[str, Any]:
    return {"craftsman_id": list(h.craftsman_id), "enterprise_id": list(h.enterprise_id), "rating": _floats(h.rating)}


def history_from_json(d: dict[str, Any]) -> History:
    if not d["craftsman_id"]:
        return History.empty()
    return History(tuple(d["craftsman_id"]), tuple(d["enterprise_id"]), _nan(d["rating"]))


def track_record_to_json(record: TrackRecord) -> dict[str, Any]:
    return {"craftsman_id": list(record.craftsman_id), "skills": _csr(record.skills), "rating": _floats(record.rating),
            "outcomes": record.outcomes.tolist()}


def track_record_from_snapshot(snapshot: dict[str, Any]) -> TrackRecord | None:
    """The stored track record; None for a snapshot taken before it was stored (its config weighs it 0)."""
    data = snapshot.get("track_record")
    if data is None:
        return None
    return TrackRecord(tuple(data["craftsman_id"]), _from_csr(data["skills"]), _nan(data["rating"]),
                       np.asarray(data["outcomes"], dtype=np.int64))


def load_skill_parent(session: Session) -> np.ndarray:
    """The parent column of every skill column (-1 for a root): the families that decide relevance tier 1."""
    return _vocabulary(session, Skill)[1]


def skill_parent_from_snapshot(snapshot: dict[str, Any]) -> np.ndarray | None:
    """The stored skill families; None for a snapshot taken before they were stored."""
    parent = snapshot.get("skill_parent")
    return None if parent is None else np.asarray(parent, dtype=np.int64)


# A snapshot is stored in two parts: the features (these keys; megabytes, the same from one re-solve to the next
# unless the pools or capacities move) in ``round_features`` once per content, the rest (config, locks,
# exclusions, previous and kept pairs) in the round's ``solve_inputs``.
FEATURE_KEYS = ("craftsmen", "demands", "history", "roles", "skill_parent", "track_record")


def snapshot_features(craftsmen: CraftsmanFeatures, demands: DemandFeatures, history: History, *,
                      skill_parent: np.ndarray | None = None, track_record: TrackRecord | None = None,
                      roles: list[TeamRole] = ()) -> dict[str, Any]:
    """The features part of a snapshot."""
    return {
        "track_record": None if track_record is None else track_record_to_json(track_record),
        "roles": [list(role) for role in roles],
        "skill_parent": None if skill_parent is None else skill_parent.tolist(),
        "craftsmen": craftsmen_to_json(craftsmen), "demands": demands_to_json(demands),
        "history": history_to_json(history),
    }


def snapshot_solve_inputs(config: RoundConfig, *, locks, exclusions, previous, kept=()) -> dict[str, Any]:
    """What a solve sets beside the features; ``kept``: pairs held for this solve only (a repair after the pools
    moved), apart from the round's locks."""
    return {
        "version": SNAPSHOT_VERSION, "config": config.to_dict(),
        "locks": [list(p) for p in locks], "exclusions": [list(p) for p in exclusions],
        "previous": None if previous is None else [list(p) for p in previous],
        "kept": [list(p) for p in kept],
    }


def canonical(value: Any) -> str:
    """The JSON text digests are taken of: sorted keys, no spaces."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _joined(texts: dict[str, str]) -> str:
    """``canonical`` of a dict, from its values' canonical texts (the same characters)."""
    return "{" + ",".join(f"{json.dumps(key)}:{texts[key]}" for key in sorted(texts)) + "}"


def digest(snapshot: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(snapshot).encode()).hexdigest()


# features digest → the canonical text of each of its keys, for the last few features of this process: a re-solve
# that reuses a round's features digests the whole snapshot without serialising them again (25 ms).
_feature_texts = LastFew(4)


@dataclasses.dataclass(frozen=True)
class SerialisedFeatures:
    """A features part with its keys' canonical texts, the whole text and its sha256 (what ``round_features``
    stores)."""

    values: dict[str, Any]
    texts: dict[str, str]
    text: str
    digest: str


def serialise_features(values: dict[str, Any]) -> SerialisedFeatures:
    """No database work: a solve runs it on another thread while its proposals are written."""
    texts = {key: canonical(value) for key, value in values.items()}
    text = _joined(texts)
    return SerialisedFeatures(values, texts, text, hashlib.sha256(text.encode()).hexdigest())


def store_features(session: Session, values: dict[str, Any] | SerialisedFeatures, *,
                   now: dt.datetime) -> tuple[str, dict[str, str]]:
    """Store a features part (serialised already or not) unless a row with the same content exists; its digest
    and its keys' texts."""
    serialised = values if isinstance(values, SerialisedFeatures) else serialise_features(values)
    features_digest, texts = serialised.digest, serialised.texts
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    # an existing row is locked, not skipped: a solve of another round deleting it meanwhile is waited for, and the
    # row is then inserted anew (skipping it, this round could point at a row gone by its commit)
    table = RoundFeatures.__table__
    session.execute(insert(RoundFeatures).values(digest=features_digest, data=serialised.text, created_at=now)
                    .on_conflict_do_update(index_elements=["digest"], set_={"created_at": table.c.created_at}))
    _feature_texts.keep(features_digest, texts)
    parsed_features.keep(features_digest, serialised.values)
    return features_digest, texts


def stored_feature_texts(features: RoundFeatures) -> dict[str, str]:
    """The canonical texts of a stored features part's keys."""
    texts = _feature_texts.get(features.digest)
    if texts is None:
        texts = {key: canonical(value) for key, value in features.values.items()}
        _feature_texts.keep(features.digest, texts)
    return texts


def snapshot_digest(texts: dict[str, str], solve_inputs: dict[str, Any]) -> str:
    """``digest`` of the snapshot made of a features part (its keys' texts) and these solve inputs."""
    whole = {**texts, **{key: canonical(value) for key, value in solve_inputs.items()}}
    return hashlib.sha256(_joined(whole).encode()).hexdigest()


def drop_unused_features(session: Session, features_digest: str) -> None:
    """Delete a features row no round points at any more (a round's earlier features, after a reload). A round
    whose solve took the same features meanwhile keeps it: its foreign key refuses the delete, which is undone."""
    try:
        with session.begin_nested():
            session.execute(sa.delete(RoundFeatures).where(
                RoundFeatures.digest == features_digest,
                ~sa.exists().where(MatchingRound.features_digest == features_digest)))
    except sa.exc.IntegrityError:
        pass


def reusable(snapshot: dict[str, Any]) -> bool:
    """Whether a solve that takes its features from this snapshot stores exactly them again when nothing changes
    them (a snapshot taken before roles and skill families were stored gets them added)."""
    return all(key in snapshot for key in FEATURE_KEYS) and snapshot["roles"] is not None \
        and snapshot["skill_parent"] is not None


def same_features(before: tuple[CraftsmanFeatures, DemandFeatures], craftsmen: CraftsmanFeatures,
                  demands: DemandFeatures) -> bool:
    """Whether the craftsmen and demands a solve took from a snapshot are still as stored, after the solve set the
    pools' activity, capacities and slots and dropped closed demands (all it changes in them)."""
    stored_craftsmen, stored_demands = before
    return (stored_craftsmen.ids == craftsmen.ids and stored_demands.ids == demands.ids
            and np.array_equal(stored_craftsmen.active, craftsmen.active)
            and np.array_equal(stored_craftsmen.capacity, craftsmen.capacity)
            and np.array_equal(stored_demands.slots, demands.slots))


def inputs_from_snapshot(snapshot: dict[str, Any]):
    return (craftsmen_from_json(snapshot["craftsmen"]), demands_from_json(snapshot["demands"]),
            history_from_json(snapshot["history"]), RoundConfig.from_dict(snapshot["config"]))


def problem_from_snapshot(snapshot: dict[str, Any]) -> Problem:
    """The exact Problem a stored round was solved with (replay, audit, tests)."""
    craftsmen, demands, history, config = inputs_from_snapshot(snapshot)
    previous = snapshot.get("previous")
    return build_problem(craftsmen, demands, config, history=history,
                         locks=[tuple(p) for p in snapshot["locks"] + snapshot.get("kept", [])],
                         exclusions=[tuple(p) for p in snapshot["exclusions"]],
                         previous=None if previous is None else [tuple(p) for p in previous],
                         skill_parent=skill_parent_from_snapshot(snapshot),
                         track_record=track_record_from_snapshot(snapshot),
                         roles=solver_roles(roles_from_snapshot(snapshot) or [], demands.ids))
