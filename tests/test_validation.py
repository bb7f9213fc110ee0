"""tierlib.validation on small frames: raw suites, reason priority, run-level decisions, derived suites."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from tierlib.errors import ConfigError, InputError, ValidationFailed
from tierlib.extract import Standardized
from tierlib.schemas import COLUMNS_BY_KIND, QUARANTINE_COLUMNS, QUARANTINE_REASONS, empty_frame
from tierlib.storage import open_storage
from tierlib.validation import (
    ValidationSettings,
    data_docs_prefix,
    publish_data_docs,
    raw_checks,
    validate_dataset,
    validate_raw,
)

SETTINGS = ValidationSettings()


def standardized(kind: str, rows: list[dict], rejects: int = 0) -> Standardized:
    """Typed rows as standardize hands them over, with ``rejects`` rows already quarantined by extract."""
    columns = dict(COLUMNS_BY_KIND[kind])
    frame = pd.DataFrame(rows)
    for column, dtype in columns.items():
        if column not in frame:
            frame[column] = pd.Series(pd.NA if dtype != "datetime64[us]" else pd.NaT, index=frame.index)
        frame[column] = frame[column].astype(dtype)
    frame = frame[list(columns)]
    frame["source_file"] = pd.Series("drops/shop/orders.csv", index=frame.index, dtype="string")
    frame["source_row"] = np.arange(rejects, rejects + len(frame), dtype="int64")
    quarantined = empty_frame(QUARANTINE_COLUMNS)
    if rejects:
        quarantined = pd.DataFrame(
            {
                "stage": "extract",
                "channel": "shop",
                "kind": kind,
                "source_file": "drops/shop/orders.csv",
                "source_row": np.arange(rejects, dtype="int64"),
                "reason": "unparseable_date",
                "detail": "ordered_at",
                "row_json": "{}",
            }
        ).astype(QUARANTINE_COLUMNS)
    return Standardized(frame, quarantined)


def order(order_id: str, at: str = "2026-10-05 10:00", amount: float = 50.0, **extra) -> dict:
    return {
        "channel": "shop",
        "order_id": order_id,
        "record_id": f"r{order_id}",
        "ordered_at": at,
        "amount": amount,
        "discount": 0.0,
        "refund_amount": 0.0,
        **extra,
    }


def reasons_by_row(outcome) -> dict[int, str]:
    validation = outcome.quarantined
    return dict(zip(validation["source_row"].tolist(), validation["reason"].tolist(), strict=True))


def test_raw_orders_quarantine_each_bad_row_with_its_reason_and_keep_the_rest():
    rows = [
        order("o1"),
        order("o2", amount=-5.0),  # negative_amount
        order("o3", at="2049-03-01 08:00"),  # future_date
        order("o4", at="2026-09-30 23:59"),  # outside_period (last month)
        order("o1", amount=99.0),  # later copy of o1: duplicate_order_id
        order("o6", at="2050-01-01 00:00", amount=-1.0),  # two faults: future is checked first
        order("o7", discount=-2.0),  # negative discount: optional, so cleared and the order kept
        order("o8", record_id=None),  # no member: missing_key
        order("o9", at="2026-10-31 23:59:59"),  # last second of the month: good
    ]
    outcome = validate_raw(
        standardized("orders", rows),
        channel="shop",
        kind="orders",
        period="2026-10",
        settings=SETTINGS,
        build_docs=False,
    )
    assert reasons_by_row(outcome) == {
        1: "negative_amount",
        2: "future_date",
        3: "outside_period",
        4: "duplicate_order_id",
        5: "future_date",
        7: "missing_key",
    }
    assert outcome.accepted["order_id"].tolist() == ["o1", "o7", "o9"]
    assert outcome.accepted["amount"].tolist() == [50.0, 50.0, 50.0]  # the first o1 is the one kept
    assert pd.isna(outcome.accepted["discount"].iloc[1])
    cleared = outcome.fields
    assert cleared[["source_row", "column", "reason", "value"]].values.tolist() == [
        [6, "discount", "negative_amount", "-2.0"]
    ]
    figures = outcome.figures
    assert figures["rows_in"] == 9 == figures["accepted"] + figures["quarantined"]
    assert figures["reasons"] == {
        "duplicate_order_id": 1,
        "future_date": 2,
        "missing_key": 1,
        "negative_amount": 1,
        "outside_period": 1,
    }
    assert figures["fields_cleared"] == {"discount": {"negative_amount": 1}}
    assert figures["failed_checks"]["orders.order_id.unique"]["unexpected"] == 2  # GX flags both copies
    assert figures["failed_checks"]["orders.order_id.unique"]["quarantined"] == 1
    quarantined = outcome.quarantined
    assert set(quarantined["stage"]) == {"extract"} and set(quarantined["kind"]) == {"orders"}
    assert set(quarantined["reason"]) <= set(QUARANTINE_REASONS)
    future = quarantined[quarantined["source_row"] == 2].iloc[0]
    assert future["detail"].startswith("orders.ordered_at.not_future: ordered_at=2049-03-01 08:00:00")
    assert json.loads(future["row_json"])["order_id"] == "o3"
    assert outcome.dataset == "raw.orders" and outcome.ok


def test_extract_rejects_and_validation_rejects_reconcile_in_one_quarantine():
    outcome = validate_raw(
        standardized("orders", [order("o1"), order("o2", amount=-1.0)], rejects=2),
        channel="shop",
        kind="orders",
        period="2026-10",
        settings=SETTINGS,
        build_docs=False,
    )
    figures = outcome.figures
    assert (figures["rows_in"], figures["accepted"], figures["quarantined"]) == (4, 1, 3)
    assert (figures["quarantined_extract"], figures["quarantined_validation"]) == (2, 1)
    assert outcome.quarantined["source_row"].tolist() == [0, 1, 3]
    assert outcome.quarantined["reason"].tolist() == [
        "unparseable_date",
        "unparseable_date",
        "negative_amount",
    ]


def test_source_frame_gives_the_row_as_delivered():
    source = pd.DataFrame({"no": ["o1", "o2"], "paid": ["10.00", "-3.50"]})
    outcome = validate_raw(
        standardized("orders", [order("o1"), order("o2", amount=-3.5)]),
        channel="shop",
        kind="orders",
        period="2026-10",
        settings=SETTINGS,
        source_frame=source,
        build_docs=False,
    )
    assert json.loads(outcome.quarantined["row_json"].iloc[0]) == {"no": "o2", "paid": "-3.50"}


def test_records_and_events_suites():
    records = [
        {"channel": "shop", "record_id": "a", "updated_at": "2026-10-02", "birth_date": "1990-01-01"},
        {"channel": "shop", "record_id": "b", "updated_at": "2026-10-02", "birth_date": "2031-01-01"},
        {"channel": "shop", "record_id": "c", "updated_at": None},
    ]
    outcome = validate_raw(
        standardized("records", records),
        channel="shop",
        kind="records",
        period="2026-10",
        settings=SETTINGS,
        build_docs=False,
    )
    # A birthday in the future is junk in an optional field: cleared, the record kept.
    assert reasons_by_row(outcome) == {2: "missing_date"}
    assert outcome.accepted["record_id"].tolist() == ["a", "b"]
    assert pd.isna(outcome.accepted["birth_date"].iloc[1])
    assert outcome.figures["fields_cleared"] == {"birth_date": {"future_date": 1}}
    events = [
        {"channel": "shop", "record_id": "a", "event_type": "view", "ts": "2026-10-02"},
        {"channel": "shop", "record_id": "a", "event_type": "like", "ts": "2026-10-02"},
        {
            "channel": "shop",
            "record_id": "a",
            "event_type": "share",
            "ts": "9999-12-31",
        },  # past pandas' ns range
    ]
    outcome = validate_raw(
        standardized("events", events),
        channel="shop",
        kind="events",
        period="2026-10",
        settings=SETTINGS,
        build_docs=False,
    )
    assert reasons_by_row(outcome) == {1: "unknown_event_type", 2: "future_date"}


def test_history_month_uses_the_runs_as_of_for_future_and_its_own_month_for_the_period():
    rows = [order("o1", at="2026-08-10"), order("o2", at="2026-10-02"), order("o3", at="2026-11-02")]
    outcome = validate_raw(
        standardized("orders", rows),
        channel="shop",
        kind="orders",
        period="2026-08",
        as_of=pd.Timestamp("2026-11-01").to_pydatetime(),
        settings=SETTINGS,
        build_docs=False,
    )
    assert reasons_by_row(outcome) == {1: "outside_period", 2: "future_date"}


def test_a_few_bad_rows_in_a_small_table_do_not_stop_the_run():
    rows = [order(f"o{i}") for i in range(30)] + [order("o1")]
    outcome = validate_raw(
        standardized("orders", rows),
        channel="shop",
        kind="orders",
        period="2026-10",
        settings=SETTINGS,
        build_docs=False,
    )
    assert outcome.figures["quarantine_share"] > SETTINGS.quarantine_threshold
    assert outcome.ok


def test_a_file_sent_twice_fails_naming_channel_expectation_and_fraction():
    rows = [order(f"o{i}") for i in range(60)]
    outcome = validate_raw(
        standardized("orders", rows + rows),
        channel="shop",
        kind="orders",
        period="2026-10",
        settings=SETTINGS,
        source="drops/shop/orders.csv",
        build_docs=False,
    )
    assert outcome.figures["quarantined"] == 60
    (failure,) = outcome.failures
    message = failure.message
    assert failure.check == "quarantine_share" and failure.observed == 0.5
    assert "channel shop, orders of 2026-10 (drops/shop/orders.csv)" in message
    assert "60 of 120 rows quarantined (50.00%), above the threshold of 1.00%" in message
    assert "expect_column_values_to_be_unique(order_id) [duplicate_order_id] 50.00%" in message
    assert "was the file delivered twice?" in message
    assert "validation.thresholds.shop.orders" in message
    with pytest.raises(ValidationFailed, match="duplicate_order_id"):
        outcome.raise_for_failures()


def test_thresholds_per_table_override_the_default():
    rows = [order(f"o{i}") for i in range(60)]
    settings = ValidationSettings(thresholds={"shop.orders": 0.6})
    outcome = validate_raw(
        standardized("orders", rows + rows),
        channel="shop",
        kind="orders",
        period="2026-10",
        settings=settings,
        build_docs=False,
    )
    assert outcome.ok and settings.threshold_for("shop", "events") == 0.01


def test_volume_drop_names_both_counts_and_the_band():
    rows = [order(f"o{i}") for i in range(40)]
    outcome = validate_raw(
        standardized("orders", rows),
        channel="shop",
        kind="orders",
        period="2026-10",
        settings=SETTINGS,
        previous_rows=200,
        build_docs=False,
    )
    (failure,) = outcome.failures
    assert failure.check == "orders.volume" and failure.observed == 0.2
    assert "channel shop, orders of 2026-10" in failure.message
    assert (
        "volume drop: 40 rows this month against 200 accepted in 2026-09 (20% of last month)"
        in failure.message
    )
    # Inside the band, or too small last month to judge: no failure.
    assert validate_raw(
        standardized("orders", rows),
        channel="shop",
        kind="orders",
        period="2026-10",
        settings=SETTINGS,
        previous_rows=70,
        build_docs=False,
    ).ok
    assert not any(
        c.name.endswith("volume")
        for c in raw_checks("orders", period="2026-10", settings=SETTINGS, previous_rows=99)
    )


def test_a_critical_check_fails_the_run_on_any_row():
    settings = ValidationSettings(critical=("orders.amount.not_negative",))
    rows = [order(f"o{i}") for i in range(50)] + [order("x", amount=-1.0)]
    outcome = validate_raw(
        standardized("orders", rows),
        channel="shop",
        kind="orders",
        period="2026-10",
        settings=settings,
        build_docs=False,
    )
    (failure,) = outcome.failures
    assert "critical check orders.amount.not_negative failed: expect_column_values_to_be_between(amount)" in (
        failure.message
    )
    assert "1 of 51 rows (1.96%) fail, e.g. source rows 50" in failure.message
    assert outcome.figures["quarantined"] == 0  # a critical failure stops the run; nothing is set aside


def test_a_retyped_standard_column_is_reported_by_the_type_check():
    good = standardized("orders", [order("o1")])
    retyped = Standardized(
        good.accepted.assign(amount=good.accepted["amount"].astype("string")), good.quarantined
    )
    outcome = validate_raw(
        retyped, channel="shop", kind="orders", period="2026-10", settings=SETTINGS, build_docs=False
    )
    messages = " ".join(f.message for f in outcome.failures)
    assert "orders.column_type.amount" in messages and "observed type str" in messages


def tiers_frame(tiers: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "oneid": [f"P{i}" for i in range(len(tiers))],
            "tier": tiers,
            "churn_probability": np.linspace(0, 1, len(tiers)),
        }
    )


def test_tiers_only_from_the_configured_set():
    allowed = ["vip", "regular"]
    ok = validate_dataset(
        "tiers",
        tiers_frame(["vip", "regular"]),
        period="2026-10",
        settings=SETTINGS,
        allowed_tiers=allowed,
        build_docs=False,
    )
    assert ok.ok and len(ok.accepted) == 2
    bad = validate_dataset(
        "tiers",
        tiers_frame(["vip", "gold", "regular"]),
        period="2026-10",
        settings=SETTINGS,
        allowed_tiers=allowed,
        build_docs=False,
    )
    (failure,) = bad.failures
    assert "tiers of 2026-10: critical check tiers.tier.configured failed" in failure.message
    assert "expect_column_values_to_be_in_set(tier)" in failure.message
    assert "1 of 3 rows (33.33%) fail, e.g. rows 1" in failure.message
    # Made non-critical, the row is quarantined instead.
    lenient = ValidationSettings(critical=(), quarantine_min_rows=5)
    bad = validate_dataset(
        "tiers",
        tiers_frame(["vip", "gold", "regular"]),
        period="2026-10",
        settings=lenient,
        allowed_tiers=allowed,
        source="tiers/period=2026-10/tiers.parquet",
        build_docs=False,
    )
    assert bad.ok and bad.accepted["tier"].tolist() == ["vip", "regular"]
    row = bad.quarantined.iloc[0]
    assert (row["stage"], row["kind"], row["reason"], row["source_row"]) == (
        "tiers",
        "tiers",
        "unknown_tier",
        1,
    )
    assert row["source_file"] == "tiers/period=2026-10/tiers.parquet"
    with pytest.raises(InputError, match="allowed_tiers"):
        validate_dataset("tiers", tiers_frame(["vip"]), period="2026-10", settings=SETTINGS, build_docs=False)


def test_probabilities_must_lie_in_the_unit_interval():
    scores = pd.DataFrame(
        {
            "oneid": ["P1", "P2"],
            "predicted_value_90d": [10.0, 0.0],
            "churn_probability": [0.2, 1.3],
            "model_version": ["clv", "clv"],
        }
    )
    outcome = validate_dataset("scores", scores, period="2026-10", settings=SETTINGS, build_docs=False)
    (failure,) = outcome.failures
    assert failure.check == "scores.churn_probability.range" and failure.observed == 0.5


def test_identity_map_every_record_has_one_oneid():
    identity = pd.DataFrame(
        {"channel": ["app", "app", "pos"], "record_id": ["a", "a", "b"], "oneid": ["P1", "P2", "P3"]}
    ).astype("string")
    records = pd.DataFrame({"channel": ["app", "pos", "pos"], "record_id": ["a", "b", "c"]})
    outcome = validate_dataset(
        "identity_map", identity, period="2026-10", settings=SETTINGS, records=records, build_docs=False
    )
    checks = {failure.check for failure in outcome.failures}
    assert checks == {"identity_map.oneid.not_null", "identity_map.channel+record_id.unique"}
    assert outcome.figures["records_without_map_row"] == 1
    lenient = ValidationSettings(critical=())
    outcome = validate_dataset(
        "identity_map", identity, period="2026-10", settings=lenient, records=records, build_docs=False
    )
    assert outcome.quarantined["reason"].tolist() == ["duplicate_key", "missing_oneid"]
    assert json.loads(outcome.quarantined["row_json"].iloc[1]) == {
        "channel": "pos",
        "record_id": "c",
        "oneid": None,
    }
    assert len(outcome.accepted) == 2  # the map's first (app, a) and (pos, b)


def test_identity_map_identifier_formats():
    identity = pd.DataFrame(
        {
            "channel": ["app"] * 3,
            "record_id": ["a", "b", "c"],
            "oneid": ["P1", "P2", "P3"],
            "phone": ["+8613812345678", "138 1234 5678", None],
            "email": ["a@b.cn", None, "Mixed@Case.com"],
        }
    ).astype("string")
    outcome = validate_dataset(
        "identity_map", identity, period="2026-10", settings=ValidationSettings(critical=()), build_docs=False
    )
    assert outcome.quarantined["reason"].tolist() == ["bad_identifier_format"] * 2
    assert outcome.quarantined["source_row"].tolist() == [1, 2]


def real_features() -> pd.DataFrame:
    """The features stage's own output for 80 members (60 with orders), CLV off."""
    from tierlib.features import FeatureSettings, compute_features
    from tierlib.schemas import EVENT_COLUMNS

    rng = np.random.default_rng(0)
    n = 300
    orders = pd.DataFrame(
        {
            "oneid": [f"P{i % 60}" for i in range(n)],
            "channel": "pos",
            "order_id": [f"o{i}" for i in range(n)],
            "record_id": "r",
            "ordered_at": pd.Timestamp("2026-01-01")
            + pd.to_timedelta(rng.integers(0, 300 * 86400, n), unit="s"),
            "amount": rng.gamma(2.0, 50.0, n),
            "discount": 0.0,
            "refund_amount": 0.0,
            "category": "shoes",
            "store_id": "s1",
        }
    )
    records = pd.DataFrame(
        {
            "oneid": [f"P{i}" for i in range(80)],
            "channel": "pos",
            "record_id": [f"r{i}" for i in range(80)],
            "registered_at": pd.Timestamp("2025-06-01"),
        }
    )
    events = empty_frame(EVENT_COLUMNS).assign(oneid=pd.Series(dtype="string"))
    return compute_features(orders, events, records, "2026-11-01", FeatureSettings(clv_enabled=False))


