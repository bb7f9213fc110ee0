"""Hostile source drops, of the kinds POS, e-commerce and member systems and spreadsheet users produce.

Each class of problem gets fixtures of its own: the drop is written as bytes, extracted by the
extract stage (GX included), and the test checks what was repaired, what was quarantined with
which reason, and what stopped the month with which message.  Throughout: rows in = accepted +
quarantined for every table, and no accepted value differs from what the source meant.
"""

from __future__ import annotations

import dataclasses
import decimal
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tierlib.catalog import field_quarantine_key, quarantine_key, standardized_key, standardized_marker_key
from tierlib.config import parse_config
from tierlib.errors import ConfigError, ExtractError, ValidationFailed
from tierlib.identity import normalize_phone
from tierlib.pipeline.context import RunContext
from tierlib.pipeline.extract import extract_channel_month, run_extract_channel
from tierlib.storage import open_storage

PROJECT = Path(__file__).resolve().parent.parent
NAMES = ["王芳", "李娜", "张伟", "刘洋", "陈静", "杨磊", "赵敏", "黄婷", "周杰", "吴霞"]


def config(tmp_path, fmt: str = "csv", *, records=None, orders=None, validation=None, **channel):
    ext = {"csv": "csv", "jsonl": "jsonl", "parquet": "parquet"}[fmt]
    return parse_config(
        {
            "storage": {"root": str(tmp_path / "storage")},
            "run": {"history_months": 2},
            "validation": {"data_docs": "off", **(validation or {})},
            "channels": {
                "shop": {
                    "connector": "file",
                    "location": str(tmp_path / "drops"),
                    "format": fmt,
                    "records": {
                        "file": f"members.{ext}",
                        "columns": {
                            "record_id": "vip",
                            "phone": "mobile",
                            "name": "name",
                            "updated_at": "changed",
                            "birth_date": "birthday",
                            "consent_sms": "sms",
                        },
                        "formats": {"updated_at": "%Y/%m/%d %H:%M", "birth_date": "%Y/%m/%d"},
                        **(records or {}),
                    },
                    "orders": {
                        "file": f"orders.{ext}",
                        "columns": {
                            "order_id": "receipt",
                            "record_id": "vip",
                            "ordered_at": "sold",
                            "amount": "paid",
                            "discount": "off",
                            "refund_amount": "back",
                        },
                        "formats": {"ordered_at": "%Y/%m/%d %H:%M"},
                        **(orders or {}),
                    },
                    **channel,
                }
            },
        }
    )


def context(cfg, period: str = "2026-10") -> RunContext:
    return RunContext(config=cfg, storage=open_storage(cfg.storage.root), period=period)


def members(period: str = "2026-10", n: int = 40, phones=None) -> list[dict]:
    day = period.replace("-", "/")
    return [
        {
            "vip": f"V{i:03d}",
            "mobile": phones[i] if phones else f"139{i:08d}",
            "name": NAMES[i % len(NAMES)],
            "changed": f"{day}/{1 + i % 28:02d} 09:{i % 60:02d}",
            "birthday": f"19{70 + i % 30}/0{1 + i % 9}/1{i % 10}",
            "sms": "Y" if i % 2 else "N",
        }
        for i in range(n)
    ]


def orders(period: str = "2026-10", n: int = 60, prefix: str = "R") -> list[dict]:
    day = period.replace("-", "/")
    return [
        {
            "receipt": f"{prefix}{period}-{i:04d}",
            "vip": f"V{i % 40:03d}",
            "sold": f"{day}/{1 + i % 28:02d} 1{i % 10}:30",
            "paid": f"{20 + i}.50",
            "off": "0",
            "back": "0",
        }
        for i in range(n)
    ]


def csv_bytes(rows: list[dict], encoding: str = "utf-8", delimiter: str = ",") -> bytes:
    header = delimiter.join(rows[0])
    lines = [header] + [delimiter.join(str(v) for v in row.values()) for row in rows]
    return ("\n".join(lines) + "\n").encode(encoding)


