"""Migration 0005 on data: agreement ticks become agreement records; the two six-month follow-ups become one."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from sqlalchemy.orm import Session

from web import migrate
from web.db import make_engine


def _revision_before_this_one() -> str:
    script = ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
    [mine] = [rev for rev in script.walk_revisions() if rev.path.endswith("_agreements_followups.py")]
    return mine.down_revision  # re-chained at merge: still the revision just before this migration


def _follow_up(connection, engagement_id, kind, due_on, done_on=None, **figures) -> int:
    values = {"engagement_id": engagement_id, "kind": kind, "mandatory": True, "due_on": due_on, "done_on": done_on,
              **figures}
    columns = ", ".join(values)
    connection.execute(sa.text(f"INSERT INTO follow_up ({columns}) VALUES ({', '.join(':' + c for c in values)})"),
                       values)
    return connection.execute(sa.text("SELECT max(id) FROM follow_up")).scalar_one()


def test_ticks_become_agreements_and_six_month_follow_ups_merge(fresh_database_url):
    from tests.factories import insert_engagement_in_sql, make_craftsman, make_demand
    from web.services import seeding

    migrate.upgrade(fresh_database_url, _revision_before_this_one())
    engine = make_engine(fresh_database_url)
    day = dt.date(2026, 1, 31)
    with Session(bind=engine) as session:
        seeding.load_reference(session)
        craftsman = make_craftsman(session, name="孔建伟")
        both_open, one_done, both_done, only_impact = (
            insert_engagement_in_sql(session, make_demand(session, status="completed", title=f"需求{n}").id,
                                     [craftsman.id], status="completed", member_status="served", started_on=day,
                                     completed_on=day) for n in range(4))
        enterprise_id = session.scalar(sa.text("SELECT d.enterprise_id FROM engagement e JOIN demand d "
                                               "ON d.id = e.demand_id WHERE e.id = :i"), {"i": one_done})
        session.commit()
    with engine.begin() as connection:
        ticked = _follow_up(connection, one_done, "result", day, day, agreement_signed=True, agreement_term_months=13)
        _follow_up(connection, both_open, "review_6m", dt.date(2026, 7, 1))
        _follow_up(connection, both_open, "impact_6m", dt.date(2026, 8, 1))
        _follow_up(connection, one_done, "review_6m", dt.date(2026, 7, 1))
        impact = _follow_up(connection, one_done, "impact_6m", dt.date(2026, 8, 1), dt.date(2026, 8, 2),
                            problems_solved=2)
        connection.execute(sa.text("INSERT INTO follow_up_note (follow_up_id, body, created_at) "
                                   "VALUES (:f, '成效明显', :t)"), {"f": impact, "t": dt.datetime(2026, 8, 2)})
        _follow_up(connection, both_done, "review_6m", dt.date(2026, 7, 1), dt.date(2026, 7, 1), problems_solved=1,
                   value_created_wan=10)
        _follow_up(connection, both_done, "impact_6m", dt.date(2026, 8, 1), dt.date(2026, 8, 3), problems_solved=2,
                   value_created_wan=5.5)
        _follow_up(connection, only_impact, "impact_6m", dt.date(2026, 8, 1))

    migrate.upgrade(fresh_database_url)

    with engine.connect() as connection:
        rows = connection.execute(sa.text(
            "SELECT engagement_id, kind, due_on, done_on, problems_solved, value_created_wan, id FROM follow_up "
            "WHERE kind LIKE '%6m' ORDER BY engagement_id")).all()
        six_months = {row[0]: row for row in rows}
        assert len(rows) == 4 and {row[1] for row in rows} == {"review_6m"}  # one per engagement, no impact_6m
        assert str(six_months[both_open][2]) == "2026-08-01" and six_months[both_open][3] is None
        assert str(six_months[one_done][3]) == "2026-08-02" and six_months[one_done][4] == 2
        assert str(six_months[both_done][3]) == "2026-08-03"
        assert (six_months[both_done][4], float(six_months[both_done][5])) == (3, 15.5)  # figures added up
        assert str(six_months[only_impact][2]) == "2026-08-01"
        notes = connection.execute(sa.text("SELECT follow_up_id, body FROM follow_up_note")).all()
        assert (six_months[one_done][6], "成效明显") in [tuple(n) for n in notes]
        assert any(n[0] == six_months[both_done][6] and "已并入" in n[1] for n in notes)
        agreement = connection.execute(sa.text(
            "SELECT engagement_id, enterprise_id, craftsman_id, starts_on, ends_on, follow_up_id, union_name "
            "FROM agreement")).one()
        assert (agreement[0], agreement[1], agreement[5]) == (one_done, enterprise_id, ticked)
        assert (str(agreement[3]), str(agreement[4])) == ("2026-01-31", "2027-02-28")  # 13 months, end of month
        assert agreement[2] is not None and agreement[6].endswith("总工会")
        columns = {c["name"] for c in sa.inspect(connection).get_columns("follow_up")}
        assert "agreement_signed" not in columns
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
        connection.execute(sa.text("UPDATE follow_up SET kind = 'impact_6m' WHERE engagement_id = :e"),
                           {"e": only_impact})
    migrate.downgrade(fresh_database_url, _revision_before_this_one())
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT agreement_term_months FROM follow_up WHERE id = :i"),
                                  {"i": ticked}).scalar_one() == 13
    engine.dispose()
