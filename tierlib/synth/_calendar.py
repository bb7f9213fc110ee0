"""Month arithmetic on int64 seconds since 1970 (naive local time)."""

from __future__ import annotations

import numpy as np

DAY = 86_400
YEAR = 365.25 * DAY
LOCAL_UTC_OFFSET = 8 * 3600
"""Channels that report Unix instants (wechat epoch seconds) are in China Standard Time."""


def month_starts(start: str, months: int) -> np.ndarray:
    """Start of each month in ``[start, start + months]`` (months + 1 bounds), in seconds."""
    first = np.datetime64(start, "M")
    bounds = first + np.arange(months + 1)
    return bounds.astype("datetime64[s]").astype(np.int64)


def period_labels(start: str, months: int) -> list[str]:
    first = np.datetime64(start, "M")
    return [str(first + i) for i in range(months)]


def period_of(seconds: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Index of the month each time falls in (-1 before the first, months after the last)."""
    return np.searchsorted(bounds, seconds, side="right").astype(np.int32) - 1
