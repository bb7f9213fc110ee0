"""Features stage: every member's value features at the month's as-of date.

``member_tables`` is also how the quarterly retrain gets its inputs, so training
and monthly scoring see members the same way.
"""

from __future__ import annotations

import pandas as pd

from tierlib.catalog import clv_params_key, features_key, identity_key, read_standardized
from tierlib.pipeline.context import RunContext, log


def with_oneid(frame: pd.DataFrame, identity_map: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with each row's oneid from the identity map; rows of unknown records are dropped."""
    keys = identity_map[["channel", "record_id", "oneid"]].drop_duplicates(["channel", "record_id"])
    return frame.merge(keys, on=["channel", "record_id"], how="inner", validate="m:1")


def member_tables(ctx: RunContext, identity_month: str | None = None) -> tuple[pd.DataFrame, ...]:
    """Orders, events and record versions of the history window, each row with its oneid.

    The identity of ``identity_month`` (default: the run's month) names the people.
    """
    month = identity_month or ctx.period
    identity_map = ctx.storage.read_parquet(identity_key(month, "identity_map"))
    records = ctx.storage.read_parquet(identity_key(month, "records"))
    orders = read_standardized(ctx.storage, "orders", ctx.history_periods, ctx.channels)
    events = read_standardized(ctx.storage, "events", ctx.history_periods, ctx.channels)
    return (
        with_oneid(orders, identity_map),
        with_oneid(events, identity_map),
        with_oneid(records, identity_map),
    )


def run_features(ctx: RunContext) -> dict:
    from tierlib.features import compute_features
    from tierlib.validation import validate_output

    orders, events, records = member_tables(ctx)
    features = compute_features(orders, events, records, ctx.as_of, ctx.config.stage("features"))
    clv = features.attrs.pop("clv", None)
    outcome = validate_output(
        ctx.storage,
        "features",
        features,
        period=ctx.period,
        settings=ctx.config.stage("validation"),
        expected_rows=features["oneid"].nunique(),
    )
    ctx.storage.write_parquet(features_key(ctx.period), features)
    if clv is not None:
        ctx.storage.write_json(clv_params_key(ctx.period), clv)
    buyers = int((features["frequency"] > 0).sum()) if "frequency" in features else None
    figures = {
        "members": len(features),
        "buyers": buyers,
        "orders_in": len(orders),
        "events_in": len(events),
        "history_months": len(ctx.history_periods),
        "data_docs": outcome.figures.get("data_docs"),
    }
    log.info("features %s: %s", ctx.period, figures)
    return figures
