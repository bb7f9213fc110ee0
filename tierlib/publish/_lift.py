"""Lift of last month's segments: treated against holdout, judged as an A/B test on this month's orders.

Treated members were in a segment's sent file; holdout members qualified for the
same slot and were kept back by the hash draw, so the two groups differ only in
the treatment.  Per (segment, channel), and per segment over all its channels:

- conversion (share with at least one paid order in the month): difference
  treated - holdout with Newcombe's hybrid score interval (built from the two
  Wilson intervals; sound for small holdouts and rates near 0), and a two-sided
  pooled z-test p-value;
- spend per member (net of refunds, zero for members who did not buy):
  difference with Welch's t interval (unequal variances, Welch-Satterthwaite
  degrees of freedom) and its two-sided p-value.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from tierlib.publish._contacts import require_columns
from tierlib.publish._frames import MemberIndex, positions, record_keys
from tierlib.publish._segments import HOLDOUT, TREATED

ALL_CHANNELS = "all"

LIFT_COLUMNS: dict[str, str] = {
    "segment": "string",
    "channel": "string",
    "treated_members": "int64",
    "holdout_members": "int64",
    "treated_converted": "int64",
    "holdout_converted": "int64",
    "treated_conversion_rate": "float64",
    "holdout_conversion_rate": "float64",
    "conversion_lift": "float64",
    "conversion_lift_low": "float64",
    "conversion_lift_high": "float64",
    "conversion_p_value": "float64",
    "treated_spend_per_member": "float64",
    "holdout_spend_per_member": "float64",
    "spend_lift": "float64",
    "spend_lift_low": "float64",
    "spend_lift_high": "float64",
    "spend_p_value": "float64",
}
"""One row per (segment, channel); ``channel`` is ``all`` for the segment over every channel.

