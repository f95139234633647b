"""One authorization model for every route: who may call it, and which records a user's region covers.

Every view states its policy with ``@policy(role, record=..., write=...)``:

- ``role``: ``ANONYMOUS`` (anyone), ``STAFF`` (viewer, coordinator, admin), ``EDITOR`` (coordinator, admin)
  or ``ADMIN``. JSON API operations for tools declare ``TOKEN`` through ``web.api.auth.token_required(blp,
  scope)``, which checks the bearer token and its scope;
- ``write``: a stricter role for the methods that change something (a page read by staff, posted by editors);
- ``record``: a ``Record`` naming the URL argument that holds a record's id; the record is loaded before the
  view runs (missing → 404) and the user's region must cover it (otherwise 403, or 404 for records whose
  existence is itself kept from other regions).

A user with a region (a city's coordinator) is limited to that region and every region under it; a user
without one works province-wide. ``region_subtree`` is the one query of the region tree (cached per request);
``visible_to`` narrows a list or export to the user's regions; ``covers`` answers for one record.

``init_app`` refuses every endpoint that declares no policy, so a forgotten decorator fails closed (and the
authorization test names it).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Collection, Iterable
from functools import wraps
from typing import Any, TypeVar

import sqlalchemy as sa
from flask import Flask, abort, current_app, g, has_app_context, request
from flask.signals import Namespace
from flask_login import current_user
from sqlalchemy.orm import Session, aliased

from web.extensions import db
from web.models import (
    Agreement,
    Attachment,
    Craftsman,
    Engagement,
    EngagementMember,
    Enterprise,
    FollowUp,
    MatchingRound,
    Outcome,
    Region,
    Studio,
)
from web.models import Demand as DemandModel

log = logging.getLogger("craftmatch.policy")
F = TypeVar("F", bound=Callable[..., Any])

ANONYMOUS, STAFF, EDITOR, ADMIN, TOKEN = "anonymous", "staff", "editor", "admin", "token"
ROLES_FOR = {STAFF: ("viewer", "coordinator", "admin"), EDITOR: ("coordinator", "admin"), ADMIN: ("admin",)}
READ_METHODS = ("GET", "HEAD", "OPTIONS")

# Sent whenever a policy refuses a request (endpoint, status): for the log and for the authorization test.
access_denied = Namespace().signal("access-denied")


# ---------------------------------------------------------------- the region tree
def region_subtree(region_id: int, session: Session | None = None) -> frozenset[int]:
    """The ids of a region and of every region under it (a prefecture covers its counties); cached per request."""
    cache = g.setdefault("_region_subtrees", {}) if has_app_context() else {}
    if region_id not in cache:
        tree = sa.select(Region.id).where(Region.id == region_id).cte("region_tree", recursive=True)
        child = aliased(Region)
        tree = tree.union_all(sa.select(child.id).where(child.parent_id == tree.c.id))
        cache[region_id] = frozenset((session or db.session).scalars(sa.select(tree.c.id)))
    return cache[region_id]


def scope(user: Any, session: Session | None = None) -> frozenset[int] | None:
    """The region ids ``user`` works in; None = every region (province-wide staff)."""
    region_id = getattr(user, "region_id", None)
    return None if region_id is None else region_subtree(region_id, session)


def covers(user: Any, region_ids: int | None | Iterable[int | None], session: Session | None = None) -> bool:
    """Whether ``user``'s regions include the region (or one of the regions) of a record."""
    regions = scope(user, session)
    if regions is None:
        return True
    wanted = {region_ids} if region_ids is None or isinstance(region_ids, int) else set(region_ids)
    return bool(wanted & regions)


def region_clause(user: Any, column: Any, session: Session | None = None) -> sa.ColumnElement[bool]:
    """A WHERE condition: ``column`` (a region id) lies in ``user``'s regions (always true province-wide)."""
    regions = scope(user, session)
    return sa.true() if regions is None else column.in_(sorted(regions))


def visible_to(query: sa.Select, user: Any, column: Any, session: Session | None = None) -> sa.Select:
    """``query`` narrowed to the rows whose region ``column`` the user's region covers (lists, exports)."""
    return query.where(region_clause(user, column, session))


# ---------------------------------------------------------------- records a route acts on
@dataclasses.dataclass(frozen=True)
class Record:
    """A record a route acts on: the URL argument with its id, how to load it, the regions it belongs to."""

    name: str
    arg: str
    model: type
    regions: Callable[[Any], Collection[int | None]]
    hidden: bool = False  # out of the user's regions answers 404: even its existence stays in its region

    def load(self, view_args: dict[str, Any]) -> Any:
        row = db.session.get(self.model, view_args[self.arg])
        if row is None:
            abort(404)
        return row


def _outcome_regions(outcome: Outcome) -> set[int | None]:
    regions = set()
    if outcome.craftsman_id:
        regions.add(db.session.scalar(sa.select(Craftsman.region_id).where(Craftsman.id == outcome.craftsman_id)))
    if outcome.studio_id:
        regions.add(db.session.scalar(sa.select(Studio.region_id).where(Studio.id == outcome.studio_id)))
    return regions


def _demand_region(demand_id: int) -> int:
    return db.session.scalar(sa.select(DemandModel.region_id).where(DemandModel.id == demand_id))


