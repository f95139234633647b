"""The life of an engagement after a round is published: start, visits, acceptance, completion, cancellation.

scheduled → in_service → completed → evaluated (the enterprise's rating, recorded by the feedback
service); cancelled with a reason. The demand follows: matched → in_service → completed, and back to
"open" (matchable again) when its engagement is cancelled.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from flask import current_app, has_app_context
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from web.clock import local_today
from web.models import (
    Demand,
    DemandStatusEvent,
    Engagement,
    EngagementMember,
    FollowUp,
    Proposal,
    Skill,
    User,
    VisitLog,
)
from web.schemas.common import load_or_raise
from web.schemas.engagements import AcceptanceSchema, CompleteSchema, ReasonSchema, StartSchema, VisitSchema
from web.services import audit, points
from web.services.errors import NotFound, ServiceError

# The follow-up schedule. "start": days after the start; "end": at the expected end of the service
# (the demand's window end, else RESULT_DEFAULT_DAYS after the start).
DEFAULT_FOLLOW_UP_SCHEDULE: tuple[dict[str, Any], ...] = (
    {"kind": "check_2w", "anchor": "start", "days": 14, "mandatory": True},
    {"kind": "result", "anchor": "end", "days": 0, "mandatory": True},
    {"kind": "review_3m", "anchor": "start", "days": 91, "mandatory": True},
    {"kind": "review_6m", "anchor": "start", "days": 182, "mandatory": True},
)
RESULT_DEFAULT_DAYS = 60
# The six-month review also checks the lasting effect: still open at completion, it moves to six months
# after the completion when that is later (one six-month follow-up, not a review and an impact check).
IMPACT_CHECK_DAYS = 182
# Follow-ups that must be recorded before completion whatever their due date.
REQUIRED_BEFORE_COMPLETION = ("result",)

ENGAGEMENT_FIELDS = ("status", "started_on", "completed_on", "cancel_reason", "acceptance_confirmed_by",
                     "acceptance_at", "completion_override_reason")
STATUS_LABELS = {
    "scheduled": _l("Scheduled"), "in_service": _l("In service"), "completed": _l("Completed"),
    "evaluated": _l("Evaluated"), "cancelled": _l("Cancelled"),
}
KIND_LABELS = {
    "check_2w": _l("Two-week check"), "result": _l("Result record"), "review_3m": _l("Three-month review"),
    "review_6m": _l("Six-month review"),
}
MEMBER_STATUS_LABELS = {
    "assigned": _l("Assigned"), "accepted": _l("Accepted"), "declined": _l("Declined"),
    "no_show": _l("No-show"), "served": _l("Served"),
}


def settings() -> dict[str, Any]:
    config = current_app.config if has_app_context() else {}
    return {
        "schedule": config.get("FOLLOW_UP_SCHEDULE", DEFAULT_FOLLOW_UP_SCHEDULE),
        "result_default_days": config.get("FOLLOW_UP_RESULT_DEFAULT_DAYS", RESULT_DEFAULT_DAYS),
        "impact_days": config.get("FOLLOW_UP_IMPACT_DAYS", IMPACT_CHECK_DAYS),
        "required": config.get("FOLLOW_UP_REQUIRED_BEFORE_COMPLETION", REQUIRED_BEFORE_COMPLETION),
    }


def get(session: Session, engagement_id: int) -> Engagement:
    engagement = session.get(Engagement, engagement_id)
    if engagement is None:
        raise NotFound(_l("This engagement does not exist."))
    return engagement


def member_roles(session: Session, *where: sa.ColumnElement[bool]) -> dict[int, Skill]:
    """The team role (跨界攻关小组) each member fills, by craftsman id, from the published proposal that booked him;
    for the members of the engagements that ``where`` selects (conditions on Engagement and EngagementMember)."""
    return dict(session.execute(
        sa.select(EngagementMember.craftsman_id, Skill)
        .join(Engagement, Engagement.id == EngagementMember.engagement_id)
        .join(Proposal, Proposal.id == EngagementMember.proposal_id).join(Skill, Skill.id == Proposal.role_skill_id)
        .where(*where)).all())


def move_demand(session: Session, demand: Demand, to_status: str, *, actor: User | str | None, now: dt.datetime,
                note: str | None = None, public: bool = True) -> None:
    """Change a demand's status with a history event (shown on the enterprise's status page)."""
    if demand.status == to_status:
        return
    session.add(DemandStatusEvent(demand_id=demand.id, from_status=demand.status, to_status=to_status, at=now,
                                  actor_id=actor.id if isinstance(actor, User) else None, note=note, public=public))
    before = {"status": demand.status}
    demand.status = to_status
    demand.updated_at = now
    if to_status == "completed":
        demand.completed_at = now
    audit.record(session, actor=actor, action="demand.status", entity=demand, now=now, before=before,
                 after={"status": to_status, "note": note})


def _change(session: Session, engagement: Engagement, action: str, *, actor, now, extra: dict | None = None) -> None:
    engagement.updated_at = now
    session.flush()
    after = audit.snapshot(engagement, ENGAGEMENT_FIELDS)
    if extra:
        after.update(extra)
    audit.record(session, actor=actor, action=action, entity=engagement, now=now, after=after)


def _require_status(engagement: Engagement, *allowed: str) -> None:
    if engagement.status not in allowed:
        raise ServiceError(_l("This cannot be done while the engagement is %(status)s.",
                              status=STATUS_LABELS[engagement.status]), field="status", code="wrong_status")


def schedule_follow_ups(session: Session, engagement: Engagement, *, now: dt.datetime) -> list[FollowUp]:
    """Create the rule's follow-up slots that do not exist yet (one per kind and engagement)."""
    config = settings()
    start = engagement.started_on
    end = engagement.demand.window_end
    if end is None or end < start:
        end = start + dt.timedelta(days=config["result_default_days"])
    existing = set(session.scalars(sa.select(FollowUp.kind).where(FollowUp.engagement_id == engagement.id)))
    created = []
    for rule in config["schedule"]:
        if rule["kind"] in existing:
            continue
        anchor = start if rule["anchor"] == "start" else end
        follow_up = FollowUp(engagement_id=engagement.id, kind=rule["kind"], mandatory=rule.get("mandatory", True),
                             due_on=anchor + dt.timedelta(days=rule.get("days", 0)))
        session.add(follow_up)
        created.append(follow_up)
    session.flush()
    session.expire(engagement, ["follow_ups"])
    return created


