"""One authorization model: every route of ``app.url_map`` × five users against a table of expected outcomes.

The records live in 成都 (510100). The five users: nobody logged in, a read-only viewer of 成都, a
coordinator of 重庆 (500000, another region), a coordinator of 成都 and a province-wide admin. What the
policy decided is read from ``web.policy.access_denied`` (so a route that answers 404 for a missing import
file, or 400 for an empty form, still counts as allowed: the policy let the user in).

A route added without a policy, or with one that lets someone do more than this table, fails here.
"""

from __future__ import annotations

import re
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from flask import url_for

from tests.browser import Browser
from tests.conftest import NOW, TEST_PASSWORD, make_test_app
from tests.factories import make_craftsman, make_demand, make_engagement, region
from web import policy
from web.extensions import db
from web.models import (
    Agreement,
    Attachment,
    AuditLog,
    Engagement,
    Feedback,
    FollowUp,
    MatchingRound,
    Notification,
    Outcome,
    RegionTarget,
    User,
)
from web.services import tokens

ROLES = ("anonymous", "viewer", "other_coordinator", "coordinator", "admin")
# One letter per role, in the order of ROLES: A allowed, L sent to the login page, F 403, N 404 (another
# region's record answers like a missing one), U 401 (the API wants a bearer token).
ANYONE, STAFF, EDITOR, ADMIN = "AAAAA", "LAAAA", "LFAAA", "LFFFA"
STAFF_RECORD, EDITOR_RECORD = "LAFAA", "LFFAA"
STAFF_HIDDEN, EDITOR_HIDDEN = "LANAA", "LFNAA"
EXPECTED = {
    ("static", "GET"): ANYONE,
    ("public.index", "GET"): ANYONE,
    ("public.healthz", "GET"): ANYONE,
    ("auth.login", "GET"): ANYONE,
    ("auth.login", "POST"): ANYONE,
    ("auth.logout", "POST"): ANYONE,
    ("auth.password", "GET"): STAFF,
    ("auth.password", "POST"): STAFF,
    ("admin_tokens.index", "GET"): ADMIN,
    ("admin_tokens.issue", "POST"): ADMIN,
    ("admin_tokens.revoke", "POST"): ADMIN,
    ("coordinator.home", "GET"): STAFF,
    ("pool.craftsmen", "GET"): STAFF,
    ("pool.profile", "GET"): STAFF_RECORD,
    ("pool.create", "GET"): EDITOR,
    ("pool.create", "POST"): EDITOR,
    ("pool.edit", "GET"): EDITOR_RECORD,
    ("pool.edit", "POST"): EDITOR_RECORD,
    ("pool.pause", "POST"): EDITOR_RECORD,
    ("pool.resume", "POST"): EDITOR_RECORD,
    ("pool.exit_pool", "POST"): EDITOR_RECORD,
    ("pool.import_upload", "GET"): EDITOR,
    ("pool.import_upload", "POST"): EDITOR,
    ("pool.import_preview", "GET"): EDITOR,
    ("pool.import_confirm", "POST"): EDITOR,
    ("pool.import_template", "GET"): STAFF,
    ("pool.import_sample", "GET"): STAFF,
    ("pool.export", "GET"): EDITOR,  # mobile numbers: not for viewers
    ("pool.bulk_action", "POST"): EDITOR,  # the craftsmen are looked up within the user's regions
    ("rounds.index", "GET"): STAFF,
    ("rounds.create", "GET"): EDITOR,
    ("rounds.create", "POST"): EDITOR,
    ("rounds.show", "GET"): STAFF_RECORD,
    ("rounds.status", "GET"): STAFF_RECORD,
    ("rounds.export", "GET"): STAFF_RECORD,
    ("rounds.solve", "POST"): EDITOR_RECORD,
    ("rounds.pair", "POST"): EDITOR_RECORD,
    ("rounds.capacity", "POST"): EDITOR_RECORD,
    ("rounds.place", "GET"): EDITOR_RECORD,  # search the pool for a craftsman to lock onto a demand
    ("rounds.place", "POST"): EDITOR_RECORD,
    ("rounds.publish", "POST"): EDITOR_RECORD,
    ("rounds.decline", "POST"): EDITOR_RECORD,
    ("rounds.outbox", "GET"): STAFF,
    ("rounds.outbox_export", "GET"): EDITOR,  # mobile numbers: not for viewers
    ("rounds.outbox_confirm", "GET"): EDITOR,  # the count to confirm before sending
    ("rounds.outbox_requeue", "POST"): EDITOR,
    ("rounds.outbox_send", "POST"): EDITOR,  # sends only the messages of the user's rounds (tested below)
    ("outcomes.index", "GET"): STAFF,
    ("outcomes.create", "GET"): EDITOR,
    ("outcomes.create", "POST"): EDITOR,
    ("outcomes.edit", "GET"): EDITOR_RECORD,
    ("outcomes.edit", "POST"): EDITOR_RECORD,
    ("outcomes.export", "GET"): STAFF,
    ("engagements.index", "GET"): STAFF,
    ("engagements.show", "GET"): STAFF_HIDDEN,
    ("engagements.start", "POST"): EDITOR_HIDDEN,
    ("engagements.visit", "POST"): EDITOR_HIDDEN,
    ("engagements.accept", "POST"): EDITOR_HIDDEN,
    ("engagements.complete", "POST"): EDITOR_HIDDEN,
    ("engagements.cancel", "POST"): EDITOR_HIDDEN,
    ("engagements.no_show", "POST"): EDITOR_HIDDEN,
    ("engagements.apply_ratings", "POST"): EDITOR,  # applies only the user's region's ratings (tested below)
    ("engagements.follow_up", "GET"): STAFF_HIDDEN,
    ("engagements.follow_up", "POST"): EDITOR_HIDDEN,
    ("engagements.follow_up_detail", "GET"): STAFF_HIDDEN,
    ("engagements.add_note", "POST"): EDITOR_HIDDEN,
    ("engagements.add_attachment", "POST"): EDITOR_HIDDEN,
    ("engagements.attachment", "GET"): STAFF_HIDDEN,
    ("engagements.points_ledger", "GET"): STAFF_RECORD,
    ("engagements.flag_list", "GET"): STAFF,
    ("engagements.flag_decision", "POST"): EDITOR_RECORD,
    ("agreements.index", "GET"): STAFF,
    ("agreements.new", "GET"): EDITOR_HIDDEN,
    ("agreements.new", "POST"): EDITOR_HIDDEN,
    ("agreements.show", "GET"): STAFF_HIDDEN,
    ("agreements.attach", "POST"): EDITOR_HIDDEN,
    ("agreements.document", "GET"): STAFF_HIDDEN,
    ("agreements.enterprise", "GET"): STAFF_HIDDEN,
    ("intake.new_demand", "GET"): ANYONE,
    ("intake.new_demand", "POST"): ANYONE,
    ("intake.confirmation", "GET"): ANYONE,
    ("intake.receipt", "GET"): ANYONE,
    ("intake.lookup", "GET"): ANYONE,
    ("intake.lookup", "POST"): ANYONE,
    ("intake.status", "GET"): ANYONE,
    ("intake.answer_info", "POST"): ANYONE,
    ("intake.rate", "POST"): ANYONE,
    ("demands.inbox", "GET"): STAFF,
    ("demands.bulk_action", "POST"): EDITOR,  # the demands are looked up within the user's regions
    ("demands.review", "GET"): STAFF_HIDDEN,
    ("demands.act", "POST"): EDITOR_HIDDEN,
    ("demands.edit", "GET"): EDITOR_HIDDEN,
    ("demands.edit", "POST"): EDITOR_HIDDEN,
    ("staff_intake.new_demand", "GET"): EDITOR,
    ("staff_intake.new_demand", "POST"): EDITOR,
    ("staff_intake.entered", "GET"): STAFF_HIDDEN,
    ("staff_intake.import_upload", "GET"): EDITOR,
    ("staff_intake.import_upload", "POST"): EDITOR,
    ("staff_intake.import_preview", "GET"): EDITOR,
    ("staff_intake.import_confirm", "POST"): EDITOR,
    ("staff_intake.import_template", "GET"): STAFF,
    ("reports.dashboard", "GET"): STAFF,
    ("reports.set_target", "POST"): EDITOR_RECORD,  # the form's region must be the user's
    ("reports.period_report", "GET"): STAFF,
    ("reports.export", "GET"): STAFF,
    ("api-docs.openapi_json", "GET"): ANYONE,
    ("pools.Pools", "GET"): ANYONE,
    ("solve.solve_problem", "POST"): "UUUUU",  # a session is not a bearer token (web.api.auth.token_required)
    ("demands_api.submit", "POST"): ANYONE,
    ("demands_api.status", "POST"): ANYONE,
}
LETTER = {302: "L", 401: "U", 403: "F", 404: "N"}