CRAFTSMAN = Record("craftsman", "craftsman_id", Craftsman, lambda c: {c.region_id})
DEMAND = Record("demand", "demand_id", DemandModel, lambda d: {d.region_id}, hidden=True)
ENGAGEMENT = Record("engagement", "engagement_id", Engagement, lambda e: {_demand_region(e.demand_id)}, hidden=True)
FOLLOW_UP = Record("follow-up", "follow_up_id", FollowUp,
                   lambda f: {_demand_region(f.engagement.demand_id)}, hidden=True)
ATTACHMENT = Record("attachment", "attachment_id", Attachment,
                    lambda a: {_demand_region(a.follow_up.engagement.demand_id)}, hidden=True)
# A round without a region is province-wide: only province-wide staff cover it.
ROUND = Record("round", "round_id", MatchingRound, lambda r: {r.region_id})
ROUND_MEMBER = Record("round member", "member_id", EngagementMember, lambda m: set(db.session.scalars(
    sa.select(MatchingRound.region_id).join(Engagement, Engagement.round_id == MatchingRound.id)
    .where(Engagement.id == m.engagement_id))))
OUTCOME = Record("outcome", "outcome_id", Outcome, _outcome_regions)
AGREEMENT = Record("agreement", "agreement_id", Agreement, lambda a: {_demand_region(a.engagement.demand_id)},
                   hidden=True)
# An enterprise belongs to its own region and to the regions of its demands.
ENTERPRISE = Record("enterprise", "enterprise_id", Enterprise, lambda e: {e.region_id, *db.session.scalars(
    sa.select(DemandModel.region_id).where(DemandModel.enterprise_id == e.id))}, hidden=True)


def current_record() -> Any:
    """The record the current route's policy loaded and checked."""
    return g.policy_record


# ---------------------------------------------------------------- the decorator
@dataclasses.dataclass(frozen=True)
class Policy:
    role: str
    record: Record | None = None
    write: str | None = None
    scope: str | None = None  # the API token scope of a TOKEN policy

    def role_for(self, method: str) -> str:
        return self.write if self.write and method not in READ_METHODS else self.role


def policy(role: str, *, record: Record | None = None, write: str | None = None) -> Callable[[F], F]:
    """Declare and enforce who may call the view (see the module's docstring)."""
    if TOKEN in (role, write):
        raise ValueError("a bearer-token operation is declared with web.api.auth.token_required(blp, scope)")
    declared = Policy(role, record, write)

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            denial = enforce(declared, kwargs)
            if denial is not None:
                return denial
            return view(*args, **kwargs)

        wrapper.policy = declared  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


def enforce(declared: Policy, view_args: dict[str, Any]) -> Any:
    """None when the request may go on; otherwise the refusal (a response, or an HTTP error raised)."""
    role = declared.role_for(request.method)
    if role == ANONYMOUS:
        return None
    if not current_user.is_authenticated:
        _denied(302)
        return current_app.login_manager.unauthorized()  # type: ignore[attr-defined]
    if current_user.role not in ROLES_FOR[role]:
        deny(403)
    if declared.record is not None:
        row = declared.record.load(view_args)
        if not covers(current_user, declared.record.regions(row)):
            deny(404 if declared.record.hidden else 403)
        g.policy_record = row
    return None


def require_region(region_id: int | None) -> None:
    """Refuse (403) a change placed in a region the user's region does not cover (e.g. a form's region)."""
    if not covers(current_user, region_id):
        deny(403)


def deny(status: int) -> None:
    _denied(status)
    abort(status)


def _denied(status: int) -> None:
    user = getattr(current_user, "username", None) if current_user else None
    log.warning("refused %s %s (%s) to %s: %s", request.method, request.path, request.endpoint, user or "anonymous",
                status)
    access_denied.send(current_app._get_current_object(), endpoint=request.endpoint,  # type: ignore[attr-defined]
                       status=status)


# ---------------------------------------------------------------- every endpoint declares one
# Endpoints that Flask and flask-smorest add themselves (no view of ours to decorate).
FRAMEWORK_POLICIES = {
    "static": Policy(ANONYMOUS),
    "api-docs.openapi_json": Policy(ANONYMOUS),
}


def policy_of(app: Flask, endpoint: str, method: str = "GET") -> Policy | None:
    """The policy an endpoint declared (for a class-based view: the one of its ``method`` handler)."""
    if endpoint in FRAMEWORK_POLICIES:
        return FRAMEWORK_POLICIES[endpoint]
    view = app.view_functions.get(endpoint)
    view_class = getattr(view, "view_class", None)
    if view_class is not None:
        view = getattr(view_class, method.lower(), None)
    return getattr(view, "policy", None)


def may_open(app: Flask, endpoint: str) -> bool:
    """The current user has the role the endpoint declares for reading it (its records aside): a menu links to it."""
    declared = policy_of(app, endpoint)
    if declared is None:
        return False
    role = declared.role_for("GET")
    return role == ANONYMOUS or (current_user.is_authenticated and current_user.role in ROLES_FOR[role])


def init_app(app: Flask) -> None:
    @app.before_request
    def refuse_undeclared():
        """Fail closed: an endpoint that declares no policy is refused, whoever asks."""
        if request.endpoint is None or request.method == "OPTIONS":
            return None
        if policy_of(app, request.endpoint, request.method) is None:
            log.error("endpoint %s declares no authorization policy; refused", request.endpoint)
            deny(403)
        return None
