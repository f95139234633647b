"""The coordinator's lists send a fixed number of SQL statements, however many rows they show (no query per row),
and their counts read no table they do not need (benchmarks/bench_pages.py measures them at 100,000 engagements)."""

from __future__ import annotations

import datetime as dt
import re

from tests.conftest import NOW
from tests.factories import make_craftsman, make_demand, make_engagement
from tests.web.test_intake_speed import _statements
from web.models import Agreement, FollowUp, MatchingRound


def _page_statements(browser, connection, url: str) -> int:
    return len(_statements(connection, lambda: browser.text(url)))


def _agreement(session) -> Agreement:
    """An agreement of its own enterprise and craftsman (each a row the list names)."""
    demand = make_demand(session, status="in_service")
    engagement = make_engagement(session, demand, [make_craftsman(session)], status="in_service")
    agreement = Agreement(engagement_id=engagement.id, enterprise_id=demand.enterprise_id,
                          craftsman_id=engagement.members[0].craftsman_id, union_name="成都市总工会",
                          starts_on=NOW.date(), ends_on=NOW.date() + dt.timedelta(days=365), scope="焊接",
                          created_at=NOW)
    session.add(agreement)
    session.flush()
    return agreement


def test_the_agreement_list_names_every_party_without_a_query_per_row(coordinator_browser, connection, session):
    _agreement(session)
    session.commit()
    one = _page_statements(coordinator_browser, connection, "/workspace/agreements/")
    for _ in range(4):
        _agreement(session)
    session.commit()
    five = _page_statements(coordinator_browser, connection, "/workspace/agreements/")
    page = coordinator_browser.text("/workspace/agreements/")
    assert page.count("data-agreement=") == 5
    assert five == one, f"{one} statements for one agreement, {five} for five"


def test_a_published_rounds_engagements_without_a_query_per_row(coordinator_browser, connection, session):
    rnd = MatchingRound(name="已发布", status="published", config={}, filters={}, created_at=NOW, published_at=NOW)
    session.add(rnd)
    session.flush()

    def engage() -> None:
        make_engagement(session, make_demand(session, status="in_service"), [make_craftsman(session)],
                        round_id=rnd.id)
        session.commit()

    engage()
    url = f"/workspace/rounds/{rnd.id}"
    one = _page_statements(coordinator_browser, connection, url)
    for _ in range(4):
        engage()
    five = _page_statements(coordinator_browser, connection, url)
    assert coordinator_browser.text(url).count('data-status="scheduled"') == 5
    assert five == one, f"{one} statements for one engagement, {five} for five"


def test_the_overdue_follow_ups_are_counted_once_for_the_header_and_the_home_card(coordinator_browser, connection,
                                                                                  session):
    engagement = make_engagement(session, make_demand(session, status="in_service"), [make_craftsman(session)],
                                 status="in_service", started_on=dt.date(2025, 1, 1))
    session.add(FollowUp(engagement_id=engagement.id, kind="check_2w", due_on=dt.date(2025, 1, 15)))
    session.commit()
    statements = _statements(connection, lambda: coordinator_browser.text("/workspace/"))
    page = coordinator_browser.text("/workspace/")
    assert 'id="overdue-count"' in page
    assert len([s for s in statements if "FROM open_follow_up_day" in s]) == 1  # followups.overdue_count


def test_province_wide_lists_count_without_joining_what_only_a_region_needs(coordinator_browser, connection,
                                                                            session):
    make_engagement(session, make_demand(session, status="in_service"), [make_craftsman(session)],
                    status="in_service")
    session.commit()
    statements = _statements(connection, lambda: coordinator_browser.text("/workspace/engagements/?who=all"))
    counts = [s for s in statements if s.lstrip().upper().startswith("SELECT COUNT")]
    assert counts and not [s for s in counts if "JOIN demand" in s and "follow_up" not in s], counts
    statements = _statements(connection, lambda: coordinator_browser.text("/workspace/demands/"))
    [by_status] = [s for s in statements if "GROUP BY demand.status" in s]
    assert "enterprise" not in by_status
    # a text search reads the enterprise's name, and so joins it
    statements = _statements(connection, lambda: coordinator_browser.text("/workspace/demands/?q=abc"))
    [searched] = [s for s in statements if "LIKE" in s.upper()]
    assert "JOIN enterprise" in searched