def _routes(app):
    return sorted((rule.endpoint, method, rule) for rule in app.url_map.iter_rules()
                  for method in rule.methods - {"HEAD", "OPTIONS"})


def test_every_endpoint_declares_a_policy(app):
    undeclared = [(endpoint, method) for endpoint, method, _rule in _routes(app)
                  if policy.policy_of(app, endpoint, method) is None]
    assert undeclared == []


def test_the_table_lists_every_route_and_nothing_else(app):
    assert {(endpoint, method) for endpoint, method, _rule in _routes(app)} == set(EXPECTED)


def test_an_undeclared_route_is_refused_to_everyone(database_url, connection, make_user):
    """Fail closed: a view that forgot its decorator answers 403, even to an admin."""
    app = make_test_app(database_url)
    app.add_url_rule("/workspace/forgotten", "forgotten", lambda: "every mobile number")
    db.bind_to(app, connection)  # the test's transaction, not a pool of its own
    try:
        make_user("boss", "admin")
        browser = Browser(app.test_client())
        assert browser.get("/workspace/forgotten").status_code == 403
        assert browser.login("boss", TEST_PASSWORD).status_code == 302
        assert browser.get("/workspace/").status_code == 200
        assert browser.get("/workspace/forgotten").status_code == 403
    finally:
        db.bind_to(app, None)


