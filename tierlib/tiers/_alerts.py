"""Alerts for operators: high-value members gone quiet, and migration figures out of bounds.

Alerts inform; they never fail a run.  The runner writes and logs them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tierlib.tiers._expr import parse_rule
from tierlib.tiers._settings import AlertSettings

ALERT_COLUMNS: dict[str, str] = {
    "oneid": "string",
    "level": "string",
    "tier": "string",
    "vip": "bool",
    "value_percentile": "float64",
    "predicted_value_90d": "float64",
    "churn_probability": "float64",
    "days_inactive": "float64",
    "reason": "string",
}
"""The inactive high-value list, most severe level first, then by predicted value."""


def inactive_high_value(members: pd.DataFrame, settings: AlertSettings) -> pd.DataFrame:
    """High-value members inactive for at least ``inactive_days``, each with a level.

    ``members``: the month's tiers with ``value_percentile`` and ``days_inactive``
    (days since the last purchase or engagement, whichever is later).
    """
    high_value = parse_rule(settings.high_value_when).evaluate(members)
    days = members["days_inactive"].astype("float64").to_numpy()
    listed = high_value & (np.nan_to_num(days, nan=-1.0) >= settings.inactive_days)
    rows = members.loc[listed].copy()
    level = np.full(len(rows), None, dtype=object)
    open_rows = np.ones(len(rows), dtype=bool)
    percentile = rows["value_percentile"].to_numpy(dtype=np.float64)
    row_days = rows["days_inactive"].to_numpy(dtype=np.float64)
    for bounds in settings.levels:
        hits = (
            open_rows & (percentile >= bounds.min_value_percentile) & (row_days >= bounds.min_days_inactive)
        )
        level[hits] = bounds.level
        open_rows &= ~hits
    rows["level"] = level
    rows["reason"] = (
        "no purchase or engagement for "
        + rows["days_inactive"].round(0).astype("int64").astype(str)
        + " days; value percentile "
        + rows["value_percentile"].round(3).astype(str)
        + "; tier "
        + rows["tier"].astype(str)
    )
    severity = {bounds.level: position for position, bounds in enumerate(settings.levels)}
    rows["_severity"] = rows["level"].map(severity)
    rows = rows.sort_values(
        ["_severity", "predicted_value_90d", "oneid"], ascending=[True, False, True], kind="stable"
    )
    return rows[list(ALERT_COLUMNS)].astype(ALERT_COLUMNS).reset_index(drop=True)


def threshold_warnings(summary: dict, settings: AlertSettings) -> list[dict]:
    """Warnings for the month's migration figures (see ``migration_summary``) out of bounds."""
    if not summary.get("has_previous"):
        return []
    checks = [
        (
            "potential_conversion_low",
            summary.get("potential_to_high_conversion"),
            settings.min_potential_conversion,
            lambda value, bound: value < bound,
            "potential-to-high conversion {value:.1%} is under {bound:.0%}",
        ),
        (
            "tier_change_high",
            summary.get("tier_change_share"),
            settings.max_tier_change_share,
            lambda value, bound: value > bound,
            "{value:.1%} of members changed tier, more than {bound:.0%}",
        ),
        (
            "value_variance_moved",
            summary.get("value_variance_change"),
            settings.max_value_variance_change,
            lambda value, bound: abs(value) > bound,
            "the variance of predicted value moved {value:+.1%}, more than ±{bound:.0%}",
        ),
    ]
    warnings = []
    for code, value, bound, breached, message in checks:
        if value is not None and breached(value, bound):
            warnings.append(
                {
                    "code": code,
                    "value": value,
                    "threshold": bound,
                    "message": message.format(value=value, bound=bound),
                }
            )
    return warnings


def days_inactive(
    days_since_purchase: pd.Series, days_since_engagement: pd.Series, tenure_days: pd.Series | None = None
) -> pd.Series:
    """Days since the more recent of the last purchase and the last engagement.

    A member never active at all counts from when first seen (``tenure_days``),
    so someone who joined last week is not "inactive for 30 days".
    """
    days = pd.concat(
        [days_since_purchase.astype("float64"), days_since_engagement.astype("float64")], axis=1
    ).min(axis=1, skipna=True)
    if tenure_days is not None:
        days = days.fillna(tenure_days.astype("float64"))
    return days
