"""Dashboard figures against a small hand-counted dataset (every number below was counted by hand)."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from openpyxl import load_workbook

from tests.conftest import NOW
from tests.factories import make_craftsman, make_demand, make_engagement, make_enterprise, region
from web.extensions import db
from web.models import Agreement, Feedback, FollowUp, Outcome, RegionTarget, VisitLog
from web.services import reports

TODAY = NOW.date()  # 2026-11-23
D = dt.date
T = dt.datetime


def _follow_up(engagement, kind, due, done=None, **figures):
    engagement.follow_ups.append(FollowUp(kind=kind, due_on=due, done_on=done, recorded_at=done and NOW, **figures))


def build_dataset(session):
    """Six demands, four engagements (one cancelled), five follow-ups, two ratings, one target."""
    e1, e2 = make_enterprise(session, region_code="510100"), make_enterprise(session, region_code="510104")
    e3 = make_enterprise(session, region_code="500112")
    c1, c2, c3 = make_craftsman(session), make_craftsman(session), make_craftsman(session)
    equipment, electronic = ["sc.equipment"], ["sc.electronic_info"]
    d1 = make_demand(session, e1, status="evaluated", submitted_at=T(2026, 1, 10), matched_at=T(2026, 1, 20),
                     completed_at=T(2026, 3, 10), region_code="510100", category_code="tech_tackling",
                     industries=equipment)
    d2 = make_demand(session, e2, status="evaluated", submitted_at=T(2026, 2, 1), matched_at=T(2026, 2, 5),
                     completed_at=T(2026, 4, 2), region_code="510104", category_code="skills_training",
                     industries=equipment)
    d3 = make_demand(session, e3, status="in_service", submitted_at=T(2026, 3, 1), matched_at=T(2026, 3, 21),
                     region_code="500112", category_code="digital", industries=electronic)
    d4 = make_demand(session, e3, status="open", submitted_at=T(2026, 4, 1), region_code="500112",
                     category_code="digital", industries=electronic)
    make_demand(session, e1, status="rejected", submitted_at=T(2026, 5, 1), region_code="510100",
                category_code="tech_tackling", industries=electronic)
    make_demand(session, e1, status="open", submitted_at=T(2025, 6, 1), region_code="510100",
                category_code="tech_tackling", industries=electronic)

    g1 = make_engagement(session, d1, [c1, c2], status="evaluated", started_on=D(2026, 1, 25),
                         completed_on=D(2026, 3, 10))
    _follow_up(g1, "check_2w", D(2026, 2, 8), D(2026, 2, 8), problems_solved=1, value_created_wan=10.5,
               workers_trained=5, apprentices=0)
    _follow_up(g1, "result", D(2026, 3, 10), D(2026, 3, 10), problems_solved=2, value_created_wan=20,
               workers_trained=10, apprentices=2)
    g2 = make_engagement(session, d2, [c1], status="evaluated", started_on=D(2026, 2, 10), completed_on=D(2026, 4, 2))
    _follow_up(g2, "result", D(2026, 4, 2), D(2026, 4, 2), problems_solved=1, value_created_wan=4.5,
               workers_trained=3, apprentices=0)
    _follow_up(g2, "review_3m", D(2026, 5, 11))                       # open and overdue
    g3 = make_engagement(session, d3, [c3, c2], status="in_service", started_on=D(2026, 3, 25))
    _follow_up(g3, "check_2w", D(2026, 4, 8))                         # open and overdue
    _follow_up(g3, "result", D(2026, 12, 31))                         # open, not yet due
    g4 = make_engagement(session, d4, [c3], status="cancelled", cancel_reason="企业停产")
    _follow_up(g4, "check_2w", D(2026, 4, 10))                        # cancelled: never overdue
    for member in g1.members + g2.members:
        member.status = "served"
    g3.members[1].status = "no_show"
    session.flush()
    session.add_all([
        Agreement(engagement_id=g1.id, enterprise_id=e1.id, craftsman_id=c1.id, union_name="成都市总工会",
                  starts_on=D(2026, 3, 10), ends_on=D(2027, 3, 9), scope="焊接师带徒", created_at=NOW),
        Agreement(engagement_id=g2.id, enterprise_id=e2.id, craftsman_id=c1.id, union_name="成都市总工会",
                  starts_on=D(2026, 4, 2), ends_on=D(2028, 4, 1), scope="焊接师带徒", created_at=NOW),
        Feedback(demand_id=d1.id, engagement_id=g1.id, rating=5, created_at=T(2026, 3, 15)),
        Feedback(demand_id=d2.id, engagement_id=g2.id, rating=3, created_at=T(2026, 4, 5)),
        VisitLog(engagement_id=g3.id, visited_on=D(2026, 4, 1), note="现场", recorded_at=NOW),
        Outcome(kind="method", title="焊缝返修工法", follow_up_id=g1.follow_ups[1].id, created_at=NOW),
        Outcome(kind="patent", title="与服务无关的专利", created_at=NOW),
        RegionTarget(region_id=region(session, "510000").id, year=2026, visits=10, enterprises=4, problems=8,
                     skill_upgrades=40),
    ])
    session.flush()


@pytest.fixture()
def dataset(session):
    build_dataset(session)
    return session


def test_headline_all_time(dataset):
    h = reports.headline(dataset, reports.Period(), TODAY)
    assert {k: h[k] for k in ("enterprises_served", "problems_solved", "workers_trained", "value_created_wan",
                              "apprentices", "agreements", "engagements_started", "craftsman_visits",
                              "visits_logged", "outcomes")} == {
        "enterprises_served": 3, "problems_solved": 4, "workers_trained": 18, "value_created_wan": 35.0,
        "apprentices": 2, "agreements": 2, "engagements_started": 3, "craftsman_visits": 4, "visits_logged": 1,
        "outcomes": 1}
    assert {k: h[k] for k in ("engagements_active", "engagements_scheduled", "engagements_completed",
                              "follow_ups_overdue")} == {
        "engagements_active": 1, "engagements_scheduled": 0, "engagements_completed": 2, "follow_ups_overdue": 2}
    assert (h["ratings"], h["rating_average"], h["satisfied_share"]) == (2, 4.0, 50.0)
    assert (h["demands"], h["demands_matchable"], h["demands_matched"], h["demands_solved"], h["match_rate"]) == \
        (6, 5, 3, 2, 60.0)
    assert (h["median_days_to_match"], h["median_days_to_completion"]) == (10.0, 59.5)


def test_period_and_province_narrow_the_figures(dataset):
    year = reports.headline(dataset, reports.Period(D(2026, 1, 1), D(2026, 12, 31)), TODAY)
    assert (year["demands"], year["match_rate"]) == (5, 75.0)
    february = reports.headline(dataset, reports.Period(D(2026, 2, 1), D(2026, 2, 28)), TODAY)
    assert (february["demands"], february["problems_solved"], february["value_created_wan"],
            february["enterprises_served"], february["ratings"]) == (1, 1, 10.5, 1, 0)
    chongqing = reports.headline(dataset, reports.Period(province="50"), TODAY)
    assert (chongqing["demands"], chongqing["match_rate"], chongqing["enterprises_served"],
            chongqing["problems_solved"], chongqing["follow_ups_overdue"], chongqing["engagements_active"]) == \
        (2, 50.0, 1, 0, 1, 1)
    assert chongqing["median_days_to_match"] == 20.0 and chongqing["median_days_to_completion"] is None


def test_breakdowns(dataset):
    period = reports.Period()
    assert reports.demands_by_status(dataset, period) == [("open", 2), ("in_service", 1), ("evaluated", 2),
                                                          ("rejected", 1)]
    assert [(c["code"], c["demands"], c["matched"]) for c in reports.demands_by_category(dataset, period)] == [
        ("tech_tackling", 3, 1), ("digital", 2, 1), ("skills_training", 1, 1)]
    regions = {r["name"]: r for r in reports.by_region(dataset, period)}
    assert set(regions) == {"成都市", "渝北区"}  # 锦江区 rolls up into 成都市
    chengdu = regions["成都市"]
    assert (chengdu["demands"], chengdu["matched"], chengdu["enterprises"], chengdu["visits"], chengdu["problems"],
            chengdu["value_wan"], chengdu["trained"], chengdu["skill_upgrades"]) == (4, 2, 2, 3, 4, 35.0, 18, 20)
    assert (regions["渝北区"]["demands"], regions["渝北区"]["visits"]) == (2, 1)
    industries = {r["name_zh"]: r for r in reports.by_industry(dataset, period)}
    assert (industries["装备制造"]["demands"], industries["装备制造"]["matched"], industries["装备制造"]["value_wan"],
            industries["装备制造"]["trained"]) == (2, 2, 35.0, 18)
    assert (industries["电子信息"]["demands"], industries["电子信息"]["matched"]) == (4, 1)


def test_trend_by_month(dataset):
    months = {m["month"]: m for m in reports.trend(dataset, reports.Period(), TODAY)}
    assert list(months)[0] == "2025-12" and list(months)[-1] == "2026-11" and len(months) == 12
    assert [months[f"2026-{m:02d}"]["demands"] for m in range(1, 7)] == [1, 1, 1, 1, 1, 0]
    assert (months["2026-03"]["completed"], months["2026-04"]["completed"]) == (1, 1)
    assert [months[f"2026-{m:02d}"]["value_wan"] for m in (2, 3, 4)] == [10.5, 20.0, 4.5]
    assert months["2026-03"]["trained"] == 10


def test_targets_progress(dataset):
    (sichuan,) = reports.targets(dataset, 2026)
    assert sichuan["name"] == "四川省"
    assert [(m["key"], m["target"], m["actual"], m["percent"]) for m in sichuan["measures"]] == [
        ("visits", 10, 3, 30.0), ("enterprises", 4, 2, 50.0), ("problems", 8, 4, 50.0),
        ("skill_upgrades", 40, 20, 50.0)]
    assert reports.targets(dataset, 2025) == []


def test_dashboard_page_shows_the_figures(app, coordinator_browser):
    with app.app_context():
        build_dataset(db.session)
        db.session.commit()
    page = coordinator_browser.text("/workspace/reports/?lang=en")
    for figure, value in (("enterprises_served", "3"), ("problems_solved", "4"), ("workers_trained", "18"),
                          ("value_created_wan", "35")):
        assert f'data-figure="{figure}">{value}<' in page
    assert '<div class="stat-value">60.0%</div>' in page
    assert page.count("<svg") >= 9  # four bar charts, the trend, four progress bars
    assert "30%" in page and "Sichuan" in page  # the region in the page's language
    report = coordinator_browser.text("/workspace/reports/period?start=2026-01-01&end=2026-12-31")
    assert "75.0%" in report
    bad = coordinator_browser.text("/workspace/reports/?start=2026-05-01&end=2026-01-01&lang=en")
    assert "The end of the period is before its start." in bad


def test_xlsx_export_has_one_sheet_per_table(app, coordinator_browser):
    with app.app_context():
        build_dataset(db.session)
        db.session.commit()
    response = coordinator_browser.get("/workspace/reports/export.xlsx?lang=en")
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.data), read_only=True)
    assert book.sheetnames == ["Summary", "Demands by status", "Demands by category", "By region", "By industry",
                               "By month", "Targets"]
    summary = {row[0]: row[1] for row in book["Summary"].iter_rows(values_only=True)}
    assert (summary["Enterprises served"], summary["Problems solved"], summary["Value created (× 10,000 yuan)"]) == (3, 4, 35)
    targets = list(book["Targets"].iter_rows(values_only=True))
    assert targets[1] == ("Sichuan", 2026, "Craftsman visits", 10, 3, 30)
    book.close()


def test_cached_report_is_reused_until_the_data_changes(dataset):
    period = reports.Period()
    first = reports.cached_build(dataset, period, TODAY, ttl=60)
    assert reports.cached_build(dataset, period, TODAY, ttl=60) is first
    assert reports.cached_build(dataset, period, TODAY, ttl=0) is not first
    dataset.add(Outcome(kind="patent", title="新专利", created_at=NOW))
    dataset.flush()
    again = reports.cached_build(dataset, period, TODAY, ttl=60)
    assert again is not first and again.headline == first.headline  # an unlinked outcome moves no figure


@pytest.mark.parametrize("province", [None, "51", "50"])
def test_dashboard_shortcut_gives_the_same_figures(dataset, province):
    period = reports.Period(province=province)
    full = reports.build(dataset, period, TODAY, 2026, detail=True)
    quick = reports.build(dataset, period, TODAY, 2026, detail=False)
    assert quick.headline == full.headline and quick.trend == full.trend and quick.targets == full.targets
    assert [(r["name"], r["demands"], r["matched"]) for r in quick.by_region] == \
        [(r["name"], r["demands"], r["matched"]) for r in full.by_region]


def test_coordinator_sets_a_yearly_target(app, coordinator_browser):
    url = "/workspace/reports/targets"
    bad = coordinator_browser.submit(url, {"region_code": "510100", "year": "1999", "visits": "-3"},
                                     form_url="/workspace/reports/?lang=en")
    assert bad.status_code == 422
    assert bad.get_data(as_text=True).count('role="alert"') >= 2  # year and visits, next to their fields
    done = coordinator_browser.submit(url, {"region_code": "510100", "year": "2027", "visits": "300",
                                            "enterprises": "200", "problems": "150", "skill_upgrades": "3000"},
                                      form_url="/workspace/reports/")
    assert done.status_code == 302
    again = coordinator_browser.submit(url, {"region_code": "510100", "year": "2027", "visits": "400"},
                                       form_url="/workspace/reports/")
    assert again.status_code == 302
    with app.app_context():
        (target,) = reports.targets(db.session, 2027)
        assert target["name"] == "成都市"
        assert [(m["key"], m["target"]) for m in target["measures"]] == [
            ("visits", 400), ("enterprises", 0), ("problems", 0), ("skill_upgrades", 0)]
    page = coordinator_browser.text("/workspace/reports/?year=2027")
    assert page.count('class="chart progress-chart"') == 4


def test_viewer_cannot_set_targets(browser, make_user):
    make_user("viewer2", "viewer")
    browser.login("viewer2", "correct-horse-battery")
    assert 'id="target-form"' not in browser.text("/workspace/reports/")
    token = browser.csrf_token("/workspace/reports/")
    response = browser.client.post("/workspace/reports/targets", data={"csrf_token": token, "region_code": "510100",
                                                                      "year": "2027"})
    assert response.status_code == 403


def test_a_demand_of_two_industries_under_one_parent_counts_its_figures_once_there(session):
    """Gears and pressure vessels are both equipment manufacturing: the demand's value and trained workers count
    once under equipment manufacturing, as the demand itself does."""
    enterprise, craftsman = make_enterprise(session, region_code="510100"), make_craftsman(session)
    demand = make_demand(session, enterprise, status="evaluated", submitted_at=T(2026, 3, 1), matched_at=T(2026, 3, 5),
                         region_code="510100", industries=["sub.gears", "sub.pressure_vessel"])
    engagement = make_engagement(session, demand, [craftsman], status="evaluated", started_on=D(2026, 3, 6),
                                 completed_on=D(2026, 4, 1))
    _follow_up(engagement, "result", D(2026, 4, 1), D(2026, 4, 1), problems_solved=1, value_created_wan=12.5,
               workers_trained=7, apprentices=0)
    session.commit()
    industries = {r["name_zh"]: r for r in reports.by_industry(session, reports.Period())}
    assert (industries["装备制造"]["demands"], industries["装备制造"]["value_wan"], industries["装备制造"]["trained"]) \
        == (1, 12.5, 7)
