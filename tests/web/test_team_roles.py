"""Teams by role (跨界攻关小组, issue 11 item 2) through the web: a demand states speciality × count, each role
is filled by a distinct craftsman holding that speciality, and the review says which role is open and why."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
import sqlalchemy as sa
from marshmallow import ValidationError

from tests.factories import make_craftsman, make_demand, valid_credit_code, valid_mobile
from web.cli import round_group
from web.models import (
    AuditLog,
    CraftsmanSkill,
    Demand,
    DemandRole,
    Engagement,
    MatchingRound,
    Notification,
    Proposal,
    Skill,
)
from web.schemas.demands import parse_roles_text
from web.services import rounds

TEAM = {"weld": "焊接", "machining.cnc_milling": "数控铣", "electrical": "电气"}


def _version(page: str) -> str:
    tag = re.search(r'<input[^>]*name="version"[^>]*>', page).group(0)
    return re.search(r'value="([^"]+)"', tag).group(1)


def _team_pool(session):
    """A welder, two CNC machinists, a fitter (none of the three specialities), two electricians."""
    people = {
        "welder": {"weld.argon_arc": 5},
        "cnc_1": {"machining.cnc_milling": 5},
        "cnc_2": {"machining.cnc_milling": 4},
        "fitter": {"maint.mechatronic": 5},
        "electrician_1": {"electrical.electrician": 4},
        "electrician_2": {"electrical.maintenance_electrician": 3},
    }
    craftsmen = {key: make_craftsman(session, skills=skills, region_code="510100", round_capacity=1, name=key)
                 for key, skills in people.items()}
    demand = make_demand(session, skills={"weld": 2}, region_code="510100", title="钒钛零件跨界攻关小组")
    return craftsmen, demand


def _edit_roles(browser, demand, rows, team_size=""):
    url = f"/workspace/demands/{demand.id}/edit"
    page = browser.text(url)
    data = {"title": demand.title, "description": demand.description, "category_code": demand.category.code,
            "skills": ["weld"], "other_skills": "", "team_size": team_size, "urgency": "medium", "mode": "onsite",
            "version": _version(page)}
    for i, (skill, count) in enumerate(rows):
        data[f"roles-{i}-skill"], data[f"roles-{i}-count"] = skill, count
    return browser.submit(url, data)


def _solve(browser, url):
    response = browser.submit(f"{url}/solve", {"version": _version(browser.text(url))}, form_url=url)
    assert response.status_code == 302, response.get_data(as_text=True)[:1000]
    return browser.text(url)


def _team(session, rnd_id, demand_id):
    """{role skill code: [craftsman name, …]} of the assigned proposals."""
    session.expire_all()
    rows = session.execute(
        sa.select(Skill.code, Proposal.craftsman_id).join(Skill, Skill.id == Proposal.role_skill_id)
        .where(Proposal.round_id == rnd_id, Proposal.demand_id == demand_id, Proposal.assigned)).all()
    team: dict[str, list[int]] = {}
    for code, craftsman_id in rows:
        team.setdefault(code, []).append(craftsman_id)
    return team


def _holds(session, craftsman_id, code):
    """Whether the craftsman holds the skill ``code`` or one of its sub-skills."""
    return bool(session.scalar(sa.select(sa.func.count()).select_from(CraftsmanSkill).join(Skill).where(
        CraftsmanSkill.craftsman_id == craftsman_id,
        sa.or_(Skill.code == code, Skill.parent_id == sa.select(Skill.id).where(Skill.code == code)
               .scalar_subquery()))))


def test_three_role_team_is_filled_role_by_role(coordinator_browser, session):
    craftsmen, demand = _team_pool(session)
    session.commit()
    response = _edit_roles(coordinator_browser, demand, [("weld", "1"), ("machining.cnc_milling", "1"),
                                                         ("electrical", "1")])
    assert response.status_code == 303, response.get_data(as_text=True)[:3000]
    session.expire_all()
    assert session.get(Demand, demand.id).team_size == 3
    assert "数控铣 × 1" in coordinator_browser.text(f"/workspace/demands/{demand.id}")
    edit_page = coordinator_browser.text(f"/workspace/demands/{demand.id}/edit")  # shown by name, saved back as is
    names = [re.search(rf'<input[^>]*name="roles-{i}-skill"[^>]*value="([^"]*)"', edit_page).group(1) for i in range(3)]
    assert names == ["焊接", "数控铣", "电气"]
    assert _edit_roles(coordinator_browser, demand, [(name, "1") for name in names], team_size="3").status_code == 303

    response = coordinator_browser.submit("/workspace/rounds/new", {"name": "攻关小组轮次", "min_score": "0"})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    url = response.headers["Location"]
    rnd = session.scalar(sa.select(MatchingRound).order_by(MatchingRound.id.desc()))
    page = _solve(coordinator_browser, url)

    team = _team(session, rnd.id, demand.id)
    assert sorted(team) == sorted(TEAM) and all(len(members) == 1 for members in team.values())
    members = [members[0] for members in team.values()]
    assert len(set(members)) == 3 and craftsmen["fitter"].id not in members
    for code, (craftsman_id,) in team.items():
        assert _holds(session, craftsman_id, code), (code, craftsman_id)
    assert page.count("data-role-of=") == 3 and "data-role-gap" not in page

    # excluding the electrician gives the other electrician, never a second CNC machinist
    first = team["electrical"][0]
    coordinator_browser.submit(f"{url}/pair", {"version": _version(page), "mode": "exclude", "craftsman_id": first,
                                               "demand_id": demand.id}, form_url=url)
    page = _solve(coordinator_browser, url)
    team = _team(session, rnd.id, demand.id)
    other = ({craftsmen["electrician_1"].id, craftsmen["electrician_2"].id} - {first}).pop()
    assert team["electrical"] == [other]
    assert len(team["machining.cnc_milling"]) == 1 and len(team["weld"]) == 1
    assert craftsmen["cnc_2"].id not in team["electrical"] + team["weld"]

    # excluding both electricians leaves the role open, and the review says why
    coordinator_browser.submit(f"{url}/pair", {"version": _version(page), "mode": "exclude", "craftsman_id": other,
                                               "demand_id": demand.id}, form_url=url)
    page = _solve(coordinator_browser, url)
    team = _team(session, rnd.id, demand.id)
    assert "electrical" not in team and len(team) == 2
    gap = re.search(r'<li data-role="electrical" data-unfilled>.*?</li>', page, re.S)
    assert gap and "data-role-gap" in gap.group(0)
    assert "excluded" in gap.group(0) or "排除" in gap.group(0)


def test_round_show_json_names_roles_and_open_roles(app, coordinator_browser, session):
    craftsmen, demand = _team_pool(session)
    electrical = session.scalar(sa.select(Skill).where(Skill.code == "automation.plc"))
    roles = [("weld", 1), ("machining.cnc_milling", 2), (electrical.code, 1)]  # nobody holds PLC
    for code, count in roles:
        demand.roles.append(DemandRole(skill=session.scalar(sa.select(Skill).where(Skill.code == code)),
                                       count=count))
    demand.team_size = 4
    session.commit()
    runner = app.test_cli_runner()
    created = runner.invoke(round_group, ["create", "--name", "脚本攻关", "--config", '{"min_score": 0}'])
    assert created.exit_code == 0, created.output
    round_id = created.output.strip().splitlines()[-1]
    assert round_id.isdigit()
    assert runner.invoke(round_group, ["solve", round_id]).exit_code == 0
    shown = runner.invoke(round_group, ["show", round_id, "--json"])
    assert shown.exit_code == 0, shown.output
    report = json.loads(shown.output)
    assert report["round"] == int(round_id) and report["status"] == "solved"
    team = [p for p in report["proposals"] if p["tracking_code"] == demand.tracking_code]
    assert sorted(p["role"] for p in team) == ["数控铣", "数控铣", "焊接"]
    assert {p["craftsman_name"] for p in team if p["role"] == "数控铣"} == {"cnc_1", "cnc_2"}
    keys = {"demand_title", "tracking_code", "role", "craftsman_name", "craftsman_phone", "score", "relevant",
            "skills_matched", "distance_km", "why"}
    assert all(keys <= set(p) for p in team)
    welder = next(p for p in team if p["role"] == "焊接")
    assert welder["relevant"] is True and welder["skills_matched"] == ["焊接"] and "焊接" in welder["why"]
    assert [gap for gap in report["unfilled"] if gap["demand_title"] == demand.title] == [
        {"demand_title": demand.title, "role": "PLC", "missing": 1, "reason": gap["reason"]}
        for gap in report["unfilled"] if gap["demand_title"] == demand.title]
    assert any(gap["role"] == "PLC" for gap in report["unfilled"])

    # once published, the enterprise sees who fills which role (never a phone)
    assert runner.invoke(round_group, ["publish", round_id]).exit_code == 0
    status = coordinator_browser.client.post("/api/v1/demands/status", json={
        "tracking_code": demand.tracking_code, "last4": demand.contact_phone[-4:]}).get_json()
    assert sorted((person["name"], person["role"]) for person in status["craftsmen"]) == [
        ("cnc_1", "machining.cnc_milling"), ("cnc_2", "machining.cnc_milling"), ("welder", "weld")]
    assert "phone" not in json.dumps(status)
    # the coordinator's engagement page names each member's role too
    engagement_id = session.scalar(sa.select(Engagement.id).where(Engagement.demand_id == demand.id))
    page = coordinator_browser.text(f"/workspace/engagements/{engagement_id}?lang=en")
    members = re.search(r'<ul id="members">.*?</ul>', page, re.S).group(0)
    assert sorted(re.findall(r'data-member-role="([\w.]+)"', members)) == [
        "machining.cnc_milling", "machining.cnc_milling", "weld"]
    # and the messages name the roles: the enterprise's lists the team by role, each member's says his own
    messages = {(m.recipient_kind, m.recipient_id): m.body for m in session.scalars(
        sa.select(Notification).where(Notification.round_id == int(round_id)))}
    assert "welder（焊接·市级工匠）、cnc_1（数控铣·市级工匠）、cnc_2（数控铣·市级工匠）" in messages[
        "enterprise", demand.enterprise_id]
    assert "您在小组中的岗位：焊接\n" in messages["craftsman", craftsmen["welder"].id]
    assert "您在小组中的岗位：数控铣\n" in messages["craftsman", craftsmen["cnc_2"].id]

    for bad in (["show", "abc", "--json"], ["show", "999999", "--json"]):
        refused = runner.invoke(round_group, bad)
        assert refused.exit_code == 2, refused.output
        assert len(refused.output.strip().splitlines()) == 1 and "Traceback" not in refused.output


def _api_demand(**extra):
    return {"enterprise_name": "乐山钒钛新材料有限公司", "credit_code": valid_credit_code(),
            "region_code": "510104", "industry_code": "sc.equipment", "contact_name": "李工",
            "contact_phone": valid_mobile(), "category_code": "tech_tackling", "title": "钒钛粉末冶金零件开裂攻关",
            "description": "钒钛粉末冶金零件致密度不稳定，需要跨界攻关小组。", "consent": True, **extra}


def test_api_round_trip_of_roles(browser, session):
    roles = [{"skill": "焊接", "count": 1}, {"skill": "machining.cnc_milling", "count": 1},
             {"skill": "Electrical", "count": 1}]
    body = _api_demand(roles=roles)
    response = browser.client.post("/api/v1/demands", json=body)
    assert response.status_code == 201, response.get_json()
    receipt = response.get_json()
    assert [(r["skill"], r["count"]) for r in receipt["roles"]] == [("weld", 1), ("machining.cnc_milling", 1),
                                                                    ("electrical", 1)]
    demand = session.scalar(sa.select(Demand).where(Demand.tracking_code == receipt["tracking_code"]))
    assert demand.team_size == 3
    status = browser.client.post("/api/v1/demands/status", json={"tracking_code": receipt["tracking_code"],
                                                                 "last4": body["contact_phone"][-4:]})
    assert status.status_code == 200
    shown = status.get_json()["roles"]
    assert [(r["skill"], r["count"], r["name_zh"]) for r in shown] == [
        ("weld", 1, "焊接"), ("machining.cnc_milling", 1, "数控铣"), ("electrical", 1, "电气")]
    # what GET shows goes back in as it is
    again = browser.client.post("/api/v1/demands", json=_api_demand(
        roles=[{"skill": r["skill"], "count": r["count"]} for r in shown]))
    assert again.status_code == 201 and again.get_json()["roles"] == receipt["roles"]


@pytest.mark.parametrize(("roles", "extra", "field", "says"), [
    ([{"skill": "不存在的技能", "count": 1}], {}, "roles", "不存在的技能"),
    ([{"skill": "焊接", "count": 1}, {"skill": "weld", "count": 1}], {}, "roles", "weld"),
    ([{"skill": "焊接", "count": 0}], {}, "roles", "Role 1"),
    ([{"skill": "焊接", "count": 2}], {"team_size": 3}, "team_size", "2"),
    ("焊接:1", {}, "roles", "list"),
])
def test_api_refuses_bad_roles(browser, session, roles, extra, field, says):
    before = session.scalar(sa.select(sa.func.count()).select_from(Demand))
    response = browser.client.post("/api/v1/demands?lang=en", json=_api_demand(roles=roles, **extra))
    assert response.status_code == 422, response.get_json()
    errors = response.get_json()["errors"]
    assert field in errors and says in " ".join(errors[field]), errors
    assert session.scalar(sa.select(sa.func.count()).select_from(Demand)) == before


def test_public_form_states_roles_without_javascript(browser, session):
    page = browser.text("/demand/new")
    assert page.count("data-role-row") == 3 and 'name="roles-0-skill"' in page
    assert '<option value="机械加工">' in page  # the fields are offered by name, without JavaScript
    data = {key: value for key, value in _api_demand().items() if key != "consent"}
    data.update({"consent": "y", "roles-0-skill": "weld", "roles-0-count": "1",
                 "roles-1-skill": "electrical", "roles-1-count": "2", "roles-2-skill": "", "roles-2-count": "1"})
    response = browser.submit("/demand/new", {**data, "roles-1-count": "0"})
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    fieldset = re.search(r'<fieldset class="team-roles has-error".*?</fieldset>', text, re.S)
    assert fieldset and 'role="alert"' in fieldset.group(0) and ("Role 2" in fieldset.group(0) or "角色" in
                                                                 fieldset.group(0) or "第" in fieldset.group(0))
    assert re.search(r'<input[^>]*name="roles-1-skill"[^>]*value="electrical"', text)  # what was typed stays
    response = browser.submit("/demand/new", data)
    assert response.status_code == 303, response.get_data(as_text=True)[:3000]
    demand = session.scalar(sa.select(Demand).order_by(Demand.id.desc()))
    assert [(role.skill.code, role.count) for role in demand.roles] == [("weld", 1), ("electrical", 2)]
    assert demand.team_size == 3


def test_the_public_form_reports_every_mistake_at_once(browser, session):
    """A missing title, a province where the city is asked, an unknown industry and a team role's unknown skill:
    the form named only the missing title, then, once it was fixed, the province, and so on, one send each."""
    data = {key: value for key, value in _api_demand().items() if key != "consent"}
    data.update({"consent": "y", "title": "", "region_code": "510000", "industry_code": "no.such.industry",
                 "roles-0-skill": "不存在的技能", "roles-0-count": "1", "team_size": "1"})
    before = session.scalar(sa.select(sa.func.count()).select_from(Demand))
    response = browser.submit("/demand/new?lang=en", data, form_url="/demand/new")
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert "not only the province" in text and "不存在的技能" in text and "no.such.industry" in text
    assert re.search(r'<fieldset class="team-roles has-error"', text)
    api = browser.client.post("/api/v1/demands?lang=en", json=_api_demand(
        title="", region_code="510000", roles=[{"skill": "不存在的技能", "count": 1}]))
    assert api.status_code == 422 and {"title", "region_code", "roles"} <= set(api.get_json()["errors"])
    assert session.scalar(sa.select(sa.func.count()).select_from(Demand)) == before


@pytest.mark.parametrize(("text", "roles"), [
    ("焊接:1、数控铣:1", [("焊接", 1), ("数控铣", 1)]),
    ("焊接：1；数控铣：2", [("焊接", 1), ("数控铣", 2)]),
    ("welding:1, cnc:1", [("welding", 1), ("cnc", 1)]),
    ("焊接:1，数控铣:1\n电气控制×1", [("焊接", 1), ("数控铣", 1), ("电气控制", 1)]),
    ("焊接、电气", [("焊接", 1), ("电气", 1)]),
    ("", []),
    ("  、 ", []),
])
def test_parse_roles_text(text, roles):
    assert [(role["skill"], role["count"]) for role in parse_roles_text(text)] == roles


@pytest.mark.parametrize(("text", "says"), [
    ("焊接:0", "Role 1: the count must be a whole number from 1 to 10."),
    ("焊接:1、数控铣:x", "Role 2: the count must be a whole number from 1 to 10."),
    ("焊接:1、:2", "Role 2 (“:2”): write a skill and a count"),
    ("焊接:1、焊接:2", "Role 2: 焊接 is listed twice"),
    ("焊接:6、数控铣:5", "The roles add up to 11 craftsmen"),
])
def test_parse_roles_text_errors(service_app, text, says):
    with service_app.test_request_context("/?lang=en"):
        with pytest.raises(ValidationError) as error:
            parse_roles_text(text)
        assert any(says in str(message) for message in error.value.messages), error.value.messages
    with service_app.test_request_context("/"), pytest.raises(ValidationError) as error:  # Chinese by default
        parse_roles_text(text)


def test_a_named_craftsman_is_locked_onto_one_role_and_fills_it(coordinator_browser, session):
    """A welder who also mills: left to the solver he welds; locked onto the CNC role he mills, and a craftsman
    without the speciality is refused with the rule in words."""
    people = {"all_round": {"weld.argon_arc": 5, "machining.cnc_milling": 3}, "cnc": {"machining.cnc_milling": 5},
              "welder": {"weld.argon_arc": 2}, "electrician": {"electrical.electrician": 4},
              "fitter": {"maint.mechatronic": 5}}
    craftsmen = {key: make_craftsman(session, skills=skills, region_code="510100", round_capacity=1, name=key)
                 for key, skills in people.items()}
    demand = make_demand(session, skills={"weld": 2}, region_code="510100", title="焊铣电联合攻关小组")
    session.commit()
    assert _edit_roles(coordinator_browser, demand, [(code, "1") for code in TEAM]).status_code == 303
    response = coordinator_browser.submit("/workspace/rounds/new", {"name": "分工锁定轮次", "min_score": "0"})
    url = response.headers["Location"]
    rnd = session.scalar(sa.select(MatchingRound).order_by(MatchingRound.id.desc()))
    _solve(coordinator_browser, url)
    assert _team(session, rnd.id, demand.id)["weld"] == [craftsmen["all_round"].id]

    place = f"{url}/demands/{demand.id}/place"
    page = coordinator_browser.text(f"{place}?q=all_round")
    assert 'name="role"' in page and 'value="machining.cnc_milling"' in page
    refused = coordinator_browser.submit(place, {"version": _version(page), "craftsman_id": craftsmen["fitter"].id,
                                                 "role": "machining.cnc_milling"}, form_url=f"{place}?q=fitter")
    assert refused.status_code == 302
    assert "数控铣" in coordinator_browser.text(refused.headers["Location"])  # the speciality he lacks, named
    session.expire_all()
    assert not session.scalar(sa.select(Proposal.locked).where(Proposal.round_id == rnd.id,
                                                               Proposal.craftsman_id == craftsmen["fitter"].id))

    locked = coordinator_browser.submit(place, {"version": _version(page), "craftsman_id": craftsmen["all_round"].id,
                                                "role": "machining.cnc_milling"}, form_url=f"{place}?q=all_round")
    assert locked.status_code == 302
    _solve(coordinator_browser, url)
    team = _team(session, rnd.id, demand.id)
    assert team["machining.cnc_milling"] == [craftsmen["all_round"].id]
    assert team["weld"] == [craftsmen["welder"].id]

    # moved onto the welding role after that solve (unlocked, then locked again): the published team would not be
    # what was locked, so publishing waits for a re-solve, which puts him there
    cleared = coordinator_browser.submit(f"{url}/pair", {"version": _version(coordinator_browser.text(url)),
                                                         "craftsman_id": craftsmen["all_round"].id,
                                                         "demand_id": demand.id, "mode": "clear"}, form_url=url)
    assert cleared.status_code == 302
    page = coordinator_browser.text(f"{place}?q=all_round")
    moved = coordinator_browser.submit(place, {"version": _version(page), "craftsman_id": craftsmen["all_round"].id,
                                               "role": "weld"}, form_url=f"{place}?q=all_round")
    assert moved.status_code == 302
    page = coordinator_browser.text(url)
    refused = coordinator_browser.submit(f"{url}/publish", {"version": _version(page)}, form_url=url)
    assert "重新求解" in coordinator_browser.text(refused.headers["Location"])
    session.expire_all()
    assert session.get(MatchingRound, rnd.id).status == "solved"
    _solve(coordinator_browser, url)
    assert _team(session, rnd.id, demand.id)["weld"] == [craftsmen["all_round"].id]
    assert not rounds.pending_changes(session, session.get(MatchingRound, rnd.id))


def _alternates(session, rnd_id, demand_id):
    """{craftsman id: (role skill code or None, rank)} of the demand's alternates."""
    session.expire_all()
    return {craftsman_id: (code, rank) for code, craftsman_id, rank in session.execute(
        sa.select(Skill.code, Proposal.craftsman_id, Proposal.alternate_rank)
        .join(Skill, Skill.id == Proposal.role_skill_id, isouter=True)
        .where(Proposal.round_id == rnd_id, Proposal.demand_id == demand_id, Proposal.alternate_rank.is_not(None),
               Proposal.assigned.is_(False)))}


