"""Assign every member exactly one tier by the first config rule that holds, with the reason."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tierlib.errors import InputError
from tierlib.tiers._expr import Expression, parse_rule
from tierlib.tiers._settings import TierSettings

TIER_COLUMNS: dict[str, str] = {
    "oneid": "string",
    "tier": "string",
    "previous_tier": "string",
    "rfm_cell": "string",
    "lifecycle_stage": "string",
    "reason": "string",
    "vip": "bool",
    "predicted_value_90d": "float64",
    "churn_probability": "float64",
}
"""The tiers table, one row per member (``previous_tier`` is null for members new this month)."""

REQUIRED_COLUMNS = ("oneid", "predicted_value_90d", "churn_probability")


def value_percentile(predicted_value: pd.Series) -> np.ndarray:
    """Rank by predicted value as a share in (0, 1]; ties share their average rank."""
    return predicted_value.rank(method="average", pct=True).to_numpy(dtype=np.float64)


def vip_flags(members: pd.DataFrame, top_share: float) -> np.ndarray:
    """True for exactly the top ``ceil(top_share * n)`` members by predicted value.

    Ties at the boundary are broken by oneid so the flag does not depend on row order.
    """
    n = len(members)
    count = int(np.ceil(top_share * n - 1e-9))
    order = np.lexsort((members["oneid"].astype(str).to_numpy(), -members["predicted_value_90d"].to_numpy()))
    flags = np.zeros(n, dtype=bool)
    flags[order[:count]] = True
    return flags


def rule_frame(members: pd.DataFrame, settings: TierSettings) -> pd.DataFrame:
    """The columns rules see: the member's scores and features plus ``value_percentile`` and ``vip``."""
    missing = [column for column in REQUIRED_COLUMNS if column not in members.columns]
    if missing:
        raise InputError(
            f"tier assignment needs column(s) {missing}; got {sorted(map(str, members.columns))}"
        )
    if members["oneid"].duplicated().any():
        example = members.loc[members["oneid"].duplicated(), "oneid"].iloc[0]
        raise InputError(f"tier assignment needs one row per oneid; {example!r} appears more than once")
    frame = members.reset_index(drop=True).copy()
    frame["predicted_value_90d"] = frame["predicted_value_90d"].astype("float64")
    frame["churn_probability"] = frame["churn_probability"].astype("float64")
    frame["value_percentile"] = value_percentile(frame["predicted_value_90d"])
    frame["vip"] = vip_flags(frame, settings.vip_top_share)
    return frame


def assign_tiers(
    members: pd.DataFrame,
    settings: TierSettings,
    previous: pd.DataFrame | None = None,
    *,
    rfm_cell_column: str = "rfm_cell",
    lifecycle_column: str = "lifecycle_stage",
) -> pd.DataFrame:
    """The tiers table for one month.

    ``members``: one row per oneid with ``predicted_value_90d``, ``churn_probability``
    and whatever feature columns the rules name.  ``previous``: last month's tiers
    table (or None in the first month).  Rows come out sorted by oneid.
    """
    frame = rule_frame(members, settings)
    rules = [(rule.tier, parse_rule(rule.when)) for rule in settings.rules]
    _check_rule_columns(rules, frame)
    tier = np.full(len(frame), None, dtype=object)
    reason = np.full(len(frame), None, dtype=object)
    unassigned = np.ones(len(frame), dtype=bool)
    for position, (name, expression) in enumerate(rules, start=1):
        hits = unassigned & expression.evaluate(frame)
        if hits.any():
            tier[hits] = name
            reason[hits] = _reasons(position, name, expression, frame.loc[hits])
            unassigned &= ~hits
    if unassigned.any():  # cannot happen with a catch-all last rule; guarded all the same
        raise InputError(
            f"{int(unassigned.sum())} members matched no tier rule; end the rules with when: 'true'"
        )
    out = pd.DataFrame(
        {
            "oneid": frame["oneid"].astype("string"),
            "tier": pd.array(tier, dtype="string"),
            "previous_tier": _previous_tiers(frame["oneid"], previous),
            "rfm_cell": _text_column(frame, rfm_cell_column),
            "lifecycle_stage": _text_column(frame, lifecycle_column),
            "reason": pd.array(reason, dtype="string"),
            "vip": frame["vip"].astype(bool),
            "predicted_value_90d": frame["predicted_value_90d"],
            "churn_probability": frame["churn_probability"],
        }
    )
    return out.sort_values("oneid", kind="stable").reset_index(drop=True)


def _check_rule_columns(rules: list[tuple[str, Expression]], frame: pd.DataFrame) -> None:
    problems = [
        f"rule {name} ({expression.text!r}) reads {column!r}"
        for name, expression in rules
        for column in expression.columns
        if column not in frame.columns
    ]
    if problems:
        raise InputError(
            "tiers.rules name columns the scored members do not have: "
            + "; ".join(problems)
            + f". Available: {sorted(map(str, frame.columns))}. Fix config section 'tiers'."
        )


def _reasons(position: int, name: str, expression: Expression, rows: pd.DataFrame) -> np.ndarray:
    """'rule 2 potential_high_value: <rule> [value_percentile=0.71, churn_probability=0.22]' per row."""
    prefix = f"rule {position} {name}: {expression.text}"
    if not expression.columns:
        return np.full(len(rows), prefix, dtype=object)
    parts = [_format_values(column, rows[column]) for column in expression.columns]
    text = parts[0]
    for part in parts[1:]:
        text = text + ", " + part
    return (prefix + " [" + text + "]").to_numpy(dtype=object)


def _format_values(column: str, values: pd.Series) -> pd.Series:
    if pd.api.types.is_bool_dtype(values.dtype):
        shown = values.astype("string").str.lower()
    elif pd.api.types.is_numeric_dtype(values.dtype):
        numbers = values.astype("float64").round(4)
        shown = numbers.astype(str).where(numbers.notna(), "null")
    else:
        shown = values.astype("string")
    return column + "=" + shown.fillna("null").astype(str)


def _text_column(frame: pd.DataFrame, column: str) -> pd.Series:
    if column in frame.columns:
        return frame[column].astype("string")
    return pd.Series(pd.NA, index=frame.index, dtype="string")


def _previous_tiers(oneids: pd.Series, previous: pd.DataFrame | None) -> pd.Series:
    if previous is None or previous.empty:
        return pd.Series(pd.NA, index=oneids.index, dtype="string")
    last = previous.drop_duplicates("oneid", keep="last")
    mapping = pd.Series(last["tier"].astype("string").to_numpy(), index=last["oneid"].astype(str).to_numpy())
    return pd.Series(oneids.astype(str).map(mapping).to_numpy(), index=oneids.index, dtype="string")