def jsonl_bytes(rows: list[dict]) -> bytes:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode()


def deliver(tmp_path, period: str, name: str, data: bytes | pd.DataFrame | pa.Table) -> Path:
    path = tmp_path / "drops" / f"period={period}" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, pd.DataFrame):
        data.to_parquet(path, index=False)
    elif isinstance(data, pa.Table):
        pq.write_table(data, path)
    else:
        path.write_bytes(data)
    return path


def deliver_csv_month(tmp_path, period="2026-10", member_rows=None, order_rows=None, encoding="utf-8"):
    deliver(tmp_path, period, "members.csv", csv_bytes(member_rows or members(period), encoding))
    deliver(tmp_path, period, "orders.csv", csv_bytes(order_rows or orders(period), encoding))


def reconciles(figures: dict) -> None:
    for kind, table in figures.items():
        assert table["rows_in"] == table["accepted"] + table["quarantined"], kind


def stored(ctx: RunContext, kind: str, period: str = "2026-10") -> pd.DataFrame:
    return ctx.storage.read_parquet(standardized_key(period, "shop", kind))


def quarantined(ctx: RunContext, kind: str, period: str = "2026-10") -> pd.DataFrame:
    return ctx.storage.read_parquet(quarantine_key(period, "extract", "shop", kind))


# --- 1. a mapped column missing from a typed source --------------------------------------


def test_a_typed_source_missing_a_mapped_column_names_file_column_and_key(tmp_path):
    cfg = config(tmp_path, "parquet")
    deliver(tmp_path, "2026-10", "members.parquet", pd.DataFrame(members()))
    frame = pd.DataFrame(orders()).rename(columns={"paid": "pay_amt", "back": "refund"})
    frame["paid_typed"] = 1.0
    path = deliver(tmp_path, "2026-10", "orders.parquet", frame)
    with pytest.raises(ValidationFailed) as error:
        extract_channel_month(context(cfg), "shop", "2026-10")
    message = str(error.value)
    assert f"{path} has no column 'paid' (mapped to amount)" in message
    assert "channels.shop.orders.columns.amount" in message
    assert f"{path} has no column 'back' (mapped to refund_amount)" in message
    assert "pay_amt" in message and "(renamed?)" in message


# --- 3. non-finite numbers ---------------------------------------------------------------


def test_infinite_amounts_are_quarantined_in_text_and_typed_sources(tmp_path):
    rows = orders()
    for i, spelled in enumerate(["inf", "-Infinity", "1e400", "+INF"]):
        rows[i]["paid"] = spelled
    rows[10]["off"] = "Infinity"  # optional: cleared, the order kept
    deliver_csv_month(tmp_path, order_rows=rows)
    ctx = context(config(tmp_path))
    figures = extract_channel_month(ctx, "shop", "2026-10")
    reconciles(figures)
    assert figures["orders"]["reasons"] == {"non_finite_amount": 4}
    assert figures["orders"]["fields_cleared"] == {"discount": {"non_finite_amount": 1}}
    accepted = stored(ctx, "orders")
    assert np.isfinite(accepted["amount"]).all() and len(accepted) == 56
    assert pd.isna(accepted.set_index("order_id").loc["R2026-10-0010", "discount"])

    typed = pd.DataFrame(orders()).astype({"paid": float, "off": float, "back": float})
    typed.loc[[3, 7], "paid"] = [np.inf, -np.inf]
    deliver(tmp_path, "2026-09", "members.parquet", pd.DataFrame(members("2026-09")))
    deliver(tmp_path, "2026-09", "orders.parquet", typed.assign(sold=orders("2026-09")[0]["sold"]))
    parquet = context(config(tmp_path, "parquet"))
    figures = extract_channel_month(parquet, "shop", "2026-09")
    assert figures["orders"]["reasons"] == {"non_finite_amount": 2}