def test_a_teams_alternates_stand_by_role_by_role_and_a_locked_one_takes_his_role(coordinator_browser, session):
    """The review offers a team's alternates per role (someone who holds no role's speciality is no alternate),
    says which role each stands by for, and locking one puts him in that role."""
    craftsmen, demand = _team_pool(session)
    session.commit()
    assert _edit_roles(coordinator_browser, demand, [("weld", "1"), ("machining.cnc_milling", "1"),
                                                     ("electrical", "1")]).status_code == 303
    response = coordinator_browser.submit("/workspace/rounds/new", {"name": "替补轮次", "min_score": "0"})
    url = response.headers["Location"]
    rnd = session.scalar(sa.select(MatchingRound).order_by(MatchingRound.id.desc()))
    page = _solve(coordinator_browser, url)
    team = _team(session, rnd.id, demand.id)
    other_cnc = ({craftsmen["cnc_1"].id, craftsmen["cnc_2"].id} - set(team["machining.cnc_milling"])).pop()
    other_electrician = ({craftsmen["electrician_1"].id, craftsmen["electrician_2"].id} - set(team["electrical"])).pop()
    assert _alternates(session, rnd.id, demand.id) == {other_cnc: ("machining.cnc_milling", 1),
                                                        other_electrician: ("electrical", 1)}
    cell = re.search(rf'<tr data-demand="{demand.id}">.*?</tr>', page, re.S).group(0).split("</td>")[-2]
    assert re.findall(r'data-alternate-for="([^"]+)"', cell) == ["machining.cnc_milling", "electrical"]
    assert "fitter" not in cell
    assert cell.count("可承担角色：") == 2  # his why says which role he would fill
    exported = coordinator_browser.get(f"{url}/export?format=csv").get_data(as_text=True).lstrip("\ufeff")
    labels = [row[3] for row in csv.reader(io.StringIO(exported)) if row and row[0] == demand.tracking_code]
    assert labels == ["推荐（焊接）", "推荐（数控铣）", "推荐（电气）", "备选 1（数控铣）", "备选 1（电气）"]

    coordinator_browser.submit(f"{url}/pair", {"version": _version(page), "mode": "lock",
                                               "craftsman_id": other_electrician, "demand_id": demand.id},
                               form_url=url)
    session.expire_all()
    locked = session.scalar(sa.select(Proposal).where(Proposal.round_id == rnd.id,
                                                      Proposal.craftsman_id == other_electrician))
    electrical = session.scalar(sa.select(Skill.id).where(Skill.code == "electrical"))
    assert locked.locked and locked.locked_role_skill_id == electrical
    _solve(coordinator_browser, url)
    assert _team(session, rnd.id, demand.id)["electrical"] == [other_electrician]


