"""Every figure of the dashboard, the period report and its export against an independent reference: plain Python
over the ORM objects, written from the definitions (``web/services/reports.py``'s docstring, README, DOMAIN.md),
not from the SQL. The seeded data sets are small and hostile: both provinces, regions that roll up into a city
(a county and a functional area under 成都市, a functional area under 渝北区), enterprises with demands in several
regions of one city, demands with two or three industries (two under one parent), every demand status, started
and then cancelled engagements, declined and no-show members, follow-ups done and not done, ratings, agreements,
and dates on and next to every period's first and last day (midnight and one second before it)."""

from __future__ import annotations

import datetime as dt
import random
import statistics
from collections import defaultdict

import pytest
import sqlalchemy as sa

from tests.conftest import NOW
from tests.factories import make_craftsman, make_demand, make_engagement, make_enterprise, region
from web.models.agreements import Agreement
from web.models.demands import DEMAND_STATUSES, Demand
from web.models.engagements import Engagement, Feedback, FollowUp, RegionTarget, VisitLog
from web.models.outcomes import Outcome
from web.models.taxonomy import DemandCategory, Industry, Region
from web.services import reports

TODAY = NOW.date()  # 2026-11-23; nothing in the data sets happens after it
P = reports.Period
D = dt.date
PERIODS = (
    P(),                                   # everything
    P(D(2026, 2, 14), D(2026, 9, 3)),      # starts and ends mid-month
    P(D(2026, 4, 5), D(2026, 4, 25)),      # inside one month
    P(province="51"),
    P(D(2026, 3, 15), D(2026, 6, 20), "50"),
    P(None, D(2026, 5, 20)),
    P(D(2026, 1, 1), D(2026, 12, 31)),     # whole months only
)
# Demand regions: 锦江区 (county) and the Chengdu hi-tech zone (functional area under 武侯区) roll up into 成都市,
# the Liangjiang new area into 渝北区; 广汉市 is a county of 德阳市.
REGIONS = ("510100", "510104", "fa.sc_chengdu_hitech", "510400", "510681", "500112", "fa.cq_liangjiang", "500101")
INDUSTRIES = (["sub.gears", "sub.pressure_vessel"], ["sc.equipment", "sub.moulds", "sc.electronic_info"],
              ["sub.mining", "sub.metallurgy"], ["sc.electronic_info"], ["cq.icv_nev", "sub.boiler"],
              ["sub.tea"])
CATEGORIES = ("tech_tackling", "skills_training", "digital", "management")
SERVING = ("assigned", "accepted", "served")  # members that count as craftsman visits (not declined, no-show)
MATCHED = ("matched", "in_service", "completed", "evaluated")
MATCHABLE = ("open", *MATCHED)


def _edge_days() -> list[dt.date]:
    """Every period's first and last day and the days either side of them."""
    days = set()
    for period in PERIODS:
        for day in (period.start, period.end):
            if day is not None:
                days |= {day - dt.timedelta(days=1), day, day + dt.timedelta(days=1)}
    return sorted(d for d in days if d < TODAY)


EDGES = _edge_days()


def _day(rng: random.Random, after: dt.date) -> dt.date:
    """A day after ``after`` (and before today): often one on a period's edge."""
    edges = [d for d in EDGES if after <= d < TODAY]
    if edges and rng.random() < 0.4:
        return rng.choice(edges)
    return min(after + dt.timedelta(days=rng.randrange(0, 120)), TODAY - dt.timedelta(days=1))


def _moment(rng: random.Random, day: dt.date) -> dt.datetime:
    """Midnight, a second before midnight, or any time of ``day``."""
    return dt.datetime.combine(day, rng.choice((dt.time(0), dt.time(23, 59, 59), dt.time(rng.randrange(24), 7))))