# ---------------------------------------------------------------- records in 成都 and the five users
@pytest.fixture()
def records(session, make_user):
    """A craftsman, a demand, its engagement (of a published round), a follow-up with an attachment, an
    outcome and an outbox message, all in 成都; and an API token."""
    tool_owner = session.get(User, make_user("tool-owner", "admin"))
    craftsman = make_craftsman(session, region_code="510100", phone="13812341234")
    demand = make_demand(session, region_code="510104", status="matched")
    rnd = MatchingRound(name="成都第一轮", status="published", region_id=region(session, "510100").id,
                        created_at=NOW)
    session.add(rnd)
    session.flush()
    engagement = make_engagement(session, demand, [craftsman], round_id=rnd.id)
    follow_up = FollowUp(engagement_id=engagement.id, kind="check_2w", due_on=NOW.date())
    session.add(follow_up)
    session.flush()
    attachment = Attachment(follow_up_id=follow_up.id, filename="photo.jpg", content_type="image/jpeg",
                            size_bytes=3, storage_key="authz-test-missing", uploaded_at=NOW)
    outcome = Outcome(kind="method", title="压力容器焊接工法", craftsman_id=craftsman.id, created_at=NOW)
    api_token, _clear = tokens.issue_token(session, user=tool_owner, name="tool",
                                           scopes=["solve"], days=30, actor="test", now=NOW)
    agreement = Agreement(engagement_id=engagement.id, enterprise_id=demand.enterprise_id, craftsman_id=craftsman.id,
                          union_name="成都市总工会", starts_on=NOW.date(), ends_on=NOW.date(), scope="师带徒",
                          created_at=NOW)
    session.add_all([attachment, outcome, agreement, Notification(
        round_id=rnd.id, recipient_kind="craftsman", recipient_id=craftsman.id, address=craftsman.phone,
        subject="任务", body="您已被安排服务", status="sent", created_at=NOW)])
    session.commit()
    return {"craftsman_id": craftsman.id, "demand_id": demand.id, "engagement_id": engagement.id,
            "follow_up_id": follow_up.id, "attachment_id": attachment.id, "round_id": rnd.id,
            "member_id": engagement.members[0].id, "outcome_id": outcome.id, "code": demand.tracking_code,
            "token": "x" * 22 + ".csv", "kind": "check_2w", "action": "approve", "decision": "pause",
            "filename": "css/app.css", "token_id": api_token.id, "version": "0", "agreement_id": agreement.id,
            "enterprise_id": demand.enterprise_id}


