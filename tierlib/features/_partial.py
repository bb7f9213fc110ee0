"""Features in two steps: per-member partials of any OneID partition, then the population parts.

Almost every feature is a member's own aggregate, so it can be computed on any subset of
members that holds all of their rows.  Three parts look at the whole population: the RFM
quintile scores (ranks among all buyers), the 8-cell high/low split (mean or median of all
buyers) and the CLV models' fit.  ``member_partials`` computes the per-member part of
some members (with the CLV summary the fit needs); ``combine_partials`` takes the partials,
orders members by OneID as ``compute_features`` does, and computes the population parts once
over all of them.  The embedded engine runs the two steps in one process, the Spark engine the
first per OneID hash partition.  The result does not depend on how members were split, and
equals ``compute_features`` on the whole population (tests/test_features_partials.py).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tierlib.errors import InputError
from tierlib.features._activity import (
    channel_count,
    engagement_features,
    spending_features,
    tenure_days,
)
from tierlib.features._clv import (
    POPULATION_COLUMNS,
    SUMMARY_COLUMNS,
    WORKING_COLUMNS,
    clv_population,
    clv_summaries,
)
from tierlib.features._compute import FEATURE_COLUMNS, _as_of, member_core
from tierlib.features._inputs import prepare
from tierlib.features._lifecycle import STAGES
from tierlib.features._rfm import cell_labels, high_low, quintile_scores, rfm_cells
from tierlib.features._settings import FeatureSettings
from tierlib.schemas import EVENT_TYPES

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
        clv, fitted = clv_population(columns, settings)
    else:
        clv = {name: np.full(len(merged), np.nan) for name in POPULATION_COLUMNS}
    columns.update(clv)
    frame = pd.DataFrame({name: columns[name] for name in FEATURE_COLUMNS})
    for name in STRING_COLUMNS:
        frame[name] = frame[name].astype("string")
    frame.attrs["as_of"] = str(as_of.date())
    frame.attrs["clv"] = fitted
    return frame


def _clv_summary(n, member, day, net_amount, first_day, last_day, inputs, settings) -> dict:
    """Per-member CLV summary and fit inputs (NaN for non-buyers, or everywhere with CLV off)."""
    if not settings.clv_enabled:
        return {name: np.full(n, np.nan) for name in (*SUMMARY_COLUMNS, *WORKING_COLUMNS)}
    return clv_summaries(n, member, day, net_amount, first_day, last_day, inputs.as_of_day, settings)


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
