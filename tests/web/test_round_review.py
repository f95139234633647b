"""The round review as a coordinator uses it: put a named craftsman on a demand (or be told which rule stands in
the way), find and change the capacity of any craftsman of a large round, and watch a queued solve without
clicking twice."""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from tests.browser import Browser
from tests.conftest import NOW, TEST_PASSWORD, make_test_app
from tests.factories import make_craftsman, make_demand, make_engagement
from tests.web.conftest import needs_redis
from web import migrate
from web.db import make_engine
from web.models import AuditLog, Demand, MatchingRound, Proposal, RoundCraftsman
from web.services import eligibility, jobs, placing, rounds, seeding
from web.services.errors import ServiceError
from web.services.users import create_user

WELD = {"weld": 4}


def _version(page: str) -> str:
    return re.search(r'name="version" value="(\d+)"', page).group(1)


def _round(browser: Browser, **filters) -> str:
    """A round created through the form (craftsmen of 成都 only unless told), solved; returns its URL."""
    data = {"name": "复核轮次", "min_score": "0.1", "load_penalty": "0.05", "craftsman_region": "510100",
            **{f"weight_{k}": v for k, v in {"skill": "0.35", "industry": "0.15", "text": "0.1", "distance": "0.15",
                                             "honour": "0.1", "availability": "0.1", "continuity": "0.05"}.items()}}
    data.update(filters)
    response = browser.submit("/workspace/rounds/new", data)
    assert response.status_code == 302, response.get_data(as_text=True)[:1000]
    url = response.headers["Location"]
    assert browser.submit(f"{url}/solve", {"version": _version(browser.text(url))}, form_url=url).status_code == 302
    return url


def _place_url(url: str, demand_id: int) -> str:
    return f"{url}/demands/{demand_id}/place"


def _lock(browser: Browser, url: str, demand_id: int, craftsman_id: int):
    """Press "Lock" for the craftsman (the page shows no button for an ineligible one: a hand-made request)."""
    place = _place_url(url, demand_id)
    return browser.submit(place, {"craftsman_id": craftsman_id, "version": _version(browser.text(url))},
                          form_url=place)


