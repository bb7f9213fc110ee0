"""tierlib.features on small hand-built tables: RFM, the 8 cells, lifecycle, engagement, CLV."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tierlib.clv import (
    PURCHASE_MODELS,
    BetaGeoModel,
    GammaGammaModel,
    backtest,
    calibration_holdout_split,
    customer_lifetime_value,
    simulate_transactions,
    summarize_transactions,
)
from tierlib.errors import ConfigError, InputError, ModelFitError
from tierlib.features import FEATURE_COLUMNS, RFM_CELLS, FeatureSettings, compute_features, quintile_scores
from tierlib.features._partial import combine_partials, member_partials
from tierlib.schemas import EVENT_COLUMNS as EVENT_SCHEMA
from tierlib.schemas import ORDER_COLUMNS as ORDER_SCHEMA

AS_OF = pd.Timestamp("2024-07-01")
NO_CLV = FeatureSettings(clv_enabled=False)


def days_ago(days: float) -> pd.Timestamp:
    return AS_OF - pd.Timedelta(days=days) + pd.Timedelta(hours=10)  # 10:00 that calendar day


def orders_frame(rows: list[dict]) -> pd.DataFrame:
    """Standardized orders with a oneid; each row gives oneid and days_ago, the rest defaults."""
    full = [
        {
            "channel": row.get("channel", "app"),
            "order_id": f"o{i}",
            "record_id": f"r-{row['oneid']}",
            "ordered_at": row.get("at", days_ago(row.get("days_ago", 10))),
            "amount": row.get("amount", 100.0),
            "discount": row.get("discount", 0.0),
            "refund_amount": row.get("refund", 0.0),
            "category": row.get("category", "shoes"),
            "store_id": "s1",
            "oneid": row["oneid"],
        }
        for i, row in enumerate(rows)
    ]
    frame = pd.DataFrame(full, columns=[*ORDER_COLUMNS, "oneid"])
    return frame.astype(
        {"ordered_at": "datetime64[us]", "amount": float, "discount": float, "refund_amount": float}
    )


ORDER_COLUMNS = ["channel", "order_id", "record_id", "ordered_at", "amount", "discount", "refund_amount"]
ORDER_COLUMNS += ["category", "store_id"]


def events_frame(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    """(oneid, event_type, days_ago) triples as standardized events."""
    return pd.DataFrame(
        {
            "channel": ["wechat"] * len(rows),
            "record_id": [f"r-{oneid}" for oneid, _, _ in rows],
            "event_type": [kind for _, kind, _ in rows],
            "ts": pd.Series([days_ago(d) for _, _, d in rows], dtype="datetime64[us]"),
            "oneid": [oneid for oneid, _, _ in rows],
        }
    )


def records_frame(oneids, registered_days_ago=None, channel="member_center") -> pd.DataFrame:
    registered = [
        pd.NaT
        if registered_days_ago is None or registered_days_ago.get(o) is None
        else days_ago(registered_days_ago[o])
        for o in oneids
    ]
    return pd.DataFrame(
        {
            "channel": [channel] * len(oneids),
            "record_id": [f"r-{o}" for o in oneids],
            "registered_at": pd.Series(registered, dtype="datetime64[us]"),
            "oneid": list(oneids),
        }
    )


NO_EVENTS = events_frame([])


def features_of(orders, events=NO_EVENTS, records=None, settings=NO_CLV) -> pd.DataFrame:
    records = records_frame(sorted(set(orders["oneid"]))) if records is None else records
    return compute_features(orders, events, records, AS_OF, settings).set_index("oneid")


# --- quintile scores -------------------------------------------------------------------


def test_quintile_scores_give_equal_values_equal_scores_and_start_at_one():
    assert quintile_scores(np.array([10, 10, 10, 20, 30])).tolist() == [1, 1, 1, 4, 5]
    assert quintile_scores(np.arange(10)).tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert quintile_scores(np.full(7, 3.0)).tolist() == [1] * 7
    # lower is better (recency in days); the two most recent tie: 3 of 5 are worse than them
    assert quintile_scores(np.array([1, 1, 40, 90, 300]), higher_is_better=False).tolist() == [4, 4, 3, 2, 1]
    assert quintile_scores(np.array([2.0, 1.0]), higher_is_better=False).tolist() == [1, 3]


def test_quintile_scores_do_not_depend_on_row_order():
    values = np.random.default_rng(0).integers(0, 6, 500).astype(float)
    order = np.random.default_rng(1).permutation(500)
    scores = quintile_scores(values)
    assert np.array_equal(quintile_scores(values[order]), scores[order])
    for value in np.unique(values):
        assert len(set(scores[values == value])) == 1


# --- RFM and the 8 cells -------------------------------------------------------------


def eight_cell_orders() -> tuple[pd.DataFrame, dict[str, str]]:
    """One buyer per R/F/M high-low combination: recent = 5 days ago (else 100), frequent = 5 orders
    (else 1), valuable = 1000 spent (else 100).  Means and medians sit between the two levels."""
    rows, expected = [], {}
    for code in RFM_CELLS:
        oneid = f"m-{code}"
        expected[oneid] = code
        count = 5 if code[1] == "H" else 1
        total = 1000.0 if code[2] == "H" else 100.0
        last = 5 if code[0] == "H" else 100
        rows += [{"oneid": oneid, "days_ago": last + 30 * k, "amount": total / count} for k in range(count)]
    return orders_frame(rows), expected


@pytest.mark.parametrize("split", ["mean", "median"])
def test_eight_cell_model_labels_each_combination(split):
    orders, expected = eight_cell_orders()
    records = records_frame([*expected, "m-none"])
    features = features_of(
        orders, records=records, settings=FeatureSettings(clv_enabled=False, rfm_split=split)
    )
    for oneid, code in expected.items():
        row = features.loc[oneid]
        assert row["rfm_code"] == code
        assert (row["rfm_cell"], row["rfm_cell_en"]) == RFM_CELLS[code]
    assert features.loc["m-HHH", "rfm_cell"] == "重要价值"
    assert features.loc["m-LLH", "rfm_cell_en"] == "important win-back"
    assert features.loc["m-HLL", "rfm_cell"] == "一般发展"
    none = features.loc["m-none"]
    assert (none["rfm_code"], none["rfm_cell"], none["rfm_cell_en"]) == ("", "无购买", "no purchase")
    assert none["r_score"] == none["f_score"] == none["m_score"] == 0


def test_mean_and_median_split_differently_on_skewed_spend():
    orders = orders_frame(
        [{"oneid": f"c{i}", "amount": amount} for i, amount in enumerate([10, 20, 30, 1000])]
    )
    by_mean = features_of(orders, settings=FeatureSettings(clv_enabled=False, rfm_split="mean"))
    by_median = features_of(orders, settings=FeatureSettings(clv_enabled=False, rfm_split="median"))
    assert [code[2] for code in by_mean["rfm_code"]] == ["L", "L", "L", "H"]  # mean 265
    assert [code[2] for code in by_median["rfm_code"]] == ["L", "L", "H", "H"]  # median 25


def test_rfm_values_count_calendar_days_net_refunds_and_ignore_the_future():
    orders = orders_frame(
        [
            {"oneid": "a", "at": pd.Timestamp("2024-06-30 23:59"), "amount": 100.0},
            {"oneid": "a", "days_ago": 40, "amount": 50.0, "refund": 20.0},  # partly refunded
            {"oneid": "a", "days_ago": 3, "amount": 80.0, "refund": 80.0},  # refunded in full
            {"oneid": "a", "at": AS_OF, "amount": 999.0},  # on the as-of date: next month's data
            {"oneid": "b", "days_ago": 30, "amount": 70.0},
            {"oneid": "c", "days_ago": 5, "amount": 60.0, "refund": 60.0},  # only a full refund
        ]
    )
    features = features_of(orders)
    a, b, c = features.loc["a"], features.loc["b"], features.loc["c"]
    assert (a["recency_days"], a["frequency"], a["monetary"]) == (1, 2, 100 + 30 + 0)
    assert a["avg_order_value"] == pytest.approx(65.0)
    assert (b["recency_days"], b["frequency"], b["monetary"]) == (30, 1, 70)
    assert c["frequency"] == 0 and np.isnan(c["recency_days"]) and c["rfm_code"] == ""
    assert a["r_score"] == 3 and b["r_score"] == 1  # two buyers: one of two is worse than a


# --- lifecycle -----------------------------------------------------------------------


def test_lifecycle_boundaries_follow_the_settings():
    settings = FeatureSettings(clv_enabled=False, new_days=30, active_days=90, churn_days=180)
    history = {
        "new-edge": [30],  # first purchase exactly new_days ago
        "active-after-new": [31],
        "active-edge": [90, 200],
        "silent-start": [91, 400],
        "silent-edge": [180, 400],
        "churned": [181, 400],
        "reactivated": [10, 191],  # gap of 181 days > churn_days
        "gap-not-long-enough": [10, 190],  # gap of exactly 180 days
        "reactivated-needs-recent": [100, 400],
    }
    rows = [{"oneid": oneid, "days_ago": d} for oneid, days in history.items() for d in days]
    expected = {
        "new-edge": "new",
        "active-after-new": "active",
        "active-edge": "active",
        "silent-start": "silent",
        "silent-edge": "silent",
        "churned": "churned",
        "reactivated": "reactivated",
        "gap-not-long-enough": "active",
        "reactivated-needs-recent": "silent",
        "reg-new": "new",
        "reg-silent": "silent",
        "reg-churned": "churned",
        "reg-unknown": "churned",
    }
    registered = {"reg-new": 30, "reg-silent": 180, "reg-churned": 181, "reg-unknown": None}
    records = records_frame(sorted(expected), registered_days_ago=registered)
    stages = features_of(orders_frame(rows), records=records, settings=settings)["lifecycle_stage"]
    assert stages.to_dict() == expected


def test_same_day_orders_do_not_count_as_a_gap_for_reactivation():
    rows = [{"oneid": "x", "days_ago": 10}, {"oneid": "x", "days_ago": 10}, {"oneid": "x", "days_ago": 300}]
    assert features_of(orders_frame(rows)).loc["x", "lifecycle_stage"] == "reactivated"


# --- engagement and the rest ---------------------------------------------------------


def test_engagement_counts_events_in_the_window_by_kind():
    events = events_frame(
        [
            ("a", "share", 1),
            ("a", "share", 89),
            ("a", "invite", 90),
            ("a", "invite", 91),  # outside the 90-day window
            ("a", "review", 5),
            ("a", "post", 6),
            ("a", "view", 7),
            ("a", "view", 8),
            ("b", "view", 0.5),
            ("b", "share", -1),  # after the as-of date
        ]
    )
    records = records_frame(["a", "b", "c"])
    features = features_of(orders_frame([{"oneid": "a"}]), events=events, records=records)
    a, b, c = features.loc["a"], features.loc["b"], features.loc["c"]
    assert (a["views"], a["shares"], a["invites"], a["reviews"], a["posts"]) == (2, 2, 1, 1, 1)
    assert (a["social_influence"], a["content_contribution"]) == (3, 2)
    assert (b["views"], b["shares"], b["social_influence"]) == (1, 0, 0)
    assert c[["views", "shares", "invites", "reviews", "posts"]].sum() == 0


def test_unknown_event_types_are_reported_not_dropped():
    events = events_frame([("a", "view", 1), ("a", "like", 2)])
    with pytest.raises(InputError, match="like"):
        features_of(orders_frame([{"oneid": "a"}]), events=events)


def test_price_sensitivity_breadth_channels_and_tenure():
    orders = orders_frame(
        [
            {"oneid": "a", "amount": 80.0, "discount": 20.0, "category": "shoes", "channel": "app"},
            {"oneid": "a", "amount": 120.0, "category": "bags", "channel": "pos", "days_ago": 50},
            {"oneid": "a", "amount": 100.0, "category": None, "channel": "pos", "days_ago": 60},
            {"oneid": "b", "amount": 50.0, "category": "shoes", "days_ago": 400},
        ]
    )
    records = pd.concat(
        [
            records_frame(["a", "b"], registered_days_ago={"a": 500, "b": None}),
            records_frame(["a"], registered_days_ago={"a": 700}, channel="wechat"),
            records_frame(["c"], registered_days_ago={"c": 20}),
        ],
        ignore_index=True,
    )
    events = events_frame([("c", "view", 3)])
    features = features_of(orders, events=events, records=records)
    a, b, c = features.loc["a"], features.loc["b"], features.loc["c"]
    assert a["price_sensitivity"] == pytest.approx(80 / 300)
    assert a["discount_depth"] == pytest.approx(20 / 320)
    assert (a["category_breadth"], b["category_breadth"], c["category_breadth"]) == (2, 1, 0)
    assert (a["channel_count"], b["channel_count"], c["channel_count"]) == (4, 2, 2)  # app, pos, 2 records
    assert (a["tenure_days"], b["tenure_days"], c["tenure_days"]) == (700, 400, 20)
    assert np.isnan(c["price_sensitivity"]) and np.isnan(c["discount_depth"])


# --- the table as a whole ------------------------------------------------------------


def test_one_row_per_member_in_a_fixed_column_order_and_deterministic():
    orders, _ = eight_cell_orders()
    records = records_frame(["zz-no-orders", *sorted(set(orders["oneid"]))])
    events = events_frame([("events-only", "view", 2)])
    before = (orders.copy(), events.copy(), records.copy())
    first = compute_features(orders, events, records, AS_OF, NO_CLV)
    again = compute_features(orders.sample(frac=1, random_state=3), events, records.iloc[::-1], AS_OF, NO_CLV)
    assert tuple(first.columns) == FEATURE_COLUMNS
    assert first["oneid"].is_unique and first["oneid"].is_monotonic_increasing
    assert set(first["oneid"]) == set(records["oneid"]) | {"events-only"}
    pd.testing.assert_frame_equal(first, again)
    for frame, original in zip((orders, events, records), before, strict=True):
        pd.testing.assert_frame_equal(frame, original)
    lonely = first.set_index("oneid").loc["zz-no-orders"]
    assert lonely["frequency"] == 0 and lonely["monetary"] == 0 and np.isnan(lonely["recency_days"])
    assert first["rfm_cell"].dtype == "string" and first["frequency"].dtype == np.int64


def test_members_seen_only_after_the_as_of_date_are_not_in_the_table():
    orders = orders_frame(
        [
            {"oneid": "future", "at": AS_OF + pd.Timedelta(days=3), "channel": "pos"},
            {"oneid": "now", "days_ago": 2, "channel": None},
        ]
    )
    events = events_frame([("later", "view", -2), ("now", "view", 1)])
    features = compute_features(orders, events, records_frame(["now"]), AS_OF, NO_CLV).set_index("oneid")
    assert list(features.index) == ["now"]
    assert features.loc["now", "frequency"] == 1 and features.loc["now", "views"] == 1
    assert features.loc["now", "channel_count"] == 2  # its record's and its event's, not the order's None


def test_schema_typed_inputs_give_the_same_table():
    """The pipeline hands over the schemas' dtypes ("string", nullable) with a string oneid."""
    orders, expected = eight_cell_orders()
    orders.loc[0, "category"] = None
    events = events_frame([("m-HHH", "share", 3), ("m-LLL", "view", 1)])
    records = records_frame(sorted(expected), registered_days_ago=dict.fromkeys(expected, 400))
    plain = compute_features(orders, events, records, AS_OF, NO_CLV)
    typed = compute_features(
        orders.astype({**ORDER_SCHEMA, "oneid": "string"}),
        events.astype({**EVENT_SCHEMA, "oneid": "string"}),
        records.astype({"channel": "string", "record_id": "string", "oneid": "string"}),
        AS_OF,
        NO_CLV,
    )
    pd.testing.assert_frame_equal(plain, typed)


