"""Against the synthetic generator's ground truth: every injected bad row is quarantined with its
reason, and no good row is, when the extract stage runs with the project's config and default
validation settings.

The generator injects one fault per bad row (a re-sent order is an exact copy placed right after
its original, which stays good), so reasons are compared exactly.  A row with two faults would be
quarantined with the first reason in order: extract's (missing_key, bad_encoding,
unparseable_date, non_numeric_amount, unknown_channel_code), then validation's priority
(missing dates, future_date before outside_period, amounts, duplicates); tests/test_validation.py
pins that order on a row that is both in the future and negative.
"""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from tierlib.catalog import quarantine_key, standardized_key
from tierlib.config import RunConfig, load_config
from tierlib.pipeline.context import RunContext
from tierlib.pipeline.extract import run_extract_channel
from tierlib.schemas import QUARANTINE_REASONS
from tierlib.storage import open_storage
from tierlib.synth import BAD_ROW_REASONS, SynthSettings, generate

pytestmark = pytest.mark.slow

MONTHS = ("2026-07", "2026-08", "2026-09")
TABLE_OF_KIND = {"records": "members", "orders": "orders", "events": "events"}


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    sources = tmp_path_factory.mktemp("truth") / "sources"
    generate(SynthSettings(members=1500, months=len(MONTHS), start=MONTHS[0], seed=7), str(sources))
    storage_root = tmp_path_factory.mktemp("truth") / "storage"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("TIERFLOW_SOURCES", str(sources))
        env.setenv("TIERFLOW_STORAGE", str(storage_root))
        config = load_config("config/tierflow.yaml")
    assert config.stage("validation") == type(config.stage("validation"))(), "the project runs on defaults"
    config = dataclasses.replace(
        config,
        run=RunConfig(history_months=len(MONTHS)),
        stages={
            **config.stages,
            "validation": dataclasses.replace(config.stage("validation"), data_docs="off"),
        },
    )
    ctx = RunContext(config=config, storage=open_storage(str(storage_root)), period=MONTHS[-1])
    figures = {channel: run_extract_channel(ctx, channel) for channel in ctx.channels}
    return sources, ctx, figures


def quarantined_rows(ctx: RunContext, sources) -> pd.DataFrame:
    frames = []
    for period in MONTHS:
        for channel, config in ctx.config.channels.items():
            for kind in config.tables():
                frame = ctx.storage.read_parquet(quarantine_key(period, "extract", channel, kind))
                frames.append(frame.assign(period=period, table=TABLE_OF_KIND[kind]))
    rows = pd.concat([f for f in frames if len(f)], ignore_index=True)
    rows["source_file"] = rows["source_file"].str.removeprefix(f"{sources}/")
    return rows


def test_every_injected_bad_row_is_quarantined_with_its_reason_and_no_good_row_is(extracted):
    sources, ctx, _ = extracted
    truth = pd.read_parquet(sources / "_truth" / "bad_rows.parquet")
    assert set(truth["reason"]) == set(BAD_ROW_REASONS), "the fixture must exercise every class of bad row"
    got = quarantined_rows(ctx, sources)
    assert set(got["reason"]) <= set(QUARANTINE_REASONS)
    keys = ["channel", "table", "period", "source_file", "source_row"]
    joined = truth.merge(
        got[[*keys, "reason", "detail"]], on=keys, how="outer", suffixes=("", "_got"), indicator=True
    )
    missed = joined[joined["_merge"] == "left_only"]
    assert missed.empty, f"bad rows not quarantined:\n{missed[[*keys, 'reason']].to_string()}"
    good = joined[joined["_merge"] == "right_only"]
    assert good.empty, f"good rows quarantined:\n{good[[*keys, 'reason_got', 'detail']].to_string()}"
    wrong = joined[joined["reason"] != joined["reason_got"]]
    assert wrong.empty, (
        f"quarantined with another reason:\n{wrong[[*keys, 'reason', 'reason_got']].to_string()}"
    )
    # Each class is caught where it belongs: typing problems in extract, the rest by GX.
    by_reason = got.groupby("reason")["detail"].first()
    assert by_reason["future_date"].split(":")[0].endswith(".not_future")
    assert by_reason["negative_amount"].startswith("orders.amount.not_negative")
    assert by_reason["duplicate_order_id"].startswith("orders.order_id.unique")
    assert by_reason["unparseable_date"] in ("updated_at", "ordered_at", "ts")


def test_counts_reconcile_per_channel_and_table(extracted):
    sources, ctx, figures = extracted
    truth = pd.read_parquet(sources / "_truth" / "bad_rows.parquet")
    bad = truth[truth["period"] == MONTHS[-1]].groupby(["channel", "table"]).size()
    for channel, result in figures.items():
        for kind, counts in result["tables"].items():
            accepted = ctx.storage.read_parquet(standardized_key(MONTHS[-1], channel, kind))
            quarantined = ctx.storage.read_parquet(quarantine_key(MONTHS[-1], "extract", channel, kind))
            assert counts["rows_in"] == counts["accepted"] + counts["quarantined"]
            assert (counts["accepted"], counts["quarantined"]) == (len(accepted), len(quarantined))
            assert counts["quarantined"] == bad.get((channel, TABLE_OF_KIND[kind]), 0)
            assert counts["quarantined"] == counts["quarantined_extract"] + counts["quarantined_validation"]