USERS = {"viewer": ("viewer", "510100"), "other_coordinator": ("coordinator", "500000"),
         "coordinator": ("coordinator", "510100"), "admin": ("admin", None)}


def _browser(app, make_user, role: str) -> Browser:
    browser = Browser(app.test_client())
    if role != "anonymous":
        kind, region_code = USERS[role]
        make_user(role, kind, region_code=region_code)
        assert browser.login(role, TEST_PASSWORD).status_code == 302
    return browser


@contextmanager
def _decisions(app):
    seen: list[int] = []

    def note(_sender, endpoint, status, **_extra):
        seen.append(status)

    policy.access_denied.connect(note, app)
    try:
        yield seen
    finally:
        policy.access_denied.disconnect(note, app)


def _outcome(response, denials: list[int]) -> str:
    assert response.status_code < 500, response.get_data(as_text=True)[:300]
    if denials:
        return LETTER[denials[-1]]
    if response.status_code in (401, 403):
        return LETTER[response.status_code]
    if response.status_code == 302 and "/auth/login" in response.headers["Location"]:
        return "L"
    return "A"


def _post_data(endpoint: str) -> dict:
    # The targets form names a region: the record the route acts on is 成都's targets.
    return {"region_code": "510100", "year": "2026", "visits": "10"} if endpoint == "reports.set_target" else {}


@pytest.mark.parametrize("role", ROLES)
def test_each_route_lets_each_user_do_what_the_table_says(app, make_user, records, role):
    browser = _browser(app, make_user, role)
    page = browser.get("/auth/login" if role == "anonymous" else "/workspace/").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"', page)
    token = csrf.group(1) or csrf.group(2)
    column = ROLES.index(role)
    observed, wanted = {}, {}
    # Logging out last: it ends the session the other requests need.
    for endpoint, method, rule in sorted(_routes(app), key=lambda route: route[0] == "auth.logout"):
        with app.test_request_context():
            url = url_for(endpoint, **{name: records[name] for name in rule.arguments})
        with _decisions(app) as denials:
            if method == "GET":
                response = browser.get(url)
            else:
                response = browser.client.post(url, data={"csrf_token": token, **_post_data(endpoint)})
        observed[endpoint, method] = _outcome(response, denials)
        response.close()  # files are streamed
        wanted[endpoint, method] = EXPECTED[endpoint, method][column]
    assert {key: value for key, value in observed.items() if value != wanted[key]} == {}


# ---------------------------------------------------------------- the routes that forgot the region (issue 13)
@pytest.fixture()
def chengdu(browser, make_user) -> Browser:
    make_user("chengdu1", "coordinator", region_code="510100")
    browser.login("chengdu1", TEST_PASSWORD)
    return browser


FLAGS = "/workspace/engagements/flags"


def test_a_city_coordinator_cannot_pause_or_remove_another_regions_craftsman(chengdu, session):
    chongqing = make_craftsman(session, region_code="500103")
    own = make_craftsman(session, region_code="510104")
    session.commit()
    for decision in ("pause", "exit"):
        response = chengdu.submit(f"{FLAGS}/{chongqing.id}/{decision}", {"reason": "x"}, form_url=FLAGS)
        assert response.status_code == 403
    assert chengdu.submit(f"{FLAGS}/{own.id}/pause", {"reason": "多次爽约"}, form_url=FLAGS).status_code == 302
    session.expire_all()
    assert (chongqing.status, own.status) == ("active", "paused")


def test_a_city_coordinator_sets_targets_of_its_own_region_only(chengdu, session):
    form = {"year": "2026", "visits": "12", "enterprises": "3", "problems": "4", "skill_upgrades": "5"}
    page = chengdu.text("/workspace/reports/")
    assert 'value="510100"' in page and 'value="500000"' not in page  # the choices are the user's regions
    response = chengdu.submit("/workspace/reports/targets", {**form, "region_code": "500000"},
                              form_url="/workspace/reports/")
    assert response.status_code == 403
    assert chengdu.submit("/workspace/reports/targets", {**form, "region_code": "510100"},
                          form_url="/workspace/reports/").status_code == 302
    assert list(session.scalars(sa.select(RegionTarget.region_id))) == [region(session, "510100").id]


