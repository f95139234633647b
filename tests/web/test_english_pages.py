"""Every page in English shows no Chinese except user data (names, titles, addresses people typed) and a few
proper names: each run of Han characters on the page must come from the database's user data and must not be
the Chinese name of a reference row (a region, industry, skill, category or honour shown untranslated).

The pages are every GET route of the app with real ids, as an admin and as the enterprise that submitted a
demand, over the demo pool with a solved and a published round; a new page joins by being registered.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from html.parser import HTMLParser

import sqlalchemy as sa

from tests.browser import Browser
from tests.conftest import TEST_PASSWORD
from web.db import Base
from web.models import Demand, DemandCategory, HonourLevel, Industry, PointsEntry, Region, Skill
from web.services import seeding

HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
REFERENCE_TABLES = {"region", "industry", "skill", "demand_category", "honour_level"}
PROPER_NAMES = {"匠"}  # the brand mark in the header
ANNOUNCED_ATTRIBUTES = ("title", "aria-label", "placeholder", "alt")
# English words listed with the Chinese enumeration comma (a list joined with "、" whatever the language)
LATIN_ENUMERATION = re.compile(r"[A-Za-z)]、[A-Za-z(]")


class _VisibleText(HTMLParser):
    """The text a reader sees or hears: text nodes and announced attributes, not scripts, styles or elements
    marked as Chinese (the language switch's "中文")."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag in ("script", "style") or (values.get("lang") or "").startswith("zh"):
            self._skip.append(tag)
        if not self._skip:
            self.parts.extend(values[name] or "" for name in ANNOUNCED_ATTRIBUTES if name in values)

    def handle_endtag(self, tag: str) -> None:
        if self._skip and self._skip[-1] == tag:
            self._skip.pop()

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def visible_text(page: str) -> list[str]:
    parser = _VisibleText()
    parser.feed(page)
    return [part.strip() for part in parser.parts if part.strip()]


def _user_data(session) -> list[str]:
    """Every text value (and line of one) of the tables people and imports fill, JSON columns included."""
    values: set[str] = set()
    for table in Base.metadata.sorted_tables:
        if table.name in REFERENCE_TABLES:
            continue
        for row in session.execute(sa.select(table)).all():
            for value in row:
                if isinstance(value, dict | list):
                    value = json.dumps(value, ensure_ascii=False)
                if isinstance(value, str) and HAN.search(value):
                    values.add(value.strip())
                    values.update(line.strip() for line in value.splitlines() if HAN.search(line))
    return sorted(values)


def _reference_names(session) -> set[str]:
    names = {name for model in (Industry, Skill, DemandCategory, HonourLevel)
             for name in session.scalars(sa.select(model.name_zh))}
    names |= {region.name for region in session.scalars(sa.select(Region))}
    names |= {region.full_name for region in session.scalars(sa.select(Region).where(Region.level != "province"))}
    return names


def untranslated(parts: list[str], user_data: list[str], reference_names: set[str]) -> list[str]:
    """Han runs of the page's texts that are neither user data nor a proper name. A run that is also a
    reference name passes only as or inside a user-data value on the same text (a title naming a skill)."""
    corpus, whole_values = "\n".join(user_data), set(user_data)
    found = []
    for text in parts:
        for match in HAN.finditer(text):
            run = match.group()
            if run in PROPER_NAMES:
                continue
            if run in corpus and (run not in reference_names or text in whole_values
                                  or any(len(value) > len(run) and run in value and value in text
                                         for value in user_data)):
                continue
            found.append(f"{run!r} in …{text[max(0, match.start() - 30):match.end() + 30]!r}…")
    return found


def _pages(app, session) -> Iterator[str]:
    """Every GET route once, its ids those of the first rows (the newest round: the published one)."""
    tables = {"craftsman_id": "craftsman", "demand_id": "demand", "engagement_id": "engagement",
              "follow_up_id": "follow_up", "attachment_id": "attachment", "round_id": "matching_round",
              "outcome_id": "outcome", "member_id": "engagement_member"}
    values = {name: session.scalar(sa.select(sa.func.max(Base.metadata.tables[table].c.id)))
              for name, table in tables.items()}
    values["code"] = _tracked_demand(session)[0]
    values["kind"] = "two_weeks"
    for rule in sorted(app.url_map.iter_rules(), key=lambda rule: rule.rule):
        if "GET" not in rule.methods or rule.endpoint == "static" or rule.rule.startswith("/api"):
            continue
        if any(values.get(name) is None for name in rule.arguments):
            continue
        path = rule.rule
        for name in rule.arguments:
            path = re.sub(rf"<(?:\w+:)?{name}>", str(values[name]), path)
        yield path


def _tracked_demand(session) -> tuple[str, str]:
    return session.execute(sa.select(Demand.tracking_code, Demand.contact_phone)
                           .where(Demand.status == "completed").order_by(Demand.id).limit(1)).one()


def test_every_page_in_english_shows_chinese_only_in_user_data(app, request, make_user):
    session = request.getfixturevalue("demo_session")
    user_data, reference_names = _user_data(session), _reference_names(session)
    make_user("english_admin", "admin")
    browser = Browser(app.test_client())
    assert browser.login("english_admin", TEST_PASSWORD).status_code == 302
    code, phone = _tracked_demand(session)
    browser.submit("/demand/track?lang=en", {"tracking_code": code, "last4": phone[-4:]})  # the status page
    problems: dict[str, list[str]] = {}
    checked = 0
    for path in _pages(app, session):
        response = browser.get(path + "?lang=en")
        if response.status_code != 200 or response.mimetype != "text/html":
            continue
        checked += 1
        parts = visible_text(response.get_data(as_text=True))
        found = untranslated(parts, user_data, reference_names)
        found += [f"{text!r} joins English with 、" for text in parts if LATIN_ENUMERATION.search(text)]
        if found:
            problems[path] = found[:8]
    assert checked >= 30
    assert problems == {}, "\n".join(f"{path}: {found}" for path, found in problems.items())


def test_the_check_sees_chinese_text_attributes_and_reference_names():
    page = ('<p>Region: 成都市</p><input placeholder="请选择"><a lang="zh-CN" href="?lang=zh_CN">中文</a>'
            '<script>var s = "脚本";</script><p>Craftsman 张三</p>')
    found = untranslated(visible_text(page), user_data=["张三", "四川省成都市武侯区"], reference_names={"成都市"})
    assert [entry.split(" in ")[0] for entry in found] == ["'成都市'", "'请选择'"]


def test_the_opening_balance_reads_in_english(app, request, make_user):
    """The seed stores the opening balance's text in Chinese: the ledger and the profile say it in English."""
    session = request.getfixturevalue("demo_session")
    craftsman_id = session.scalar(sa.select(PointsEntry.craftsman_id).where(PointsEntry.rule == "opening_balance")
                                  .order_by(PointsEntry.id).limit(1))
    make_user("english_viewer", "coordinator")
    browser = Browser(app.test_client())
    assert browser.login("english_viewer", TEST_PASSWORD).status_code == 302
    for path in (f"/workspace/engagements/craftsmen/{craftsman_id}/points", f"/workspace/craftsmen/{craftsman_id}"):
        english = html.unescape(browser.text(path + "?lang=en"))
        assert seeding.OPENING_BALANCE_EXPLANATION not in english
        assert "Points brought in from the pool's earlier records" in english
        assert seeding.OPENING_BALANCE_EXPLANATION in browser.text(path + "?lang=zh_CN")