# --- 4. encodings ------------------------------------------------------------------------


def test_utf8_declared_as_gbk_stops_naming_utf8_and_the_key(tmp_path):
    # UTF-8 Chinese read as GBK decodes almost without an error, into other characters.
    deliver_csv_month(tmp_path)
    with pytest.raises(ExtractError) as error:
        extract_channel_month(context(config(tmp_path, encoding="gbk")), "shop", "2026-10")
    message = str(error.value)
    assert "members.csv" in message and "not gbk" in message
    assert "most likely utf-8" in message and "channels.shop.encoding" in message


def test_gbk_declared_as_utf8_stops_naming_gb18030(tmp_path):
    deliver_csv_month(tmp_path, encoding="gbk")
    with pytest.raises(ExtractError) as error:
        extract_channel_month(context(config(tmp_path)), "shop", "2026-10")
    message = str(error.value)
    assert "members.csv" in message and "most likely gb18030" in message
    assert "channels.shop.encoding: gb18030" in message


def test_gbk_declared_reads_gb18030_only_characters_exactly(tmp_path):
    rows = members()
    rows[0]["name"] = "𠀀丰"  # outside GBK: a four-byte GB18030 sequence
    rows[1]["name"] = "䶮"  # CJK extension A, in GB18030 only
    rows[2]["name"] = "€5"
    deliver_csv_month(tmp_path, member_rows=rows, encoding="gb18030")
    ctx = context(config(tmp_path, encoding="gbk"))
    figures = extract_channel_month(ctx, "shop", "2026-10")
    reconciles(figures)
    names = stored(ctx, "records")["name"].tolist()
    assert names[:4] == ["𠀀丰", "䶮", "€5", NAMES[3]]
    assert figures["records"]["encoding"] == "gb18030"


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_utf8_byte_order_mark_is_dropped(tmp_path, fmt):
    data = csv_bytes(members()) if fmt == "csv" else jsonl_bytes(members())
    deliver(tmp_path, "2026-10", f"members.{fmt}", b"\xef\xbb\xbf" + data)
    order_data = csv_bytes(orders()) if fmt == "csv" else jsonl_bytes(orders())
    deliver(tmp_path, "2026-10", f"orders.{fmt}", b"\xef\xbb\xbf" + order_data)
    ctx = context(config(tmp_path, fmt))
    figures = extract_channel_month(ctx, "shop", "2026-10")
    assert figures["records"]["accepted"] == 40 and figures["orders"]["accepted"] == 60
    assert stored(ctx, "records")["record_id"].iloc[0] == "V000"


def test_excel_unicode_text_is_named_and_reads_with_auto_and_a_tab(tmp_path):
    # Excel's "Unicode text": UTF-16 little-endian with a mark, tab-delimited.
    deliver(tmp_path, "2026-10", "members.csv", csv_bytes(members(), "utf-16", "\t"))
    deliver(tmp_path, "2026-10", "orders.csv", csv_bytes(orders(), "utf-16", "\t"))
    with pytest.raises(ExtractError) as error:
        extract_channel_month(context(config(tmp_path)), "shop", "2026-10")
    message = str(error.value)
    assert "UTF-16 byte-order mark" in message and "channels.shop.encoding: utf-16" in message
    assert 'channels.shop.delimiter: "\\t"' in message
    ctx = context(config(tmp_path, encoding="auto", delimiter="\t"))
    figures = extract_channel_month(ctx, "shop", "2026-10")
    reconciles(figures)
    assert stored(ctx, "records")["name"].tolist()[:3] == NAMES[:3]
    assert figures["records"]["encoding"] == "utf-16"