def start_engagement(session: Session, engagement: Engagement, data: dict[str, Any], *,
                     actor: User | str | None, now: dt.datetime) -> Engagement:
    values = load_or_raise(StartSchema(), data)
    _require_status(engagement, "scheduled")
    if values["started_on"] > local_today(now):
        raise ServiceError(_l("The start date cannot be in the future: record the start on the day it happens."),
                           field="started_on")
    engagement.status = "in_service"
    engagement.started_on = values["started_on"]
    if engagement.coordinator_id is None and isinstance(actor, User):
        engagement.coordinator_id = actor.id
    schedule_follow_ups(session, engagement, now=now)
    move_demand(session, engagement.demand, "in_service", actor=actor, now=now)
    _change(session, engagement, "engagement.start", actor=actor, now=now)
    return engagement


def record_visit(session: Session, engagement: Engagement, data: dict[str, Any], *,
                 actor: User | str | None, now: dt.datetime) -> VisitLog:
    values = load_or_raise(VisitSchema(), data)
    _require_status(engagement, "in_service", "completed", "evaluated")
    if values["craftsman_id"] is not None and values["craftsman_id"] not in {m.craftsman_id for m in engagement.members}:
        raise ServiceError(_l("Choose a craftsman of this engagement."), field="craftsman_id")
    if engagement.started_on and values["visited_on"] < engagement.started_on:
        raise ServiceError(_l("The visit cannot be before the start of the engagement."), field="visited_on")
    if values["visited_on"] > local_today(now):
        raise ServiceError(_l("The visit date cannot be in the future."), field="visited_on")
    visit = VisitLog(engagement_id=engagement.id, craftsman_id=values["craftsman_id"], visited_on=values["visited_on"],
                     hours=values["hours"], note=values["note"], recorded_at=now,
                     recorded_by_id=actor.id if isinstance(actor, User) else None)
    session.add(visit)
    session.flush()
    audit.record(session, actor=actor, action="engagement.visit", entity=visit, now=now,
                 after=audit.snapshot(visit, ("engagement_id", "craftsman_id", "visited_on", "hours", "note")))
    return visit


