"""Features stage: every member's value features at the month's as-of date.

``member_tables`` is also how the quarterly retrain gets its inputs, so training
and monthly scoring see members the same way.
"""

from __future__ import annotations

import pandas as pd

from tierlib.catalog import clv_params_key, features_key, identity_key, read_standardized
from tierlib.errors import InputError
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
    """The whole stage in this process: prepare, every partition, combine."""
    from tierlib.pipeline.partitions import partition_count

    prepare_features(ctx)
    for partition in range(partition_count(ctx)):
        run_features_partition(ctx, partition)
    return combine_features(ctx)


def prepare_features(ctx: RunContext) -> dict:
    """Split the history window's rows by OneID partition into storage (nothing to do for one partition)."""
    from tierlib.pipeline.partitions import partition_count, partition_key, split_by_partition

    count = partition_count(ctx)
    if count == 1:
        return {"partitions": 1}
    tables = dict(zip(("orders", "events", "records"), member_tables(ctx), strict=True))
    for name, frame in tables.items():
        for partition, part in enumerate(split_by_partition(frame, count)):
            ctx.storage.write_parquet(partition_key("features", ctx.period, partition, count, name), part)
    figures = {"partitions": count, **{f"{name}_in": len(frame) for name, frame in tables.items()}}
    log.info("features %s: split into %d partitions: %s", ctx.period, count, figures)
    return figures


def run_features_partition(ctx: RunContext, partition: int) -> dict:
    """Per-member features of one OneID partition; the population parts wait for the combine."""
    from tierlib.features._partial import member_partials
    from tierlib.pipeline.partitions import partition_count, partition_key

    count = partition_count(ctx)
    if count == 1:
        orders, events, records = member_tables(ctx)
    else:
        orders, events, records = (
            ctx.storage.read_parquet(partition_key("features", ctx.period, partition, count, name))
            for name in ("orders", "events", "records")
        )
    partial = member_partials(orders, events, records, ctx.as_of, ctx.config.stage("features"))
    ctx.storage.write_parquet(partition_key("features", ctx.period, partition, count, "partial"), partial)
    figures = {
        "partition": partition,
        "members": len(partial),
        "orders_in": len(orders),
        "events_in": len(events),
    }
    ctx.storage.write_json(partition_key("features", ctx.period, partition, count, "partial.json"), figures)
    return figures


def combine_features(ctx: RunContext) -> dict:
    """Population parts (RFM quintiles, 8-cell split, CLV fit) over every partition; the feature table."""
    from tierlib.features._partial import combine_partials
    from tierlib.pipeline.partitions import partition_count, partition_key

    count = partition_count(ctx)
    parts = []
    for partition in range(count):
        marker = partition_key("features", ctx.period, partition, count, "partial.json")
        if not ctx.storage.exists(marker):
            raise InputError(
                f"features {ctx.period}: partition {partition} of {count} has not run "
                f"(no {ctx.storage.uri(marker)}): run it before the combine"
            )
        parts.append(ctx.storage.read_json(marker))
    partials = [
        ctx.storage.read_parquet(partition_key("features", ctx.period, partition, count, "partial"))
        for partition in range(count)
    ]
    features = combine_partials(partials, ctx.as_of, ctx.config.stage("features"))
    del partials
    clv = features.attrs.pop("clv", None)
    ctx.storage.write_parquet(features_key(ctx.period), features)
    if clv is not None:
        ctx.storage.write_json(clv_params_key(ctx.period), clv)
    buyers = int((features["frequency"] > 0).sum()) if "frequency" in features else None
    figures = {
        "members": len(features),
        "buyers": buyers,
        "orders_in": sum(part["orders_in"] for part in parts),
        "events_in": sum(part["events_in"] for part in parts),
        "history_months": len(ctx.history_periods),
        "partitions": count,
    }
    log.info("features %s: %s", ctx.period, figures)
    return figures
