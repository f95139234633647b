"""The enterprise demand pool: submission (企业点单) and the coordinator's review of demands.

Every function takes the session, the acting user (or "public" for the enterprise) and
``now``; it validates, changes, records a status event and an audit entry with before and
after, and flushes. Nothing here commits or reads the request.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import re
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, make_transient_to_detached, object_session, selectinload

from web.clock import working_days_before
from web.db import containing
from web.models import (
    Craftsman,
    CraftsmanHonour,
    Demand,
    DemandRole,
    DemandSkill,
    DemandStatus,
    DemandStatusEvent,
    Engagement,
    EngagementMember,
    Enterprise,
    Region,
    User,
    demand_industry,
)
from web.policy import region_clause, region_subtree
from web.schemas.common import load_or_raise
from web.schemas.demands import AnswerSchema, ApprovalSchema, DemandEditSchema, DemandSchema, ReasonSchema
from web.services import audit, engagements, reference, rounds
from web.services.enterprises import create_checked
from web.services.errors import Conflict, NotFound, ServiceError, ValidationFailed
from web.services.paging import Page, page_of, paginate
from web.services.tracking import new_tracking_code, normalize_code

Actor = User | str | None

STATUS_LABELS = DemandStatus.labels()
# What the enterprise reads on its status page for each status: what happens next.
STATUS_HELP = {
    "submitted": _l("A coordinator reviews the demand, usually within two working days."),
    "needs_info": _l("Please answer the coordinator's question below; the review continues after your answer."),
    "open": _l("The demand is approved and waits for the next matching round with the craftsman pool."),
    "matched": _l("Craftsmen are assigned; the coordinator contacts you to arrange the service."),
    "in_service": _l("The craftsmen are serving your enterprise."),
    "completed": _l("The service is completed. Please rate it below."),
    "evaluated": _l("The service is completed and rated. Thank you!"),
    "rejected": _l("The demand was not accepted; the reason is shown below."),
    "withdrawn": _l("The demand was withdrawn."),
    "merged": _l("The demand was merged with another demand for the same need; see below."),
}
MODE_LABELS = {"onsite": _l("On site"), "remote": _l("Remote"), "hybrid": _l("On site and remote")}
URGENCY_LABELS = {"low": _l("Low"), "medium": _l("Medium"), "high": _l("High")}

# Which statuses each review action starts from.
APPROVE_FROM = ("submitted", "needs_info")
REJECT_FROM = ("submitted", "needs_info", "open")
ASK_FROM = ("submitted", "needs_info", "open")
EDIT_IN = ("submitted", "needs_info", "open")
WITHDRAW_FROM = ("submitted", "needs_info", "open")
MERGE_FROM = ("submitted", "needs_info", "open")
MERGE_INTO = ("submitted", "needs_info", "open", "matched", "in_service")
CLOSED = ("completed", "evaluated", "rejected", "withdrawn", "merged")
# The coordinator's queue: what waits for a coordinator's decision.
WAITING = ("submitted",)

AGEING_WORKING_DAYS = 2
DUPLICATE_WINDOW = dt.timedelta(days=30)
DUPLICATE_SIMILARITY = 0.6
MAX_CODE_ATTEMPTS = 8
# One instance for every submission: building a schema deep-copies its fields (a tenth of a submission's CPU);
# loading keeps no state in it.
DEMAND_SCHEMA = DemandSchema()

AUDITED_FIELDS = (
    "tracking_code", "status", "title", "description", "category_id", "team_size", "mode", "urgency",
    "region_id", "other_skills", "review_note", "info_request", "info_response", "liaison_id", "merged_into_id",
)


def snapshot(demand: Demand, skill_codes: Iterable[str] | None = None) -> dict[str, Any]:
    """The audited values; ``skill_codes`` when the caller has them (the links' skills are then not loaded, nor
    the roles': that caller adds them)."""
    values = audit.snapshot(demand, AUDITED_FIELDS)
    values["skills"] = sorted(skill_codes if skill_codes is not None else (link.skill.code for link in demand.skills))
    if skill_codes is None and demand.roles:
        values["roles"] = sorted([role.skill.code, role.count] for role in demand.roles)
    return values


def role_skills(session: Session, roles: Sequence[dict[str, Any]]) -> list[tuple[Any, int]]:
    """The contract's ``roles`` (skill by code or name, count) → (Skill, count); one skill named twice is refused."""
    skills = reference.skills_by_code_or_name(session, [role["skill"] for role in roles], field="roles")
    seen: dict[int, str] = {}
    for role, skill in zip(roles, skills, strict=True):
        if skill.id in seen:
            raise ValidationFailed({"roles": [_l("%(first)s and %(second)s are the same skill; give it once with "
                                                 "its count.", first=seen[skill.id], second=role["skill"])]})
        seen[skill.id] = role["skill"]
    return [(skill, role["count"]) for role, skill in zip(roles, skills, strict=True)]


def set_roles(session: Session, demand: Demand, roles: Sequence[tuple[Any, int]]) -> None:
    """Make the demand's roles exactly ``roles`` ((Skill, count) from :func:`role_skills`); no audit, no commit."""
    wanted = {skill.id: count for skill, count in roles}
    for role in list(demand.roles):
        if role.skill_id not in wanted:
            demand.roles.remove(role)
        else:
            role.count = wanted.pop(role.skill_id)
    skills = {skill.id: skill for skill, _ in roles}
    for skill_id, count in wanted.items():
        demand.roles.append(DemandRole(skill=skills[skill_id], count=count))


def public_roles(demand: Demand) -> list[dict[str, Any]]:
    """The demand's team roles in the contract's shape (skill by code), with the skill's names."""
    return [{"skill": role.skill.code, "count": role.count, "name_zh": role.skill.name_zh,
             "name_en": role.skill.name_en} for role in demand.roles]


def version_of(demand: Demand) -> str:
    """A token of the demand's last change; forms send it back so a stale page cannot overwrite."""
    return demand.updated_at.isoformat()


# --- submission ---------------------------------------------------------------------------------


def submit_demand(session: Session, data: dict[str, Any], *, now: dt.datetime, actor: Actor = "public",
                  note: str | None = None, references: reference.ReferenceData | None = None) -> Demand:
    """Validate and store an enterprise's demand with a fresh tracking code.

    A coordinator entering it on the enterprise's behalf is the ``actor`` (status event and audit entry);
    ``note`` says how it came in (the enterprise reads it on its status page). ``references``: the entry
    point's cached reference data (``reference.cached``), which spares the lookups of the codes.

    The same ``submission_key`` posted twice (a double click, a retried request) returns the
    demand created by the first post; the unique constraints decide under concurrency.
    """
    try:
        values, contract_errors = load_or_raise(DEMAND_SCHEMA, data), {}
    except ValidationFailed as failed:  # the codes of the fields that did load are checked too: one answer
        values, contract_errors = failed.valid_data, failed.errors
    _take_write_lock(session)
    key = values.get("submission_key")
    errors = dict(contract_errors)
    found = _references(session, values, errors, references)
    if errors:
        # A repeated key is answered with its demand before any check of the codes, as it always was; looked up
        # here only, since the insert below finds a repeated key as well (one query less per submission).
        if key and not contract_errors and (existing := _by_submission_key(session, key, values)) is not None:
            return existing
        raise ValidationFailed(errors)
    region, category, industries, skills, roles = (found[name] for name in _REFERENCES)

    for attempt in range(MAX_CODE_ATTEMPTS):
        try:
            # The enterprise and the demand in one savepoint: a repeated key, a colliding code or an enterprise
            # registered meanwhile by a concurrent request undo both, and the next attempt finds that enterprise.
            with session.begin_nested():
                enterprise_id = _enterprise_for(session, values, region=region, industries=industries,
                                                actor=actor, now=now)
                demand = _insert_demand(session, _demand_row(
                    values, enterprise_id=enterprise_id, region=region, category=category, now=now,
                    code=new_tracking_code(region.province_code, now)))
            break
        except IntegrityError:
            # Either the same form was posted twice (concurrently or not), or the random code collided.
            if key and (existing := _by_submission_key(session, key, values)) is not None:
                return existing
            if attempt == MAX_CODE_ATTEMPTS - 1:
                raise Conflict(_l("The demand could not be stored just now. Please submit again.")) from None
    # The links by id, a statement each (the ORM would want the industries as loaded objects).
    session.execute(_INSERT_INDUSTRY, [{"demand_id": demand.id, "industry_id": industry.id} for industry in industries])
    if skills:
        session.execute(_INSERT_SKILL, [{"demand_id": demand.id, "skill_id": skill.id, "importance": 2}
                                        for skill in skills])
    if roles:
        session.execute(_INSERT_ROLE, [{"demand_id": demand.id, "skill_id": skill.id, "count": count}
                                       for skill, count in roles])
        session.expire(demand, ["roles"])  # read when asked for
    # The history's first step and the audit entry: plain INSERTs, no objects, no further flush.
    session.execute(_INSERT_EVENT, [{
        "demand_id": demand.id, "from_status": None, "to_status": "submitted", "at": now,
        "actor_id": _actor_id(actor), "note": note, "public": True}])
    after = snapshot(demand, [skill.code for skill in skills])
    if roles:
        after["roles"] = sorted([skill.code, count] for skill, count in roles)
    audit.insert(session, actor=actor, action="demand.submit", entity=demand, now=now, after=after)
    return demand


_REFERENCES = ("region", "category", "industries", "skills", "roles")


def _references(session: Session, values: dict[str, Any], errors: dict[str, list[str]],
                references: reference.ReferenceData | None) -> dict[str, Any]:
    """The rows the submission's codes name, for each field that loaded; an unknown code adds its field's error to
    ``errors``, so that the enterprise reads every mistake of the form at once."""
    lookups = {
        "region": ("region_code", lambda code: _city_or_district(session, code, references)),
        "category": ("category_code", lambda code: reference.category(session, code, known=references)),
        "industries": ("industry_code", lambda code: reference.industries(session, [code], field="industry_code",
                                                                         known=references)),
        "skills": ("skills", lambda codes: reference.skills(session, codes, known=references)),
        "roles": ("roles", lambda roles: role_skills(session, roles)),
    }
    found = {}
    for name, (field, lookup) in lookups.items():
        if field not in values or field in errors:
            continue
        try:
            found[name] = lookup(values[field])
        except ServiceError as error:
            for key, messages in error.as_errors().items():
                errors.setdefault(key, []).extend(messages)
    return found


def _city_or_district(session: Session, code: str, references: reference.ReferenceData | None) -> Region:
    region = reference.region(session, code, known=references)
    if region.level == "province":
        raise ValidationFailed({"region_code": [_l("Choose the city and district, not only the province.")]})
    return region


def _take_write_lock(session: Session) -> None:
    """SQLite only: take the write lock before the first read, so two submissions never deadlock.

    SQLAlchemy opens a deferred transaction whose first read takes a shared lock; two such
    transactions that then both want to write fail at once with "database is locked" (the busy
    timeout cannot help). An UPDATE that matches nothing, as the transaction's first statement,
    takes the write lock up front, waiting for the other writer as long as the timeout allows.
    PostgreSQL needs none of this.
    """
    if session.get_bind().dialect.name == "sqlite":
        session.execute(sa.update(Demand).where(sa.false()).values(updated_at=Demand.updated_at))


def _by_submission_key(session: Session, key: str, values: dict[str, Any]) -> Demand | None:
    """The demand a repeated key created, when the same contact sends it again. Another contact's post with that
    key (an API client's keys may be guessed) is refused: it would hand over the demand's tracking code, and the
    form's browser the demand's status page, without the contact's digits."""
    existing = session.scalar(sa.select(Demand).where(Demand.submission_key == key))
    if existing is not None and existing.contact_phone != values["contact_phone"]:
        raise ValidationFailed({"submission_key": [_l("The form is damaged; please reload the page.")]})
    return existing


def _enterprise_for(session: Session, values: dict[str, Any], *, region: Any, industries: Sequence[Any],
                    actor: Actor, now: dt.datetime) -> int:
    """The id of the enterprise with the form's credit code, registered if new. Two columns, not the row: the
    submission needs no more, and loading the object cost more than the query."""
    known = session.execute(_ENTERPRISE_BY_CREDIT_CODE, {"credit_code": values["credit_code"]}).first()
    if known is None:
        # ``values`` passed DemandSchema, whose enterprise fields are as strict as EnterpriseSchema's
        payload = {
            "name": values["enterprise_name"], "credit_code": values["credit_code"], "type": values["enterprise_type"],
            "region_code": values["region_code"], "industries": [values["industry_code"]], "employees": None,
            "address": values["address"], "contact_name": values["contact_name"],
            "contact_phone": values["contact_phone"], "contact_email": values["contact_email"],
        }
        return create_checked(session, payload, actor=actor, now=now, region=region, industries=industries).id
    if not known.contact_email and values["contact_email"]:  # a known enterprise's address is never replaced
        session.execute(sa.update(Enterprise).where(Enterprise.id == known.id)
                        .values(contact_email=values["contact_email"]))
    return known.id


def _demand_row(values: dict[str, Any], *, enterprise_id: int, region: Any, category: Any, now: dt.datetime,
                code: str) -> dict[str, Any]:
    return {
        "tracking_code": code, "submission_key": values["submission_key"], "enterprise_id": enterprise_id,
        "title": values["title"], "description": values["description"], "original_title": values["title"],
        "original_description": values["description"], "other_skills": values["other_skills"],
        "category_id": category.id, "team_size": values["team_size"], "mode": values["mode"], "region_id": region.id,
        "address": values["address"], "window_start": values["window_start"], "window_end": values["window_end"],
        "urgency": values["urgency"], "support_needed": values["support_needed"],
        "contact_name": values["contact_name"], "contact_phone": values["contact_phone"], "consent_given_at": now,
        "status": "submitted", "submitted_at": now, "updated_at": now,
    }


# A submission's statements, built once (building one, with its bound values, cost as much as running it).
_ENTERPRISE_BY_CREDIT_CODE = sa.select(Enterprise.id, Enterprise.contact_email).where(
    Enterprise.credit_code == sa.bindparam("credit_code"))
_INSERT_DEMAND = sa.insert(Demand.__table__).returning(Demand.__table__.c.id)
_INSERT_INDUSTRY = sa.insert(demand_industry)
_INSERT_SKILL = sa.insert(DemandSkill.__table__)
_INSERT_ROLE = sa.insert(DemandRole.__table__)
_INSERT_EVENT = sa.insert(DemandStatusEvent.__table__)

# What a new demand holds beside its row: known without a query (its links are read when asked for).
_NEW_DEMAND_NONES = {name: None for name in ("review_note", "info_request", "info_response", "liaison_id",
                                              "merged_into_id", "reviewed_at", "matched_at", "completed_at")}


def _insert_demand(session: Session, row: dict[str, Any]) -> Demand:
    """One INSERT of ``row``, and the persistent Demand of it as if loaded (its other columns None, its roles
    none): the unit of work's flush of the new demand and its links was a quarter of a submission's CPU."""
    demand_id = session.execute(_INSERT_DEMAND, row).scalar_one()
    demand = Demand(id=demand_id, **row, **_NEW_DEMAND_NONES, roles=[])
    make_transient_to_detached(demand)
    session.add(demand)
    return demand


# --- review -------------------------------------------------------------------------------------


def get_demand(session: Session, demand_id: int) -> Demand:
    demand = session.get(Demand, demand_id)
    if demand is None:
        raise NotFound(_l("This demand does not exist."))
    return demand


def approve(session: Session, demand: Demand, *, actor: Actor, now: dt.datetime, note: str = "",
            version: str | None = None) -> Demand:
    """Accept the demand as matchable: it becomes ``open`` and the next matching round picks it up."""
    note = load_or_raise(ApprovalSchema(), {"note": note or ""})["note"]
    _check(demand, APPROVE_FROM, version, _l("approved"))
    return _move(session, demand, "open", actor=actor, now=now, action="approve", note=note or None,
                 changes={"reviewed_at": now, "review_note": note or demand.review_note})


def reject(session: Session, demand: Demand, data: dict[str, Any], *, actor: Actor, now: dt.datetime,
           version: str | None = None) -> Demand:
    """Refuse the demand with a reason that the enterprise reads on its status page."""
    reason = load_or_raise(ReasonSchema(), data)["text"]
    _check(demand, REJECT_FROM, version, _l("rejected"))
    return _move(session, demand, "rejected", actor=actor, now=now, action="reject", note=reason,
                 changes={"reviewed_at": now, "review_note": reason})


def request_info(session: Session, demand: Demand, data: dict[str, Any], *, actor: Actor, now: dt.datetime,
                 version: str | None = None) -> Demand:
    """Ask the enterprise a question; the status page shows it and takes the answer."""
    question = load_or_raise(ReasonSchema(), data)["text"]
    _check(demand, ASK_FROM, version, _l("sent a question"))
    return _move(session, demand, "needs_info", actor=actor, now=now, action="request_info", note=question,
                 changes={"reviewed_at": now, "info_request": question, "info_response": None})


def answer_info(session: Session, demand: Demand, data: dict[str, Any], *, now: dt.datetime,
                actor: Actor = "public") -> Demand:
    """The enterprise's answer: the demand goes back to the coordinator's queue."""
    answer = load_or_raise(AnswerSchema(), data)["answer"]
    if demand.status != "needs_info":
        raise Conflict(_l("This demand is not waiting for an answer."))
    return _move(session, demand, "submitted", actor=actor, now=now, action="answer_info", note=answer,
                 changes={"info_response": answer})


def edit(session: Session, demand: Demand, data: dict[str, Any], *, actor: Actor, now: dt.datetime,
         version: str | None = None) -> Demand:
    """Scope the demand (title, description, category, skills, team, urgency, mode); the original text stays."""
    values = load_or_raise(DemandEditSchema(), data)
    _check(demand, EDIT_IN, version, _l("edited"))
    category = reference.category(session, values["category_code"])
    skills = reference.skills(session, values["skills"])
    roles = role_skills(session, values["roles"])
    before = snapshot(demand)
    demand.title = values["title"]
    demand.description = values["description"]
    demand.category = category
    demand.other_skills = values["other_skills"]
    demand.team_size = values["team_size"]
    demand.urgency = values["urgency"]
    demand.mode = values["mode"]
    _replace_skills(session, demand, skills)
    set_roles(session, demand, roles)
    session.flush()
    after = snapshot(demand)
    if after == before:
        return demand
    demand.updated_at = now
    audit.record(session, actor=actor, action="demand.edit", entity=demand, now=now, before=before, after=after)
    session.flush()
    rounds.follow_demand_edit(session, demand, actor=actor, now=now)
    return demand


def _replace_skills(session: Session, demand: Demand, skills: Sequence[Any]) -> None:
    wanted = {skill.id: skill for skill in skills}
    for link in list(demand.skills):
        if link.skill_id not in wanted:
            demand.skills.remove(link)
    present = {link.skill_id for link in demand.skills}
    for skill_id, skill in wanted.items():
        if skill_id not in present:
            demand.skills.append(DemandSkill(skill=skill, importance=2))
    session.flush()


def check_liaison(session: Session, liaison_id: int | None) -> None:
    """A liaison is an active coordinator or admin (None: nobody)."""
    if liaison_id is not None:
        liaison = session.get(User, liaison_id)
        if liaison is None or not liaison.active or liaison.role not in ("admin", "coordinator"):
            raise ServiceError(_l("Choose an active coordinator as liaison."), field="liaison_id")


def assign_liaison(session: Session, demand: Demand, liaison_id: int | None, *, actor: Actor, now: dt.datetime,
                   version: str | None = None) -> Demand:
    """Name the liaison coordinator (联络专员) who follows this demand; None clears it."""
    _check(demand, tuple(s for s in _all_statuses() if s not in CLOSED), version, _l("given a liaison"))
    check_liaison(session, liaison_id)
    if demand.liaison_id == liaison_id:
        return demand
    before = snapshot(demand)
    demand.liaison_id = liaison_id
    demand.updated_at = now
    audit.record(session, actor=actor, action="demand.assign_liaison", entity=demand, now=now, before=before,
                 after=snapshot(demand))
    session.flush()
    return demand


def merge(session: Session, demand: Demand, target_code: str, *, actor: Actor, now: dt.datetime,
          version: str | None = None) -> Demand:
    """Close ``demand`` as a duplicate of the demand with tracking code ``target_code``."""
    _check(demand, MERGE_FROM, version, _l("merged"))
    code = normalize_code(target_code)
    target = session.scalar(sa.select(Demand).where(Demand.tracking_code == code)) if code else None
    if target is None:
        raise ServiceError(_l("No demand has this tracking code."), field="target_code")
    if target.id == demand.id:
        raise ServiceError(_l("A demand cannot be merged into itself."), field="target_code")
    if target.status not in MERGE_INTO:
        raise ServiceError(_l("The demand %(code)s is closed; merge into an active demand.", code=target.tracking_code),
                           field="target_code")
    if target.enterprise_id == demand.enterprise_id:
        note = str(_l("Merged into demand %(code)s, which continues your request.", code=target.tracking_code))
    else:  # another enterprise's tracking code is not this enterprise's to read (nor to look up)
        note = str(_l("Merged with another enterprise's demand for the same need; the union office will keep you "
                      "informed."))
    return _move(session, demand, "merged", actor=actor, now=now, action="merge", note=note,
                 changes={"merged_into_id": target.id, "reviewed_at": now})


def withdraw(session: Session, demand: Demand, data: dict[str, Any], *, actor: Actor, now: dt.datetime,
             version: str | None = None) -> Demand:
    """Withdraw at the enterprise's request (recorded with the reason)."""
    reason = load_or_raise(ReasonSchema(), data)["text"]
    _check(demand, WITHDRAW_FROM, version, _l("withdrawn"))
    return _move(session, demand, "withdrawn", actor=actor, now=now, action="withdraw", note=reason,
                 changes={"review_note": reason})


def _all_statuses() -> tuple[str, ...]:
    return tuple(STATUS_LABELS)


def _check(demand: Demand, allowed: Iterable[str], version: str | None, verb: Any) -> None:
    # on the row locked and read afresh: a round publishing the demand meanwhile holds its lock, and an update
    # that waited for it would otherwise write over "matched" (SQLite's write lock already serialises)
    object_session(demand).refresh(demand, with_for_update=True)
    if version is not None and version != version_of(demand):
        raise Conflict(_l("Someone changed this demand meanwhile. The page now shows its current state; "
                          "please check and try again."))
    if demand.status not in allowed:
        raise Conflict(_l("A demand that is “%(status)s” cannot be %(verb)s.",
                          status=STATUS_LABELS.get(demand.status, demand.status), verb=verb))


def _move(session: Session, demand: Demand, to_status: str, *, actor: Actor, now: dt.datetime, action: str,
          note: str | None, changes: dict[str, Any] | None = None, public: bool = True) -> Demand:
    """Change the status (and ``changes``), with a status event and an audit entry of before and after."""
    before = snapshot(demand)
    before_status = demand.status
    for name, value in (changes or {}).items():
        setattr(demand, name, value)
    demand.status = to_status
    demand.updated_at = now
    session.add(DemandStatusEvent(demand_id=demand.id, from_status=before_status, to_status=to_status, at=now,
                                  actor_id=_actor_id(actor), note=note, public=public))
    audit.record(session, actor=actor, action=f"demand.{action}", entity=demand, now=now, before=before,
                 after=snapshot(demand))
    session.flush()
    return demand


def _actor_id(actor: Actor) -> int | None:
    return actor.id if isinstance(actor, User) else None


# --- the inbox ----------------------------------------------------------------------------------


@dataclasses.dataclass
class InboxFilters:
    status: str | None = None
    category: str | None = None
    region: str | None = None
    industry: str | None = None
    urgency: str | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    q: str | None = None
    ageing: bool = False


@dataclasses.dataclass
class InboxPage:
    items: list[Demand]
    total: int
    page: int
    per_page: int
    counts: dict[str, int]
    ageing_ids: set[int]
    duplicates: dict[int, list[Demand]]

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def ageing_cutoff(now: dt.datetime, working_days: int = AGEING_WORKING_DAYS) -> dt.datetime:
    """The moment ``working_days`` working days (Chinese calendar) before ``now``: older untouched demands age."""
    return working_days_before(now, working_days)


def is_ageing(demand: Demand, now: dt.datetime) -> bool:
    return demand.status in WAITING and demand.updated_at < ageing_cutoff(now)


def inbox(session: Session, user: User, filters: InboxFilters, *, page: int, per_page: int,
          now: dt.datetime) -> InboxPage:
    conditions = _filter_conditions(session, user, filters, now)
    searched = _searched(session, conditions, filters.status, page=page, per_page=per_page) if filters.q else None
    if searched is not None:
        return _inbox_page(session, user, *searched, now)
    base = sa.select(Demand).join(Demand.enterprise).where(*conditions)
    counted = sa.select(Demand.status, sa.func.count())
    if filters.q:  # only the text search reads the enterprise; every demand has one (NOT NULL foreign key)
        counted = counted.join(Demand.enterprise)
    # without the join PostgreSQL counts from the status index alone (25 ms at 100,000 demands, 100 ms with it)
    count_rows = session.execute(counted.where(*conditions).group_by(Demand.status)).all()
    counts = {status: count for status, count in count_rows}
    if filters.status:
        base = base.where(Demand.status == filters.status)
    total = counts.get(filters.status, 0) if filters.status else sum(counts.values())
    chosen = paginate(session, base.options(*_INBOX_LOADS).order_by(Demand.submitted_at.desc(), Demand.id.desc()),
                      page=page, per_page=per_page, total=total)
    return _inbox_page(session, user, chosen, counts, now)


_INBOX_LOADS = (selectinload(Demand.enterprise), selectinload(Demand.category), selectinload(Demand.region))
# Up to this many matches a text search is counted and ordered from one pass; beyond, the SQL's page stops early.
SEARCH_IN_ONE_PASS = 500


def _searched(session: Session, conditions: list[Any], status: str | None, *, page: int,
              per_page: int) -> tuple[Page, dict[str, int]] | None:
    """The page and the counts by status of a text search from one pass over the demands (``ILIKE '%…%'`` reads
    every row, ~400 ms at 100,000 demands, and the counts and the page each read them all); None when it matches
    more than SEARCH_IN_ONE_PASS: then the page's query finds its rows early and the counts are SQL's."""
    matched = session.execute(sa.select(Demand.id, Demand.status, Demand.submitted_at)
                              .join(Demand.enterprise).where(*conditions).limit(SEARCH_IN_ONE_PASS + 1)).all()
    if len(matched) > SEARCH_IN_ONE_PASS:
        return None
    counts: dict[str, int] = {}
    for row in matched:
        counts[row.status] = counts.get(row.status, 0) + 1
    shown = sorted((row for row in matched if not status or row.status == status),
                   key=lambda row: (row.submitted_at, row.id), reverse=True)  # submitted_at DESC, id DESC
    chosen = page_of(shown, page=page, per_page=per_page)
    ids = [row.id for row in chosen.items]
    loaded = {d.id: d for d in session.scalars(sa.select(Demand).where(Demand.id.in_(ids)).options(*_INBOX_LOADS))}
    return dataclasses.replace(chosen, items=[loaded[i] for i in ids]), counts


def _inbox_page(session: Session, user: User, chosen: Page, counts: dict[str, int], now: dt.datetime
                ) -> InboxPage:
    items = chosen.items
    cutoff = ageing_cutoff(now)
    ageing_ids = {d.id for d in items if d.status in WAITING and d.updated_at < cutoff}
    return InboxPage(items=items, total=chosen.total, page=chosen.page, per_page=chosen.per_page, counts=counts,
                     ageing_ids=ageing_ids, duplicates=possible_duplicates(session, items, user))


def filtered(session: Session, user: User, filters: InboxFilters, now: dt.datetime) -> sa.Select:
    """``select(Demand)`` of the inbox's filters (status included) within ``user``'s regions."""
    query = sa.select(Demand).join(Demand.enterprise).where(*_filter_conditions(session, user, filters, now))
    return query.where(Demand.status == filters.status) if filters.status else query


def _filter_conditions(session: Session, user: User, filters: InboxFilters, now: dt.datetime) -> list[Any]:
    from web.models import DemandCategory

    conditions: list[Any] = [region_clause(user, Demand.region_id, session)]
    if filters.category:
        conditions.append(Demand.category_id == sa.select(DemandCategory.id)
                          .where(DemandCategory.code == filters.category).scalar_subquery())
    if filters.region:
        region_id = session.scalar(sa.select(Region.id).where(Region.code == filters.region))
        conditions.append(Demand.region_id.in_(sorted(region_subtree(region_id, session))) if region_id
                          else sa.false())
    if filters.industry:
        conditions.append(Demand.id.in_(
            sa.select(demand_industry.c.demand_id)
            .where(demand_industry.c.industry_id.in_(reference.industry_ids_under(filters.industry)))))
    if filters.urgency:
        conditions.append(Demand.urgency == filters.urgency)
    if filters.date_from:
        conditions.append(Demand.submitted_at >= dt.datetime.combine(filters.date_from, dt.time()))
    if filters.date_to:
        conditions.append(Demand.submitted_at < dt.datetime.combine(filters.date_to + dt.timedelta(days=1), dt.time()))
    if filters.q:
        q = filters.q.strip()
        named = containing(Enterprise.name, q)
        if session.get_bind().dialect.name == "postgresql":
            # The enterprises named (a few hundred rows) as an array of ids: the OR then reads the demands' trigram
            # indexes and ix_demand_enterprise_id (a BitmapOr), where the joined name made it a scan of every
            # demand (1.1 s → 28 ms for a tracking code at 100,000 demands; benchmarks/NOTES.md). The same rows:
            # a demand's enterprise is never NULL.
            named = Demand.enterprise_id == sa.any_(sa.func.array(  # not correlated with the query's enterprise
                sa.select(Enterprise.id).where(named).correlate(None).scalar_subquery()))
        conditions.append(sa.or_(containing(Demand.title, q), named, containing(Demand.tracking_code, q)))
    if filters.ageing:
        conditions.append(sa.and_(Demand.status.in_(WAITING), Demand.updated_at < ageing_cutoff(now)))
    return conditions


# --- possible duplicates ------------------------------------------------------------------------


def _normalized_title(title: str) -> str:
    return re.sub(r"[\W_]+", "", title.lower())


def titles_similar(first: str, second: str) -> bool:
    a, b = _normalized_title(first), _normalized_title(second)
    if not a or not b:
        return False
    if a in b or b in a:
        return True
    return difflib.SequenceMatcher(None, a, b).ratio() >= DUPLICATE_SIMILARITY


def possible_duplicates(session: Session, demands: Sequence[Demand], user: User | None = None
                        ) -> dict[int, list[Demand]]:
    """For each demand: other demands of the same enterprise with a similar title within 30 days (those in
    ``user``'s regions: another region's demand is not even named)."""
    active = [d for d in demands if d.status not in ("merged", "withdrawn")]
    if not active:
        return {}
    earliest = min(d.submitted_at for d in active) - DUPLICATE_WINDOW
    latest = max(d.submitted_at for d in active) + DUPLICATE_WINDOW
    # the candidates' few columns, by enterprise; only the duplicates found are loaded whole (an inbox page of
    # 50 demands compared each with every candidate of every enterprise on the page and loaded them all)
    by_enterprise: dict[int, list[Any]] = {}
    for row in session.execute(sa.select(Demand.id, Demand.enterprise_id, Demand.submitted_at, Demand.title).where(
        Demand.enterprise_id.in_({d.enterprise_id for d in active}),
        Demand.submitted_at.between(earliest, latest),
        Demand.status.not_in(("merged", "withdrawn")),
        sa.true() if user is None else region_clause(user, Demand.region_id, session),
    ).order_by(Demand.id)):
        by_enterprise.setdefault(row.enterprise_id, []).append(row)
    pairs = [(demand.id, other.id) for demand in active for other in by_enterprise.get(demand.enterprise_id, ())
             if other.id != demand.id and abs(other.submitted_at - demand.submitted_at) <= DUPLICATE_WINDOW
             and titles_similar(demand.title, other.title)]
    loaded = {d.id: d for d in session.scalars(sa.select(Demand).where(Demand.id.in_({o for _, o in pairs})))} \
        if pairs else {}
    found: dict[int, list[Demand]] = {}
    for demand_id, other_id in pairs:
        found.setdefault(demand_id, []).append(loaded[other_id])
    return found


# --- what the enterprise sees -------------------------------------------------------------------


def public_events(demand: Demand) -> list[DemandStatusEvent]:
    return [event for event in demand.events if event.public]


def public_successor(session: Session, demand: Demand) -> Demand | None:
    """The demand this one was merged into, as its enterprise may read it: only a demand of the same enterprise."""
    if demand.merged_into_id is None:
        return None
    successor = session.get(Demand, demand.merged_into_id)
    return successor if successor is not None and successor.enterprise_id == demand.enterprise_id else None


def assigned_craftsmen(session: Session, demand: Demand) -> list[dict[str, Any]]:
    """Names, highest honour and studio of the craftsmen serving this demand (never their phone)."""
    rows = session.execute(
        sa.select(Craftsman).join(EngagementMember, EngagementMember.craftsman_id == Craftsman.id)
        .join(Engagement, Engagement.id == EngagementMember.engagement_id)
        .where(Engagement.demand_id == demand.id, Engagement.status != "cancelled",
               EngagementMember.status.not_in(("declined", "no_show")))
        .options(selectinload(Craftsman.studio),
                 selectinload(Craftsman.honours).selectinload(CraftsmanHonour.honour))
        .order_by(Craftsman.name)
    ).scalars().unique().all()
    roles = engagements.member_roles(session, Engagement.demand_id == demand.id, Engagement.status != "cancelled")
    result = []
    for craftsman in rows:
        honours = sorted((link.honour for link in craftsman.honours), key=lambda honour: -honour.rank)
        result.append({"name": craftsman.name, "honour": honours[0] if honours else None,
                       "studio": craftsman.studio.name if craftsman.studio else None,
                       "role": roles.get(craftsman.id)})
    return result