def test_features_one_row_per_oneid_no_missing_key_features_scores_in_range():
    features = real_features()
    outcome = validate_dataset(
        "features", features, period="2026-10", settings=SETTINGS, expected_rows=80, build_docs=False
    )
    assert outcome.ok, [f.message for f in outcome.failures]  # members without a purchase score 0, not NaN
    broken = features.copy()
    broken.loc[3, "frequency"] = np.nan
    broken.loc[5, "r_score"] = 7
    broken.loc[6, "lifecycle_stage"] = "sleeping"
    broken = pd.concat([broken, broken.iloc[[8]]], ignore_index=True)
    outcome = validate_dataset(
        "features", broken, period="2026-10", settings=SETTINGS, expected_rows=80, build_docs=False
    )
    assert {f.check for f in outcome.failures} == {
        "features.oneid.unique",
        "features.frequency.not_null",
        "features.r_score.range",
        "features.lifecycle_stage.known",
        "features.row_count",
    }
    missing = validate_dataset(
        "features", features.drop(columns="m_score"), period="2026-10", settings=SETTINGS, build_docs=False
    )
    assert any(
        "features.column_present.m_score" in f.message and "the column is missing" in f.message
        for f in missing.failures
    )


def test_export_required_columns_and_no_duplicate_ids():
    export = pd.DataFrame({"phone": ["+8613800000001", "+8613800000002", "+8613800000001"]})
    outcome = validate_dataset(
        "export",
        export,
        period="2026-10",
        settings=SETTINGS,
        channel="sms",
        required_columns=["phone"],
        id_columns=["phone"],
        build_docs=False,
    )
    (failure,) = outcome.failures
    assert failure.message.startswith("export for channel sms of 2026-10: critical check export.phone.unique")
    outcome = validate_dataset(
        "export",
        export,
        period="2026-10",
        settings=SETTINGS,
        channel="sms",
        required_columns=["phone", "oneid"],
        build_docs=False,
    )
    assert "export.column_present.oneid" in outcome.failures[0].message


