"""Shared column helpers: enumerations as checked strings (portable, migration-friendly)."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa


def one_of(column: str, values: Iterable[str], name: str | None = None) -> sa.CheckConstraint:
    """A CHECK that ``column`` holds one of ``values``; named ``<column>_valid`` by default."""
    quoted = ", ".join(f"'{value}'" for value in values)
    return sa.CheckConstraint(f"{column} IN ({quoted})", name=name or f"{column}_valid")


# Money in 万元 (ten-thousand yuan): exact decimal storage, floats in Python (no SQLite Decimal warning).
Money = sa.Numeric(14, 2, asdecimal=False)