def test_missing_columns_of_every_table_are_reported_at_once():
    orders = orders_frame([{"oneid": "a"}]).drop(columns=["amount", "category"])
    events = NO_EVENTS.drop(columns=["ts"])
    with pytest.raises(InputError) as error:
        compute_features(orders, events, records_frame(["a"]), AS_OF, NO_CLV)
    message = str(error.value)
    assert "orders lacks amount, category" in message and "events lacks ts" in message


def test_orders_without_oneid_and_bad_as_of_raise_input_errors():
    orders = orders_frame([{"oneid": "a"}, {"oneid": None}])
    with pytest.raises(InputError, match="no oneid"):
        compute_features(orders, NO_EVENTS, records_frame(["a"]), AS_OF, NO_CLV)
    with pytest.raises(InputError, match="midnight"):
        compute_features(orders_frame([{"oneid": "a"}]), NO_EVENTS, records_frame(["a"]), "2024-07-01 12:00")


def test_clv_columns_match_the_clv_package_on_simulated_purchases():
    tx = simulate_transactions(
        3000, start="2023-01-01", end="2024-07-01", r=0.6, alpha=12, a=0.9, b=4, seed=21
    )
    orders = orders_frame(
        [{"oneid": f"c{c:05d}", "at": at, "amount": amount} for c, at, amount in tx.itertuples(index=False)]
    )
    records = records_frame([*sorted(set(orders["oneid"])), "no-orders"])
    settings = FeatureSettings(clv_time_unit="week", clv_horizon_months=6, clv_monthly_discount_rate=0.02)
    features = compute_features(orders, NO_EVENTS, records, AS_OF, settings).set_index("oneid")

    summary = summarize_transactions(
        orders, customer_col="oneid", date_col="ordered_at", amount_col="amount", as_of=AS_OF, unit="week"
    )
    bgnbd = BetaGeoModel().fit(summary["frequency"], summary["recency"], summary["T"])
    repeat = summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
    gg = GammaGammaModel().fit(repeat["frequency"], repeat["monetary_value"])
    args = (summary["frequency"], summary["recency"], summary["T"])
    buyers = features.loc[summary.index]
    np.testing.assert_allclose(buyers["clv_frequency"], summary["frequency"])
    np.testing.assert_allclose(buyers["expected_purchases_90d"], bgnbd.expected_purchases(90 / 7, *args))
    np.testing.assert_allclose(buyers["probability_alive"], bgnbd.probability_alive(*args))
    np.testing.assert_allclose(
        buyers["clv"],
        customer_lifetime_value(bgnbd, gg, *args, summary["monetary_value"], 6, 0.02, "week"),
        rtol=1e-9,
    )
    assert features.attrs["clv"]["bgnbd"]["params"] == pytest.approx(bgnbd.params_)
    assert features.loc["no-orders", ["expected_purchases_90d", "clv"]].isna().all()
    assert (buyers["probability_alive"].between(0, 1)).all() and (buyers["clv"] >= 0).all()