def test_settings_from_yaml_report_every_problem_with_its_key():
    settings = ValidationSettings.from_dict({"quarantine_threshold": 0.02, "volume": {"min_ratio": 0.4}})
    assert settings.quarantine_threshold == 0.02 and settings.volume.min_ratio == 0.4
    assert settings.is_critical("orders.column_type.amount") and not settings.is_critical(
        "orders.amount.not_negative"
    )
    with pytest.raises(ConfigError) as error:
        ValidationSettings.from_dict(
            {"quarantine_threshold": 2, "volume": {"min_rato": 0.4}, "data_docs": "x"}
        )
    message = str(error.value)
    assert "validation.volume.min_rato: unknown key" in message
    assert "validation.data_docs: 'x' is not allowed" in message


def test_data_docs_are_rendered_and_published_to_storage(tmp_path):
    workdir = tmp_path / "gx"
    validate_raw(
        standardized("orders", [order("o1"), order("o2", amount=-1.0)]),
        channel="shop",
        kind="orders",
        period="2026-10",
        settings=SETTINGS,
        context_dir=workdir,
    )
    validate_dataset(
        "tiers",
        tiers_frame(["vip"]),
        period="2026-10",
        settings=SETTINGS,
        allowed_tiers=["vip"],
        context_dir=workdir,
    )
    storage = open_storage(tmp_path / "storage")
    prefix = data_docs_prefix("2026-10", "extract", "shop")
    assert prefix == "quality/period=2026-10/data_docs/stage=extract/channel=shop/"
    uri = publish_data_docs(storage, workdir, prefix)
    assert uri == storage.uri(prefix + "index.html")
    index = storage.read_bytes(prefix + "index.html").decode()
    assert "raw.orders" in index and "tiers" in index
    pages = [key for key in storage.list(prefix + "validations/") if key.endswith(".html")]
    assert len(pages) == 2
    assert storage.exists(prefix + "static/images/favicon.ico") and not storage.list(prefix + "static/fonts/")
    # A fresh folder starts a fresh site: the next stage's index lists only its own runs.
    other = tmp_path / "gx2"
    validate_dataset(
        "tiers",
        tiers_frame(["vip"]),
        period="2026-10",
        settings=SETTINGS,
        allowed_tiers=["vip"],
        context_dir=other,
    )
    assert "raw.orders" not in (other / "index.html").read_text()
    assert publish_data_docs(storage, tmp_path / "nothing", prefix + "x/") is None


