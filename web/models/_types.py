"""Shared column helpers: enumerations as checked strings (portable, migration-friendly)."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa


def one_of(column: str, values: Iterable[str], name: str | None = None) -> sa.CheckConstraint:
    """A CHECK that ``column`` holds one of ``values``; named ``<column>_valid`` by default."""
    quoted = ", ".join(f"'{value}'" for value in values)
    return sa.CheckConstraint(f"{column} IN ({quoted})", name=name or f"{column}_valid")


# Money in 万元 (ten-thousand yuan): exact decimal storage, floats in Python (no SQLite Decimal warning).
Money = sa.Numeric(14, 2, asdecimal=False)


class TitledStrEnum(enum.StrEnum):
    """A state stored as its plain string, with the title users read (indico's ``TitledIntEnum``, for strings).

    ``DemandStatus.open == "open"`` holds, so columns, JSON and queries keep plain strings; ``.label`` is the
    translatable title shown in every page, report and export.
    """

    label: Any

    def __new__(cls, value: str, label: Any):
        member = str.__new__(cls, value)
        member._value_ = value
        member.label = label
        return member

    @classmethod
    def values(cls) -> tuple[str, ...]:
        return tuple(member.value for member in cls)

    @classmethod
    def labels(cls) -> dict[str, Any]:
        return {member.value: member.label for member in cls}
