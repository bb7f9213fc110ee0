"""SQL sources on the machine's PostgreSQL and MariaDB: the month bounded in the database's own types.

Every test has its own database (named for the test and the process, dropped afterwards).
Each table holds rows on both sides of the month's edges at ``run.timezone`` (Asia/Shanghai,
UTC+8), so a bound compared in the wrong type or time zone moves a row and fails the test;
rows whose time cannot be placed must be quarantined and counted, never dropped.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
import sqlalchemy as sa

from tests.sql_servers import fresh_database
from tierlib.config import parse_config
from tierlib.errors import ExtractError, ValidationFailed
from tierlib.extract import extract_table
from tierlib.extract.sql import count_month_rows
from tierlib.pipeline.context import RunContext
from tierlib.pipeline.extract import run_extract_channel
from tierlib.storage import open_storage

SERVERS = ["postgresql", "mariadb"]

TYPES = {
    # kind of column -> (PostgreSQL type, MariaDB type)
    "naive": ("timestamp", "datetime"),
    "aware": ("timestamptz", "timestamp NULL"),
    "text": ("text", "varchar(40)"),
    "epoch": ("bigint", "bigint"),
    "amount": ("numeric(12,2)", "decimal(12,2)"),
}


@pytest.fixture(params=SERVERS)
def database(request):
    with fresh_database(request.param, request.node.name) as url:
        yield request.param, url


def create_orders(url: str, server: str, time_type: str, rows: list[tuple]) -> None:
    """``sales(no, uid, at, paid)`` with ``at`` of ``time_type``; UTC session for instants."""
    column = TYPES[time_type][SERVERS.index(server)]
    amount = TYPES["amount"][SERVERS.index(server)]
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        if server == "mariadb":
            connection.execute(sa.text("SET time_zone = '+00:00'"))
        else:
            connection.execute(sa.text("SET TIME ZONE 'UTC'"))
        connection.execute(
            sa.text(
                f"create table sales (no varchar(20) primary key, uid varchar(20), "
                f"at {column}, paid {amount})"
            )
        )
        connection.execute(
            sa.text("insert into sales values (:no, :uid, :at, :paid)"),
            [{"no": no, "uid": uid, "at": at, "paid": paid} for no, uid, at, paid in rows],
        )
    engine.dispose()


def sql_channel(tmp_path, url: str | None = None, time_format: str | None = None, **channel):
    orders = {
        "table": "sales",
        "time_column": "at",
        "columns": {"order_id": "no", "record_id": "uid", "ordered_at": "at", "amount": "paid"},
    }
    records = {"table": "sales", "time_column": "at", "columns": {"record_id": "uid", "updated_at": "at"}}
    if time_format:
        orders["formats"] = {"ordered_at": time_format}
        records["formats"] = {"updated_at": time_format}
    config = parse_config(
        {
            "storage": {"root": str(tmp_path / "storage")},
            "run": {"history_months": 1, "timezone": "Asia/Shanghai"},
            "validation": {"data_docs": "off"},
            "channels": {
                "crm": {
                    "connector": "sql",
                    **({"url": url} if url else {}),
                    "records": records,
                    "orders": orders,
                    **channel,
                }
            },
        }
    )
    return config


def october(config, kind: str = "orders"):
    return extract_table("crm", config.channels["crm"], kind, "2026-10", config.run.timezone)


def test_naive_timestamps_are_local_time_and_bound_exactly(database, tmp_path):
    server, url = database
    create_orders(
        url,
        server,
        "naive",
        [
            ("before", "u1", "2026-09-30 23:59:59", 1),
            ("first", "u1", "2026-10-01 00:00:00", 2),
            ("last", "u2", "2026-10-31 23:59:59", 3),
            ("after", "u2", "2026-11-01 00:00:00", 4),
            ("no_time", "u3", None, 5),
        ],
    )
    result = october(sql_channel(tmp_path, url))
    # A row without a time belongs to no month: every month's read carries it to validation
    # (missing_date there), so it is seen until fixed instead of vanishing.
    assert list(result.accepted["order_id"]) == ["first", "last", "no_time"]
    assert list(result.accepted["ordered_at"][:2]) == [
        pd.Timestamp("2026-10-01"),
        pd.Timestamp("2026-10-31 23:59:59"),
    ]
    assert pd.isna(result.accepted["ordered_at"].iloc[2])
    assert list(result.accepted["amount"]) == [2.0, 3.0, 5.0]  # NUMERIC / DECIMAL arrive as Decimal
    assert count_month_rows("crm", sql_channel(tmp_path, url).channels["crm"], "orders", "2026-10") == 2


def test_timezone_aware_columns_compare_as_instants_at_run_timezone(database, tmp_path):
    server, url = database
    # Written in UTC: 16:00 UTC on the 30th of September is midnight of 1 October in Shanghai.
    create_orders(
        url,
        server,
        "aware",
        [
            ("before", "u1", "2026-09-30 15:59:59", 1),
            ("first", "u1", "2026-09-30 16:00:00", 2),
            ("last", "u2", "2026-10-31 15:59:59", 3),
            ("after", "u2", "2026-10-31 16:00:00", 4),
        ],
    )
    config = sql_channel(tmp_path, url)
    result = october(config)
    assert list(result.accepted["order_id"]) == ["first", "last"]
    assert list(result.accepted["ordered_at"]) == [
        pd.Timestamp("2026-10-01 00:00:00"),
        pd.Timestamp("2026-10-31 23:59:59"),
    ]
    assert count_month_rows("crm", config.channels["crm"], "orders", "2026-10", "Asia/Shanghai") == 2
    # The same table in another business time zone puts the edges elsewhere.
    in_utc = extract_table("crm", config.channels["crm"], "orders", "2026-10", "UTC")
    assert list(in_utc.accepted["order_id"]) == ["after", "last"]


@pytest.mark.parametrize(
    ("how", "scale"),
    [("epoch_s", 1), ("epoch_ms", 1000)],
)
def test_integer_epochs_are_bounded_as_unix_instants(database, tmp_path, how, scale):
    server, url = database
    start = int(pd.Timestamp("2026-10-01", tz="Asia/Shanghai").timestamp())
    end = int(pd.Timestamp("2026-11-01", tz="Asia/Shanghai").timestamp())
    create_orders(
        url,
        server,
        "epoch",
        [
            ("before", "u1", (start - 1) * scale, 1),
            ("first", "u1", start * scale, 2),
            ("last", "u2", (end - 1) * scale, 3),
            ("after", "u2", end * scale, 4),
        ],
    )
    config = sql_channel(tmp_path, url, how)
    result = october(config)
    assert list(result.accepted["order_id"]) == ["first", "last"]
    assert list(result.accepted["ordered_at"]) == [
        pd.Timestamp("2026-10-01"),
        pd.Timestamp("2026-10-31 23:59:59"),
    ]
    assert count_month_rows("crm", config.channels["crm"], "orders", "2026-10") == 2


def test_an_integer_column_without_an_epoch_format_names_the_key(database, tmp_path):
    server, url = database
    create_orders(url, server, "epoch", [("a", "u1", 1791000000, 1)])
    with pytest.raises(
        ExtractError, match=r"channels\.crm\.orders\.formats\.ordered_at.*epoch_s or epoch_ms"
    ):
        october(sql_channel(tmp_path, url))


def test_text_times_in_the_declared_format_are_placed_and_others_counted(database, tmp_path):
    server, url = database
    rows = [
        ("sep", "u1", "2026/09/30 23:59", 1),
        ("oct1", "u1", "2026/10/01 00:00", 2),
        ("oct2", "u1", "2026/10/5 8:05", 3),  # strptime takes one-digit fields too
        ("oct31", "u2", " 2026/10/31 23:59 ", 4),
        ("nov", "u2", "2026/11/01 00:00", 5),
        ("bad_day", "u3", "2026/10/32 10:00", 6),  # looks like October, is no day
        ("iso", "u3", "2026-10-05T10:00:00", 7),  # another format: fits no month's shape
        ("junk", "u3", "N/A", 8),
        ("empty", "u3", None, 9),
    ]
    create_orders(url, server, "text", rows)
    config = sql_channel(tmp_path, url, "%Y/%m/%d %H:%M")
    result = october(config)
    placed = result.accepted[result.accepted["ordered_at"].notna()]
    assert sorted(placed["order_id"]) == ["oct1", "oct2", "oct31"]
    assert result.accepted.set_index("order_id").loc["oct2", "ordered_at"] == pd.Timestamp("2026-10-05 08:05")
    quarantined = dict(
        zip(
            result.quarantined["row_json"].map(lambda r: json.loads(r)["no"]),
            result.quarantined["reason"],
            strict=True,
        )
    )
    assert quarantined == {
        "bad_day": "unparseable_date",
        "iso": "unparseable_date",
        "junk": "unparseable_date",
    }
    # The empty time reaches validation (missing_date there); nothing of the table is unaccounted for.
    assert result.figures["rows_in"] == 7
    september = extract_table("crm", config.channels["crm"], "orders", "2026-09", "Asia/Shanghai")
    assert list(september.accepted["order_id"]) == ["empty", "sep"]
    assert sorted(september.quarantined["reason"]) == ["unparseable_date"] * 2  # iso and junk: no month
    assert count_month_rows("crm", config.channels["crm"], "orders", "2026-10") == 3


def test_iso_text_with_offsets_lands_in_the_local_month(database, tmp_path):
    server, url = database
    create_orders(
        url,
        server,
        "text",
        [
            ("utc_late", "u1", "2026-09-30T16:30:00Z", 1),  # 00:30 on 1 October in Shanghai
            ("sep", "u1", "2026-09-30T23:00:00+08:00", 2),
            ("oct", "u1", "2026-10-15 12:00:00", 3),
            ("ny", "u2", "2026-10-31T11:00:00-05:00", 4),  # 00:00 on 1 November in Shanghai
        ],
    )
    config = sql_channel(tmp_path, url)
    assert sorted(october(config).accepted["order_id"]) == ["oct", "utc_late"]
    november = extract_table("crm", config.channels["crm"], "orders", "2026-11", "Asia/Shanghai")
    assert list(november.accepted["order_id"]) == ["ny"]
    september = extract_table("crm", config.channels["crm"], "orders", "2026-09", "Asia/Shanghai")
    assert list(september.accepted["order_id"]) == ["sep"]


def test_text_epochs_are_bounded_after_a_numeric_check(database, tmp_path):
    server, url = database
    start = int(pd.Timestamp("2026-10-01", tz="Asia/Shanghai").timestamp())
    create_orders(
        url,
        server,
        "text",
        [("before", "u1", str(start - 1), 1), ("first", "u1", str(start), 2), ("junk", "u1", "undefined", 3)],
    )
    result = october(sql_channel(tmp_path, url, "epoch_s"))
    assert list(result.accepted["order_id"]) == ["first"]
    assert list(result.quarantined["reason"]) == ["unparseable_date"]


def test_every_row_of_a_table_is_accounted_for_in_the_stage(database, tmp_path):
    """Through the extract stage with GX: rows in = accepted + quarantined, and the table's rows
    are all somewhere: in the month they belong to, or quarantined in every month."""
    server, url = database
    rows = [(f"o{i}", f"u{i % 5}", f"2026/10/{1 + i % 28:02d} 10:00", 10 + i) for i in range(40)]
    rows += [("x1", "u1", "someday", 1), ("x2", "u2", None, 2)]
    create_orders(url, server, "text", rows)
    config = sql_channel(tmp_path, url, "%Y/%m/%d %H:%M")
    ctx = RunContext(config=config, storage=open_storage(str(tmp_path / "storage")), period="2026-10")
    figures = run_extract_channel(ctx, "crm")
    orders = figures["tables"]["orders"]
    assert orders["rows_in"] == 42 == orders["accepted"] + orders["quarantined"]
    assert orders["accepted"] == 40
    assert orders["reasons"] == {"missing_date": 1, "unparseable_date": 1}


def test_a_mapped_column_missing_from_the_table_names_table_column_and_key(database, tmp_path):
    server, url = database
    create_orders(url, server, "naive", [("a", "u1", "2026-10-02 10:00:00", 1)])
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text("alter table sales rename column paid to pay_amount"))
    engine.dispose()
    config = sql_channel(tmp_path, url)
    ctx = RunContext(config=config, storage=open_storage(str(tmp_path / "storage")), period="2026-10")
    with pytest.raises(ValidationFailed) as error:
        run_extract_channel(ctx, "crm")
    message = str(error.value)
    assert "#sales has no column 'paid' (mapped to amount)" in message
    assert "pay_amount (renamed?)" in message and "channels.crm.orders.columns.amount" in message


def test_conn_id_reads_the_airflow_connection_variable_outside_airflow(database, tmp_path, monkeypatch):
    server, url = database
    create_orders(url, server, "naive", [("a", "u1", "2026-10-02 10:00:00", 1)])
    config = sql_channel(tmp_path, conn_id="crm_replica")
    with pytest.raises(ExtractError) as error:
        october(config)
    assert "channels.crm.conn_id" in str(error.value) and "AIRFLOW_CONN_CRM_REPLICA" in str(error.value)
    parsed = sa.engine.make_url(url)
    airflow_type = {"postgresql": "postgres", "mariadb": "mysql"}[server]
    monkeypatch.setenv(
        "AIRFLOW_CONN_CRM_REPLICA",
        f"{airflow_type}://{parsed.username}@{parsed.host}:{parsed.port}/{parsed.database}",
    )
    assert list(october(config).accepted["order_id"]) == ["a"]
    monkeypatch.setenv(
        "AIRFLOW_CONN_CRM_REPLICA",
        json.dumps(
            {
                "conn_type": airflow_type,
                "host": parsed.host,
                "port": parsed.port,
                "login": parsed.username,
                "schema": parsed.database,
            }
        ),
    )
    assert list(october(config).accepted["order_id"]) == ["a"]