def seed(session, rng: random.Random) -> None:
    enterprises = [make_enterprise(session, region_code=rng.choice(REGIONS)) for _ in range(8)]
    craftsmen = [make_craftsman(session) for _ in range(6)]
    first = None
    for index in range(70):
        submitted = _moment(rng, _day(rng, D(2025, 10, 20)))
        status = DEMAND_STATUSES[index % len(DEMAND_STATUSES)]  # every status, merged too
        matched = submitted + dt.timedelta(hours=rng.randrange(1, 900)) if status in MATCHED or rng.random() < 0.2 \
            else None
        # The first enterprise asks from all over 成都市 (three of its regions roll up into the city).
        enterprise = enterprises[0] if index % 5 == 0 else rng.choice(enterprises)
        place = rng.choice(REGIONS[:3]) if enterprise is enterprises[0] else rng.choice(REGIONS)
        demand = make_demand(session, enterprise, status=status, submitted_at=submitted,
                             matched_at=matched if matched and matched.date() < TODAY else None,
                             region_code=place, category_code=rng.choice(CATEGORIES),
                             industries=rng.choice(INDUSTRIES),
                             merged_into_id=first.id if status == "merged" else None)
        first = first or demand
        if status in ("in_service", "completed", "evaluated") or rng.random() < 0.4:
            if rng.random() < 0.25:  # started, then cancelled; a later round serves the demand again
                _engage(session, rng, demand, craftsmen, "cancelled")
            _engage(session, rng, demand, craftsmen, rng.choice(("scheduled", "in_service", "completed",
                                                                "evaluated", "cancelled")))
    for code, year, goals in (("510000", 2026, (30, 6, 20, 100)), ("510100", 2026, (10, 3, 10, 50)),
                              ("500112", 2026, (5, 2, 5, 20)), ("500000", 2025, (4, 4, 4, 4))):
        session.add(RegionTarget(region_id=region(session, code).id, year=year, visits=goals[0],
                                 enterprises=goals[1], problems=goals[2], skill_upgrades=goals[3]))
    session.flush()


def _engage(session, rng: random.Random, demand: Demand, craftsmen, status: str) -> None:
    started = _day(rng, demand.submitted_at.date()) if status != "scheduled" else None
    completed = _day(rng, started) if status in ("completed", "evaluated") else None
    engagement = make_engagement(session, demand, rng.sample(craftsmen, rng.choice((1, 2, 3))), status=status,
                                 started_on=started, completed_on=completed,
                                 cancel_reason="停产" if status == "cancelled" else None)
    for member in engagement.members:
        member.status = rng.choice(("assigned", "accepted", "declined", "no_show", "served"))
    for kind in ("check_2w", "result", "review_3m"):
        due = _day(rng, started or demand.submitted_at.date())
        done = _day(rng, due - dt.timedelta(days=3)) if started and rng.random() < 0.65 else None
        figures = {"problems_solved": rng.randrange(0, 4), "value_created_wan": round(rng.uniform(0, 30), 2),
                   "workers_trained": rng.randrange(0, 25), "apprentices": rng.randrange(0, 3)} if done else {}
        engagement.follow_ups.append(FollowUp(kind=kind, due_on=due, done_on=done, recorded_at=done and NOW,
                                              **figures))
    session.flush()
    if completed and status != "cancelled" and rng.random() < 0.8:
        session.add(Feedback(demand_id=demand.id, engagement_id=engagement.id, rating=rng.randrange(1, 6),
                             created_at=_moment(rng, _day(rng, completed))))
    if started and rng.random() < 0.4:
        begins = _day(rng, started)
        session.add(Agreement(engagement_id=engagement.id, enterprise_id=demand.enterprise_id,
                              craftsman_id=engagement.members[0].craftsman_id, union_name="总工会",
                              starts_on=begins, ends_on=begins + dt.timedelta(days=rng.randrange(20, 400)),
                              scope="师带徒", created_at=NOW))
    if started and rng.random() < 0.5:
        session.add(VisitLog(engagement_id=engagement.id, visited_on=_day(rng, started), note="", recorded_at=NOW))
    done_ups = [f for f in engagement.follow_ups if f.done_on]
    if done_ups and rng.random() < 0.5:
        session.add(Outcome(kind="method", title=f"工法 {engagement.id}", follow_up_id=done_ups[0].id,
                            created_at=_moment(rng, done_ups[0].done_on)))
    session.flush()