def test_auto_detects_gbk_and_utf8_per_file(tmp_path):
    deliver(tmp_path, "2026-10", "members.csv", csv_bytes(members(), "gbk"))
    deliver(tmp_path, "2026-10", "orders.csv", csv_bytes(orders(), "utf-8"))
    ctx = context(config(tmp_path, encoding="auto"))
    figures = extract_channel_month(ctx, "shop", "2026-10")
    assert stored(ctx, "records")["name"].tolist()[:2] == NAMES[:2]
    assert figures["records"]["encoding"] == "gb18030"


def test_a_few_rows_typed_on_a_gbk_terminal_are_quarantined_never_accepted_as_mojibake(tmp_path):
    body = csv_bytes(members(n=200))
    lines = body.split(b"\n")
    lines[2] = lines[2].replace("李娜".encode(), "李娜".encode("gbk"))  # one row in another encoding
    deliver(tmp_path, "2026-10", "members.csv", b"\n".join(lines))
    deliver(tmp_path, "2026-10", "orders.csv", csv_bytes(orders()))
    ctx = context(config(tmp_path))
    figures = extract_channel_month(ctx, "shop", "2026-10")
    reconciles(figures)
    assert figures["records"]["reasons"] == {"bad_encoding": 1}
    assert "\ufffd" not in "".join(stored(ctx, "records")["name"])
    assert set(stored(ctx, "records")["name"]) <= set(NAMES)


def test_an_unknown_encoding_name_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"channels\.shop: encoding 'gbkk' is not an encoding name"):
        config(tmp_path, encoding="gbkk")


# --- 5. JSON lines -----------------------------------------------------------------------


def test_a_broken_json_line_is_one_quarantined_row_with_its_line_number(tmp_path):
    lines = jsonl_bytes(orders()).split(b"\n")
    lines[7] = lines[7][:25]  # cut off mid-object
    lines[20] = b'["R-x", "V001"]'  # valid JSON, not an object
    lines.insert(3, b"   ")  # a blank line is no row
    deliver(tmp_path, "2026-10", "members.jsonl", b"\xef\xbb\xbf" + jsonl_bytes(members()))
    deliver(tmp_path, "2026-10", "orders.jsonl", b"\n".join(lines))
    ctx = context(config(tmp_path, "jsonl"))
    figures = extract_channel_month(ctx, "shop", "2026-10")
    reconciles(figures)
    assert figures["orders"]["rows_in"] == 60 and figures["orders"]["reasons"] == {"malformed_row": 2}
    bad = quarantined(ctx, "orders")
    assert bad["source_row"].tolist() == [7, 20]
    assert bad["detail"].iloc[0].startswith("line 9: not valid JSON")
    assert "a JSON list" in bad["detail"].iloc[1]
    assert json.loads(bad["row_json"].iloc[0]) == {"line": lines[8].decode()}
    kept = stored(ctx, "orders")
    assert kept["source_row"].tolist() == [i for i in range(60) if i not in (7, 20)]
    assert kept.set_index("source_row").loc[8, "order_id"] == "R2026-10-0008"


def test_many_broken_lines_stop_the_month_by_the_quarantine_share(tmp_path):
    lines = jsonl_bytes(orders()).split(b"\n")
    for i in range(0, 50, 2):
        lines[i] = lines[i][:-3]
    deliver(tmp_path, "2026-10", "members.jsonl", jsonl_bytes(members()))
    deliver(tmp_path, "2026-10", "orders.jsonl", b"\n".join(lines))
    with pytest.raises(ValidationFailed) as error:
        extract_channel_month(context(config(tmp_path, "jsonl")), "shop", "2026-10")
    message = str(error.value)
    assert "channel shop, orders of 2026-10" in message and "orders.jsonl" in message
    assert "[malformed_row]" in message


