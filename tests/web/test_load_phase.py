"""The first solve's reads (issue 15 item 3, the click's load phase): the same fingerprints and features, read with
less of this process's work."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from tests.factories import make_demand
from web.models import Demand, DemandRole, Skill
from web.services import eligibility

TRICKY_TEXTS = ['引号"与\\反斜杠', "换行\n回车\r制表\t退格\b换页\f", "控制\x01\x1f与\x7f删除", "emoji 🔧 与 ü é",
                "", "None", "'单引号' -- ;"]


def _python_fingerprints(session, monkeypatch, ids):
    with monkeypatch.context() as patched:
        patched.setattr(eligibility, "hashes_on_server", lambda session: False)
        return eligibility.demand_fingerprints(session, ids)


def test_the_server_hashes_the_fingerprints_python_would(session, monkeypatch):
    if not eligibility.hashes_on_server(session):
        pytest.skip("only PostgreSQL hashes them itself")
    weld, electrical = (session.scalar(sa.select(Skill.id).where(Skill.code == code)) for code in ("weld", "electrical"))
    demands = [make_demand(session, title=text[:100] or "空", description=text, support_needed=text[::-1],
                           other_skills=text, skills={"weld": 3, "electrical": 1}, industries=None)
               for text in TRICKY_TEXTS]
    demands.append(make_demand(session, skills={}, window_start=None, window_end=None, team_size=3, mode="remote",
                               urgency="high"))
    demands.append(make_demand(session, window_start=dt.date(987, 1, 2), window_end=dt.date(9999, 12, 31)))
    for demand, roles in ((demands[0], [(weld, 2)]), (demands[-1], [(weld, 3), (electrical, 1)])):
        session.execute(sa.insert(DemandRole), [{"demand_id": demand.id, "skill_id": skill, "count": count}
                                                for skill, count in roles])
    ids = [demand.id for demand in demands]
    session.expire_all()
    assert session.scalar(sa.select(Demand.description).where(Demand.id == ids[1])) == TRICKY_TEXTS[1]

    by_server = eligibility.demand_fingerprints(session, ids)
    by_python = _python_fingerprints(session, monkeypatch, ids)
    assert dict(by_server) == dict(by_python) and len(by_server) == len(ids)
    assert by_server.revisions == by_python.revisions
