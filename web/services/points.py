"""The points ledger (积分): every change of a craftsman's balance is one explained, audited entry.

``Craftsman.points_balance`` is a cache of the ledger: it moves only together with a new
``PointsEntry`` (one SQL UPDATE in the same flush), so balance == SUM(delta) always holds.
Rules (how many points for what) come from ``app.config["POINTS_RULES"]`` over the defaults.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from flask import current_app, has_app_context
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from web.models import Craftsman, Engagement, EngagementMember, Feedback, Outcome, PointsEntry, User
from web.services import audit

DEFAULT_POINTS_RULES: dict[str, int] = {
    "engagement_completed": 20,   # each craftsman who served a completed engagement
    "rating_high": 5,             # the enterprise rated the service ≥ HIGH_RATING
    "outcome": 10,                # a patent, method… came out of the engagement (each serving member)
    "no_show": -15,               # did not turn up for an engagement
}
HIGH_RATING = 4
# Members who actually serve (a decline or a no-show earns nothing).
SERVING_STATUSES = ("assigned", "accepted", "served")

RULE_LABELS = {
    "engagement_completed": _l("Completed engagement"),
    "rating_high": _l("Enterprise rating of 4 or 5"),
    "outcome": _l("Outcome produced"),
    "no_show": _l("No-show"),
    "opening_balance": _l("Opening balance"),
    "adjustment": _l("Manual adjustment"),
}
# Entries the system writes with a fixed text (stored in whichever language it was written in) read in the
# reader's language; the others' explanations name an engagement or an outcome, which is data.
SYSTEM_EXPLANATIONS = {"opening_balance": _l("Points brought in from the pool's earlier records")}


def explanation(entry: PointsEntry) -> str:
    return str(SYSTEM_EXPLANATIONS.get(entry.rule, entry.explanation))


def rules() -> dict[str, int]:
    configured = current_app.config.get("POINTS_RULES", {}) if has_app_context() else {}
    return {**DEFAULT_POINTS_RULES, **configured}


def add_entry(session: Session, *, craftsman_id: int, delta: int, rule: str, explanation: str,
              actor: User | str | None, now: dt.datetime, engagement_id: int | None = None,
              outcome_id: int | None = None) -> PointsEntry | None:
    """Append one ledger entry and move the balance with it; a zero rule writes nothing."""
    if delta == 0:
        return None
    entry = PointsEntry(craftsman_id=craftsman_id, delta=delta, rule=rule, explanation=explanation[:300],
                        engagement_id=engagement_id, outcome_id=outcome_id, created_at=now,
                        actor_id=actor.id if isinstance(actor, User) else None)
    session.add(entry)
    session.execute(sa.update(Craftsman).where(Craftsman.id == craftsman_id)
                    .values(points_balance=Craftsman.points_balance + delta))
    session.flush()
    audit.record(session, actor=actor, action="points.add", entity=entry, now=now,
                 after={"craftsman_id": craftsman_id, "delta": delta, "rule": rule, "explanation": entry.explanation,
                        "engagement_id": engagement_id, "outcome_id": outcome_id})
    return entry


def _awarded(session: Session, craftsman_id: int, rule: str, *, engagement_id: int | None = None,
             outcome_id: int | None = None) -> bool:
    query = sa.select(PointsEntry.id).where(PointsEntry.craftsman_id == craftsman_id, PointsEntry.rule == rule)
    if engagement_id is not None:
        query = query.where(PointsEntry.engagement_id == engagement_id)
    if outcome_id is not None:
        query = query.where(PointsEntry.outcome_id == outcome_id)
    return session.scalar(query.limit(1)) is not None


def serving_member_ids(session: Session, engagement_id: int) -> list[int]:
    return list(session.scalars(
        sa.select(EngagementMember.craftsman_id)
        .where(EngagementMember.engagement_id == engagement_id, EngagementMember.status.in_(SERVING_STATUSES))
        .order_by(EngagementMember.id)
    ))


def _label(engagement: Engagement) -> str:
    return f"{engagement.demand.tracking_code} {engagement.demand.title}"


def award_completion(session: Session, engagement: Engagement, *, actor: User | str | None,
                     now: dt.datetime) -> list[PointsEntry]:
    delta = rules()["engagement_completed"]
    entries = []
    for craftsman_id in serving_member_ids(session, engagement.id):
        if not _awarded(session, craftsman_id, "engagement_completed", engagement_id=engagement.id):
            entries.append(add_entry(session, craftsman_id=craftsman_id, delta=delta, rule="engagement_completed",
                                     explanation=_label(engagement), engagement_id=engagement.id,
                                     actor=actor, now=now))
    return [e for e in entries if e is not None]


def award_rating(session: Session, feedback: Feedback, *, actor: User | str | None,
                 now: dt.datetime) -> list[PointsEntry]:
    """Points for a rating ≥ 4 to every serving member (idempotent; call after recording feedback)."""
    if feedback.rating < HIGH_RATING or feedback.engagement_id is None:
        return []
    engagement = session.get(Engagement, feedback.engagement_id)
    entries = []
    for craftsman_id in serving_member_ids(session, engagement.id):
        if not _awarded(session, craftsman_id, "rating_high", engagement_id=engagement.id):
            entries.append(add_entry(session, craftsman_id=craftsman_id, delta=rules()["rating_high"],
                                     rule="rating_high", explanation=f"{feedback.rating}/5 · {_label(engagement)}",
                                     engagement_id=engagement.id, actor=actor, now=now))
    return [e for e in entries if e is not None]


def award_outcome(session: Session, outcome: Outcome, engagement: Engagement, *, actor: User | str | None,
                  now: dt.datetime) -> list[PointsEntry]:
    entries = []
    for craftsman_id in serving_member_ids(session, engagement.id):
        if not _awarded(session, craftsman_id, "outcome", outcome_id=outcome.id):
            entries.append(add_entry(session, craftsman_id=craftsman_id, delta=rules()["outcome"], rule="outcome",
                                     explanation=outcome.title, engagement_id=engagement.id, outcome_id=outcome.id,
                                     actor=actor, now=now))
    return [e for e in entries if e is not None]


def deduct_no_show(session: Session, member: EngagementMember, *, actor: User | str | None,
                   now: dt.datetime) -> PointsEntry | None:
    if _awarded(session, member.craftsman_id, "no_show", engagement_id=member.engagement_id):
        return None
    return add_entry(session, craftsman_id=member.craftsman_id, delta=rules()["no_show"], rule="no_show",
                     explanation=_label(member.engagement), engagement_id=member.engagement_id,
                     actor=actor, now=now)


def ledger(session: Session, craftsman_id: int, limit: int = 100) -> list[PointsEntry]:
    return list(session.scalars(sa.select(PointsEntry).where(PointsEntry.craftsman_id == craftsman_id)
                                .order_by(PointsEntry.created_at.desc(), PointsEntry.id.desc()).limit(limit)))


def ledger_sums() -> sa.Subquery:
    return (sa.select(PointsEntry.craftsman_id, sa.func.sum(PointsEntry.delta).label("total"))
            .group_by(PointsEntry.craftsman_id).subquery())


def mismatches(session: Session) -> list[tuple[int, int, int]]:
    """(craftsman id, balance, ledger sum) of every craftsman whose cached balance is not the ledger sum."""
    sums = ledger_sums()
    total = sa.func.coalesce(sums.c.total, 0)
    return [tuple(row) for row in session.execute(
        sa.select(Craftsman.id, Craftsman.points_balance, total)
        .outerjoin(sums, sums.c.craftsman_id == Craftsman.id)
        .where(Craftsman.points_balance != total).order_by(Craftsman.id)
    )]


def open_ledgers(session: Session, *, actor: User | str | None, now: dt.datetime) -> int:
    """Write an "opening balance" entry for craftsmen whose balance came from an import or a seed.

    The balance itself does not move: the entry explains the points that were already there.
    """
    rows = mismatches(session)
    values: list[dict[str, Any]] = [
        {"craftsman_id": cid, "delta": balance - total, "rule": "opening_balance",
         "explanation": "balance carried over from the pool's records", "created_at": now,
         "actor_id": actor.id if isinstance(actor, User) else None}
        for cid, balance, total in rows
    ]
    if values:
        session.execute(sa.insert(PointsEntry), values)
        session.flush()
        audit.record(session, actor=actor, action="points.open_ledgers", entity=session.get(Craftsman, rows[0][0]),
                     now=now, after={"craftsmen": len(values)})
    return len(values)