def test_a_csv_row_with_too_many_fields_is_one_malformed_row(tmp_path):
    rows = orders()
    body = csv_bytes(rows).decode().split("\n")
    body[4] = body[4].replace("23.50", "1,023.50")  # unquoted thousands separator: one field too many
    body[9] = ",".join(body[9].split(",")[:3])  # fields missing
    deliver(tmp_path, "2026-10", "members.csv", csv_bytes(members()))
    deliver(tmp_path, "2026-10", "orders.csv", "\n".join(body).encode())
    ctx = context(config(tmp_path))
    figures = extract_channel_month(ctx, "shop", "2026-10")
    reconciles(figures)
    bad = quarantined(ctx, "orders")
    assert bad["source_row"].tolist() == [3, 8] and set(bad["reason"]) == {"malformed_row"}
    assert "7 fields where the header has 6" in bad["detail"].iloc[0]
    assert "1,234.50" in bad["detail"].iloc[0]


# --- 6. phones as spreadsheets leave them ------------------------------------------------


def test_spreadsheet_phones_are_repaired_where_certain_and_counted_where_not(tmp_path):
    phones = [f"139{i:08d}" for i in range(40)]
    phones[0] = "'13900000000"  # Excel's text marker
    phones[1] = '="13900000001"'  # Excel's formula quoting
    phones[2] = "13900000002.0"  # through a float
    phones[3] = "1.3900000003E+10"  # scientific, every digit kept
    phones[4] = "1.39E+10"  # scientific, digits lost
    phones[5] = "139****0005"  # masked by a marketplace
    phones[6] = "1390000"  # too short
    rows = members(phones=phones)
    body = csv_bytes(rows).decode().replace('="13900000001"', '"=""13900000001"""')
    deliver(tmp_path, "2026-10", "members.csv", body.encode())
    deliver(tmp_path, "2026-10", "orders.csv", csv_bytes(orders()))
    ctx = context(config(tmp_path))
    figures = extract_channel_month(ctx, "shop", "2026-10")
    reconciles(figures)
    quality = figures["records"]["identifiers"]["phone"]
    assert quality["present"] == 40 and quality["usable"] == 37
    assert quality["reasons"] == {"invalid_phone": 1, "masked": 1, "scientific_notation": 1}
    assert quality["damaged_share"] == pytest.approx(2 / 40)
    records = stored(ctx, "records")
    assert records["phone"].iloc[0] == "13900000000" and records["phone"].iloc[1] == "13900000001"
    normalized = normalize_phone(records["phone"]).tolist()
    assert normalized[:4] == [f"+861390000000{i}" for i in range(4)]
    assert normalized[4:7] == [None, None, None] or all(pd.isna(v) for v in normalized[4:7])


def test_mostly_damaged_phones_stop_the_month_and_a_jump_warns(tmp_path):
    # September: clean phones.  October: a third in scientific notation (a warning);
    # November: most of them (the month stops, naming channel and column).
    deliver_csv_month(tmp_path, "2026-09")
    october = [f"139{i:08d}" if i % 3 else f"1.39{i:02d}E+10" for i in range(40)]
    deliver_csv_month(tmp_path, "2026-10", member_rows=members("2026-10", phones=october))
    cfg = config(tmp_path)
    ctx = context(cfg)
    figures = run_extract_channel(ctx, "shop")
    warnings = figures["warnings"]
    assert len(warnings) == 1 and warnings[0]["column"] == "phone"
    assert warnings[0]["previous_damaged_share"] == 0.0 and warnings[0]["damaged_share"] == pytest.approx(
        14 / 40
    )
    assert "channel shop" in warnings[0]["message"] and "scientific_notation 14" in warnings[0]["message"]
    marker = ctx.storage.read_json(standardized_marker_key("2026-10", "shop"))
    assert marker["records"]["warnings"][0]["kind"] == "identifier_damage_jump"

    november = [f"1.3{i:02d}E+10" for i in range(40)]
    deliver_csv_month(tmp_path, "2026-11", member_rows=members("2026-11", phones=november))
    with pytest.raises(ValidationFailed) as error:
        extract_channel_month(dataclasses.replace(ctx, period="2026-11"), "shop", "2026-11")
    message = str(error.value)
    assert "100% of the 40 phone values of channel shop cannot identify anyone" in message
    assert "validation.identifiers.thresholds.shop.phone" in message
    relaxed = config(tmp_path, validation={"identifiers": {"thresholds": {"shop.phone": 1.0}}})
    assert extract_channel_month(context(relaxed, "2026-11"), "shop", "2026-11")["records"]["accepted"] == 40


