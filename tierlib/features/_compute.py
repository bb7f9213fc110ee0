"""compute_features: every per-member feature at the as-of date, one row per OneID."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tierlib.errors import InputError
from tierlib.features._activity import (
    channel_count,
    engagement_features,
    first_registration_day,
    spending_features,
    tenure_days,
)
from tierlib.features._clv import CLV_COLUMNS, SUMMARY_COLUMNS, clv_population, clv_summaries
from tierlib.features._inputs import prepare
from tierlib.features._lifecycle import STAGES, lifecycle_stages
from tierlib.features._rfm import cell_labels, rfm_features
from tierlib.features._settings import FeatureSettings
from tierlib.schemas import EVENT_TYPES

FEATURE_COLUMNS: tuple[str, ...] = (
    "oneid",
    "recency_days",
    "frequency",
    "monetary",
    "avg_order_value",
    "r_score",
    "f_score",
    "m_score",
    "rfm_score",
    "rfm_code",
    "rfm_cell",
    "rfm_cell_en",
    "lifecycle_stage",
    "tenure_days",
    *CLV_COLUMNS,
    *(f"{kind}s" for kind in EVENT_TYPES),
    "social_influence",
    "content_contribution",
    "price_sensitivity",
    "discount_depth",
    "category_breadth",
    "channel_count",
)
"""The feature table's columns, in order; docs/features.md says what each one means."""


def compute_features(
    orders: pd.DataFrame,
    events: pd.DataFrame,
    records: pd.DataFrame,
    as_of,
    settings: FeatureSettings | None = None,
) -> pd.DataFrame:
    """One row per OneID (sorted) with the columns of ``FEATURE_COLUMNS``.

    ``orders``, ``events`` and ``records`` are the standardized tables with a ``oneid``
    column; ``as_of`` is the exclusive upper bound of the data (the first day of the
    month after the run's month): rows at or after it are ignored.  Members are every
    OneID in ``records`` plus any that only appear in orders or events before as-of.
    The inputs are not modified.  The fitted CLV parameters are in ``result.attrs["clv"]``.
    """
    settings = FeatureSettings() if settings is None else settings
    as_of = _as_of(as_of)
    inputs = prepare(orders, events, records, as_of, EVENT_TYPES)
    n, purchase, net, member, day, first_day, last_day, rfm, registered, stage = member_core(inputs, settings)
    if settings.clv_enabled:
        summary = clv_summaries(
            n, member, day, net[purchase], first_day, last_day, inputs.as_of_day, settings
        )
        population, fitted = clv_population(summary, settings)
        clv = {**{name: summary[name] for name in SUMMARY_COLUMNS}, **population}
    else:
        clv, fitted = {name: np.full(n, np.nan) for name in CLV_COLUMNS}, {}

    columns: dict[str, object] = {"oneid": inputs.ids.to_numpy()}
    columns.update({k: v for k, v in rfm.items() if k != "rfm_cell_index"})
    columns.update(cell_labels(rfm["rfm_cell_index"]))
    columns["lifecycle_stage"] = np.array(STAGES, dtype=object)[stage]
    columns["tenure_days"] = tenure_days(inputs, registered)
    columns.update(clv)
    columns.update(engagement_features(inputs, EVENT_TYPES, settings.engagement_days))
    columns.update(spending_features(inputs, purchase))
    columns["channel_count"] = channel_count(inputs)

    frame = pd.DataFrame({name: columns[name] for name in FEATURE_COLUMNS})
    for name in ("oneid", "rfm_code", "rfm_cell", "rfm_cell_en", "lifecycle_stage"):
        frame[name] = frame[name].astype("string")
    frame.attrs["as_of"] = str(as_of.date())
    frame.attrs["clv"] = fitted
    return frame


def member_core(inputs, settings: FeatureSettings) -> tuple:
    """What every member's features start from, whole table or one partition alike.

    Returns ``(n, purchase, net, member, day, first_day, last_day, rfm, registered, stage)``:
    the purchase mask and net amounts of the orders, each purchase's member and day,
    each member's first and last purchase day, RFM values, registration day and
    lifecycle stage index.
    """
    n = inputs.n
    o = inputs.orders
    purchase = o.purchase
    net = o.amount - o.refund
    member, day = o.member[purchase], o.day[purchase]
    first_day = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(first_day, member, day)
    last_day = np.full(n, np.iinfo(np.int64).min)
    np.maximum.at(last_day, member, day)
    rfm = rfm_features(o.member, net, member, last_day, inputs.as_of_day, settings.rfm_split)
    registered = first_registration_day(inputs)
    stage = lifecycle_stages(
        member,
        day,
        first_day,
        last_day,
        registered,
        inputs.as_of_day,
        new_days=settings.new_days,
        active_days=settings.active_days,
        churn_days=settings.churn_days,
    )
    return n, purchase, net, member, day, first_day, last_day, rfm, registered, stage


def _as_of(value) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as error:
        raise InputError(f"as_of must be a date like 2024-07-01, got {value!r}") from error
    if stamp is pd.NaT:
        raise InputError("as_of must be a date, got a missing value")
    if stamp.tzinfo is not None:
        stamp = stamp.tz_localize(None)
    if stamp != stamp.normalize():
        raise InputError(f"as_of must be a midnight date (the exclusive end of the run's month), got {stamp}")
    return stamp
