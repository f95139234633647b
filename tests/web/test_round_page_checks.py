"""The round page's checks (pending locks and exclusions, pool changes, loads, counts) read the round's flagged
proposals once: each still tells what it told when it read them itself."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from tests.factories import make_solved_weld_round
from web.models import Proposal

PENDING = "自上次求解以来锁定、排除或容量已更改"


def _page(browser, rnd) -> str:
    return browser.text(f"/workspace/rounds/{rnd.id}")


def _publishable(page: str) -> bool:
    return re.search(r'action="/workspace/rounds/\d+/publish"', page) is not None


def _pair(session, rnd, *where):
    return session.execute(sa.select(Proposal.craftsman_id, Proposal.demand_id).where(Proposal.round_id == rnd.id,
                                                                                      *where)
                           .order_by(Proposal.demand_id, Proposal.craftsman_id).limit(1)).one()


@pytest.mark.parametrize("change", ["exclude an assigned pair", "lock an alternate"])
def test_a_lock_or_exclusion_the_solve_has_not_applied_holds_the_publish(coordinator_browser, session, change):
    rnd = make_solved_weld_round(session, "待重解")
    session.commit()
    page = _page(coordinator_browser, rnd)
    assert _publishable(page) and PENDING not in page

    if change == "exclude an assigned pair":
        mode, pair = "exclude", _pair(session, rnd, Proposal.assigned)
    else:
        mode, pair = "lock", _pair(session, rnd, Proposal.assigned.is_(False), Proposal.alternate_rank.is_not(None))
    version = re.search(r'name="version" value="(\d+)"', page).group(1)
    response = coordinator_browser.submit(f"/workspace/rounds/{rnd.id}/pair", {
        "version": version, "mode": mode, "craftsman_id": pair.craftsman_id, "demand_id": pair.demand_id},
        form_url=f"/workspace/rounds/{rnd.id}")
    assert response.status_code == 302

    page = _page(coordinator_browser, rnd)
    assert PENDING in page and not _publishable(page)
    locked_excluded = "0 / 1" if mode == "exclude" else "1 / 0"
    assert f'<div class="stat-value">{locked_excluded}</div>' in page
    assigned = session.scalar(sa.select(sa.func.count()).select_from(Proposal).where(Proposal.round_id == rnd.id,
                                                                                      Proposal.assigned))
    assert f'<div class="stat-value" id="assigned-count">{assigned}</div>' in page
