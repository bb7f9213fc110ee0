"""Time-split training data: features at past cutoffs, labels from the days after each.

At every cutoff the feature function sees only rows strictly before it (the
tables are cut here, whatever the feature function does itself), and labels
come from the ``horizon_days`` that follow.  Cutoffs are month starts.  The
last cutoff is the out-of-time validation window; every training cutoff's
label window ends before it starts, so no label the model learns from
overlaps the window it is judged on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from tierlib.errors import InputError, ModelFitError, TierflowError
from tierlib.model._settings import ModelSettings

FeatureFunction = Callable[[pd.DataFrame, pd.DataFrame, pd.DataFrame, datetime], pd.DataFrame]
"""``(orders, events, records, as_of) -> features``, one row per oneid; settings bound beforehand."""

log = logging.getLogger("tierlib")

LABEL_COLUMNS = ("label_spend", "label_orders", "label_churned")

_TIME_COLUMNS = {"orders": "ordered_at", "events": "ts", "records": "updated_at"}


def _month_start_at_or_before(moment: datetime) -> datetime:
    return datetime(moment.year, moment.month, 1)


def _months_back(moment: datetime, months: int) -> datetime:
    index = moment.year * 12 + moment.month - 1 - months
    return datetime(index // 12, index % 12 + 1, 1)


def cutoff_schedule(as_of: datetime, settings: ModelSettings) -> tuple[list[datetime], datetime]:
    """(training cutoffs oldest first, validation cutoff) for data observed up to ``as_of``.

    The validation cutoff is the latest month start whose label window ends by
    ``as_of``; training cutoffs are the latest month starts whose label windows
    end by the validation cutoff, ``cutoff_spacing_months`` apart.
    """
    horizon = timedelta(days=settings.horizon_days)
    validation = _month_start_at_or_before(as_of - horizon)
    latest_training = _month_start_at_or_before(validation - horizon)
    training = [
        _months_back(latest_training, step * settings.cutoff_spacing_months)
        for step in range(settings.training_cutoffs)
    ]
    return sorted(training), validation


def before(frame: pd.DataFrame, kind: str, cutoff: datetime) -> pd.DataFrame:
    """Rows of a standardized table strictly before ``cutoff`` (by the table's time column)."""
    column = _TIME_COLUMNS[kind]
    if column not in frame.columns:
        raise InputError(f"{kind} table has no {column!r} column; columns: {sorted(frame.columns)}")
    return frame.loc[frame[column] < pd.Timestamp(cutoff)]


def labels_after(orders: pd.DataFrame, cutoff: datetime, horizon_days: int) -> pd.DataFrame:
    """Per oneid with an order in [cutoff, cutoff + horizon): net spend and order count.

    Net spend is amount minus refunds, floored at 0 per member (a refund of an
    older order can exceed the window's spend).
    """
    start = pd.Timestamp(cutoff)
    end = start + pd.Timedelta(days=horizon_days)
    window = orders.loc[(orders["ordered_at"] >= start) & (orders["ordered_at"] < end)]
    if window["oneid"].isna().any():
        window = window.loc[window["oneid"].notna()]
    net = window["amount"].astype("float64").fillna(0.0) - window["refund_amount"].astype("float64").fillna(
        0.0
    )
    grouped = pd.DataFrame({"oneid": window["oneid"].astype("string"), "net": net}).groupby(
        "oneid", sort=True
    )
    return pd.DataFrame(
        {
            "label_spend": grouped["net"].sum().clip(lower=0.0),
            "label_orders": grouped["net"].size().astype("int64"),
        }
    ).reset_index()


def frame_at_cutoff(
    orders: pd.DataFrame,
    events: pd.DataFrame,
    records: pd.DataFrame,
    cutoff: datetime,
    feature_function: FeatureFunction,
    horizon_days: int,
) -> pd.DataFrame:
    """Features from data before ``cutoff`` joined to labels from the window after it."""
    try:
        features = feature_function(
            before(orders, "orders", cutoff),
            before(events, "events", cutoff),
            before(records, "records", cutoff),
            cutoff,
        )
    except TierflowError as error:
        raise type(error)(f"training set, features at cutoff {cutoff:%Y-%m-%d}: {error}") from error
    if "oneid" not in features.columns:
        raise InputError("the feature function must return a 'oneid' column")
    labels = labels_after(orders, cutoff, horizon_days)
    frame = features.assign(oneid=features["oneid"].astype("string")).merge(labels, on="oneid", how="left")
    frame["label_spend"] = frame["label_spend"].fillna(0.0).astype("float64")
    frame["label_orders"] = frame["label_orders"].fillna(0).astype("int64")
    frame["label_churned"] = frame["label_orders"] == 0
    frame.insert(0, "cutoff", pd.Timestamp(cutoff).as_unit("us"))
    return frame


def build_training_set(
    orders: pd.DataFrame,
    events: pd.DataFrame,
    records: pd.DataFrame,
    as_of: datetime,
    feature_function: FeatureFunction,
    settings: ModelSettings,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(training rows stacked over the training cutoffs, out-of-time validation rows).

    A training cutoff with no members yet, or with too little history for the
    feature models to fit (CLV needs repeat buyers), is skipped and listed in
    ``training.attrs["skipped_cutoffs"]`` with the reason; if no training
    cutoff is left, ModelFitError says how much history is needed.
    """
    training_cutoffs, validation_cutoff = cutoff_schedule(as_of, settings)
    frames, skipped = [], {}
    for cutoff in training_cutoffs:
        try:
            frame = frame_at_cutoff(orders, events, records, cutoff, feature_function, settings.horizon_days)
        except ModelFitError as error:
            skipped[f"{cutoff:%Y-%m-%d}"] = str(error)
            log.warning("training set: skipping cutoff %s: %s", f"{cutoff:%Y-%m-%d}", error)
            continue
        if len(frame):
            frames.append(frame)
        else:
            skipped[f"{cutoff:%Y-%m-%d}"] = "no members known before it"
    advice = (
        f"not enough history to retrain at {as_of:%Y-%m-%d}: training cutoffs "
        f"{training_cutoffs[0]:%Y-%m}..{training_cutoffs[-1]:%Y-%m} and validation cutoff "
        f"{validation_cutoff:%Y-%m} need members (and repeat buyers) known before them; extract older "
        "months (run.history_months) or lower model.training_cutoffs"
    )
    try:
        validation = frame_at_cutoff(
            orders, events, records, validation_cutoff, feature_function, settings.horizon_days
        )
    except ModelFitError as error:
        raise ModelFitError(f"{advice}. ({error})") from error
    if not frames or validation.empty:
        raise ModelFitError(advice)
    training = pd.concat(frames, ignore_index=True)
    training.attrs["skipped_cutoffs"] = skipped
    return training, validation.reset_index(drop=True)


def describe_window(training: pd.DataFrame, validation: pd.DataFrame, horizon_days: int) -> dict:
    """The data window for a model card."""
    cutoffs = sorted({pd.Timestamp(c) for c in training["cutoff"]})
    validation_cutoff = pd.Timestamp(validation["cutoff"].iloc[0])
    return {
        "training_cutoffs": [c.strftime("%Y-%m-%d") for c in cutoffs],
        "validation_cutoff": validation_cutoff.strftime("%Y-%m-%d"),
        "validation_labels_before": (validation_cutoff + pd.Timedelta(days=horizon_days)).strftime(
            "%Y-%m-%d"
        ),
        "horizon_days": horizon_days,
        "rows_per_training_cutoff": {
            c.strftime("%Y-%m-%d"): int(n) for c, n in training.groupby("cutoff").size().items()
        },
        "skipped_training_cutoffs": dict(training.attrs.get("skipped_cutoffs", {})),
        "training_spend_share_zero": round(float(np.mean(training["label_spend"] <= 0)), 6),
    }