@pytest.mark.parametrize("seed", [8, 11])
def test_a_short_history_the_plain_clv_fit_cannot_use_falls_back_to_a_small_penalizer(seed, caplog):
    # Six months of 1,500 buyers with rare drop-outs: with seed 8 the unpenalized BG/NBD fit
    # converges far out on its a, b ridge and every prediction overflows; with seed 11 it does
    # not converge at all.  Either way the month must still get finite CLV columns.
    tx = simulate_transactions(
        1500, start="2024-01-01", end="2024-07-01", r=0.5, alpha=5, a=0.3, b=30, seed=seed
    )
    orders = orders_frame(
        [{"oneid": f"c{c:05d}", "at": at, "amount": amount} for c, at, amount in tx.itertuples(index=False)]
    )
    records = records_frame(sorted(set(orders["oneid"])))
    with caplog.at_level("WARNING", logger="tierlib.features._clv"):
        features = compute_features(orders, NO_EVENTS, records, AS_OF, FeatureSettings())
    fitted = features.attrs["clv"]
    assert fitted["penalizer"] > 0
    assert "features.clv_penalizer=0" in caplog.text
    clv = features[["expected_purchases_90d", "probability_alive", "clv"]]
    assert np.isfinite(clv.to_numpy()).all()
    assert (features["probability_alive"].between(0, 1)).all() and (features["clv"] >= 0).all()
    # The configured penalizer wins when it works: the same data with it set gives the same fit.
    same = compute_features(
        orders, NO_EVENTS, records, AS_OF, FeatureSettings(clv_penalizer=fitted["penalizer"])
    )
    assert same.attrs["clv"]["bgnbd"] == fitted["bgnbd"]