Lifts are treated minus holdout; ``_low``/``_high`` bound the confidence interval.
Statistics that need more members than a group has are null.
"""


def member_outcomes(orders: pd.DataFrame, identity_map: pd.DataFrame) -> pd.DataFrame:
    """Per oneid with orders: ``converted`` (a paid order) and ``spend`` (amount net of refunds).

    Orders of records the identity map does not know are left out.
    """
    require_columns(orders, ("channel", "record_id", "amount", "refund_amount"), "orders of the month")
    require_columns(identity_map, ("channel", "record_id", "oneid"), "identity map")
    record = positions(record_keys(orders), record_keys(identity_map))
    known = record >= 0
    members = MemberIndex(identity_map["oneid"])
    member = members.codes(identity_map["oneid"])[record[known]]
    amount = orders["amount"].astype("float64").fillna(0.0).to_numpy()[known]
    refund = orders["refund_amount"].astype("float64").fillna(0.0).to_numpy()[known]
    keep = member >= 0
    member, amount, refund = member[keep], amount[keep], refund[keep]
    paid = np.bincount(member, weights=(amount > 0).astype(np.float64), minlength=len(members))
    spend = np.bincount(member, weights=amount - refund, minlength=len(members))
    bought = np.flatnonzero(np.bincount(member, minlength=len(members)) > 0)
    return pd.DataFrame(
        {"oneid": members.names(bought), "converted": paid[bought] > 0, "spend": spend[bought]}
    )


def lift_table(assignments: pd.DataFrame, outcomes: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """The lift of every (segment, channel) in ``assignments`` (a month's ASSIGNMENT_COLUMNS)."""
    require_columns(assignments, ("channel", "segment", "oneid", "group"), "last month's assignments")
    require_columns(outcomes, ("oneid", "converted", "spend"), "member outcomes")
    members = MemberIndex(assignments["oneid"], outcomes["oneid"])
    converted = np.zeros(len(members), dtype=bool)
    spend = np.zeros(len(members), dtype=np.float64)
    bought = members.codes(outcomes["oneid"])
    converted[bought] = outcomes["converted"].to_numpy(bool)
    spend[bought] = outcomes["spend"].astype("float64").to_numpy()
    member = members.codes(assignments["oneid"])
    segment = assignments["segment"].astype("string").to_numpy(dtype=object)
    channel = assignments["channel"].astype("string").to_numpy(dtype=object)
    treated_rows = (assignments["group"] == TREATED).to_numpy(bool)
    holdout_rows = (assignments["group"] == HOLDOUT).to_numpy(bool)
    rows = []
    for name in sorted(set(segment)):
        in_segment = segment == name
        treated_all = np.unique(member[in_segment & treated_rows])
        holdout_all = np.setdiff1d(np.unique(member[in_segment & holdout_rows]), treated_all)
        groups = {ALL_CHANNELS: (treated_all, holdout_all)}
        for each in sorted(set(channel[in_segment])):
            part = in_segment & (channel == each)
            groups[each] = (np.unique(member[part & treated_rows]), np.unique(member[part & holdout_rows]))
        for each, (treated, holdout) in groups.items():
            outcome = (converted[treated], spend[treated], converted[holdout], spend[holdout])
            rows.append(_row(name, each, *outcome, confidence))
    if not rows:
        return pd.DataFrame({name: [] for name in LIFT_COLUMNS}).astype(LIFT_COLUMNS)
    return pd.DataFrame(rows, columns=list(LIFT_COLUMNS)).astype(LIFT_COLUMNS)


def _row(
    segment, channel, treated_converted, treated_spend, holdout_converted, holdout_spend, confidence
) -> dict:
    n1, n0 = len(treated_converted), len(holdout_converted)
    x1, x0 = int(treated_converted.sum()), int(holdout_converted.sum())
    conversion = difference_of_proportions(x1, n1, x0, n0, confidence)
    spend = welch_difference(treated_spend, holdout_spend, confidence)
    return {
        "segment": segment,
        "channel": channel,
        "treated_members": n1,
        "holdout_members": n0,
        "treated_converted": x1,
        "holdout_converted": x0,
        "treated_conversion_rate": x1 / n1 if n1 else math.nan,
        "holdout_conversion_rate": x0 / n0 if n0 else math.nan,
        "conversion_lift": conversion[0],
        "conversion_lift_low": conversion[1],
        "conversion_lift_high": conversion[2],
        "conversion_p_value": conversion[3],
        "treated_spend_per_member": float(treated_spend.mean()) if n1 else math.nan,
        "holdout_spend_per_member": float(holdout_spend.mean()) if n0 else math.nan,
        "spend_lift": spend[0],
        "spend_lift_low": spend[1],
        "spend_lift_high": spend[2],
        "spend_p_value": spend[3],
    }


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion (NaN when ``n`` is 0)."""
    if n == 0:
        return math.nan, math.nan
    from scipy import stats  # imported here: loading the config must not pay for scipy

    z = stats.norm.ppf(0.5 + confidence / 2)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def difference_of_proportions(
    x1: int, n1: int, x0: int, n0: int, confidence: float = 0.95
) -> tuple[float, float, float, float]:
    """``(p1 - p0, low, high, p_value)``: Newcombe's hybrid score interval and the pooled z-test."""
    if n1 == 0 or n0 == 0:
        return math.nan, math.nan, math.nan, math.nan
    p1, p0 = x1 / n1, x0 / n0
    l1, u1 = wilson_interval(x1, n1, confidence)
    l0, u0 = wilson_interval(x0, n0, confidence)
    difference = p1 - p0
    low = difference - math.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2)
    high = difference + math.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2)
    from scipy import stats

    pooled = (x1 + x0) / (n1 + n0)
    standard_error = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
    p_value = 1.0 if standard_error == 0 else float(2 * stats.norm.sf(abs(difference) / standard_error))
    return difference, low, high, p_value


def welch_difference(
    treated: np.ndarray, holdout: np.ndarray, confidence: float = 0.95
) -> tuple[float, float, float, float]:
    """``(mean1 - mean0, low, high, p_value)`` by Welch's t; NaN unless both groups have 2+ members."""
    n1, n0 = len(treated), len(holdout)
    if n1 < 2 or n0 < 2:
        difference = float(treated.mean() - holdout.mean()) if n1 and n0 else math.nan
        return difference, math.nan, math.nan, math.nan
    difference = float(treated.mean() - holdout.mean())
    v1, v0 = treated.var(ddof=1) / n1, holdout.var(ddof=1) / n0
    standard_error = math.sqrt(v1 + v0)
    if standard_error == 0:
        return difference, difference, difference, 1.0 if difference == 0 else 0.0
    from scipy import stats

    dof = (v1 + v0) ** 2 / (v1**2 / (n1 - 1) + v0**2 / (n0 - 1))
    t = stats.t.ppf(0.5 + confidence / 2, dof)
    p_value = float(2 * stats.t.sf(abs(difference) / standard_error, dof))
    return difference, difference - t * standard_error, difference + t * standard_error, p_value


def lift_records(table: pd.DataFrame) -> list[dict]:
    """The table as JSON-ready rows (NaN as null)."""
    records = []
    for row in table.to_dict(orient="records"):
        records.append(
            {
                key: (None if isinstance(value, float) and math.isnan(value) else _plain(value))
                for key, value in row.items()
            }
        )
    return records


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    return value
