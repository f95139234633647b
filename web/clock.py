"""The one place that reads the wall clock, and the one that knows the office's calendar.

Services take ``now`` (naive UTC, as both SQLite and PostgreSQL store it here) as an argument. Whatever a person
calls "today" — ageing, overdue follow-ups, default names, reports — is the date in Beijing time, and working days
follow the Chinese working calendar (public holidays and 调休 make-up days) from the kept ``chinesecalendar`` data.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from zoneinfo import ZoneInfo

import chinese_calendar

OFFICE_TIMEZONE = ZoneInfo("Asia/Shanghai")
log = logging.getLogger("craftmatch.clock")


def utcnow() -> dt.datetime:
    """Naive UTC (what both SQLite and PostgreSQL store here)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def local(moment: dt.datetime) -> dt.datetime:
    """A naive UTC moment as naive Beijing time."""
    return moment.replace(tzinfo=dt.UTC).astimezone(OFFICE_TIMEZONE).replace(tzinfo=None)


def local_today(now: dt.datetime | None = None) -> dt.date:
    """Today's date in Beijing (the office's "today"), for ``now`` in naive UTC (default: the wall clock)."""
    return local(now or utcnow()).date()


def is_working_day(day: dt.date) -> bool:
    """A working day of the Chinese calendar; outside the years the data covers, Monday to Friday."""
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:
        _warn_outside_calendar(day.year)
        return day.weekday() < 5


@functools.cache
def _warn_outside_calendar(year: int) -> None:
    log.warning("the Chinese working calendar has no data for %s: counting Monday to Friday (update chinesecalendar)",
                year)


def working_days_before(now: dt.datetime, working_days: int) -> dt.datetime:
    """The moment ``working_days`` working days (by Beijing dates) before ``now`` (naive UTC)."""
    moment, counted = now, 0
    while counted < working_days:
        moment -= dt.timedelta(days=1)
        if is_working_day(local(moment).date()):
            counted += 1
    return moment
