"""Every report figure against a straightforward recomputation in Python, on a seeded data set of a few hundred
rows spread over two years, both provinces, all statuses, several industries under one parent: the SQL
(single passes, covering indexes, month buckets) must give exactly what the definitions in
``web/services/reports.py`` say, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import random
import statistics
from collections import defaultdict

import pytest
import sqlalchemy as sa

from tests.conftest import NOW, seeded_once
from tests.factories import make_craftsman, make_demand, make_engagement, make_enterprise, region
from web.models.agreements import Agreement
from web.models.demands import DEMAND_STATUSES, Demand
from web.models.engagements import Engagement, Feedback, FollowUp, RegionTarget, VisitLog
from web.models.outcomes import Outcome
from web.models.taxonomy import DemandCategory, Industry, Region
from web.services import reports
from web.services.agreements import EXPIRING_DAYS

TODAY = NOW.date()  # 2026-11-23
REGIONS = ("510104", "510107", "510100", "510400", "500112", "500101", "510681")
INDUSTRIES = (["sub.auto_parts", "sub.gears"], ["sub.boiler"], ["sc.electronic_info", "sub.microwave_components"],
              ["cq.icv_nev"], ["sub.pressure_vessel", "sc.energy_chem"])
CATEGORIES = ("tech_tackling", "skills_training", "digital", "management")
PERIODS = [reports.Period(), reports.Period(dt.date(2026, 2, 14), dt.date(2026, 9, 3)),
           reports.Period(province="51"), reports.Period(dt.date(2025, 7, 1), None, "50"),
           reports.Period(None, dt.date(2026, 5, 20))]


def seed(session, rng: random.Random) -> None:
    """~160 demands, ~110 engagements with members of every status, follow-ups over two years, ratings,
    agreements, logged visits, outcomes and targets for a province and a city."""
    enterprises = [make_enterprise(session, region_code=rng.choice(REGIONS)) for _ in range(25)]
    craftsmen = [make_craftsman(session) for _ in range(12)]
    start = dt.datetime(2024, 12, 1)
    for index in range(160):
        submitted = start + dt.timedelta(minutes=rng.randrange(0, 720 * 24 * 60))
        status = rng.choice(DEMAND_STATUSES[:-1])  # "merged" needs a target
        matched = submitted + dt.timedelta(hours=rng.randrange(1, 900)) if rng.random() < 0.6 else None
        enterprise = rng.choice(enterprises)
        demand = make_demand(session, enterprise, status=status, submitted_at=submitted, matched_at=matched,
                             region_code=rng.choice(REGIONS), category_code=rng.choice(CATEGORIES),
                             industries=rng.choice(INDUSTRIES))
        if rng.random() < 0.7:
            _engage(session, rng, demand, craftsmen, index)
    for code, year, goals in (("510000", 2026, (40, 10, 30, 200)), ("510100", 2026, (9, 0, 12, 80)),
                              ("500000", 2025, (5, 5, 5, 5))):
        session.add(RegionTarget(region_id=region(session, code).id, year=year, visits=goals[0],
                                 enterprises=goals[1], problems=goals[2], skill_upgrades=goals[3]))
    session.flush()


def _engage(session, rng: random.Random, demand: Demand, craftsmen, index: int) -> None:
    status = rng.choice(("scheduled", "in_service", "completed", "evaluated", "cancelled"))
    started = demand.submitted_at.date() + dt.timedelta(days=rng.randrange(0, 40)) if status != "scheduled" else None
    completed = started + dt.timedelta(days=rng.randrange(0, 90)) if status in ("completed", "evaluated") else None
    engagement = make_engagement(session, demand, rng.sample(craftsmen, rng.choice((1, 2, 3))), status=status,
                                 started_on=started, completed_on=completed,
                                 cancel_reason="停产" if status == "cancelled" else None)
    for member in engagement.members:
        member.status = rng.choice(("assigned", "accepted", "declined", "no_show", "served"))
    for kind, days in (("check_2w", 14), ("result", 60), ("review_3m", 91)):
        due = (started or demand.submitted_at.date()) + dt.timedelta(days=days)
        done = due + dt.timedelta(days=rng.randrange(-3, 20)) if rng.random() < 0.6 else None
        engagement.follow_ups.append(FollowUp(
            kind=kind, due_on=due, done_on=done, recorded_at=done and NOW,
            problems_solved=rng.randrange(0, 4) if done else None,
            value_created_wan=round(rng.uniform(0, 30), 2) if done else None,
            workers_trained=rng.randrange(0, 25) if done else None, apprentices=rng.randrange(0, 3) if done else None))
    session.flush()
    if completed and rng.random() < 0.7:
        session.add(Feedback(demand_id=demand.id, engagement_id=engagement.id, rating=rng.randrange(1, 6),
                             created_at=dt.datetime.combine(completed, dt.time(15))))
    if started and rng.random() < 0.3:
        begins = started + dt.timedelta(days=rng.randrange(0, 200))
        session.add(Agreement(engagement_id=engagement.id, enterprise_id=demand.enterprise_id,
                              craftsman_id=engagement.members[0].craftsman_id, union_name="总工会",
                              starts_on=begins, ends_on=begins + dt.timedelta(days=rng.randrange(30, 500)),
                              scope="师带徒", created_at=NOW))
    if started and rng.random() < 0.4:
        session.add(VisitLog(engagement_id=engagement.id, visited_on=started + dt.timedelta(days=3), note="",
                             recorded_at=NOW))
    done_ups = [f for f in engagement.follow_ups if f.done_on]
    if done_ups and rng.random() < 0.4:
        session.add(Outcome(kind="method", title=f"工法 {index}", follow_up_id=done_ups[0].id,
                            created_at=dt.datetime.combine(done_ups[0].done_on, dt.time(11))))


class Reference:
    """The report's definitions, computed row by row from the ORM objects."""

    def __init__(self, session, period: reports.Period, today: dt.date, year: int) -> None:
        self.period, self.today, self.year = period, today, year
        self.regions = {r.id: r for r in session.scalars(sa.select(Region))}
        self.demands = [d for d in session.scalars(sa.select(Demand)) if self.in_province(d)]
        self.engagements = [e for e in session.scalars(sa.select(Engagement)) if self.in_province(e.demand)]
        self.follow_ups = [f for e in self.engagements for f in e.follow_ups]
        self.tree = reports.RegionTree(session)
        self.session = session
        self.served = defaultdict(set)  # per demand region: the enterprises served, filled by per_region

    def in_province(self, demand: Demand) -> bool:
        return not self.period.province or self.regions[demand.region_id].province_code == self.period.province

    def within(self, day, period: reports.Period | None = None) -> bool:
        period = period or self.period
        day = day.date() if isinstance(day, dt.datetime) else day
        return (period.start is None or day >= period.start) and (period.end is None or day <= period.end)

    def period_demands(self, period: reports.Period | None = None) -> list[Demand]:
        return [d for d in self.demands if self.within(d.submitted_at, period)]

    def headline(self) -> dict:
        done = [f for f in self.follow_ups if f.done_on and self.within(f.done_on)]
        started = [e for e in self.engagements if e.started_on and self.within(e.started_on)]
        matched = [d for d in self.period_demands() if d.status in reports.MATCHED_OR_LATER]
        matchable = [d for d in self.period_demands() if d.status in reports.MATCHABLE]
        ratings = [f.rating for f in self.session.scalars(sa.select(Feedback))
                   if self.within(f.created_at) and self.in_province(self.session.get(Demand, f.demand_id))]
        agreements = [a for a in self.session.scalars(sa.select(Agreement)) if self.in_province(a.engagement.demand)]
        in_force = [a for a in agreements if a.starts_on <= self.today <= a.ends_on]
        status = defaultdict(int)
        for e in self.engagements:
            status[e.status] += 1
        return {
            "problems_solved": sum(f.problems_solved for f in done),
            "value_created_wan": round(sum(float(f.value_created_wan) for f in done), 2),
            "workers_trained": sum(f.workers_trained for f in done), "apprentices": sum(f.apprentices for f in done),
            "craftsman_visits": sum(1 for e in started for m in e.members if m.status in reports.SERVING_MEMBERS),
            "agreements": sum(1 for a in agreements if self.within(a.starts_on)),
            "enterprises_served": len({e.demand.enterprise_id for e in started}), "engagements_started": len(started),
            "visits_logged": sum(1 for e in self.engagements for v in e.visits if self.within(v.visited_on)),
            "outcomes": sum(1 for o in self.session.scalars(sa.select(Outcome))
                            if o.follow_up_id and self.within(o.created_at)
                            and self.in_province(self.session.get(FollowUp, o.follow_up_id).engagement.demand)),
            "engagements_active": status["in_service"], "engagements_scheduled": status["scheduled"],
            "engagements_completed": status["completed"] + status["evaluated"],
            "follow_ups_overdue": sum(1 for f in self.follow_ups if f.done_on is None and f.due_on < self.today
                                      and f.engagement.status in reports.SERVED_ENGAGEMENTS),
            "agreements_active": len(in_force),
            "agreements_expiring": sum(1 for a in in_force
                                       if a.ends_on <= self.today + dt.timedelta(days=EXPIRING_DAYS)),
            "ratings": len(ratings),
            "rating_average": round(sum(ratings) / len(ratings), 2) if ratings else None,
            "satisfied_share": round(100.0 * sum(r >= 4 for r in ratings) / len(ratings), 1) if ratings else None,
            "demands": len(self.period_demands()), "demands_matchable": len(matchable),
            "demands_matched": len(matched),
            "demands_solved": sum(1 for d in self.period_demands() if d.status in ("completed", "evaluated")),
            "match_rate": round(100.0 * len(matched) / len(matchable), 1) if matchable else None,
            "median_days_to_match": _median([(d.matched_at - d.submitted_at) / dt.timedelta(days=1)
                                             for d in self.period_demands() if d.matched_at]),
            "median_days_to_completion": _median(
                [(dt.datetime.combine(e.completed_on, dt.time()) - e.demand.submitted_at) / dt.timedelta(days=1)
                 for e in self.engagements if e.completed_on and e.status in ("completed", "evaluated")
                 and self.within(e.demand.submitted_at)]),
        }

    def by_status(self) -> list:
        counts = defaultdict(int)
        for d in self.period_demands():
            counts[d.status] += 1
        return [(s, counts[s]) for s in DEMAND_STATUSES if counts[s]]

    def by_category(self) -> list:
        counts = defaultdict(lambda: [0, 0])
        for d in self.period_demands():
            counts[d.category_id][0] += 1
            counts[d.category_id][1] += d.status in reports.MATCHED_OR_LATER
        categories = sorted((self.session.get(DemandCategory, i) for i in counts),
                            key=lambda c: (-counts[c.id][0], c.sort))
        return [{"code": c.code, "name_zh": c.name_zh, "name_en": c.name_en, "demands": counts[c.id][0],
                 "matched": counts[c.id][1]} for c in categories]

    def per_region(self, *, year_only: bool, services: bool) -> dict:
        """Figures per demand region: the period's, or the target year's."""
        year = reports.Period(dt.date(self.year, 1, 1), dt.date(self.year, 12, 31))
        window = year if year_only else self.period
        figures = defaultdict(lambda: defaultdict(float))
        for d in self.period_demands(window):
            figures[d.region_id]["demands"] += 1
            figures[d.region_id]["matched"] += d.status in reports.MATCHED_OR_LATER
        if not services:
            return figures
        self.served.clear()
        for e in self.engagements:
            if e.started_on and self.within(e.started_on, window):
                served = sum(1 for m in e.members if m.status in reports.SERVING_MEMBERS)
                figures[e.demand.region_id]["visits"] += served
                self.served[e.demand.region_id].add(e.demand.enterprise_id)  # an engagement started: served
        for f in self.follow_ups:
            if f.done_on and self.within(f.done_on, window):
                target = figures[f.engagement.demand.region_id]
                target["problems"] += f.problems_solved
                target["value_wan"] += float(f.value_created_wan)
                target["trained"] += f.workers_trained
                target["skill_upgrades"] += f.workers_trained + f.apprentices
        return figures

    def by_region(self, *, detail: bool) -> list:
        rolled = defaultdict(lambda: defaultdict(float))
        for region_id, figures in self.per_region(year_only=False, services=detail).items():
            for key, value in figures.items():
                rolled[self.tree.city(region_id)][key] += value
        cities = defaultdict(set)  # an enterprise once per city, however many of its regions it asked from
        for region_id, served in self.served.items():
            cities[self.tree.city(region_id)] |= served
        for city, served in cities.items():
            rolled[city]["enterprises"] = len(served)
        rows = [{"region_id": rid, "name": self.tree.name[rid], "name_en": self.tree.name_en[rid],
                 **{k: round(v, 2) for k, v in figures.items()}} for rid, figures in rolled.items()]
        return sorted(rows, key=lambda r: (-r.get("demands", 0), r["name"]))

    def by_industry(self, *, detail: bool) -> list:
        top = {i.id: i.parent_id or i.id for i in self.session.scalars(sa.select(Industry))}
        demands, matched, value, trained = (defaultdict(set), defaultdict(set), defaultdict(float),
                                            defaultdict(int))
        for d in self.period_demands():
            for industry in d.industries:
                demands[top[industry.id]].add(d.id)
                if d.status in reports.MATCHED_OR_LATER:
                    matched[top[industry.id]].add(d.id)
        for f in self.follow_ups if detail else []:
            if f.done_on and self.within(f.done_on):
                for industry_id in {top[industry.id] for industry in f.engagement.demand.industries}:
                    value[industry_id] += float(f.value_created_wan)  # once per top industry, as the demand
                    trained[industry_id] += f.workers_trained
        rows = [{"industry_id": i, "name_zh": self.session.get(Industry, i).name_zh,
                 "name_en": self.session.get(Industry, i).name_en, "demands": len(demands[i]),
                 "matched": len(matched[i]), "value_wan": round(value[i], 2), "trained": trained[i]}
                for i in set(demands) | set(value)]
        return sorted(rows, key=lambda r: (-r["demands"], -r["value_wan"], r["name_zh"]))

    def trend(self) -> list:
        keys = reports.month_keys(self.period, self.today)
        first = dt.date(int(keys[0][:4]), int(keys[0][5:]), 1)
        window = reports.Period(max(first, self.period.start or first), self.period.end or self.today)
        series = {key: defaultdict(float) for key in keys}
        for d in self.period_demands(window):
            series[f"{d.submitted_at:%Y-%m}"]["demands"] += 1
        for e in self.engagements:
            if e.completed_on and self.within(e.completed_on, window):
                series[f"{e.completed_on:%Y-%m}"]["completed"] += 1
        for f in self.follow_ups:  # a month the period cuts: its part in the period, as the demands
            if f.done_on and self.within(f.done_on) and f"{f.done_on:%Y-%m}" in series:
                series[f"{f.done_on:%Y-%m}"]["value_wan"] += float(f.value_created_wan)
                series[f"{f.done_on:%Y-%m}"]["trained"] += f.workers_trained
        return [{"month": key, **{name: round(series[key][name], 2)
                                  for name in ("demands", "completed", "value_wan", "trained")}} for key in keys]

    def targets(self) -> list:
        per_region = self.per_region(year_only=True, services=True)
        result = []
        targets = sorted((t for t in self.session.scalars(sa.select(RegionTarget)) if t.year == self.year
                          and (not self.period.province
                               or self.regions[t.region_id].province_code == self.period.province)),
                         key=lambda t: self.regions[t.region_id].code)
        for target in targets:
            place = self.regions[target.region_id]
            got = defaultdict(float)
            for region_id, figures in per_region.items():
                if target.region_id in self.tree.ancestors(region_id):
                    for key, value in figures.items():
                        got[key] += value
            got["enterprises"] = len(set().union(*(served for region_id, served in self.served.items()
                                                   if target.region_id in self.tree.ancestors(region_id))))
            measures = [{"key": key, "target": goal, "actual": int(got[key]),
                         "percent": round(100.0 * int(got[key]) / goal, 1) if goal else None}
                        for key, goal in (("visits", target.visits), ("enterprises", target.enterprises),
                                          ("problems", target.problems), ("skill_upgrades", target.skill_upgrades))]
            result.append({"region_id": target.region_id, "name": place.name,
                           "name_en": place.name_en or place.name, "year": self.year,
                           "measures": measures})
        return result


