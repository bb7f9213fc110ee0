"""Identity stage: every record version known up to the month -> OneIDs, kept stable from last month."""

from __future__ import annotations

import dataclasses

import pandas as pd

from tierlib.catalog import identity_key, read_standardized
from tierlib.period import period_start, previous_period
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
    from tierlib.pipeline.erasure import erasure_filter

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
    erased_figures = {}
    erasure = erasure_filter(ctx)
    if erasure:
        records, result, erased_figures = _without_erased(
            ctx, erasure, records, result, previous_map, previous_registry, hash_key
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
    figures = {**result.figures, **erased_figures}
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


def _without_erased(ctx: RunContext, erasure, records, result, previous_map, previous_registry, hash_key):
    """Resolve again without every record of an erased person; their OneIDs marked erased.

    The first resolution tells which people the requested or remembered records belong to (a
    record of theirs may carry none of the requested identifiers); the second leaves all their
    records out, so nothing of them reaches features, scores, tiers or exports.  OneIDs the
    first pass issued anew are never written, so no number is used twice.
    """
    from tierlib.identity import resolve_identities
    from tierlib.identity._registry import ERASED
    from tierlib.pipeline.erasure import remember_records

    # Record versions of earlier months passed these checks in their own run (extract, identity);
    # only the requests may be new for them.  This month's versions get every check.
    this_month = (records["updated_at"] >= period_start(ctx.period)).fillna(False).to_numpy(dtype=bool)
    named = erasure.records_mask(records, remembered=False)
    named[this_month] |= erasure.records_mask(records.loc[this_month])
    oneids = set(result.identity_map.loc[_rows_of(result.identity_map, records[named]), "oneid"])
    oneids |= set(result.registry.loc[erasure.erased_oneids(result.registry["oneid"]), "oneid"])
    identity_map = result.identity_map
    erased_keys = identity_map.loc[identity_map["oneid"].isin(oneids), ["channel", "record_id"]]
    gone = _rows_of(records, erased_keys) | named
    kept = records.loc[~gone].reset_index(drop=True)
    again = resolve_identities(
        kept, ctx.config.stage("identity"), ctx.period, previous_map, previous_registry, hash_key=hash_key
    )
    registry = again.registry.copy()
    erased = registry["oneid"].isin(oneids) | erasure.erased_oneids(registry["oneid"])
    registry.loc[erased, "status"] = ERASED
    registry.loc[erased, "merged_into"] = pd.NA
    log_rows = again.merge_log
    naming = log_rows["oneid"].isin(registry.loc[erased, "oneid"]) | log_rows["other_oneid"].isin(
        registry.loc[erased, "oneid"]
    )
    figures = dict(again.figures)
    figures["retired_oneids"] -= int((log_rows.loc[naming, "event"] == "retire").sum())
    remember_records(
        ctx,
        erasure,
        ctx.period,
        "identity",
        set(zip(records.loc[gone, "channel"], records.loc[gone, "record_id"], strict=True)),
    )
    erased_figures = {
        "erased_oneids": int(erased.sum()),
        "erased_record_versions": int(gone.sum()),
    }
    log.info(
        "identity %s: %d OneIDs erased, %d record versions of theirs left out",
        ctx.period,
        erased_figures["erased_oneids"],
        erased_figures["erased_record_versions"],
    )
    result = dataclasses.replace(
        again, registry=registry, merge_log=log_rows.loc[~naming].reset_index(drop=True), figures=figures
    )
    return kept, result, erased_figures


def _rows_of(frame: pd.DataFrame, keys: pd.DataFrame):
    """Rows of ``frame`` whose ``(channel, record_id)`` is among ``keys``'."""
    wanted = pd.MultiIndex.from_arrays([keys["channel"].astype("string"), keys["record_id"].astype("string")])
    have = pd.MultiIndex.from_arrays([frame["channel"].astype("string"), frame["record_id"].astype("string")])
    return have.isin(wanted)