def _team_round_with_alternates(coordinator_browser, session, roles):
    craftsmen, demand = _team_pool(session)
    session.commit()
    assert _edit_roles(coordinator_browser, demand, [(code, "1") for code in roles]).status_code == 303
    url = coordinator_browser.submit("/workspace/rounds/new", {"name": "替补轮次", "min_score": "0"}).headers["Location"]
    rnd = session.scalar(sa.select(MatchingRound).order_by(MatchingRound.id.desc()))
    page = _solve(coordinator_browser, url)
    return craftsmen, demand, rnd, url, page


def _proposal(session, rnd_id, craftsman_id, demand_id):
    session.expire_all()
    return session.scalar(sa.select(Proposal).where(Proposal.round_id == rnd_id, Proposal.craftsman_id == craftsman_id,
                                                    Proposal.demand_id == demand_id))


def test_a_team_alternate_placed_for_any_role_keeps_any_role(coordinator_browser, session):
    """Only the review's Lock on an alternate takes his role: the place page's "the solver chooses" stays that."""
    _, demand, rnd, url, _ = _team_round_with_alternates(coordinator_browser, session,
                                                         ["weld", "electrical", "machining.cnc_milling"])
    alternates = _alternates(session, rnd.id, demand.id)
    electrician = next(c for c, (code, _) in alternates.items() if code == "electrical")
    place = f"{url}/demands/{demand.id}/place"
    page = coordinator_browser.text(f"{place}?q=electrician")
    assert coordinator_browser.submit(place, {"version": _version(page), "craftsman_id": electrician, "role": ""},
                                      form_url=f"{place}?q=electrician").status_code == 302
    locked = _proposal(session, rnd.id, electrician, demand.id)
    assert locked.locked and locked.locked_role_skill_id is None