def record_acceptance(session: Session, engagement: Engagement, data: dict[str, Any], *,
                      actor: User | str | None, now: dt.datetime) -> Engagement:
    """验收: the enterprise confirms that the problem is solved (a coordinator records who confirmed)."""
    values = load_or_raise(AcceptanceSchema(), data)
    _require_status(engagement, "in_service")
    engagement.acceptance_confirmed_by = values["confirmed_by"]
    engagement.acceptance_at = now
    _change(session, engagement, "engagement.accept", actor=actor, now=now)
    return engagement


def completion_blockers(session: Session, engagement: Engagement, on: dt.date) -> list[str]:
    """Kinds of the mandatory follow-ups still open that completion on ``on`` would leave behind."""
    required = tuple(settings()["required"])
    rows = session.execute(sa.select(FollowUp.kind, FollowUp.done_on, FollowUp.due_on, FollowUp.mandatory)
                           .where(FollowUp.engagement_id == engagement.id)).all()
    kinds = {row.kind for row in rows}
    open_kinds = [row.kind for row in rows if row.done_on is None and row.mandatory
                  and (row.due_on <= on or row.kind in required)]
    missing = [kind for kind in required if kind not in kinds]
    return sorted(set(open_kinds + missing))


def complete_engagement(session: Session, engagement: Engagement, data: dict[str, Any], *,
                        actor: User | str | None, now: dt.datetime) -> Engagement:
    values = load_or_raise(CompleteSchema(), data)
    _require_status(engagement, "in_service")
    if engagement.acceptance_at is None:
        raise ServiceError(_l("Record the enterprise's acceptance before completing."), field="status",
                           code="not_accepted")
    completed_on = values["completed_on"]
    if engagement.started_on and completed_on < engagement.started_on:
        raise ServiceError(_l("Completion cannot be before the start of the engagement."), field="completed_on")
    if completed_on > local_today(now):
        raise ServiceError(_l("The completion date cannot be in the future."), field="completed_on")
    blockers = completion_blockers(session, engagement, completed_on)
    reason = values["override_reason"]
    if blockers and not reason:
        names = "、".join(str(KIND_LABELS.get(kind, kind)) for kind in blockers)
        raise ServiceError(_l("Mandatory follow-ups are still open: %(names)s. Record them, or give a reason "
                              "to complete anyway.", names=names), field="override_reason", code="open_follow_ups")
    engagement.status = "completed"
    engagement.completed_on = completed_on
    engagement.completion_override_reason = reason or None
    for member in engagement.members:
        if member.status in ("assigned", "accepted"):
            member.status = "served"
    session.flush()
    _six_month_review_after(session, engagement, completed_on + dt.timedelta(days=settings()["impact_days"]))
    move_demand(session, engagement.demand, "completed", actor=actor, now=now)
    _change(session, engagement, "engagement.complete", actor=actor, now=now)
    if blockers:
        audit.record(session, actor=actor, action="engagement.complete_override", entity=engagement, now=now,
                     after={"open_follow_ups": blockers, "reason": reason})
    points.award_completion(session, engagement, actor=actor, now=now)
    session.expire(engagement, ["follow_ups"])
    return engagement


def _six_month_review_after(session: Session, engagement: Engagement, due_on: dt.date) -> None:
    """The engagement's one six-month review, due no earlier than ``due_on`` unless already recorded."""
    review = session.scalar(sa.select(FollowUp).where(FollowUp.engagement_id == engagement.id,
                                                      FollowUp.kind == "review_6m"))
    if review is None:
        session.add(FollowUp(engagement_id=engagement.id, kind="review_6m", mandatory=True, due_on=due_on))
    elif review.done_on is None and review.due_on < due_on:
        review.due_on = due_on


