"""The inbox's text search finds, on every backend, the demands its definition names: the title, the enterprise's
name or the tracking code contains the words (case-insensitive for ASCII, ``%`` and ``_`` taken literally). On
PostgreSQL the query reads trigram indexes and takes the enterprises named as an array of ids
(``demands._filter_conditions``): neither may change which demands are found, nor the counts by status."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.conftest import NOW, TEST_PASSWORD
from tests.factories import make_demand, make_enterprise
from web.models import Demand
from web.services import demands
from web.services.users import create_user

QUERIES = ("焊接", "精工焊接", "有限公司", "重庆", "100%", "%", "_", "a_b", "A_B", "abc", "zz-9", "不存在的词", "接科")


@pytest.fixture()
def searched(session):
    welding = make_enterprise(session, name="成都精工焊接科技有限公司")
    percent = make_enterprise(session, name="重庆100%精密a_b有限公司")
    plain = make_enterprise(session, name="绵阳机床厂")
    for enterprise, title, status in ((welding, "数控机床维修", "submitted"), (welding, "焊接变形控制", "open"),
                                      (percent, "ABC 涂装线改造", "submitted"), (percent, "良率提升100%", "open"),
                                      (plain, "精工焊接工艺评定", "needs_info"), (plain, "axb 工装设计", "open"),
                                      (plain, "重庆分厂的节能改造", "submitted")):
        make_demand(session, enterprise, title=title, status=status)
    make_demand(session, plain, title="编码查找", tracking_code="ZZ-9ABC")
    admin = create_user(session, username="search-admin", password=TEST_PASSWORD, role="admin", actor="test",
                        now=NOW)
    return session, admin


def _defined(session, q: str) -> dict[int, str]:
    """Each demand whose title, enterprise name or code contains ``q`` (ASCII case folded) → its status."""
    def has(text: str) -> bool:
        return q.lower() in text.lower()
    return {d.id: d.status for d in session.scalars(sa.select(Demand))
            if has(d.title) or has(d.enterprise.name) or has(d.tracking_code)}


@pytest.mark.parametrize("q", QUERIES)
def test_the_search_finds_what_its_definition_names(searched, q):
    session, admin = searched
    expected = _defined(session, q)
    filters = demands.InboxFilters(q=q)
    assert {d.id for d in session.scalars(demands.filtered(session, admin, filters, NOW))} == set(expected)
    page = demands.inbox(session, admin, filters, page=1, per_page=100, now=NOW)
    assert {d.id for d in page.items} == set(expected) and page.total == len(expected)
    counts: dict[str, int] = {}
    for status in expected.values():
        counts[status] = counts.get(status, 0) + 1
    assert {status: n for status, n in page.counts.items() if n} == counts


def test_on_postgresql_the_search_reads_the_trigram_indexes(searched):
    """Not a scan of every demand (1.1 s at 100,000): the OR reads the title's and the code's trigram indexes and
    the enterprises named by id (a BitmapOr). Scans of a whole table or index are priced out, as on a large table
    the planner would, so the plan shows whether that path exists at all (a name from the joined enterprise in the
    OR left none: a scan of every demand)."""
    session, admin = searched
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("SQLite has no trigram index: its search is unchanged")
    query = demands.filtered(session, admin, demands.InboxFilters(q="精工焊接"), NOW).with_only_columns(Demand.id)
    for setting in ("enable_seqscan", "enable_indexscan", "enable_indexonlyscan"):
        session.execute(sa.text(f"SET LOCAL {setting} = off"))
    compiled = query.compile(session.get_bind())
    plan = "\n".join(row[0] for row in session.connection().exec_driver_sql(f"EXPLAIN {compiled}", compiled.params))
    assert "Seq Scan on demand" not in plan, plan
    assert "ix_demand_title_trgm" in plan and "ix_demand_tracking_code_trgm" in plan, plan
