"""Reference data of craftmatch: regions, industries, skills, demand categories, honours.

The CSV files live in ``seeds/reference/`` and are read through
``importlib.resources`` so they work from a checkout, a wheel or a zip,
whatever the current directory.  Every loader returns a fresh list of dicts
with parsed values: ints and floats where the column is numeric, ``None`` for
empty cells, strings otherwise.  Codes are stable natural keys.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from functools import cache
from importlib import resources

REFERENCE_PACKAGE = "seeds"
REFERENCE_FOLDER = "reference"


def _text_or_none(value: str) -> str | None:
    return value if value != "" else None


def _int_or_none(value: str) -> int | None:
    return int(value) if value != "" else None


def _float_or_none(value: str) -> float | None:
    return float(value) if value != "" else None


Parser = Callable[[str], object]


@cache
def _read_rows(filename: str) -> tuple[dict[str, str], ...]:
    data = resources.files(REFERENCE_PACKAGE).joinpath(REFERENCE_FOLDER, filename).read_text(encoding="utf-8")
    return tuple(csv.DictReader(io.StringIO(data)))


def _load(filename: str, parsers: dict[str, Parser]) -> list[dict]:
    """Rows of ``filename``; columns named in ``parsers`` are converted, others kept as text or None."""
    return [
        {column: parsers.get(column, _text_or_none)(value) for column, value in row.items()}
        for row in _read_rows(filename)
    ]


def load_regions() -> list[dict]:
    """Provinces, Sichuan prefectures and all county-level units of Sichuan and Chongqing."""
    return _load("regions.csv", {"lat": _float_or_none, "lon": _float_or_none})


def load_functional_areas() -> list[dict]:
    """New areas and high-tech zones (两江新区, 成都高新区 ...) that are not administrative units.

    ``county_code`` is the county-level region a record located in the area should use.
    """
    return _load("functional_areas.csv", {"lat": _float_or_none, "lon": _float_or_none})


def load_industries() -> list[dict]:
    return _load("industries.csv", {})


def load_skills() -> list[dict]:
    """Skill tree: group rows have parent_code None, leaf skills point at their group."""
    return _load("skills.csv", {})


def load_demand_categories() -> list[dict]:
    return _load("demand_categories.csv", {"sort": int})


def load_honour_levels() -> list[dict]:
    return _load("honour_levels.csv", {"rank": int, "province_code": _text_or_none})


def leaf_skill_codes() -> list[str]:
    skills = load_skills()
    parents = {skill["parent_code"] for skill in skills}
    return [skill["code"] for skill in skills if skill["code"] not in parents]