def cancel_engagement(session: Session, engagement: Engagement, data: dict[str, Any], *,
                      actor: User | str | None, now: dt.datetime, public_note: str | None = None) -> Engagement:
    """Cancel with a reason; the demand goes back to "open" so that a later round can match it again.
    ``public_note``: what the enterprise reads of it instead of the reason (which then stays with the staff)."""
    values = load_or_raise(ReasonSchema(), data)
    _require_status(engagement, "scheduled", "in_service")
    engagement.status = "cancelled"
    engagement.cancel_reason = values["reason"]
    move_demand(session, engagement.demand, "open", actor=actor, now=now,
                note=values["reason"] if public_note is None else public_note)
    _change(session, engagement, "engagement.cancel", actor=actor, now=now)
    return engagement


def mark_no_show(session: Session, engagement: Engagement, craftsman_id: int, data: dict[str, Any], *,
                 actor: User | str | None, now: dt.datetime) -> EngagementMember:
    """A craftsman did not turn up: recorded on the member, points deducted by rule."""
    values = load_or_raise(ReasonSchema(), data)
    _require_status(engagement, "scheduled", "in_service")
    member = next((m for m in engagement.members if m.craftsman_id == craftsman_id), None)
    if member is None:
        raise NotFound(_l("This craftsman is not a member of the engagement."))
    if member.status in ("no_show", "declined"):
        raise ServiceError(_l("This member is already recorded as %(status)s.",
                              status=MEMBER_STATUS_LABELS[member.status]), field="craftsman_id")
    before = {"status": member.status}
    member.status = "no_show"
    member.status_reason = values["reason"]
    session.flush()
    audit.record(session, actor=actor, action="engagement.no_show", entity=member, now=now, before=before,
                 after={"status": "no_show", "reason": values["reason"], "engagement_id": engagement.id})
    points.deduct_no_show(session, member, actor=actor, now=now)
    return member


def on_feedback(session: Session, feedback: Any, *, actor: User | str | None, now: dt.datetime) -> None:
    """After the enterprise's rating: the engagement becomes "evaluated" and a rating ≥ 4 earns points."""
    if feedback.engagement_id is None:
        return
    engagement = session.get(Engagement, feedback.engagement_id)
    if engagement.status == "completed":
        engagement.status = "evaluated"
        _change(session, engagement, "engagement.evaluate", actor=actor, now=now, extra={"rating": feedback.rating})
    points.award_rating(session, feedback, actor=actor, now=now)


def _pending_feedback(visible: sa.ColumnElement[bool] | None = None) -> sa.Select:
    from web.models import Feedback, PointsEntry

    awarded = sa.select(PointsEntry.engagement_id).where(PointsEntry.rule == "rating_high",
                                                         PointsEntry.engagement_id.is_not(None))
    query = sa.select(Feedback).join(Engagement, Engagement.id == Feedback.engagement_id)
    if visible is not None:  # the demand's region; every engagement has a demand, so no join without a region
        query = query.join(Demand, Demand.id == Engagement.demand_id).where(visible)
    return (query.where(sa.or_(Engagement.status == "completed",
                          sa.and_(Feedback.rating >= points.HIGH_RATING, Feedback.engagement_id.not_in(awarded)))))


def pending_feedback_count(session: Session, visible: sa.ColumnElement[bool] | None = None) -> int:
    """Ratings given on the status page whose engagement and points are not updated yet (of the demands
    ``visible`` selects: a coordinator's region)."""
    return session.scalar(sa.select(sa.func.count()).select_from(_pending_feedback(visible).subquery())) or 0


def sync_feedback(session: Session, visible: sa.ColumnElement[bool] | None = None, *, actor: User | str | None,
                  now: dt.datetime) -> int:
    """Apply ``on_feedback`` to ratings not yet applied (idempotent; for ratings recorded by the status page),
    of the demands ``visible`` selects (a coordinator's region; None: all)."""
    from web.models import Feedback

    pending = session.scalars(_pending_feedback(visible).order_by(Feedback.id)).all()
    for feedback in pending:
        on_feedback(session, feedback, actor=actor, now=now)
    return len(pending)
