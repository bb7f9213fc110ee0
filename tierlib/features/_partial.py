"""Features in two steps: per-member partials of any OneID partition, then the population parts.

Almost every feature is a member's own aggregate, so it can be computed on any subset of
members that holds all of their rows.  Three parts look at the whole population: the RFM
quintile scores (ranks among all buyers), the 8-cell high/low split (mean or median of all
buyers) and the BG/NBD + Gamma-Gamma fit.  ``member_partials`` computes the per-member part of
some members (with the CLV summary the fit needs); ``combine_partials`` takes the partials,
orders members by OneID as ``compute_features`` does, and computes the population parts once
over all of them.  The embedded engine runs the two steps in one process, the Spark engine the
first per OneID hash partition.  The result does not depend on how members were split, and
equals ``compute_features`` on the whole population (tests/test_features_partials.py).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tierlib.clv._summary import summarize_periods
from tierlib.errors import InputError
from tierlib.features._activity import (
    channel_count,
    engagement_features,
    spending_features,
    tenure_days,
)
from tierlib.features._clv import _periods, fit_and_predict
from tierlib.features._compute import FEATURE_COLUMNS, _as_of, member_core
from tierlib.features._inputs import prepare
from tierlib.features._lifecycle import STAGES
from tierlib.features._rfm import cell_labels, high_low, quintile_scores, rfm_cells
from tierlib.features._settings import FeatureSettings
from tierlib.schemas import EVENT_TYPES

CLV_MONETARY = "clv_monetary_value"
"""Partials only: a buyer's mean repeat-period spend, the Gamma-Gamma input."""

POPULATION_CLV = ("expected_purchases_90d", "probability_alive", "expected_average_value", "clv")
STRING_COLUMNS = ("oneid", "rfm_code", "rfm_cell", "rfm_cell_en", "lifecycle_stage")


def member_partials(
    orders: pd.DataFrame,
    events: pd.DataFrame,
    records: pd.DataFrame,
    as_of,
    settings: FeatureSettings | None = None,
) -> pd.DataFrame:
    """Per-member features of the members in these rows (sorted by OneID), without the population parts.

    Takes what ``compute_features`` takes; every member's rows must all be here.
    """
    settings = FeatureSettings() if settings is None else settings
    inputs = prepare(orders, events, records, _as_of(as_of), EVENT_TYPES)
    n, purchase, net, member, day, first_day, last_day, rfm, registered, stage = member_core(inputs, settings)
    columns: dict[str, object] = {"oneid": inputs.ids.to_numpy()}
    for name in ("recency_days", "frequency", "monetary", "avg_order_value"):
        columns[name] = rfm[name]
    columns["lifecycle_stage"] = np.array(STAGES, dtype=object)[stage]
    columns["tenure_days"] = tenure_days(inputs, registered)
    columns.update(_clv_summary(n, member, day, net[purchase], first_day, last_day, inputs, settings))
    columns.update(engagement_features(inputs, EVENT_TYPES, settings.engagement_days))
    columns.update(spending_features(inputs, purchase))
    columns["channel_count"] = channel_count(inputs)
    return pd.DataFrame(columns)


def combine_partials(partials: list[pd.DataFrame], as_of, settings: FeatureSettings | None = None):
    """The feature table (as ``compute_features`` returns it) from every partition's partials."""
    settings = FeatureSettings() if settings is None else settings
    as_of = _as_of(as_of)
    frames = [frame for frame in partials if len(frame)] or partials[:1]
    merged = pd.concat(frames, ignore_index=True)
    order = np.argsort(merged["oneid"].to_numpy(dtype=object), kind="stable")
    merged = merged.take(order).reset_index(drop=True)
    if merged["oneid"].duplicated().any():
        raise InputError("features: a OneID appears in more than one partition; partition the rows by oneid")

    columns = {name: merged[name].to_numpy() for name in merged.columns}
    columns.update(_rfm_population(columns, settings.rfm_split))
    fitted: dict = {}
    if settings.clv_enabled:
        clv, fitted = _clv_population(columns, settings)
        columns.update(clv)
    frame = pd.DataFrame({name: columns[name] for name in FEATURE_COLUMNS})
    for name in STRING_COLUMNS:
        frame[name] = frame[name].astype("string")
    frame.attrs["as_of"] = str(as_of.date())
    frame.attrs["clv"] = fitted
    return frame


def _clv_summary(n, member, day, net_amount, first_day, last_day, inputs, settings) -> dict:
    """Per-member frequency, recency, T and mean repeat spend in CLV periods (NaN for non-buyers)."""
    if not settings.clv_enabled:
        return {name: np.full(n, np.nan) for name in ("clv_frequency", "clv_recency", "clv_T", CLV_MONETARY)}
    time_unit = settings.clv_time_unit
    last_period = int(_periods(np.array([inputs.as_of_day - 1]), time_unit)[0])
    buyer = last_day != np.iinfo(np.int64).min
    first_period = np.where(buyer, _periods(np.where(buyer, first_day, 0), time_unit), first_day)
    last_period_of = np.where(buyer, _periods(np.where(buyer, last_day, 0), time_unit), last_day)
    summary = summarize_periods(
        member,
        _periods(day, time_unit),
        net_amount,
        n,
        last_period,
        first_last=(first_period, last_period_of),
    )
    return {
        "clv_frequency": summary["frequency"],
        "clv_recency": summary["recency"],
        "clv_T": summary["T"],
        CLV_MONETARY: summary["monetary_value"],
    }


def _rfm_population(columns: dict, split: str) -> dict[str, np.ndarray]:
    frequency = np.asarray(columns["frequency"], dtype=np.int64)
    recency = np.asarray(columns["recency_days"], dtype=np.float64)
    monetary = np.asarray(columns["monetary"], dtype=np.float64)
    n = frequency.size
    buyer = frequency > 0
    scores = {name: np.zeros(n, dtype=np.int8) for name in ("r_score", "f_score", "m_score")}
    scores["r_score"][buyer] = quintile_scores(recency[buyer], higher_is_better=False)
    scores["f_score"][buyer] = quintile_scores(frequency[buyer])
    scores["m_score"][buyer] = quintile_scores(monetary[buyer])
    cell = np.full(n, -1, dtype=np.int8)
    cell[buyer] = rfm_cells(
        high_low(recency[buyer], split, higher_is_better=False),
        high_low(frequency[buyer], split),
        high_low(monetary[buyer], split),
    )
    scores["rfm_score"] = (scores["r_score"] + scores["f_score"] + scores["m_score"]).astype(np.int8)
    scores.update(cell_labels(cell))
    return scores


def _clv_population(columns: dict, settings: FeatureSettings) -> tuple[dict[str, np.ndarray], dict]:
    frequency = np.asarray(columns["clv_frequency"], dtype=np.float64)
    n = frequency.size
    out = {name: np.full(n, np.nan) for name in POPULATION_CLV}
    buyer = ~np.isnan(frequency)
    if not buyer.any():
        return out, {}
    predicted, fitted = fit_and_predict(
        frequency[buyer],
        np.asarray(columns["clv_recency"], dtype=np.float64)[buyer],
        np.asarray(columns["clv_T"], dtype=np.float64)[buyer],
        np.asarray(columns[CLV_MONETARY], dtype=np.float64)[buyer],
        time_unit=settings.clv_time_unit,
        horizon_months=settings.clv_horizon_months,
        monthly_discount_rate=settings.clv_monthly_discount_rate,
        penalizer=settings.clv_penalizer,
    )
    for name, values in predicted.items():
        out[name][buyer] = values
    return out, fitted