def mutate(session, rng: random.Random) -> None:
    """Later writes of every kind the summaries' triggers must follow: demands moved to another region, month,
    status, enterprise or industry, engagements re-dated, cancelled or deleted, members declining, follow-ups
    re-dated, corrected, un-recorded or deleted, ratings changed."""
    demands = list(session.scalars(sa.select(Demand).order_by(Demand.id)))
    engagements = list(session.scalars(sa.select(Engagement).order_by(Engagement.id)))
    industries = list(session.scalars(sa.select(Industry).where(Industry.code.in_(["sub.gears", "sc.equipment",
                                                                                  "sub.tea", "np.ai"]))))
    places = [region(session, code) for code in REGIONS]
    for demand in rng.sample(demands, 12):
        change = rng.randrange(5)
        if change == 0:
            demand.region_id = rng.choice(places).id
        elif change == 1:
            demand.submitted_at = _moment(rng, _day(rng, D(2025, 11, 1)))
            demand.matched_at = None
        elif change == 2 and demand.status != "merged":
            demand.status = rng.choice([s for s in DEMAND_STATUSES if s != "merged"])
        elif change == 3:
            demand.enterprise_id = rng.choice(demands).enterprise_id
        else:
            demand.industries = rng.sample(industries, rng.choice((1, 2)))
    for engagement in rng.sample(engagements, 8):
        change = rng.randrange(4)
        if change == 0 and engagement.started_on and not engagement.completed_on:
            engagement.started_on = _day(rng, engagement.demand.submitted_at.date())
        elif change == 1 and engagement.status in ("scheduled", "in_service"):
            engagement.status, engagement.cancel_reason = "cancelled", "企业停产"
        elif change == 2 and engagement.members:
            engagement.members[0].status = rng.choice(("declined", "no_show", "served"))
        elif change == 3 and len(engagement.members) > 1:
            engagement.members.pop()
    session.flush()
    for follow_up in rng.sample([f for e in engagements for f in e.follow_ups if f.done_on], 10):
        change = rng.randrange(4)
        if change == 0:
            follow_up.done_on = _day(rng, follow_up.engagement.started_on)
        elif change == 1:
            follow_up.value_created_wan, follow_up.workers_trained = round(rng.uniform(0, 50), 2), rng.randrange(30)
        elif change == 2:
            follow_up.done_on = None
        else:
            session.execute(sa.delete(Outcome).where(Outcome.follow_up_id == follow_up.id))
            session.delete(follow_up)
    for feedback in rng.sample(list(session.scalars(sa.select(Feedback))), 2):
        feedback.rating, feedback.created_at = rng.randrange(1, 6), _moment(rng, _day(rng, D(2026, 1, 1)))
    session.flush()
    doomed = next(e for e in reversed(engagements) if e.status == "cancelled")
    for row in session.scalars(sa.select(Agreement).where(Agreement.engagement_id == doomed.id)):
        session.delete(row)
    for row in session.scalars(sa.select(Feedback).where(Feedback.engagement_id == doomed.id)):
        session.delete(row)
    session.execute(sa.delete(Outcome).where(Outcome.follow_up_id.in_([f.id for f in doomed.follow_ups])))
    session.flush()
    session.delete(doomed)
    session.flush()
    session.expire_all()


def _median(values: list[float]) -> float | None:
    """The median to a tenth of a day, rounded as Python rounds the float nearest the exact value."""
    return round(round(statistics.median(values), 6), 1) if values else None


