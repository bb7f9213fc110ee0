"""Months as the unit of work: a run of month ``YYYY-MM`` covers [first day, first day of next month).

The as-of date of run M is the end of month M, taken as the exclusive upper bound
of its data: the first instant of the following month.
"""

from __future__ import annotations

import re
from datetime import date, datetime

from tierlib.errors import TierflowError

_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def parse_period(text: str) -> tuple[int, int]:
    """``"2026-10"`` -> ``(2026, 10)``; anything else raises with the expected form."""
    match = _PERIOD.match(str(text).strip())
    if not match:
        raise TierflowError(f"period {text!r} is not a month: write it as YYYY-MM, for example 2026-10")
    return int(match.group(1)), int(match.group(2))


def format_period(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}"


def shift_period(period: str, months: int) -> str:
    year, month = parse_period(period)
    index = year * 12 + (month - 1) + months
    return format_period(index // 12, index % 12 + 1)


def previous_period(period: str) -> str:
    return shift_period(period, -1)


def period_start(period: str) -> datetime:
    year, month = parse_period(period)
    return datetime(year, month, 1)


def period_end(period: str) -> datetime:
    """Exclusive upper bound of the month: the first instant of the next month."""
    return period_start(shift_period(period, 1))


def as_of(period: str) -> datetime:
    """The as-of instant of a monthly run: everything strictly before it counts."""
    return period_end(period)


def periods_between(first: str, last: str) -> list[str]:
    """Every month from ``first`` to ``last`` inclusive, in order."""
    first_year, first_month = parse_period(first)
    last_year, last_month = parse_period(last)
    count = (last_year * 12 + last_month) - (first_year * 12 + first_month) + 1
    return [shift_period(first, offset) for offset in range(max(count, 0))]


def period_of(moment: date | datetime) -> str:
    return format_period(moment.year, moment.month)


def period_for_run(
    requested: str | None,
    data_interval_start: datetime | None,
    run_after: datetime | None,
) -> str:
    """The month a DAG run works on.

    An explicit ``period`` param wins.  A scheduled run on the monthly interval
    timetable starts its interval on the first of the month it covers, so the
    interval start names the month.  A run triggered without a date has no data
    interval at all; it then works on the last complete month before it was
    asked to run.
    """
    if requested:
        return format_period(*parse_period(requested))
    if data_interval_start is not None:
        return period_of(data_interval_start)
    if run_after is not None:
        return previous_period(period_of(run_after))
    raise TierflowError("cannot tell which month to run: pass the 'period' param as YYYY-MM")
