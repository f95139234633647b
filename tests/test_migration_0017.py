"""Migration 0017: a public merge note that named another enterprise's demand's tracking code is rewritten; a merge
within one enterprise keeps its note (on every backend)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from tests.conftest import NOW
from tests.factories import make_demand, make_enterprise
from web import migrate
from web.db import make_engine
from web.services import seeding


def _merged_with_old_note(session: Session, demand, successor) -> None:
    demand.status, demand.merged_into_id = "merged", successor.id
    session.flush()
    session.execute(sa.text(
        "INSERT INTO demand_status_event (demand_id, from_status, to_status, at, note, public) "
        "VALUES (:d, 'submitted', 'merged', :at, :note, :yes)"),
        {"d": demand.id, "at": NOW, "note": f"已并入需求 {successor.tracking_code}，该需求将继续处理您的诉求。", "yes": True})


def test_merge_notes_naming_another_enterprises_demand_are_rewritten(fresh_database_url):
    # seeded through today's models at the head, then taken back to 0016 (the models may have later columns)
    migrate.upgrade(fresh_database_url)
    engine = make_engine(fresh_database_url)
    with Session(bind=engine) as session:
        seeding.load_reference(session)
        ours, theirs = make_enterprise(session), make_enterprise(session)
        across, their_demand = make_demand(session, ours), make_demand(session, theirs)
        within, our_other = make_demand(session, ours), make_demand(session, ours)
        _merged_with_old_note(session, across, their_demand)
        _merged_with_old_note(session, within, our_other)
        session.commit()
        ids = {"across": across.id, "within": within.id}
        codes = {"across": their_demand.tracking_code, "within": our_other.tracking_code}
    migrate.downgrade(fresh_database_url, "0016")
    migrate.upgrade(fresh_database_url)
    with engine.connect() as connection:
        notes = {name: connection.execute(sa.text("SELECT note FROM demand_status_event WHERE demand_id = :d AND "
                                                  "to_status = 'merged'"), {"d": demand_id}).scalar_one()
                 for name, demand_id in ids.items()}
    engine.dispose()
    assert codes["across"] not in notes["across"] and "其他企业" in notes["across"]
    assert codes["within"] in notes["within"]