def test_placing_a_demand_lists_the_pools_skills_without_a_query_per_craftsman(coordinator_browser, connection,
                                                                                session):
    from tests.factories import make_solved_weld_round

    rnd = make_solved_weld_round(session, "手工安排", craftsmen=1, demands=1)
    demand_id = rnd.demands[0].demand_id
    session.commit()
    url = f"/workspace/rounds/{rnd.id}/demands/{demand_id}/place"
    one = _page_statements(coordinator_browser, connection, url)
    for _ in range(4):
        make_craftsman(session, skills={"weld": 4, "maint": 3})
    session.commit()
    five = _page_statements(coordinator_browser, connection, url)
    assert coordinator_browser.text(url).count('name="craftsman_id"') >= 5
    assert five == one, f"{one} statements for one craftsman, {five} for five"


def test_the_flag_list_renders_its_forms_token_once_for_every_row(coordinator_browser, session, monkeypatch):
    from flask_wtf import FlaskForm

    from web.services import engagements

    for _ in range(3):
        craftsman = make_craftsman(session)
        engagement = make_engagement(session, make_demand(session, status="matched"), [craftsman])
        engagements.mark_no_show(session, engagement, craftsman.id, {"reason": "未到场"}, actor="test", now=NOW)
    session.commit()
    rendered = []
    hidden_tag = FlaskForm.hidden_tag
    monkeypatch.setattr(FlaskForm, "hidden_tag", lambda form, *a: rendered.append(1) or hidden_tag(form, *a))
    page = coordinator_browser.text("/workspace/engagements/flags")
    table = page[page.index('id="flags"'):]
    tokens = re.findall(r'name="csrf_token" type="hidden" value="([^"]+)"', table)
    assert table.count('id="flag-') == 3 and len(tokens) == 6 and len(set(tokens)) == 1  # pause and exit per row
    assert len(rendered) == 1


def test_a_text_search_of_the_inbox_reads_the_demands_once_for_its_counts_and_its_page(coordinator_browser,
                                                                                     connection, session):
    found = [make_demand(session, status=status, title=f"压力容器焊接 {i}") for i, status in
             enumerate(("submitted", "open", "open"))]
    make_demand(session, status="open", title="数控机床维修")
    session.commit()
    statements = _statements(connection, lambda: coordinator_browser.text("/workspace/demands/?q=压力容器"))
    assert len([s for s in statements if "LIKE" in s.upper()]) == 1
    page = coordinator_browser.text("/workspace/demands/?q=压力容器&status=open")
    assert [f.tracking_code in page for f in found] == [False, True, True] and "数控机床维修" not in page
    assert 'data-count-status="submitted"' in page and 'data-count-status="open"' in page


def test_a_broad_text_search_gives_the_same_inbox_by_sql(coordinator_browser, connection, session, monkeypatch):
    from web.services import demands

    for i, status in enumerate(("submitted", "open", "open", "open")):
        make_demand(session, status=status, title=f"压力容器焊接 {i}", submitted_at=NOW - dt.timedelta(days=i))
    session.commit()
    url = "/workspace/demands/?q=压力容器&status=open"
    one_pass = coordinator_browser.text(url)
    monkeypatch.setattr(demands, "SEARCH_IN_ONE_PASS", 2)  # more matches than that: the SQL counts and pages
    statements = _statements(connection, lambda: coordinator_browser.text(url))
    assert len([s for s in statements if "LIKE" in s.upper()]) == 3  # the capped pass, the counts, the page
    by_sql = coordinator_browser.text(url)
    strip = re.compile(r'(csrf_token" type="hidden" value=")[^"]+|name="csrf_token" value="[^"]+"')
    assert strip.sub("", by_sql) == strip.sub("", one_pass)