def test_a_history_without_any_drop_out_uses_the_no_drop_out_limit_and_says_so(caplog):
    # Three months in which every buyer keeps buying every week: BG/NBD's drop-out probability
    # runs off to 0 at every penalizer, so the month's CLV comes from the NBD limit.
    orders = orders_frame(
        [
            {"oneid": f"c{c:03d}", "at": days_ago(7 * week + c % 7), "amount": 10.0 + c % 5}
            for c in range(60)
            for week in range(1, 4 + c % 9)
            if (week + c) % 3
        ]
    )
    records = records_frame(sorted(set(orders["oneid"])))
    with caplog.at_level("WARNING", logger="tierlib.features._clv"):
        features = compute_features(orders, NO_EVENTS, records, AS_OF, FeatureSettings())
    fitted = features.attrs["clv"]
    assert fitted["model"] == "nbd" and set(fitted["nbd"]["params"]) == {"r", "alpha"}
    assert "no drop-out" in fitted["note"] and "NBD at penalizer" in caplog.text
    assert (features["probability_alive"] == 1).all()
    assert np.isfinite(features[["expected_purchases_90d", "clv"]].to_numpy()).all()
    assert (features["expected_purchases_90d"] > 0).all()


@pytest.fixture(scope="module")
def simulated_orders() -> tuple[pd.DataFrame, pd.DataFrame]:
    tx = simulate_transactions(
        3000, start="2023-01-01", end="2024-07-01", r=0.6, alpha=12, a=0.9, b=4, seed=21
    )
    orders = orders_frame(
        [{"oneid": f"c{c:05d}", "at": at, "amount": amount} for c, at, amount in tx.itertuples(index=False)]
    )
    return orders, records_frame(sorted(set(orders["oneid"])))


