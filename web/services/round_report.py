"""A round's proposals and open places as plain data, for ``craftmatch round show --json`` and scripts.

Read-only: it changes nothing and writes no audit entry.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from matching.result import NO_REQUIRED_SKILL
from web.models import (
    Craftsman,
    CraftsmanSkill,
    Demand,
    DemandRole,
    DemandSkill,
    MatchingRound,
    Proposal,
    RoundDemand,
    Skill,
)
from web.services.explain import describe, vocabulary
from web.services.rounds import ROLE_GAP_LABELS, WARNING_LABELS, role_gaps

WHY_COMPONENTS = 3  # the largest parts of the score named in "why"


def round_report(session: Session, rnd: MatchingRound) -> dict[str, Any]:
    """``{"round", "status", "proposals": [...], "unfilled": [...]}`` of the round's last solve."""
    rows = session.execute(
        sa.select(Proposal, Demand.title, Demand.tracking_code, Craftsman.name, Craftsman.phone)
        .join(Demand, Demand.id == Proposal.demand_id).join(Craftsman, Craftsman.id == Proposal.craftsman_id)
        .where(Proposal.round_id == rnd.id, Proposal.assigned)
        .order_by(Proposal.demand_id, Proposal.role_skill_id, Proposal.craftsman_id)).all()
    names = vocabulary(session)  # what the facts' skill and industry ids are called
    skill_names = {skill_id: name["zh"] for skill_id, name in names.skills.items()}
    matched = _skills_matched(session, [(p.craftsman_id, p.demand_id) for p, *_ in rows], skill_names)
    proposals = []
    for proposal, title, code, name, phone in rows:
        breakdown = proposal.breakdown or {}
        tier = breakdown.get("relevance_tier")
        skills = matched.get((proposal.craftsman_id, proposal.demand_id), [])
        proposals.append({
            "demand_title": title, "tracking_code": code,
            "role": skill_names.get(proposal.role_skill_id) if proposal.role_skill_id else None,
            "craftsman_name": name, "craftsman_phone": phone, "score": round(float(proposal.score), 4),
            "relevant": None if tier is None else tier >= 1,
            "skills_matched": skills, "distance_km": breakdown.get("distance_km"),
            "why": describe(breakdown.get("facts"), names=names) or _why(breakdown, skills, proposal.warnings or []),
        })
    return {"round": rnd.id, "status": rnd.status, "proposals": proposals, "unfilled": _unfilled(session, rnd)}


def _skills_matched(session: Session, pairs: list[tuple[int, int]], names: dict[int, str]) -> dict:
    """(craftsman, demand) → names of the demand's skills and role skills the craftsman holds (a sub-skill
    counts for its parent), as the matching's relevance reads them."""
    if not pairs:
        return {}
    demand_ids = sorted({d for _, d in pairs})
    craftsman_ids = sorted({c for c, _ in pairs})
    wanted: dict[int, set[int]] = defaultdict(set)
    for demand_id, skill_id in session.execute(
            sa.union(sa.select(DemandSkill.demand_id, DemandSkill.skill_id).where(DemandSkill.demand_id.in_(demand_ids)),
                     sa.select(DemandRole.demand_id, DemandRole.skill_id).where(DemandRole.demand_id.in_(demand_ids)))
    ).all():
        wanted[demand_id].add(skill_id)
    held: dict[int, set[int]] = defaultdict(set)
    for craftsman_id, skill_id, parent_id in session.execute(
            sa.select(CraftsmanSkill.craftsman_id, CraftsmanSkill.skill_id, Skill.parent_id)
            .join(Skill, Skill.id == CraftsmanSkill.skill_id).where(CraftsmanSkill.craftsman_id.in_(craftsman_ids))
    ).all():
        held[craftsman_id] |= {skill_id} | ({parent_id} if parent_id else set())
    return {(c, d): sorted(names[s] for s in wanted[d] & held[c]) for c, d in pairs}


def _why(breakdown: dict[str, Any], skills: list[str], warnings: list[str]) -> str:
    parts = ["、".join(skills) if skills else str(WARNING_LABELS[NO_REQUIRED_SKILL])]
    if breakdown.get("distance_km") is not None:
        parts.append(f"{breakdown['distance_km']} km")
    components = sorted(((value, name) for name, value in breakdown.items()
                         if name not in ("distance_km", "relevance_tier") and isinstance(value, int | float)),
                        reverse=True)[:WHY_COMPONENTS]
    parts.append(", ".join(f"{name} {value:.2f}" for value, name in components))
    parts += [str(WARNING_LABELS.get(code, code)) for code in warnings if code != NO_REQUIRED_SKILL]
    return "; ".join(part for part in parts if part)


def _unfilled(session: Session, rnd: MatchingRound) -> list[dict[str, Any]]:
    """Open roles of team demands (with their reason) and open places of the other demands."""
    gaps = role_gaps(rnd)
    titles = dict(session.execute(sa.select(Demand.id, Demand.title).where(
        Demand.id.in_(sa.select(RoundDemand.demand_id).where(RoundDemand.round_id == rnd.id)))).all())
    names = dict(session.execute(sa.select(Skill.id, Skill.name_zh)).all())
    team = set(session.scalars(sa.select(DemandRole.demand_id).where(DemandRole.demand_id.in_(list(titles)))))
    result = [{"demand_title": titles.get(demand_id, str(demand_id)), "role": names.get(skill_id),
               "reason": str(ROLE_GAP_LABELS.get(gap["reason"], gap["reason"])), "missing": gap["missing"]}
              for demand_id, by_skill in sorted(gaps.items()) for skill_id, gap in by_skill.items()]
    if rnd.solved_at is None:
        return result
    assigned = (sa.select(sa.func.count()).select_from(Proposal)
                .where(Proposal.round_id == rnd.id, Proposal.demand_id == RoundDemand.demand_id, Proposal.assigned)
                .scalar_subquery())
    for demand_id, slots, taken in session.execute(
            sa.select(RoundDemand.demand_id, RoundDemand.slots, assigned).where(RoundDemand.round_id == rnd.id)
            .order_by(RoundDemand.demand_id)).all():
        if demand_id not in team and taken < slots:
            result.append({"demand_title": titles[demand_id], "role": None, "missing": slots - taken,
                           "reason": str(_l("no suitable craftsman was free for the remaining places"))})
    return result