def _percent(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


class Reference:
    """The definitions, one object at a time."""

    def __init__(self, session, period: reports.Period, today: dt.date, year: int) -> None:
        self.session, self.period, self.today, self.year = session, period, today, year
        self.regions = {r.id: r for r in session.scalars(sa.select(Region))}
        self.demands = [d for d in session.scalars(sa.select(Demand)) if self.mine(d)]
        self.engagements = [e for e in session.scalars(sa.select(Engagement)) if self.mine(e.demand)]
        self.follow_ups = [f for e in self.engagements for f in e.follow_ups]
        self.top = {i.id: i.parent_id or i.id for i in session.scalars(sa.select(Industry))}

    # ------------------------------------------------------------ helpers
    def mine(self, demand: Demand) -> bool:
        return not self.period.province or self.regions[demand.region_id].province_code == self.period.province

    def inside(self, moment, start: dt.date | None = None, end: dt.date | None = None, *,
               of: reports.Period | None = None) -> bool:
        """``moment`` (a date or a datetime) on or after ``start``'s day and on or before ``end``'s day."""
        if of is not None or (start is None and end is None):
            start, end = (of or self.period).start, (of or self.period).end
        day = moment.date() if isinstance(moment, dt.datetime) else moment
        return (start is None or day >= start) and (end is None or day <= end)

    def chain(self, region_id: int) -> list[Region]:
        place, chain = self.regions[region_id], []
        while place is not None:
            chain.append(place)
            place = self.regions.get(place.parent_id)
        return chain

    def city(self, region_id: int) -> int:
        """Sichuan: the prefecture-level city; Chongqing (no prefectures): the district or county."""
        chain = self.chain(region_id)
        level = "prefecture" if chain[0].province_code == "51" else "county"
        return next((place.id for place in chain if place.level == level), region_id)

    def demands_in(self, start=None, end=None) -> list[Demand]:
        return [d for d in self.demands if self.inside(d.submitted_at, start, end)]

    def started_in(self, start=None, end=None) -> list[Engagement]:
        return [e for e in self.engagements if e.started_on and self.inside(e.started_on, start, end)]

    def done_in(self, start=None, end=None) -> list[FollowUp]:
        return [f for f in self.follow_ups if f.done_on and self.inside(f.done_on, start, end)]

    @staticmethod
    def visits(engagement: Engagement) -> int:
        return sum(member.status in SERVING for member in engagement.members)

    # ------------------------------------------------------------ the figures
    def headline(self) -> dict:
        done, started, demands = self.done_in(), self.started_in(), self.demands_in()
        feedback = [f for f in self.session.scalars(sa.select(Feedback))
                    if self.inside(f.created_at) and self.mine(self.session.get(Demand, f.demand_id))]
        ratings = [f.rating for f in feedback]
        agreements = [a for a in self.session.scalars(sa.select(Agreement)) if self.mine(a.engagement.demand)]
        in_force = [a for a in agreements if a.starts_on <= self.today <= a.ends_on]
        outcomes = [o for o in self.session.scalars(sa.select(Outcome)) if o.follow_up_id is not None
                    and self.inside(o.created_at)
                    and self.mine(self.session.get(FollowUp, o.follow_up_id).engagement.demand)]
        statuses = [e.status for e in self.engagements]
        matched = [d for d in demands if d.status in MATCHED]
        matchable = [d for d in demands if d.status in MATCHABLE]
        return {
            "problems_solved": sum(f.problems_solved for f in done),
            "value_created_wan": round(sum(float(f.value_created_wan) for f in done), 2),
            "workers_trained": sum(f.workers_trained for f in done),
            "apprentices": sum(f.apprentices for f in done),
            "craftsman_visits": sum(self.visits(e) for e in started),
            "agreements": sum(self.inside(a.starts_on) for a in agreements),
            "enterprises_served": len({e.demand.enterprise_id for e in started}),
            "engagements_started": len(started),
            "visits_logged": sum(self.inside(v.visited_on) for e in self.engagements for v in e.visits),
            "outcomes": len(outcomes),
            "engagements_active": statuses.count("in_service"),
            "engagements_scheduled": statuses.count("scheduled"),
            "engagements_completed": statuses.count("completed") + statuses.count("evaluated"),
            "follow_ups_overdue": sum(f.done_on is None and f.due_on < self.today
                                      and f.engagement.status in ("in_service", "completed", "evaluated")
                                      for f in self.follow_ups),
            "agreements_active": len(in_force),
            "agreements_expiring": sum(a.ends_on <= self.today + dt.timedelta(days=30) for a in in_force),
            "ratings": len(ratings),
            "rating_average": round(sum(ratings) / len(ratings), 2) if ratings else None,
            "satisfied_share": _percent(sum(r >= 4 for r in ratings), len(ratings)),
            "demands": len(demands), "demands_matchable": len(matchable), "demands_matched": len(matched),
            "demands_solved": sum(d.status in ("completed", "evaluated") for d in demands),
            "match_rate": _percent(len(matched), len(matchable)),
            "median_days_to_match": _median([(d.matched_at - d.submitted_at).total_seconds() / 86400
                                             for d in demands if d.matched_at]),
            "median_days_to_completion": _median(
                [(dt.datetime.combine(e.completed_on, dt.time()) - e.demand.submitted_at).total_seconds() / 86400
                 for e in self.engagements if e.completed_on and e.status in ("completed", "evaluated")
                 and self.inside(e.demand.submitted_at)]),
        }

    def by_status(self) -> list:
        demands = self.demands_in()
        return [(s, n) for s in DEMAND_STATUSES if (n := sum(d.status == s for d in demands))]

    def by_category(self) -> dict:
        counts = defaultdict(lambda: [0, 0])
        for d in self.demands_in():
            counts[self.session.get(DemandCategory, d.category_id).code][0] += 1
            counts[self.session.get(DemandCategory, d.category_id).code][1] += d.status in MATCHED
        return {code: tuple(n) for code, n in counts.items()}

    def by_region(self, *, detail: bool) -> dict:
        """Per city: figures summed over its regions; an enterprise counts once per city."""
        rows = defaultdict(lambda: defaultdict(float))
        enterprises = defaultdict(set)
        for d in self.demands_in():
            rows[self.city(d.region_id)]["demands"] += 1
            rows[self.city(d.region_id)]["matched"] += d.status in MATCHED
        if detail:
            for e in self.started_in():
                rows[self.city(e.demand.region_id)]["visits"] += self.visits(e)
                enterprises[self.city(e.demand.region_id)].add(e.demand.enterprise_id)
            for city, served in enterprises.items():
                rows[city]["enterprises"] += len(served)
            for f in self.done_in():
                row = rows[self.city(f.engagement.demand.region_id)]
                row["problems"] += f.problems_solved
                row["value_wan"] += float(f.value_created_wan)
                row["trained"] += f.workers_trained
                row["skill_upgrades"] += f.workers_trained + f.apprentices
        return _nonzero({self.regions[city].name: {k: round(v, 2) for k, v in row.items()}
                         for city, row in rows.items()})

    def by_industry(self, *, detail: bool) -> dict:
        """Per top-level industry: a demand (and its follow-ups' figures) once, however many of its industries
        lie under it."""
        demands, matched, value, trained = defaultdict(set), defaultdict(set), defaultdict(float), defaultdict(int)
        for d in self.demands_in():
            for top in {self.top[i.id] for i in d.industries}:
                demands[top].add(d.id)
                if d.status in MATCHED:
                    matched[top].add(d.id)
        for f in self.done_in() if detail else []:
            for top in {self.top[i.id] for i in f.engagement.demand.industries}:
                value[top] += float(f.value_created_wan)
                trained[top] += f.workers_trained
        return {self.session.get(Industry, top).name_zh: (len(demands[top]), len(matched[top]), round(value[top], 2),
                                                          trained[top])
                for top in set(demands) | set(value)}

    def months(self) -> list[str]:
        """The twelve months up to the period's end (or today), none before the period's start."""
        end = self.period.end or self.today
        keys = [f"{(end.year * 12 + end.month - 1 - back) // 12}-{(end.month - 1 - back) % 12 + 1:02d}"
                for back in range(11, -1, -1)]
        return [k for k in keys if not self.period.start or k >= f"{self.period.start:%Y-%m}"]

    def trend(self) -> list:
        """Per month, the period's figures of that month (a month the period cuts: its part inside the period)."""
        start, end = self.period.start, self.period.end or self.today
        series = {key: defaultdict(float) for key in self.months()}

        def add(moment, name, amount=1.0):
            if f"{moment:%Y-%m}" in series and self.inside(moment, start, end):
                series[f"{moment:%Y-%m}"][name] += amount

        for d in self.demands:
            add(d.submitted_at, "demands")
        for e in self.engagements:
            if e.completed_on:
                add(e.completed_on, "completed")
        for f in self.follow_ups:
            if f.done_on:
                add(f.done_on, "value_wan", float(f.value_created_wan))
                add(f.done_on, "trained", f.workers_trained)
        return [{"month": key, **{name: round(series[key][name], 2)
                                  for name in ("demands", "completed", "value_wan", "trained")}}
                for key in series]

    def targets(self) -> list:
        """Each target region's year: visits, enterprises served (once each), problems solved and skill upgrades
        of the region and every region under it."""
        first, last = D(self.year, 1, 1), D(self.year, 12, 31)
        result = []
        targets = [t for t in self.session.scalars(sa.select(RegionTarget)) if t.year == self.year and (
            not self.period.province or self.regions[t.region_id].province_code == self.period.province)]
        for target in sorted(targets, key=lambda t: self.regions[t.region_id].code):
            def under(region_id, target=target):
                return target.region_id in {place.id for place in self.chain(region_id)}
            started = [e for e in self.started_in(first, last) if under(e.demand.region_id)]
            done = [f for f in self.done_in(first, last) if under(f.engagement.demand.region_id)]
            actual = {"visits": sum(self.visits(e) for e in started),
                      "enterprises": len({e.demand.enterprise_id for e in started}),
                      "problems": sum(f.problems_solved for f in done),
                      "skill_upgrades": sum(f.workers_trained + f.apprentices for f in done)}
            place = self.regions[target.region_id]
            result.append({"region_id": target.region_id, "name": place.name, "name_en": place.name_en or place.name,
                           "year": self.year, "measures": [
                               {"key": key, "target": goal, "actual": actual[key], "percent": _percent(actual[key], goal)}
                               for key, goal in (("visits", target.visits), ("enterprises", target.enterprises),
                                                 ("problems", target.problems),
                                                 ("skill_upgrades", target.skill_upgrades))]})
        return result


def _nonzero(rows: dict) -> dict:
    """Rows with a figure other than zero (a region whose only engagement started outside the period may show
    a row of zeros: nothing to compare)."""
    return {name: row for name, row in rows.items() if any(row.values())}


def service_views(report: reports.Report, *, detail: bool) -> dict:
    keys = ("demands", "matched", *(("enterprises", "visits", "problems", "value_wan", "trained", "skill_upgrades")
                                    if detail else ()))
    return {
        "by_category": {c["code"]: (c["demands"], c["matched"]) for c in report.by_category},
        "by_region": _nonzero({r["name"]: {k: r[k] for k in keys if r.get(k)} for r in report.by_region}),
        "by_industry": {r["name_zh"]: (r["demands"], r["matched"], r["value_wan"], r["trained"])
                        for r in report.by_industry},
    }


def reference_views(expected: Reference, *, detail: bool) -> dict:
    return {
        "by_category": expected.by_category(),
        "by_region": {name: {k: v for k, v in row.items() if v} for name, row in expected.by_region(detail=detail)
                      .items()},
        "by_industry": expected.by_industry(detail=detail),
    }


@pytest.mark.parametrize(("seed_number", "rewrite"), [(7, False), (2026, True)])
def test_every_figure_matches_a_count_over_the_objects(session, seed_number, rewrite):
    rng = random.Random(seed_number)
    seed(session, rng)
    if rewrite:
        mutate(session, rng)
    for period in PERIODS:
        for detail in (True, False):
            report = reports.build(session, period, TODAY, detail=detail)
            expected = Reference(session, period, TODAY, report.year)
            where = (period, "period report" if detail else "dashboard")
            assert report.headline == expected.headline(), where
            assert report.by_status == expected.by_status(), where
            got, want = service_views(report, detail=detail), reference_views(expected, detail=detail)
            for table in want:
                for key in set(got[table]) | set(want[table]):
                    assert got[table].get(key) == want[table].get(key), (*where, table, key)
            assert report.trend == expected.trend(), where
            assert report.targets == expected.targets(), where
    for year in (2025, 2026):
        assert reports.targets(session, year) == Reference(session, P(), TODAY, year).targets(), year


def test_the_data_set_reaches_every_case(session):
    """Guard the guard: the cases the figures must tell apart are in the data."""
    seed(session, random.Random(7))
    demands = list(session.scalars(sa.select(Demand)))
    engagements = list(session.scalars(sa.select(Engagement)))
    parents = {i.id: i.parent_id for i in session.scalars(sa.select(Industry))}
    assert {d.status for d in demands} == set(DEMAND_STATUSES)
    tops = [[parents[i.id] or i.id for i in d.industries] for d in demands]
    assert any(len(set(top)) < len(top) for top in tops)  # two industries under one parent
    reference = Reference(session, P(), TODAY, 2026)
    cities = defaultdict(set)
    for e in engagements:
        if e.started_on:
            cities[e.demand.enterprise_id, reference.city(e.demand.region_id)].add(e.demand.region_id)
    assert any(len(places) > 1 for places in cities.values())  # one enterprise, two regions of one city
    assert any(e.status == "cancelled" and e.started_on for e in engagements)
    assert any(e.started_on and not reference.visits(e) for e in engagements)  # started, nobody serving
    members = {m.status for e in engagements for m in e.members}
    assert {"declined", "no_show"} <= members
    edges = {f.done_on for e in engagements for f in e.follow_ups if f.done_on}
    assert {D(2026, 2, 13), D(2026, 2, 14), D(2026, 9, 3), D(2026, 9, 4)} & edges
    assert {d.submitted_at.time() for d in demands} >= {dt.time(0), dt.time(23, 59, 59)}


def test_a_median_exactly_between_two_tenths_rounds_the_same_on_both_databases(session):
    """30 days 7 hours and 30 days 5 hours: the median is exactly 30.25 days. SQLite's julianday differences
    carry ~2e-10 of noise (30.2500000002 here), which rounded it to 30.3 there and to 30.2 on PostgreSQL."""
    enterprise = make_enterprise(session, region_code="510100")
    for submitted, hours in ((dt.datetime(2026, 3, 19, 4, 33, 38), 7), (dt.datetime(2026, 3, 5, 4, 44, 31), 5)):
        make_demand(session, enterprise, status="matched", submitted_at=submitted,
                    matched_at=submitted + dt.timedelta(days=30, hours=hours), region_code="510100")
    for period in (P(), P(D(2026, 3, 2), D(2026, 3, 20))):  # from the summaries, from the rows
        assert reports.headline(session, period, TODAY)["median_days_to_match"] == round(30.25, 1), period