# --- 7. orders re-delivered in a later month ---------------------------------------------


def redelivered_months(tmp_path):
    september = orders("2026-09")
    october = orders("2026-10")
    again = dict(september[5], sold="2026/10/03 12:00", paid="99.00")  # same receipt, new time and amount
    october.append(again)
    deliver_csv_month(tmp_path, "2026-09", member_rows=members("2026-09"), order_rows=september)
    deliver_csv_month(tmp_path, "2026-10", order_rows=october)
    return again["receipt"]


def test_a_reorder_delivered_again_next_month_is_a_duplicate_naming_its_first_month(tmp_path):
    receipt = redelivered_months(tmp_path)
    ctx = context(config(tmp_path))
    figures = run_extract_channel(ctx, "shop")
    reconciles(figures["tables"])
    assert figures["tables"]["orders"]["reasons"] == {"duplicate_order_id": 1}
    bad = quarantined(ctx, "orders")
    assert bad["detail"].iloc[0].endswith(f"order_id={receipt} first delivered in 2026-09")
    assert receipt not in set(stored(ctx, "orders")["order_id"])
    assert receipt in set(stored(ctx, "orders", "2026-09")["order_id"])


def test_redelivered_orders_declared_as_updates_replace_the_earlier_copy(tmp_path):
    receipt = redelivered_months(tmp_path)
    cfg = config(tmp_path, orders={"redelivered": "update"})
    ctx = context(cfg)
    figures = run_extract_channel(ctx, "shop")
    assert figures["tables"]["orders"]["reasons"] == {}
    october = stored(ctx, "orders").set_index("order_id")
    assert october.loc[receipt, "amount"] == 99.0
    september = stored(ctx, "orders", "2026-09")
    assert receipt not in set(september["order_id"]) and len(september) == 59
    moved = quarantined(ctx, "orders", "2026-09")
    assert (
        moved["reason"].tolist() == ["superseded_order"]
        and "re-delivered in 2026-10" in moved["detail"].iloc[0]
    )
    marker = ctx.storage.read_json(standardized_marker_key("2026-09", "shop"))["orders"]
    assert marker["rows_in"] == 60 == marker["accepted"] + marker["quarantined"]
    # Re-extracting September keeps it out while October holds the current version.
    again = extract_channel_month(ctx, "shop", "2026-09")
    assert again["orders"]["reasons"] == {"superseded_order": 1} and again["orders"]["accepted"] == 59


# --- 8. junk in optional fields ----------------------------------------------------------


def test_junk_in_optional_fields_is_cleared_field_by_field_and_the_rows_kept(tmp_path):
    member_rows = members()
    for i in range(25):
        member_rows[i]["birthday"] = "0000/00/00"  # MySQL's zero date
    member_rows[30]["birthday"] = "1990/02/30"
    member_rows[31]["sms"] = "maybe"
    order_rows = orders()
    for i in range(30):
        order_rows[i]["off"] = "NULL"
    order_rows[40]["back"] = "abc"
    deliver_csv_month(tmp_path, member_rows=member_rows, order_rows=order_rows)
    ctx = context(config(tmp_path))
    figures = extract_channel_month(ctx, "shop", "2026-10")
    reconciles(figures)
    assert figures["records"]["accepted"] == 40 and figures["orders"]["accepted"] == 60
    assert figures["records"]["fields_cleared"] == {
        "birth_date": {"placeholder_value": 25, "unparseable_date": 1},
        "consent_sms": {"unknown_boolean": 1},
    }
    assert figures["orders"]["fields_cleared"] == {
        "discount": {"placeholder_value": 30},
        "refund_amount": {"non_numeric_amount": 1},
    }
    records = stored(ctx, "records")
    assert records["birth_date"].iloc[:25].isna().all() and records["birth_date"].iloc[25:30].notna().all()
    assert pd.isna(records["consent_sms"].iloc[31]) and records["consent_sms"].iloc[33]
    cleared = ctx.storage.read_parquet(field_quarantine_key("2026-10", "extract", "shop", "orders"))
    assert len(cleared) == 31
    assert cleared.iloc[-1][["source_row", "column", "source_column", "reason", "value"]].tolist() == [
        40,
        "refund_amount",
        "back",
        "non_numeric_amount",
        "abc",
    ]


