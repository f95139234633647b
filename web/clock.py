"""The one place that reads the wall clock; services take ``now`` as an argument instead."""

from __future__ import annotations

import datetime as dt


def utcnow() -> dt.datetime:
    """Naive UTC (what both SQLite and PostgreSQL store here)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)