def test_auto_fits_each_model_on_a_calibration_window_and_keeps_the_best_holdout_forecast(simulated_orders):
    orders, records = simulated_orders
    settings = FeatureSettings(clv_model="auto", clv_holdout_days=91)
    features = compute_features(orders, NO_EVENTS, records, AS_OF, settings).set_index("oneid")
    fitted = features.attrs["clv"]
    check = fitted["holdout_check"]
    assert set(check["scores"]) == {"bgnbd", "pareto_nbd", "mbgnbd"} and not check["skipped"]
    scores = {name: figures["score"] for name, figures in check["scores"].items()}
    assert fitted["model"] == check["best"] == min(scores, key=scores.get)
    assert fitted["configured_model"] == "auto" and check["holdout_periods"] == 13

    # the check is calibration_holdout_split + backtest on the members' own orders
    calibration_end = (pd.Timestamp(AS_OF) - pd.Timedelta(weeks=13)).normalize()
    calibration_end -= pd.Timedelta(days=calibration_end.weekday())  # a Monday: whole weeks
    split = calibration_holdout_split(
        orders,
        customer_col="oneid",
        date_col="ordered_at",
        calibration_end=calibration_end,
        observation_end=AS_OF,
        unit="week",
    )
    assert check["customers"] == len(split)
    chosen = PURCHASE_MODELS[fitted["model"]]().fit(
        split["frequency_cal"], split["recency_cal"], split["T_cal"]
    )
    table = backtest(chosen, split)
    assert check["scores"][fitted["model"]]["actual"] == table["actual_total"].sum()
    assert check["scores"][fitted["model"]]["predicted"] == pytest.approx(
        table["predicted_total"].sum(), rel=1e-9
    )
    groups = check["scores"][fitted["model"]]["by_frequency"]
    assert [g["frequency_cal"] for g in groups] == list(table.index)

    # the columns then come from that model fitted on the whole history
    summary = summarize_transactions(
        orders, customer_col="oneid", date_col="ordered_at", as_of=AS_OF, unit="week"
    )
    model = PURCHASE_MODELS[fitted["model"]]().fit(summary["frequency"], summary["recency"], summary["T"])
    assert fitted[fitted["model"]]["params"] == pytest.approx(model.params_)
    args = (summary["frequency"], summary["recency"], summary["T"])
    np.testing.assert_allclose(
        features.loc[summary.index, "probability_alive"], model.probability_alive(*args)
    )