def test_a_required_field_that_cannot_be_typed_still_quarantines_the_row(tmp_path):
    order_rows = orders()
    order_rows[2]["paid"] = "NULL"
    order_rows[3]["sold"] = "0000/00/00 00:00"
    deliver_csv_month(tmp_path, order_rows=order_rows)
    figures = extract_channel_month(context(config(tmp_path)), "shop", "2026-10")
    assert figures["orders"]["reasons"] == {"non_numeric_amount": 1, "unparseable_date": 1}


# --- 9. messages and declarations --------------------------------------------------------


def test_decimal128_amounts_are_numbers(tmp_path):
    frame = pd.DataFrame(orders())
    table = pa.table(
        {
            **{name: pa.array(frame[name]) for name in ("receipt", "vip", "sold")},
            "paid": pa.array([decimal.Decimal(v) for v in frame["paid"]], pa.decimal128(12, 2)),
            "off": pa.array([decimal.Decimal("1.10")] * len(frame), pa.decimal128(12, 2)),
            "back": pa.array([None] * len(frame), pa.decimal128(12, 2)),
        }
    )
    deliver(tmp_path, "2026-10", "members.parquet", pd.DataFrame(members()))
    deliver(tmp_path, "2026-10", "orders.parquet", table)
    ctx = context(config(tmp_path, "parquet"))
    figures = extract_channel_month(ctx, "shop", "2026-10")
    assert figures["orders"]["accepted"] == 60
    accepted = stored(ctx, "orders")
    assert accepted["amount"].iloc[0] == 20.5 and accepted["discount"].iloc[0] == 1.1


def test_header_whitespace_is_trimmed_and_a_wrong_delimiter_is_named(tmp_path):
    deliver(tmp_path, "2026-10", "members.csv", csv_bytes(members()).replace(b"vip,", b" vip ,", 1))
    deliver(tmp_path, "2026-10", "orders.csv", csv_bytes(orders(), delimiter=";"))
    with pytest.raises(ExtractError) as error:
        extract_channel_month(context(config(tmp_path)), "shop", "2026-10")
    message = str(error.value)
    assert "orders.csv: the header reads as one column 'receipt;vip;sold;paid;off;back'" in message
    assert "channels.shop.delimiter: ';'" in message
    deliver(
        tmp_path, "2026-10", "members.csv", csv_bytes(members(), delimiter=";").replace(b"vip;", b" vip ;", 1)
    )
    ctx = context(config(tmp_path, delimiter=";"))
    assert extract_channel_month(ctx, "shop", "2026-10")["records"]["accepted"] == 40