def _median(values: list[float]) -> float | None:
    return round(statistics.median(sorted(values)), 1) if values else None


seeded_transaction, seeded_data, connection = seeded_once(lambda session: seed(session, random.Random(20261130)))


@pytest.fixture()
def seeded(session, seeded_data):
    return session


@pytest.mark.parametrize("detail", [False, True], ids=["dashboard", "period report"])
def test_report_figures_equal_the_definitions(seeded, detail):
    for period in PERIODS:
        report = reports.build(seeded, period, TODAY, detail=detail)
        expected = Reference(seeded, period, TODAY, report.year)
        assert report.headline == expected.headline(), period
        assert report.by_status == expected.by_status(), period
        assert report.by_category == expected.by_category(), period
        assert report.by_region == expected.by_region(detail=detail), period
        assert report.by_industry == expected.by_industry(detail=detail), period
        assert report.trend == expected.trend(), period
        assert report.targets == expected.targets(), period
    assert reports.build(seeded, reports.Period(), TODAY, 2025).targets == \
        Reference(seeded, reports.Period(), TODAY, 2025).targets()


def test_the_seeded_set_is_not_trivial(seeded):
    """Guard the guard: the data set reaches every branch the figures distinguish."""
    report = reports.build(seeded, reports.Period(), TODAY, detail=True)
    h = report.headline
    assert h["demands"] > 100 and h["engagements_started"] > 40 and h["follow_ups_overdue"] > 0
    assert h["agreements_active"] > 0 and h["outcomes"] > 0 and h["visits_logged"] > 0 and h["ratings"] > 5
    assert len(report.by_region) >= 4 and len(report.by_category) == len(CATEGORIES)
    assert all(m["actual"] > 0 for t in report.targets for m in t["measures"] if m["key"] != "enterprises")
    assert sum(1 for m in report.trend if m["value_wan"] and m["demands"]) >= 6