def test_a_role_lock_on_a_role_the_demand_dropped_is_released_and_the_round_publishes(coordinator_browser, session):
    """The team became a plain demand after its electrician alternate was locked onto the electrical role: the
    re-solve releases that role (on the record), keeps him on the demand, and publishing does not wait for it."""
    _, demand, rnd, url, page = _team_round_with_alternates(coordinator_browser, session,
                                                            ["weld", "electrical", "machining.cnc_milling"])
    cell = re.search(rf'<tr data-demand="{demand.id}">.*?</tr>', page, re.S).group(0).split("</td>")[-2]
    # role by role in the demand's order, whatever the craftsmen's ids
    assert re.findall(r'data-alternate-for="([^"]+)"', cell) == ["electrical", "machining.cnc_milling"]
    electrician = next(c for c, (code, _) in _alternates(session, rnd.id, demand.id).items() if code == "electrical")
    coordinator_browser.submit(f"{url}/pair", {"version": _version(page), "mode": "lock", "craftsman_id": electrician,
                                               "demand_id": demand.id}, form_url=url)
    assert _proposal(session, rnd.id, electrician, demand.id).locked_role_skill_id is not None
    assert 'data-locked-role="electrical"' in coordinator_browser.text(url)  # locked, to be placed in that role
    assert _edit_roles(coordinator_browser, demand, [], team_size="3").status_code == 303
    page = _solve(coordinator_browser, url)
    session.expire_all()
    assert session.get(MatchingRound, rnd.id).status == "solved"
    locked = _proposal(session, rnd.id, electrician, demand.id)
    assert locked.locked and locked.assigned and locked.locked_role_skill_id is None
    assert session.scalar(sa.select(sa.func.count()).select_from(AuditLog).where(
        AuditLog.action == "round.release_role_locks")) == 1
    assert not rounds.pending_changes(session, session.get(MatchingRound, rnd.id))
    response = coordinator_browser.submit(f"{url}/publish", {"version": _version(page)}, form_url=url)
    assert response.status_code == 302
    session.expire_all()
    assert session.get(MatchingRound, rnd.id).status == "published"