def test_declared_number_formats_parse_and_undeclared_ones_are_quarantined(tmp_path):
    order_rows = orders()
    order_rows[0]["paid"] = '"1,234.50"'
    order_rows[1]["paid"] = "¥128.00"
    order_rows[2]["paid"] = '"RMB 2,000"'
    order_rows[3]["paid"] = '"12,34.5"'  # not a thousands grouping
    order_rows[4]["paid"] = "128.00元"
    deliver_csv_month(tmp_path, order_rows=order_rows)
    plain = context(config(tmp_path))
    figures = extract_channel_month(plain, "shop", "2026-10")
    assert figures["orders"]["reasons"] == {"non_numeric_amount": 5}
    assert "numbers.amount" in quarantined(plain, "orders")["detail"].iloc[0]
    declared = config(
        tmp_path, orders={"numbers": {"amount": {"thousands": ",", "currency": ["¥", "RMB", "元"]}}}
    )
    ctx = context(declared)
    figures = extract_channel_month(ctx, "shop", "2026-10")
    reconciles(figures)
    assert figures["orders"]["reasons"] == {"non_numeric_amount": 1}
    amounts = stored(ctx, "orders").set_index("source_row")["amount"]
    assert amounts.loc[[0, 1, 2, 4]].tolist() == [1234.5, 128.0, 2000.0, 128.0]


def test_a_decimal_comma_is_declared_per_column(tmp_path):
    order_rows = orders()
    for row in order_rows:
        row["paid"] = '"' + row["paid"].replace(".", ",") + '"'
    order_rows[0]["paid"] = '"1.234,50"'
    order_rows[1]["paid"] = "12.50"  # a point is not this column's decimal mark
    deliver_csv_month(tmp_path, order_rows=order_rows)
    cfg = config(tmp_path, orders={"numbers": {"amount": {"decimal": ",", "thousands": "."}}})
    ctx = context(cfg)
    figures = extract_channel_month(ctx, "shop", "2026-10")
    assert figures["orders"]["reasons"] == {"non_numeric_amount": 1}
    assert stored(ctx, "orders")["amount"].tolist()[:2] == [1234.5, 22.5]


def test_dialect_keys_are_checked_when_the_config_loads(tmp_path):
    with pytest.raises(ConfigError, match=r"channels\.shop: delimiter must be one character"):
        config(tmp_path, delimiter=";;")
    with pytest.raises(ConfigError) as error:
        config(
            tmp_path,
            orders={
                "numbers": {"amount": {"decimal": ",", "thousands": ","}, "category": {"thousands": ","}},
                "redelivered": "merge",
            },
            records={"redelivered": "update"},
        )
    message = str(error.value)
    assert "channels.shop.orders.numbers.amount: thousands and decimal are both ','" in message
    assert "channels.shop.orders.redelivered: 'merge' is not allowed" in message
    # Checks across keys run once every key of the channel is valid.
    with pytest.raises(ConfigError) as error:
        config(
            tmp_path, orders={"numbers": {"category": {"thousands": ","}}}, records={"redelivered": "update"}
        )
    message = str(error.value)
    assert "channels.shop.orders.numbers.category: not a number column of orders" in message
    assert "channels.shop.records.redelivered: only orders" in message


# --- no traceback reaches the user -------------------------------------------------------


def test_hostile_drops_through_the_command_line_print_errors_not_tracebacks(tmp_path):
    import yaml

    deliver(tmp_path, "2026-10", "members.parquet", pd.DataFrame(members()))
    deliver(tmp_path, "2026-10", "orders.parquet", pd.DataFrame(orders()).rename(columns={"paid": "pay"}))
    raw = {
        "storage": {"root": str(tmp_path / "storage")},
        "run": {"history_months": 1},
        "validation": {"data_docs": "off"},
        "channels": {"shop": config(tmp_path, "parquet").raw["channels"]["shop"]},
    }
    path = tmp_path / "tierflow.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True))
    command = [sys.executable, "-m", "tierlib", "run", "--config", str(path), "--period", "2026-10"]
    result = subprocess.run(
        [*command, "--stages", "extract"], capture_output=True, text=True, cwd=PROJECT, check=False
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert "error: " in result.stderr
    assert "orders.parquet has no column 'paid' (mapped to amount)" in result.stderr
