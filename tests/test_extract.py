"""Extract: each connector and format, standardization, quarantine reasons, month bounds."""

import dataclasses
import json
import sqlite3

import pandas as pd
import pytest

from tierlib.config import parse_config
from tierlib.errors import ExtractError
from tierlib.extract import extract_table

GOOD_ORDERS = [
    {
        "no": "o1",
        "uid": "u1",
        "at": "2026/10/03 10:00",
        "paid": "12.5",
        "off": "0",
        "ret": "0",
        "code": "POS",
    },
    {"no": "o2", "uid": "u2", "at": "2026/10/04 11:30", "paid": "99", "off": "10", "ret": "5", "code": "POS"},
]


def channel_config(tmp_path, fmt, orders_columns=None, **extra):
    return parse_config(
        {
            "storage": {"root": str(tmp_path / "store")},
            "channels": {
                "shop": {
                    "connector": "file",
                    "location": str(tmp_path / "drops"),
                    "format": fmt,
                    "records": {
                        "file": f"members.{fmt}",
                        "columns": {
                            "record_id": "uid",
                            "phone": "tel",
                            "updated_at": "changed",
                            "consent_sms": "sms",
                        },
                        "formats": {"updated_at": "epoch_s"},
                    },
                    "orders": {
                        "file": f"orders.{fmt}",
                        "columns": orders_columns
                        or {
                            "order_id": "no",
                            "record_id": "uid",
                            "ordered_at": "at",
                            "amount": "paid",
                            "discount": "off",
                            "refund_amount": "ret",
                        },
                        "formats": {"ordered_at": "%Y/%m/%d %H:%M"},
                        "channel_code": {"column": "code", "allowed": ["POS"]},
                        **extra,
                    },
                }
            },
        }
    ).channels["shop"]


def write_drop(tmp_path, fmt, name, rows, raw_lines=None):
    folder = tmp_path / "drops" / "period=2026-10"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.{fmt}"
    frame = pd.DataFrame(rows)
    if fmt == "csv":
        frame.to_csv(path, index=False)
        if raw_lines:
            with open(path, "ab") as handle:
                handle.write(b"".join(raw_lines))
    elif fmt == "jsonl":
        with open(path, "wb") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False).encode() + b"\n")
            for line in raw_lines or []:
                handle.write(line)
    else:
        frame.to_parquet(path, index=False)
    return path


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_every_format_maps_onto_the_standard_orders(tmp_path, fmt):
    write_drop(tmp_path, fmt, "orders", GOOD_ORDERS)
    result = extract_table("shop", channel_config(tmp_path, fmt), "orders", "2026-10")
    accepted = result.accepted
    assert result.figures == {"rows_in": 2, "accepted": 2, "quarantined": 0}
    assert list(accepted["order_id"]) == ["o1", "o2"]
    assert list(accepted["amount"]) == [12.5, 99.0]
    assert list(accepted["ordered_at"]) == [
        pd.Timestamp("2026-10-03 10:00"),
        pd.Timestamp("2026-10-04 11:30"),
    ]
    assert (accepted["channel"] == "shop").all()
    assert str(accepted["amount"].dtype) == "float64"
    assert accepted["category"].isna().all()  # not mapped: present and empty
    assert list(accepted["source_row"]) == [0, 1]
    assert accepted["source_file"].iloc[0].endswith(f"period=2026-10/orders.{fmt}")


def test_rows_that_cannot_be_typed_are_quarantined_with_reason_and_row(tmp_path):
    bad = [
        {"no": "o3", "uid": "u3", "at": "31/31/2026", "paid": "5", "off": "0", "ret": "0", "code": "POS"},
        {
            "no": "o4",
            "uid": "u4",
            "at": "2026/10/05 09:00",
            "paid": "abc",
            "off": "0",
            "ret": "0",
            "code": "POS",
        },
        {
            "no": "o5",
            "uid": "u5",
            "at": "2026/10/05 09:00",
            "paid": "5",
            "off": "0",
            "ret": "0",
            "code": "ZZ9",
        },
        {"no": "", "uid": "u6", "at": "2026/10/05 09:00", "paid": "5", "off": "0", "ret": "0", "code": "POS"},
    ]
    gbk_row = b"o7,u7,2026/10/06 10:00," + "张三".encode("gbk") + b",0,0,POS\n"
    write_drop(tmp_path, "csv", "orders", GOOD_ORDERS + bad, raw_lines=[gbk_row])
    result = extract_table("shop", channel_config(tmp_path, "csv"), "orders", "2026-10")
    assert result.figures == {"rows_in": 7, "accepted": 2, "quarantined": 5}
    reasons = dict(zip(result.quarantined["source_row"], result.quarantined["reason"], strict=True))
    assert reasons == {
        2: "unparseable_date",
        3: "non_numeric_amount",
        4: "unknown_channel_code",
        5: "missing_key",
        6: "bad_encoding",
    }
    row = json.loads(result.quarantined.set_index("source_row").loc[3, "row_json"])
    assert row["paid"] == "abc" and row["no"] == "o4"
    assert (result.quarantined["stage"] == "extract").all()


