"""Numbers as people read them, shared by the charts and the HTML page."""

from __future__ import annotations

import math


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def count(value) -> str:
    return "–" if _missing(value) else f"{round(float(value)):,}"


def compact(value) -> str:
    """12,345 -> 12.3k; 1,234,567 -> 1.23M; small numbers as they are."""
    if _missing(value):
        return "–"
    magnitude = abs(value)
    if magnitude >= 1e9:
        return f"{value / 1e9:.2f}B"
    if magnitude >= 1e6:
        return f"{value / 1e6:.2f}M"
    if magnitude >= 1e4:
        return f"{value / 1e3:.1f}k"
    if magnitude >= 100:
        return f"{value:,.0f}"
    return f"{value:,.1f}"


def percent(value, digits: int = 1) -> str:
    return "–" if _missing(value) else f"{value * 100:.{digits}f}%"


def signed(value, kind: str = "count") -> str:
    """A month-over-month change: +120, -3.4k, +2.1 pp."""
    if _missing(value):
        return ""
    if kind == "pp":
        return f"{value * 100:+.1f} pp"
    if kind == "compact":
        text = compact(abs(value))
        return ("+" if value >= 0 else "-") + text
    return f"{round(float(value)):+,}"


def metric(value, digits: int = 3) -> str:
    return "–" if _missing(value) else f"{value:.{digits}f}"