def _round_with_message(session, region_code: str | None, phone: str) -> MatchingRound:
    rnd = MatchingRound(name=f"轮次 {region_code}", status="published", created_at=NOW,
                        region_id=region(session, region_code).id if region_code else None)
    session.add(rnd)
    session.flush()
    session.add(Notification(round_id=rnd.id, recipient_kind="craftsman", recipient_id=1, address=phone,
                             subject="任务", body="您已被安排服务", status="pending", created_at=NOW))
    session.flush()
    return rnd


def test_outbox_send_sends_only_the_users_rounds_and_is_audited(chengdu, session):
    own = _round_with_message(session, "510100", "13800000001")
    province = _round_with_message(session, None, "13800000002")
    session.commit()
    response = chengdu.submit("/workspace/rounds/outbox/send", {"count": "1"},
                              form_url="/workspace/rounds/outbox/send")
    assert response.status_code == 302
    statuses = dict(session.execute(sa.select(Notification.round_id, Notification.status)).all())
    assert statuses == {own.id: "sent", province.id: "pending"}
    entry = session.scalar(sa.select(AuditLog).where(AuditLog.action == "outbox.send"))
    assert (entry.actor_label, entry.entity_type, entry.entity_id) == ("chengdu1", "matching_round", own.id)
    assert entry.after == {"round": own.id, "sent": 1, "failed": 0}


def test_points_of_another_regions_craftsman_are_not_shown(chengdu, session):
    long_ago = NOW.replace(year=NOW.year - 3)  # in the pool for years without a service: both are flagged
    chongqing = make_craftsman(session, region_code="500103", created_at=long_ago)
    own = make_craftsman(session, region_code="510104", created_at=long_ago)
    session.commit()
    assert chengdu.get(f"/workspace/engagements/craftsmen/{chongqing.id}/points").status_code == 403
    assert chengdu.get(f"/workspace/engagements/craftsmen/{own.id}/points").status_code == 200
    flags_page = chengdu.text(FLAGS)
    assert own.name in flags_page and chongqing.name not in flags_page


def test_ratings_are_applied_in_the_users_region_only(chengdu, session):
    engagements = {}
    for code in ("510104", "500103"):
        demand = make_demand(session, region_code=code, status="evaluated")
        engagement = make_engagement(session, demand, [make_craftsman(session, region_code=code)],
                                     status="completed", started_on=NOW.date(), completed_on=NOW.date())
        session.add(Feedback(demand_id=demand.id, engagement_id=engagement.id, rating=5, created_at=NOW))
        engagements[code] = engagement.id
    session.commit()
    assert chengdu.submit("/workspace/engagements/ratings", {},
                          form_url="/workspace/engagements/").status_code == 302
    session.expire_all()
    assert {code: session.get(Engagement, ident).status for code, ident in engagements.items()} == {
        "510104": "evaluated", "500103": "completed"}


def test_the_region_tree_is_read_once_per_request(app, session):
    """One query of the tree per region and request, however many records the page checks."""
    chengdu_id = region(session, "510100").id
    with app.test_request_context():
        statements = []
        engine = db.session.get_bind()

        def count(_connection, _cursor, statement, *_args):
            statements.append(statement)

        sa.event.listen(engine, "before_cursor_execute", count)
        try:
            first = policy.region_subtree(chengdu_id)
            assert policy.region_subtree(chengdu_id) is first
        finally:
            sa.event.remove(engine, "before_cursor_execute", count)
        assert len([text for text in statements if "region_tree" in text]) == 1
        assert region(session, "510104").id in first and region(session, "500103").id not in first


@pytest.mark.parametrize("role", ["viewer", "coordinator", "admin"])
def test_no_link_of_the_workspace_menu_leads_to_a_refusal(app, make_user, role):
    # The header and the workspace's quick links listed API tokens to everyone; a viewer or a coordinator got 403.
    make_user(f"menu_{role}", role)
    browser = Browser(app.test_client())
    assert browser.login(f"menu_{role}", TEST_PASSWORD).status_code == 302
    home = browser.text("/workspace/")
    links = set(re.findall(r'href="(/(?:workspace|auth)/[^"?#]*)"', home))
    assert "/workspace/demands/" in links
    refused = {link: status for link in sorted(links) if (status := browser.get(link).status_code) in (401, 403)}
    assert refused == {}
    assert ("/workspace/admin/tokens/" in links) == (role == "admin")
