"""Identity stage: every record version known up to the month -> OneIDs, kept stable from last month."""

from __future__ import annotations

import pandas as pd

from tierlib.catalog import identity_key, read_standardized
from tierlib.period import previous_period
from tierlib.pipeline.context import RunContext, log
from tierlib.schemas import RECORD_COLUMNS

IDENTITY_OUTPUTS = ("identity_map", "registry", "merge_log", "hub_values")


def known_records(ctx: RunContext) -> pd.DataFrame:
    """Every record version up to the run's month.

    Last month's snapshot plus this month's standardized records; without a
    snapshot (the first run), every month of the history window.
    """
    previous = identity_key(previous_period(ctx.period), "records")
    if ctx.storage.exists(previous):
        frames = [
            ctx.storage.read_parquet(previous),
            read_standardized(ctx.storage, "records", [ctx.period], ctx.channels),
        ]
    else:
        frames = [read_standardized(ctx.storage, "records", ctx.history_periods, ctx.channels)]
    frames = [frame[list(RECORD_COLUMNS)] for frame in frames]
    records = pd.concat([frame for frame in frames if len(frame)] or frames[:1], ignore_index=True)
    records = records.drop_duplicates(["channel", "record_id", "updated_at"], keep="last")
    return records.sort_values(["channel", "record_id", "updated_at"], kind="stable", ignore_index=True)


def run_identity(ctx: RunContext) -> dict:
    from tierlib.identity import identity_hash_key, resolve_identities
    from tierlib.validation import validate_output

    settings = ctx.config.stage("identity")
    # Before any reading: a missing key stops the stage at once, saying how to set it.
    hash_key = identity_hash_key(settings.allow_unkeyed_hashes)
    records = known_records(ctx)
    previous = previous_period(ctx.period)
    previous_map = previous_registry = None
    if ctx.storage.exists(identity_key(previous, "registry")):
        previous_map = ctx.storage.read_parquet(identity_key(previous, "identity_map"))
        previous_registry = ctx.storage.read_parquet(identity_key(previous, "registry"))
    else:
        log.info("identity %s: no registry for %s, every person gets a new OneID", ctx.period, previous)
    result = resolve_identities(
        records, settings, ctx.period, previous_map, previous_registry, hash_key=hash_key
    )
    outcome = validate_output(
        ctx.storage,
        "identity_map",
        result.identity_map,
        period=ctx.period,
        settings=ctx.config.stage("validation"),
        stage="identity",
        records=records[["channel", "record_id"]],
        source=identity_key(ctx.period, "identity_map"),
    )
    ctx.storage.write_parquet(identity_key(ctx.period, "records"), records)
    for name in IDENTITY_OUTPUTS:
        ctx.storage.write_parquet(identity_key(ctx.period, name), getattr(result, name))
    figures = dict(result.figures)
    figures["data_docs"] = outcome.figures.get("data_docs")
    headline = (
        "records",
        "oneids",
        "kept_oneids",
        "new_oneids",
        "merged_oneids",
        "split_oneids",
        "hub_values",
    )
    log.info("identity %s: %s", ctx.period, ", ".join(f"{key}={figures.get(key)}" for key in headline))
    return figures