@pytest.mark.parametrize("name", ["pareto_nbd", "mbgnbd"])
def test_a_named_model_fills_the_columns_and_is_checked_on_the_holdout(simulated_orders, name):
    orders, records = simulated_orders
    features = compute_features(orders, NO_EVENTS, records, AS_OF, FeatureSettings(clv_model=name))
    fitted = features.attrs["clv"]
    assert fitted["model"] == name and list(fitted["holdout_check"]["scores"]) == [name]
    summary = summarize_transactions(
        orders, customer_col="oneid", date_col="ordered_at", as_of=AS_OF, unit="week"
    )
    model = PURCHASE_MODELS[name]().fit(summary["frequency"], summary["recency"], summary["T"])
    args = (summary["frequency"], summary["recency"], summary["T"])
    by_member = features.set_index("oneid").loc[summary.index]
    np.testing.assert_allclose(by_member["expected_purchases_90d"], model.expected_purchases(90 / 7, *args))
    np.testing.assert_allclose(by_member["probability_alive"], model.probability_alive(*args))
    assert (by_member["probability_alive"] < 1).any()  # both let members without repeat purchases go


def test_auto_skips_models_that_cannot_be_fitted_on_the_calibration_window_and_says_why():
    # Repeat purchases only in the last 13 weeks: the calibration window holds none.
    orders = orders_frame(
        [{"oneid": f"c{c:03d}", "at": days_ago(200 + c), "amount": 20.0} for c in range(80)]
        + [{"oneid": f"c{c:03d}", "at": days_ago(5 + c % 60), "amount": 15.0} for c in range(0, 80, 2)]
        + [{"oneid": f"c{c:03d}", "at": days_ago(70 + c % 15), "amount": 15.0} for c in range(0, 80, 3)]
    )
    records = records_frame(sorted(set(orders["oneid"])))
    settings = FeatureSettings(clv_model="auto", clv_penalizer=0.01)
    features = compute_features(orders, NO_EVENTS, records, AS_OF, settings)
    check = features.attrs["clv"]["holdout_check"]
    assert check["best"] is None and not check["scores"]
    assert set(check["skipped"]) == {"bgnbd", "pareto_nbd", "mbgnbd"}
    assert all("no customer has a repeat purchase" in reason for reason in check["skipped"].values())
    assert features.attrs["clv"]["model"] in ("bgnbd", "pareto_nbd", "mbgnbd", "nbd")
    assert np.isfinite(features[["probability_alive", "clv"]].to_numpy()).all()