def test_a_failed_team_solve_shows_why_on_the_round_page(coordinator_browser, session):
    """Two craftsmen locked onto the one electrical role: the solve fails, and the page says so (no error page)."""
    craftsmen, demand, rnd, url, page = _team_round_with_alternates(coordinator_browser, session,
                                                                     ["weld", "electrical", "machining.cnc_milling"])
    electrical = session.scalar(sa.select(Skill.id).where(Skill.code == "electrical"))
    session.expire_all()
    for key in ("electrician_1", "electrician_2"):
        rounds.set_pair(session, session.get(MatchingRound, rnd.id), craftsmen[key].id, demand.id, "lock",
                        actor="test", now=rnd.created_at, role_skill_id=electrical)
    session.commit()
    response = coordinator_browser.submit(f"{url}/solve", {"version": _version(coordinator_browser.text(url))},
                                          form_url=url)
    assert response.status_code == 302
    session.expire_all()
    assert session.get(MatchingRound, rnd.id).status == "failed"
    response = coordinator_browser.get(url)
    assert response.status_code == 200
    assert "flash-error" in response.get_data(as_text=True)


def test_a_lock_whose_craftsman_lost_the_speciality_is_released(coordinator_browser, session):
    """The electrician alternate locked onto the electrical role no longer holds any role's speciality when the
    round reads its pools again (the demand was edited): the re-solve does not fail on that lock; it releases it,
    on the record, and solves without him."""
    craftsmen, demand, rnd, url, page = _team_round_with_alternates(coordinator_browser, session,
                                                                     ["weld", "electrical", "machining.cnc_milling"])
    electrician = next(c for c, (code, _) in _alternates(session, rnd.id, demand.id).items() if code == "electrical")
    coordinator_browser.submit(f"{url}/pair", {"version": _version(page), "mode": "lock", "craftsman_id": electrician,
                                               "demand_id": demand.id}, form_url=url)
    session.execute(sa.delete(CraftsmanSkill).where(CraftsmanSkill.craftsman_id == electrician))
    session.execute(sa.insert(CraftsmanSkill).values(
        craftsman_id=electrician, proficiency=3,
        skill_id=sa.select(Skill.id).where(Skill.code == "maint.mechatronic").scalar_subquery()))
    session.commit()
    assert _edit_roles(coordinator_browser, demand, [("weld", "1"), ("electrical", "1"), ("machining.cnc_milling", "2")],
                       ).status_code == 303
    _solve(coordinator_browser, url)
    session.expire_all()
    assert session.get(MatchingRound, rnd.id).status == "solved", session.get(MatchingRound, rnd.id).solver_message
    released = _proposal(session, rnd.id, electrician, demand.id)  # an alternate again, or no row at all
    assert released is None or not (released.locked or released.assigned)
    assert sorted(_team(session, rnd.id, demand.id)) == sorted(TEAM)
    assert session.scalar(sa.select(sa.func.count()).select_from(AuditLog).where(
        AuditLog.action == "round.release_role_locks")) == 1
