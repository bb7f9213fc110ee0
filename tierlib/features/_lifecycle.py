"""Lifecycle stage of each member at the as-of date.

Days are calendar days before the as-of date (yesterday is 1 day ago).  With
N = ``new_days``, A = ``active_days`` and C = ``churn_days`` (A < C), the first
rule that matches wins:

Members with a purchase:

1. ``new``: the first purchase is at most N days ago;
2. ``reactivated``: the last purchase is at most A days ago and came more than C
   days after the purchase day before it (they had churned, and are back);
3. ``active``: the last purchase is at most A days ago;
4. ``silent``: the last purchase is more than A but at most C days ago;
5. ``churned``: the last purchase is more than C days ago.

Members without a purchase are judged by their earliest registration (any
channel) instead: ``new`` within N days, ``silent`` within C days, ``churned``
beyond, and ``churned`` when no registration date is known either.
"""

from __future__ import annotations

import numpy as np

STAGES = ("new", "active", "silent", "churned", "reactivated")

INT_MIN = np.iinfo(np.int64).min
INT_MAX = np.iinfo(np.int64).max


def lifecycle_stages(
    member: np.ndarray,
    day: np.ndarray,
    first: np.ndarray,
    last: np.ndarray,
    registered_first_day: np.ndarray,
    as_of_day: int,
    *,
    new_days: int,
    active_days: int,
    churn_days: int,
) -> np.ndarray:
    """Index into ``STAGES`` per member code 0..n-1 from per-purchase member codes and days.

    ``first`` and ``last`` are each member's first and last purchase day (int64 max and
    min when none); ``registered_first_day`` the earliest registration day, -1 when unknown.
    """
    n = len(first)
    buyer = last != INT_MIN
    # the purchase day before the last one: the latest day strictly before each member's last
    before_last = day < last[member]
    previous = np.full(n, INT_MIN)
    np.maximum.at(previous, member[before_last], day[before_last])
    has_previous = previous != INT_MIN

    since_first = as_of_day - first
    since_last = as_of_day - last
    gap = last - previous

    stage = np.full(n, STAGES.index("churned"), dtype=np.int8)
    stage[buyer & (since_last <= churn_days)] = STAGES.index("silent")
    stage[buyer & (since_last <= active_days)] = STAGES.index("active")
    stage[buyer & (since_last <= active_days) & has_previous & (gap > churn_days)] = STAGES.index(
        "reactivated"
    )
    stage[buyer & (since_first <= new_days)] = STAGES.index("new")

    registered = ~buyer & (registered_first_day >= 0)
    since_registered = as_of_day - registered_first_day
    stage[registered & (since_registered <= churn_days)] = STAGES.index("silent")
    stage[registered & (since_registered <= new_days)] = STAGES.index("new")
    return stage