def test_partitions_give_the_same_auto_choice_and_columns_as_one_table(simulated_orders):
    orders, records = simulated_orders
    settings = FeatureSettings(clv_model="auto")
    whole = compute_features(orders, NO_EVENTS, records, AS_OF, settings)
    halves = [records["oneid"].str[-1].isin(list("01234")), ~records["oneid"].str[-1].isin(list("01234"))]
    partials = [
        member_partials(
            orders[orders["oneid"].isin(records.loc[half, "oneid"])],
            NO_EVENTS,
            records[half],
            AS_OF,
            settings,
        )
        for half in halves
    ]
    combined = combine_partials(partials, AS_OF, settings)
    pd.testing.assert_frame_equal(combined, whole)
    assert combined.attrs["clv"] == whole.attrs["clv"]


def test_clv_fit_errors_name_each_penalizer_tried_and_the_config_keys():
    orders = orders_frame([{"oneid": f"c{i}", "at": days_ago(10 + i), "amount": 10.0} for i in range(5)])
    with pytest.raises(ModelFitError) as error:
        records = records_frame([f"c{i}" for i in range(5)])
        compute_features(orders, NO_EVENTS, records, AS_OF, FeatureSettings())
    message = str(error.value)
    assert "BG/NBD at penalizer 0:" in message and "BG/NBD at penalizer 0.1:" in message
    assert "NBD at penalizer 0.1:" in message
    assert "features.clv_penalizer" in message and "features.clv_enabled" in message


def test_settings_from_config_report_every_bad_key_at_once():
    settings = FeatureSettings.from_dict({"rfm_split": "median", "churn_days": 365})
    assert (settings.rfm_split, settings.churn_days, settings.active_days) == ("median", 365, 90)
    assert FeatureSettings.from_dict(settings.to_dict()) == settings
    with pytest.raises(ConfigError) as error:
        FeatureSettings.from_dict({"rfm_spilt": "mean", "new_days": "30", "clv_time_unit": "month"})
    message = str(error.value)
    assert "features.rfm_spilt: unknown key" in message
    assert "features.new_days" in message and "features.clv_time_unit" in message
    with pytest.raises(ConfigError, match="churn_days"):
        FeatureSettings.from_dict({"active_days": 200, "churn_days": 100})
    with pytest.raises(ConfigError, match=r"features\.clv_model: .pareto. is not allowed"):
        FeatureSettings.from_dict({"clv_model": "pareto"})
    with pytest.raises(ConfigError, match="clv_holdout_days"):
        FeatureSettings.from_dict({"clv_holdout_days": 0})
