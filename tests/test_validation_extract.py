"""Validation inside the extract stage: what a data engineer sees when a delivery goes wrong.

Three small channels (CSV, Parquet, JSON lines) with two months each: a good
run, then one broken delivery at a time (a renamed, retyped or reformatted
column, an empty channel, a file sent twice, last month's file again, a drop
in volume), each failing with a message naming channel, file and check, and
leaving what was extracted before intact.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import subprocess
import sys
from datetime import datetime, timedelta

import pandas as pd
import pytest

from tierlib.catalog import quarantine_key, standardized_key, standardized_marker_key
from tierlib.config import parse_config
from tierlib.errors import ValidationFailed
from tierlib.pipeline.context import RunContext
from tierlib.pipeline.extract import extract_channel_month, run_extract_channel
from tierlib.storage import open_storage

ORDERS_PER_MONTH = 150


def make_config(tmp_path, **validation):
    # Data Docs pages cost about a second each; only the test about them renders them.
    validation.setdefault("data_docs", "off")
    drops = str(tmp_path / "drops")
    return parse_config(
        {
            "storage": {"root": str(tmp_path / "storage")},
            "run": {"history_months": 2},
            "validation": validation,
            "channels": {
                "shop": {
                    "connector": "file",
                    "location": f"{drops}/shop",
                    "format": "csv",
                    "records": {
                        "file": "members.csv",
                        "columns": {"record_id": "uid", "updated_at": "changed"},
                        "formats": {"updated_at": "%Y/%m/%d %H:%M"},
                    },
                    "orders": {
                        "file": "orders.csv",
                        "columns": {
                            "order_id": "no",
                            "record_id": "uid",
                            "ordered_at": "at",
                            "amount": "paid",
                        },
                        "formats": {"ordered_at": "%Y/%m/%d %H:%M"},
                        "channel_code": {"column": "code", "allowed": ["POS"]},
                    },
                },
                "app": {
                    "connector": "file",
                    "location": f"{drops}/app",
                    "format": "parquet",
                    "records": {
                        "file": "members.parquet",
                        "columns": {"record_id": "user_id", "updated_at": "modified"},
                    },
                    "orders": {
                        "file": "orders.parquet",
                        "columns": {
                            "order_id": "order_no",
                            "record_id": "user_id",
                            "ordered_at": "pay_time",
                            "amount": "pay_amount",
                        },
                    },
                },
                "wx": {
                    "connector": "file",
                    "location": f"{drops}/wx",
                    "format": "jsonl",
                    "records": {
                        "file": "members.jsonl",
                        "columns": {"record_id": "openid", "updated_at": "t"},
                    },
                    "events": {
                        "file": "events.jsonl",
                        "columns": {"record_id": "openid", "event_type": "event", "ts": "t"},
                    },
                },
            },
        }
    )


def moments(period: str, n: int) -> list[datetime]:
    start = datetime.fromisoformat(f"{period}-01")
    return [start + timedelta(hours=3 * i + 1) for i in range(n)]


def shop_orders(period: str, n: int = ORDERS_PER_MONTH) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "no": [f"{period}-{i}" for i in range(n)],
            "uid": [f"u{i % 40}" for i in range(n)],
            "at": [m.strftime("%Y/%m/%d %H:%M") for m in moments(period, n)],
            "paid": [f"{10 + i % 7}.50" for i in range(n)],
            "code": "POS",
        }
    )


def write(
    tmp_path, channel: str, period: str, name: str, frame: pd.DataFrame | None, raw: bytes | None = None
):
    folder = tmp_path / "drops" / channel / f"period={period}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if raw is not None:
        path.write_bytes(raw)
    elif name.endswith(".csv"):
        frame.to_csv(path, index=False)
    elif name.endswith(".parquet"):
        frame.to_parquet(path, index=False)
    else:
        path.write_text("".join(json.dumps(row) + "\n" for row in frame.to_dict(orient="records")))
    return str(path)


def deliver_month(tmp_path, period: str, orders: int = ORDERS_PER_MONTH) -> None:
    stamps = moments(period, 20)
    write(
        tmp_path,
        "shop",
        period,
        "members.csv",
        pd.DataFrame(
            {"uid": [f"u{i}" for i in range(20)], "changed": [m.strftime("%Y/%m/%d %H:%M") for m in stamps]}
        ),
    )
    write(tmp_path, "shop", period, "orders.csv", shop_orders(period, orders))
    write(
        tmp_path,
        "app",
        period,
        "members.parquet",
        pd.DataFrame({"user_id": [f"a{i}" for i in range(20)], "modified": stamps}),
    )
    write(
        tmp_path,
        "app",
        period,
        "orders.parquet",
        pd.DataFrame(
            {
                "order_no": [f"A{period}-{i}" for i in range(orders)],
                "user_id": "a1",
                "pay_time": moments(period, orders),
                "pay_amount": 20.0,
            }
        ),
    )
    write(
        tmp_path,
        "wx",
        period,
        "members.jsonl",
        pd.DataFrame({"openid": [f"w{i}" for i in range(20)], "t": [m.isoformat() for m in stamps]}),
    )
    write(
        tmp_path,
        "wx",
        period,
        "events.jsonl",
        pd.DataFrame({"openid": "w1", "event": "view", "t": [m.isoformat() for m in moments(period, 120)]}),
    )


@pytest.fixture
def ctx(tmp_path) -> RunContext:
    deliver_month(tmp_path, "2026-09")
    deliver_month(tmp_path, "2026-10")
    config = make_config(tmp_path)
    return RunContext(config=config, storage=open_storage(config.storage.root), period="2026-10")


def snapshot(ctx: RunContext, channel: str) -> dict[str, bytes]:
    prefix = f"standardized/period={ctx.period}/channel={channel}/"
    keys = ctx.storage.list(prefix) + ctx.storage.list(
        f"quarantine/period={ctx.period}/stage=extract/channel={channel}/"
    )
    return {key: ctx.storage.read_bytes(key) for key in keys}


def test_a_good_month_reconciles_per_table_logs_its_figures_and_publishes_data_docs(ctx, tmp_path, caplog):
    ctx = dataclasses.replace(ctx, config=make_config(tmp_path, data_docs="run_month"))
    orders = shop_orders("2026-10")
    orders.loc[7, "paid"] = "-3.00"  # negative_amount
    orders.loc[9, "at"] = "2026/13/40 10:00"  # unparseable_date (extract)
    orders = pd.concat([orders, orders.iloc[[3]]], ignore_index=True)  # a re-sent order at the end
    source = write(tmp_path, "shop", "2026-10", "orders.csv", orders)
    with caplog.at_level(logging.INFO, logger="tierlib"):
        figures = run_extract_channel(ctx, "shop")
    table = figures["tables"]["orders"]
    assert (table["rows_in"], table["accepted"], table["quarantined"]) == (151, 148, 3)
    assert table["reasons"] == {"duplicate_order_id": 1, "negative_amount": 1, "unparseable_date": 1}
    assert figures["history_months_filled"] == 1 and table["previous_accepted"] == ORDERS_PER_MONTH
    assert (
        "extract shop 2026-10 orders: 151 rows in = 148 accepted + 3 quarantined (1 extract, 2 validation"
        in (caplog.text)
    )
    quarantined = ctx.storage.read_parquet(quarantine_key("2026-10", "extract", "shop", "orders"))
    assert quarantined["source_row"].tolist() == [7, 9, 150]
    assert quarantined["reason"].tolist() == ["negative_amount", "unparseable_date", "duplicate_order_id"]
    assert set(quarantined["source_file"]) == {source} and set(quarantined["channel"]) == {"shop"}
    assert json.loads(quarantined["row_json"].iloc[0])["paid"] == "-3.00"
    assert quarantined["detail"].iloc[2].startswith("orders.order_id.unique: order_id=2026-10-3")
    accepted = ctx.storage.read_parquet(standardized_key("2026-10", "shop", "orders"))
    assert len(accepted) == 148 and accepted["order_id"].is_unique
    marker = ctx.storage.read_json(standardized_marker_key("2026-10", "shop"))
    assert marker["orders"]["accepted"] == 148 and set(marker) == {"records", "orders"}
    docs = figures["data_docs"]
    assert docs == ctx.storage.uri("quality/period=2026-10/data_docs/stage=extract/channel=shop/index.html")
    assert f"Data Docs at {docs}" in caplog.text
    # History months are validated too, without Data Docs pages by default.
    assert ctx.storage.read_json(standardized_marker_key("2026-09", "shop"))["orders"]["quarantined"] == 0
    assert not ctx.storage.list("quality/period=2026-09/")


def test_a_renamed_column_fails_naming_channel_file_and_column_and_keeps_what_was_extracted(ctx, tmp_path):
    for channel in ctx.channels:
        run_extract_channel(ctx, channel)
    before = {channel: snapshot(ctx, channel) for channel in ctx.channels}
    path = write(
        tmp_path, "shop", "2026-10", "orders.csv", shop_orders("2026-10").rename(columns={"at": "sale_at"})
    )
    with pytest.raises(ValidationFailed) as error:
        extract_channel_month(ctx, "shop", "2026-10")
    message = str(error.value)
    assert f"channel shop: {path} has no column 'at' (mapped to ordered_at)" in message
    assert "columns the mapping does not know: sale_at (renamed?)" in message
    assert "channels.shop.orders.columns.ordered_at" in message
    # The failing channel's month is as it was, marker included; the other channels are untouched.
    assert {channel: snapshot(ctx, channel) for channel in ctx.channels} == before
    assert ctx.storage.exists(standardized_marker_key("2026-10", "shop"))


def test_a_retyped_parquet_column_fails_naming_the_column(ctx, tmp_path):
    frame = pd.DataFrame(
        {
            "order_no": ["A1", "A2"],
            "user_id": "a1",
            "pay_time": moments("2026-10", 2),
            "pay_amount": ["20.00 CNY", "31.00 CNY"],
        }
    )
    path = write(tmp_path, "app", "2026-10", "orders.parquet", frame)
    with pytest.raises(ValidationFailed) as error:
        extract_channel_month(ctx, "app", "2026-10")
    expected = f"channel app: {path} column 'pay_amount' (mapped to amount) is now str (text), expected float"
    assert expected in str(error.value)


def test_a_text_column_in_a_new_format_fails_as_a_schema_change_not_as_quarantine(ctx, tmp_path):
    orders = shop_orders("2026-10")
    orders["at"] = [m.isoformat() for m in moments("2026-10", len(orders))]
    path = write(tmp_path, "shop", "2026-10", "orders.csv", orders)
    with pytest.raises(ValidationFailed) as error:
        extract_channel_month(ctx, "shop", "2026-10")
    message = str(error.value)
    assert f"channel shop: {path} column 'at' (mapped to ordered_at): 150 of 150 values (100%)" in message
    assert "do not parse as %Y/%m/%d %H:%M, e.g. '2026-10-01T01:00:00'" in message
    assert "channels.shop.orders.formats.ordered_at" in message


def test_an_empty_channel_fails_naming_its_files(ctx, tmp_path):
    run_extract_channel(dataclasses.replace(ctx, period="2026-09"), "wx")
    members = write(tmp_path, "wx", "2026-10", "members.jsonl", None, raw=b"")
    events = write(tmp_path, "wx", "2026-10", "events.jsonl", None, raw=b"")
    with pytest.raises(ValidationFailed) as error:
        extract_channel_month(ctx, "wx", "2026-10")
    message = str(error.value)
    assert f"channel wx: every table of 2026-10 is empty ({members}, {events})" in message
    assert "volume drop: 0 rows this month against 120 accepted in 2026-09" in message
    assert not ctx.storage.exists(standardized_marker_key("2026-10", "wx"))
    # Allowed in the config, an empty month is extracted as empty.
    config = make_config(tmp_path, allow_empty_channel=True, volume={"tables": []})
    lenient = dataclasses.replace(ctx, config=config)
    figures = extract_channel_month(lenient, "wx", "2026-10")
    assert figures["events"]["rows_in"] == 0


def test_a_file_delivered_twice_fails_on_the_share_of_duplicate_orders(ctx, tmp_path):
    orders = shop_orders("2026-10")
    path = write(tmp_path, "shop", "2026-10", "orders.csv", pd.concat([orders, orders], ignore_index=True))
    with pytest.raises(ValidationFailed) as error:
        run_extract_channel(ctx, "shop")
    message = str(error.value)
    assert f"channel shop, orders of 2026-10 ({path}): 150 of 300 rows quarantined (50.00%)" in message
    assert "expect_column_values_to_be_unique(order_id) [duplicate_order_id] 50.00%" in message
    assert "was the file delivered twice?" in message


def test_last_months_file_delivered_again_fails_on_the_share_outside_the_month(ctx, tmp_path):
    write(tmp_path, "shop", "2026-10", "orders.csv", shop_orders("2026-09"))
    with pytest.raises(ValidationFailed) as error:
        run_extract_channel(ctx, "shop")
    message = str(error.value)
    assert "150 of 150 rows quarantined (100.00%)" in message
    assert (
        "orders.ordered_at.in_period = expect_column_values_to_be_between(ordered_at) [outside_period]"
        in message
    )
    assert "Most rows belong to another month" in message


def test_a_drop_in_volume_fails_naming_channel_table_and_both_counts(ctx, tmp_path):
    write(tmp_path, "shop", "2026-10", "orders.csv", shop_orders("2026-10", 60))
    with pytest.raises(ValidationFailed) as error:
        run_extract_channel(ctx, "shop")
    message = str(error.value)
    assert message.startswith("channel shop, orders of 2026-10 (")
    assert "volume drop: 60 rows this month against 150 accepted in 2026-09 (40% of last month)" in message
    assert "validation.volume" in message
    # A looser band lets the month through.
    config = make_config(tmp_path, volume={"min_ratio": 0.3})
    assert (
        run_extract_channel(dataclasses.replace(ctx, config=config), "shop")["tables"]["orders"]["accepted"]
        == 60
    )


def test_the_monthly_dag_does_not_import_great_expectations_at_parse_time():
    code = (
        "import sys, importlib.util as u;"
        "spec = u.spec_from_file_location('dag', 'dags/tierflow_monthly.py'); m = u.module_from_spec(spec);"
        "spec.loader.exec_module(m);"
        "print(sorted(n for n in sys.modules if n.split('.')[0] == 'great_expectations'))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_rerunning_a_month_writes_the_same_bytes(ctx, tmp_path):
    orders = shop_orders("2026-10")
    orders.loc[4, "paid"] = "-1.00"
    write(tmp_path, "shop", "2026-10", "orders.csv", orders)
    run_extract_channel(ctx, "shop")
    first = snapshot(ctx, "shop")
    assert any(key.endswith("_SUCCESS.json") for key in first)
    extract_channel_month(ctx, "shop", "2026-10")
    assert snapshot(ctx, "shop") == first