def test_jsonl_keeps_a_stray_string_in_a_numeric_field(tmp_path):
    rows = [*GOOD_ORDERS, {**GOOD_ORDERS[0], "no": "o9", "paid": "n/a"}]
    write_drop(tmp_path, "jsonl", "orders", rows)
    result = extract_table("shop", channel_config(tmp_path, "jsonl"), "orders", "2026-10")
    assert list(result.quarantined["reason"]) == ["non_numeric_amount"]


def test_records_parse_epoch_times_and_boolean_spellings(tmp_path):
    rows = [
        {"uid": "u1", "tel": "+86 138 0013 8000", "changed": 1791000000, "sms": "Y"},
        {"uid": "u2", "tel": None, "changed": 1791000001, "sms": "0"},
    ]
    write_drop(tmp_path, "parquet", "members", rows)
    result = extract_table("shop", channel_config(tmp_path, "parquet"), "records", "2026-10")
    records = result.accepted
    assert list(records["consent_sms"]) == [True, False]
    # A Unix instant becomes naive local (Asia/Shanghai, UTC+8) time.
    assert records["updated_at"].iloc[0] == pd.Timestamp(1791000000, unit="s") + pd.Timedelta(hours=8)
    assert records["phone"].iloc[0] == "+86 138 0013 8000" and pd.isna(records["phone"].iloc[1])


def test_offsets_convert_to_local_time_and_mixed_offsets_parse(tmp_path):
    rows = [
        {
            "no": "o1",
            "uid": "u1",
            "at": "2026-10-03T10:00:00+08:00",
            "paid": "1",
            "off": "0",
            "ret": "0",
            "code": "POS",
        },
        {
            "no": "o2",
            "uid": "u1",
            "at": "2026-10-03T02:00:00Z",
            "paid": "1",
            "off": "0",
            "ret": "0",
            "code": "POS",
        },
        {
            "no": "o3",
            "uid": "u1",
            "at": "2026-10-03T10:00:00",
            "paid": "1",
            "off": "0",
            "ret": "0",
            "code": "POS",
        },
    ]
    write_drop(tmp_path, "jsonl", "orders", rows)
    channel = channel_config(tmp_path, "jsonl")
    channel = dataclasses.replace(channel, orders=dataclasses.replace(channel.orders, formats={}))
    result = extract_table("shop", channel, "orders", "2026-10")
    assert list(result.accepted["ordered_at"]) == [pd.Timestamp("2026-10-03 10:00")] * 3


def test_missing_column_names_channel_file_and_column(tmp_path):
    write_drop(
        tmp_path, "csv", "orders", [{k: v for k, v in row.items() if k != "paid"} for row in GOOD_ORDERS]
    )
    with pytest.raises(ExtractError) as error:
        extract_table("shop", channel_config(tmp_path, "csv"), "orders", "2026-10")
    message = str(error.value)
    assert "channel shop" in message and "orders.csv" in message and "'paid'" in message


def test_sql_connector_reads_only_the_month(tmp_path):
    database = tmp_path / "pos.db"
    with sqlite3.connect(database) as connection:
        connection.execute(
            "create table sales (no text primary key, uid text, at text, paid real, code text)"
        )
        connection.executemany(
            "insert into sales values (?, ?, ?, ?, ?)",
            [
                ("s1", "u1", "2026-09-30 23:59:59", 10.0, "POS"),
                ("s2", "u1", "2026-10-01 00:00:00", 20.0, "POS"),
                ("s3", "u2", "2026-10-31 23:59:59", 30.0, "POS"),
                ("s4", "u2", "2026-11-01 00:00:00", 40.0, "POS"),
            ],
        )
    config = parse_config(
        {
            "storage": {"root": str(tmp_path / "store")},
            "channels": {
                "pos": {
                    "connector": "sql",
                    "url": f"sqlite:///{database}",
                    "records": {"table": "sales", "time_column": "at", "columns": {"record_id": "uid"}},
                    "orders": {
                        "table": "sales",
                        "time_column": "at",
                        "columns": {
                            "order_id": "no",
                            "record_id": "uid",
                            "ordered_at": "at",
                            "amount": "paid",
                        },
                        "channel_code": {"column": "code", "allowed": ["POS"]},
                    },
                }
            },
        }
    )
    result = extract_table("pos", config.channels["pos"], "orders", "2026-10")
    assert list(result.accepted["order_id"]) == ["s2", "s3"]
    assert list(result.accepted["amount"]) == [20.0, 30.0]
    assert result.accepted["source_file"].iloc[0].endswith("pos.db#sales")