def test_importing_validation_and_the_extract_stage_does_not_import_great_expectations():
    code = (
        "import sys, tierlib.validation, tierlib.pipeline.extract, tierlib.config;"
        "print('great_expectations' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_row_json_is_valid_json_of_text_values_whatever_the_value_holds():
    from tierlib.validation._outcome import row_json

    rows = pd.DataFrame(
        {
            "name": pd.array(
                ['say "hi"', "back\\slash", "line\nbreak\x01", "王小明 🌸", None], dtype="string"
            ),
            "amount": [1.5, -3.0, np.nan, 0.0, 2.25],
            "at": pd.to_datetime(
                ["2026-10-01 10:00", "2049-01-01", None, "2026-10-02", "2026-10-03"], format="ISO8601"
            ),
        }
    )
    parsed = [json.loads(text) for text in row_json(rows)]
    assert parsed[0] == {"name": 'say "hi"', "amount": "1.5", "at": "2026-10-01 10:00:00"}
    assert parsed[1]["name"] == "back\\slash" and parsed[2]["name"] == "line\nbreak\x01"
    assert parsed[2]["amount"] is None and parsed[2]["at"] is None
    assert parsed[3]["name"] == "王小明 🌸" and parsed[4]["name"] is None


def test_validate_output_publishes_docs_writes_quarantine_and_stops_on_failure(tmp_path, caplog):
    from tierlib.catalog import quarantine_key
    from tierlib.validation import validate_output

    storage = open_storage(tmp_path / "storage")
    lenient = ValidationSettings(critical=("tiers.column_present.*",), quarantine_min_rows=5)
    with caplog.at_level("INFO", logger="tierlib"):
        outcome = validate_output(
            storage,
            "tiers",
            tiers_frame(["vip", "gold"]),
            period="2026-10",
            settings=lenient,
            allowed_tiers=["vip"],
        )
    assert outcome.accepted["tier"].tolist() == ["vip"]
    written = storage.read_parquet(quarantine_key("2026-10", "tiers", "all", "tiers"))
    assert written["reason"].tolist() == ["unknown_tier"]
    docs = outcome.figures["data_docs"]
    assert docs == storage.uri("quality/period=2026-10/data_docs/stage=tiers/dataset=tiers/index.html")
    assert "validate tiers 2026-10 tiers: 2 rows in = 1 accepted + 1 quarantined" in caplog.text
    with pytest.raises(ValidationFailed, match=r"critical check tiers\.tier\.configured failed"):
        validate_output(
            storage,
            "tiers",
            tiers_frame(["vip", "gold"]),
            period="2026-10",
            settings=SETTINGS,
            allowed_tiers=["vip"],
        )
    # The failing run still left its Data Docs for the engineer, and did not touch the quarantine.
    assert storage.exists("quality/period=2026-10/data_docs/stage=tiers/dataset=tiers/index.html")
    assert len(storage.read_parquet(quarantine_key("2026-10", "tiers", "all", "tiers"))) == 1


def test_narrow_number_columns_reach_gx_widened_so_their_range_checks_stay_vectorized(monkeypatch):
    """GX compares bounds column-wise only for int64/float64; an int8 score went row by row."""
    from great_expectations.expectations.metrics.column_map_metrics import column_values_between

    from tierlib.validation._engine import gx_frame

    frame = pd.DataFrame(
        {
            "r_score": np.array([1, 5, 7, -3], dtype="int8"),
            "share": np.array([0.5, 1.5, 0.0, 1.0], dtype="float32"),
            "big": np.array([1, 2, 3, 2**40], dtype="uint64"),
        }
    )
    widened = gx_frame(frame, ["r_score", "share", "big"])
    assert widened.dtypes.astype(str).to_dict() == {"r_score": "int64", "share": "float64", "big": "uint64"}
    assert widened["r_score"].tolist() == [1, 5, 7, -3] and widened["share"].tolist() == [0.5, 1.5, 0.0, 1.0]

    between = column_values_between.ColumnValuesBetween
    vectorized = between._pandas_vectorized.__func__
    compared = []

    def counted(cls, column, *args, **kwargs):
        compared.append(column.name)
        return vectorized(cls, column, *args, **kwargs)

    monkeypatch.setattr(between, "_pandas_vectorized", classmethod(counted))
    features = real_features()
    assert features["r_score"].dtype == np.int8  # as the features stage writes it
    features.loc[5, "r_score"] = 7
    outcome = validate_dataset("features", features, period="2026-10", settings=SETTINGS, build_docs=False)
    assert {f.check for f in outcome.failures} == {"features.r_score.range"}
    ranges = [each.check.columns[0] for each in outcome.checks if each.check.name.endswith(".range")]
    assert "r_score" in ranges and sorted(compared) == sorted(ranges)  # every range check column-wise