def _flash(browser: Browser, url: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", browser.text(url)))


# ---------------------------------------------------------------- put a named craftsman on a demand
def test_a_craftsman_found_in_the_pool_is_locked_on_and_the_next_solve_keeps_him_there(coordinator_browser,
                                                                                     session):
    for _ in range(3):
        make_craftsman(session, skills=WELD, region_code="510100")
    demand = make_demand(session, skills={"weld": 2}, region_code="510100", title="压力容器焊缝返修")
    make_demand(session, skills={"weld": 2}, region_code="510100")
    # the round's filters leave him out (德阳), and he knows electrical control, not welding
    electrician = make_craftsman(session, name="电气控制王师傅", skills={"electrical": 5}, region_code="510600")
    session.commit()
    url = _round(coordinator_browser)
    review = coordinator_browser.text(url)
    assert _place_url(url, demand.id) in review  # every demand offers the search
    found = coordinator_browser.text(_place_url(url, demand.id) + "?q=王师傅&skill=electrical&region=510600")
    assert f'data-craftsman="{electrician.id}"' in found and found.count('data-craftsman="') == 1
    assert "data-rule" not in found  # eligible: a lock button, no reason

    response = _lock(coordinator_browser, url, demand.id, electrician.id)
    assert response.status_code == 302 and response.headers["Location"].endswith(url)
    session.expire_all()
    rnd = session.scalar(sa.select(MatchingRound).order_by(MatchingRound.id.desc()))
    assert session.scalar(sa.select(RoundCraftsman.capacity).where(
        RoundCraftsman.round_id == rnd.id, RoundCraftsman.craftsman_id == electrician.id)) == 2  # taken in
    page = coordinator_browser.text(url)
    coordinator_browser.submit(f"{url}/solve", {"version": _version(page)}, form_url=url)
    session.expire_all()
    pair = session.scalar(sa.select(Proposal).where(Proposal.round_id == rnd.id, Proposal.demand_id == demand.id,
                                                    Proposal.craftsman_id == electrician.id))
    assert pair.locked and pair.assigned
    row = re.search(rf'<tr data-demand="{demand.id}">.*?</tr>', coordinator_browser.text(url), re.S).group(0)
    assert "电气控制王师傅" in row.split("<td>")[2]  # in the "proposed" column of his demand
    actions = set(session.scalars(sa.select(AuditLog.action).where(AuditLog.entity_id == rnd.id)))
    assert {"round.add_craftsman", "round.lock"} <= actions


def _paused(session, demand):
    return make_craftsman(session, name="暂停的工匠", skills=WELD, status="paused",
                          paused_until=dt.date(2099, 1, 1)), "paused", "paused until 2099-01-01"


def _conflict(session, demand):
    return make_craftsman(session, name="本企业员工", skills=WELD, employer_enterprise_id=demand.enterprise_id), \
        "conflict_of_interest", "conflict of interest"


def _too_far(session, demand):
    return make_craftsman(session, name="远方工匠", skills=WELD, region_code="500103", can_remote=False,
                          travel_radius_km=50), "outside_radius", "outside his service radius of 50 km"


def _no_capacity(session, demand):
    return make_craftsman(session, name="满负荷工匠", skills=WELD, round_capacity=0), "no_capacity", \
        "no capacity left in this round"


def _closed(session, demand):
    demand.status = "withdrawn"
    return make_craftsman(session, name="合格工匠", skills=WELD), "demand_closed", "the demand is no longer open"


@pytest.mark.parametrize("case", [_paused, _conflict, _too_far, _no_capacity, _closed])
def test_an_ineligible_craftsman_is_refused_with_the_rule_in_words_and_nothing_changes(coordinator_browser, session,
                                                                                        case):
    make_craftsman(session, skills=WELD, region_code="510100")
    demand = make_demand(session, skills={"weld": 2}, region_code="510100")
    session.commit()
    url = _round(coordinator_browser)
    craftsman, rule, words = case(session, session.get(Demand, demand.id))
    session.commit()
    rnd = session.scalar(sa.select(MatchingRound).order_by(MatchingRound.id.desc()))
    before = (rnd.version, session.scalar(sa.select(sa.func.count()).select_from(AuditLog)))
    found = coordinator_browser.text(_place_url(url, demand.id) + f"?q={craftsman.name}&lang=en")
    assert f'data-craftsman="{craftsman.id}" data-rule="{rule}"' in found and words in html.unescape(found)

    response = _lock(coordinator_browser, url, demand.id, craftsman.id)
    assert response.status_code == 302 and "/place" in response.headers["Location"]
    told = _flash(coordinator_browser, response.headers["Location"])
    assert f"{craftsman.name} cannot be locked onto this demand: " in told and words in told
    session.expire_all()
    rnd = session.get(MatchingRound, rnd.id)
    assert (rnd.version, session.scalar(sa.select(sa.func.count()).select_from(AuditLog))) == before
    assert session.scalar(sa.select(sa.func.count()).select_from(Proposal).where(
        Proposal.round_id == rnd.id, Proposal.craftsman_id == craftsman.id)) == 0
    assert session.scalar(sa.select(sa.func.count()).select_from(RoundCraftsman).where(
        RoundCraftsman.round_id == rnd.id, RoundCraftsman.craftsman_id == craftsman.id)) == 0


def test_a_second_lock_and_a_role_are_refused(session, make_user):
    from web.models import User

    actor = session.get(User, make_user())
    craftsman = make_craftsman(session, skills=WELD)
    demand = make_demand(session, skills={"weld": 2})
    rnd = rounds.create_round(session, name="角色轮次", actor=actor, now=NOW)
    placing.place_craftsman(session, rnd, demand.id, craftsman.id, actor=actor, now=NOW)
    with pytest.raises(ServiceError) as again:
        placing.place_craftsman(session, rnd, demand.id, craftsman.id, actor=actor, now=NOW)
    assert again.value.code == "lock_refused.already_locked"
    with pytest.raises(ServiceError) as role:
        placing.place_craftsman(session, rnd, demand.id, craftsman.id, role="weld", actor=actor, now=NOW)
    assert role.value.field == "role"


def test_the_round_s_own_rules_are_named_too(session, make_user):
    from web.models import User

    actor = session.get(User, make_user())
    first, second, excluded, declined = (make_craftsman(session, skills=WELD) for _ in range(4))
    demand = make_demand(session, skills={"weld": 2})  # a team of one
    gone = make_engagement(session, demand, [declined], status="cancelled", cancel_reason="工匠婉拒")
    gone.members[0].status = "declined"
    electrician = make_craftsman(session, skills={"electrical": 5})
    rnd = rounds.create_round(session, name="规则轮次", actor=actor, now=NOW, config={"relevance": "only"})
    rounds.set_pair(session, rnd, excluded.id, demand.id, "exclude", actor=actor, now=NOW)
    placing.place_craftsman(session, rnd, demand.id, first.id, actor=actor, now=NOW)
    found = placing.obstacles(session, rnd, demand.id, [c.id for c in (first, second, excluded, declined)],
                              today=NOW.date())
    assert {craftsman_id: obstacle.rule for craftsman_id, obstacle in found.items()} == {
        first.id: "already_locked", second.id: "team_full", excluded.id: "excluded", declined.id: "declined"}
    rounds.set_pair(session, rnd, first.id, demand.id, "clear", actor=actor, now=NOW)
    found = placing.obstacles(session, rnd, demand.id, [electrician.id, second.id], today=NOW.date())
    assert found[second.id] is None and found[electrician.id].rule == "no_required_skill"  # a "relevant only" round


# ---------------------------------------------------------------- the load table of a large round
def test_every_craftsman_of_a_large_round_can_be_found_and_given_a_capacity(coordinator_browser, session):
    for _ in range(204):
        make_craftsman(session, skills=WELD, industries=["sc.equipment"], region_code="510100")
    last = make_craftsman(session, name="第二百零五位工匠", skills=WELD, industries=["sc.equipment"],
                          region_code="510100")
    make_demand(session, skills={"weld": 2}, region_code="510100")
    session.commit()
    response = coordinator_browser.submit("/workspace/rounds/new", {
        "name": "大轮次", "min_score": "0.1", "load_penalty": "0.05", "craftsman_region": "510100",
        **{f"weight_{k}": "0.1" for k in ("skill", "industry", "text", "distance", "honour", "availability",
                                          "continuity")}})
    url = response.headers["Location"]
    first = coordinator_browser.text(f"{url}?lang=en")
    assert "205 craftsmen in this round; 50 shown on this page." in first
    assert 'rel="next"' in first and "lpage=2" in first

    def listed(page: str) -> set[str]:
        table = re.search(r'<table class="data" id="loads">.*?</table>', page, re.S).group(0)
        return set(re.findall(r'data-craftsman="(\d+)"', table))

    second = coordinator_browser.text(f"{url}?lpage=2")
    assert len(listed(second)) == 50 and not listed(second) & listed(first)
    assert f'data-craftsman="{last.id}"' in coordinator_browser.text(f"{url}?lpage=5")

    found = coordinator_browser.text(f"{url}?lq=二百零五")
    assert listed(found) == {str(last.id)}
    response = coordinator_browser.submit(f"{url}/capacity?lq=二百零五", {
        "craftsman_id": last.id, "capacity": "4", "version": _version(found)}, form_url=f"{url}?lq=二百零五")
    assert response.status_code == 302 and "lq=" in response.headers["Location"]
    session.expire_all()
    assert session.scalar(sa.select(RoundCraftsman.capacity).where(RoundCraftsman.craftsman_id == last.id)) == 4


# ---------------------------------------------------------------- a repair re-solve reads the pools once
def test_a_repair_re_solve_reads_the_pool_changes_once(session, make_user, monkeypatch):
    from web.models import User

    actor = session.get(User, make_user())
    people = [make_craftsman(session, skills=WELD) for _ in range(3)]
    for _ in range(2):
        make_demand(session, skills={"weld": 2})
    rnd = rounds.create_round(session, name="修复轮次", actor=actor, now=NOW)
    rounds.solve_round(session, rnd, actor=actor, now=NOW)
    assigned = session.scalar(sa.select(Proposal.craftsman_id).where(Proposal.round_id == rnd.id, Proposal.assigned))
    paused = next(c for c in people if c.id == assigned)
    paused.status, paused.paused_until = "paused", dt.date(2099, 1, 1)
    session.flush()
    calls: dict[str, int] = {}
    for name in ("inactive_craftsmen", "booked_elsewhere", "closed_demands", "demand_fingerprints"):
        real = getattr(eligibility, name)

        def counted(*args, _real=real, _name=name, **kwargs):
            calls[_name] = calls.get(_name, 0) + 1
            return _real(*args, **kwargs)

        monkeypatch.setattr(eligibility, name, counted)
    rounds.solve_round(session, rnd, actor=actor, now=NOW, keep_unaffected=True)
    assert calls == {"inactive_craftsmen": 1, "booked_elsewhere": 1, "closed_demands": 1, "demand_fingerprints": 1}
    assert not session.scalar(sa.select(Proposal.assigned).where(Proposal.round_id == rnd.id,
                                                                 Proposal.craftsman_id == paused.id,
                                                                 Proposal.assigned))


# ---------------------------------------------------------------- a queued solve
@needs_redis
def test_while_solving_the_button_is_disabled_and_the_page_refreshes_without_javascript(tmp_path, redis_url,
                                                                                         monkeypatch):
    from rq import SimpleWorker
    from rq.job import Job

    database_url = f"sqlite:///{tmp_path / 'queued.sqlite'}"
    migrate.upgrade(database_url)
    engine = make_engine(database_url)
    with Session(bind=engine) as db_session:
        seeding.load_reference(db_session)
        for _ in range(3):
            make_craftsman(db_session, skills=WELD, region_code="510100")
        make_demand(db_session, skills={"weld": 2}, region_code="510100")
        user = create_user(db_session, username="queue", password=TEST_PASSWORD, role="coordinator", actor="test",
                           now=NOW)
        round_id = rounds.create_round(db_session, name="排队轮次", actor=user, now=NOW).id
        db_session.commit()
    app = make_test_app(database_url, REDIS_URL=redis_url)
    browser = Browser(app.test_client())
    assert browser.login("queue", TEST_PASSWORD).status_code == 302
    url = f"/workspace/rounds/{round_id}"
    version = _version(browser.text(url))
    assert browser.submit(f"{url}/solve", {"version": version}, form_url=url).status_code == 302

    fetches = []
    real_fetch = Job.fetch.__func__
    monkeypatch.setattr(Job, "fetch", classmethod(lambda cls, *a, **k: fetches.append(a) or real_fetch(cls, *a, **k)))
    page = browser.text(f"{url}?lang=en")
    assert len(fetches) == 1  # one look at Redis per page load…
    assert browser.get(f"{url}/status.json").get_json()["job"] == "queued" and len(fetches) == 2  # …and per poll
    assert re.search(r'<button[^>]*id="solve-busy"[^>]*disabled', page)
    assert f'action="{url}/solve' not in page  # no live solve form
    assert re.search(r'<noscript><meta http-equiv="refresh" content="\d+"></noscript>', page)
    assert f'<a href="{url}" id="reload">' in page and "js/round-progress.js" in page
    assert "Queued since " in page
    status = browser.get(f"{url}/status.json?lang=en").get_json()
    assert status["label"] == "Queued" and status["progress"].startswith("Queued since "), status
    again = browser.submit(f"{url}/solve", {"version": version}, form_url=url, follow_redirects=True)
    assert "being solved already" in again.get_data(as_text=True)
    assert jobs.queue(redis_url).count == 1  # the second click queued nothing

    with Session(bind=engine) as db_session:  # a worker has taken it
        db_session.get(MatchingRound, round_id).status = "solving"
        db_session.commit()
    assert "Solving since " in browser.text(f"{url}?lang=en")
    status = browser.get(f"{url}/status.json?lang=en").get_json()  # what the page's script shows in place
    assert status["label"] == "Solving" and status["progress"].startswith("Solving since "), status
    with Session(bind=engine) as db_session:
        db_session.get(MatchingRound, round_id).status = "queued"
        db_session.commit()
    queue = jobs.queue(redis_url)
    assert SimpleWorker([queue], connection=queue.connection).work(burst=True)
    page = browser.text(url)
    assert 'id="solve-busy"' not in page and "http-equiv" not in page and 'id="progress"' not in page
    engine.dispose()
    queue.connection.close()
