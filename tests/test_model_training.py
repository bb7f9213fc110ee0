"""Training set (cutoffs, labels, no leakage), the model's API, the registry and promotion."""

from __future__ import annotations

import dataclasses
import os
from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from tierlib.clv import simulate_transactions
from tierlib.errors import InputError, ModelFitError, StorageError
from tierlib.features import compute_features
from tierlib.model import (
    CLV_BASELINE_VERSION,
    BoostingParams,
    ModelRegistry,
    ModelSettings,
    NotFittedError,
    TieringModel,
    build_training_set,
    cutoff_schedule,
    decide_promotion,
    frame_at_cutoff,
    labels_after,
    score_members,
)

FAST = BoostingParams(learning_rate=0.1, max_iter=30, max_leaf_nodes=7, min_samples_leaf=20)


def member_tables(n: int = 400, seed: int = 1) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Standardized orders, events and records (with oneid) for ``n`` members, 2024-01 .. 2025-12."""
    rng = np.random.default_rng(seed)
    purchases = simulate_transactions(
        n, start="2024-01-01", end="2025-12-31", r=0.5, alpha=20.0, a=0.8, b=4.0, gamma=15.0, seed=seed
    )
    purchases = purchases[purchases["date"] < pd.Timestamp("2025-12-31")]
    oneid = pd.Series([f"M{i:05d}" for i in range(n)])
    first = purchases.groupby("customer_id")["date"].min().reindex(range(n))
    registered = (first - pd.to_timedelta(rng.integers(0, 20, n), unit="D")).dt.floor("s")
    records = pd.DataFrame(
        {
            "channel": "app",
            "record_id": oneid.str.replace("M", "R"),
            "registered_at": registered.astype("datetime64[us]"),
            "updated_at": registered.astype("datetime64[us]"),
            "oneid": oneid,
        }
    )
    orders = pd.DataFrame(
        {
            "channel": "app",
            "order_id": [f"X{i:07d}" for i in range(len(purchases))],
            "record_id": oneid.str.replace("M", "R").to_numpy()[purchases["customer_id"]],
            "ordered_at": purchases["date"].astype("datetime64[us]").to_numpy(),
            "amount": purchases["amount"].to_numpy(),
            "discount": np.where(rng.random(len(purchases)) < 0.3, 5.0, 0.0),
            "refund_amount": np.where(rng.random(len(purchases)) < 0.05, purchases["amount"], 0.0),
            "category": rng.choice(["a", "b", "c"], len(purchases)),
            "store_id": None,
            "oneid": oneid.to_numpy()[purchases["customer_id"]],
        }
    )
    who = rng.integers(0, n, 3 * n)
    start = records["registered_at"].to_numpy()[who]
    offset = pd.to_timedelta(rng.integers(0, 500, 3 * n), unit="D")
    events = pd.DataFrame(
        {
            "channel": "app",
            "record_id": records["record_id"].to_numpy()[who],
            "event_type": rng.choice(["view", "share", "review", "invite", "post"], 3 * n),
            "ts": (pd.Series(start) + offset).astype("datetime64[us]").to_numpy(),
            "oneid": oneid.to_numpy()[who],
        }
    )
    events = events[events["ts"] < pd.Timestamp("2025-12-31")].reset_index(drop=True)
    return orders, events, records


def features_at(orders, events, records, as_of):
    return compute_features(orders, events, records, as_of)


def test_cutoff_schedule_keeps_every_label_window_before_the_next_one():
    settings = ModelSettings(training_cutoffs=4)
    training, validation = cutoff_schedule(datetime(2026, 1, 1), settings)
    assert validation == datetime(2025, 10, 1)
    assert training == [datetime(2025, m, 1) for m in (4, 5, 6, 7)]
    # A short February: 90 days before 1 May is 31 January, so the window starts on 1 January.
    training, validation = cutoff_schedule(datetime(2025, 5, 1), settings)
    assert validation == datetime(2025, 1, 1)
    for as_of in (datetime(2025, m, 1) for m in range(1, 13)):
        training, validation = cutoff_schedule(as_of, dataclasses.replace(settings, cutoff_spacing_months=2))
        horizon = pd.Timedelta(days=settings.horizon_days)
        assert validation + horizon <= as_of
        assert all(cutoff + horizon <= validation for cutoff in training)
        assert training == sorted(training) and len(set(training)) == 4


def test_labels_are_net_spend_and_orders_in_the_window_only():
    orders = pd.DataFrame(
        {
            "oneid": ["a", "a", "a", "b", "b", "c"],
            "ordered_at": pd.to_datetime(
                [
                    "2025-03-31 23:59",
                    "2025-04-01 00:00",
                    "2025-06-29 23:59",
                    "2025-05-01 00:00",
                    "2025-05-02 00:00",
                    "2025-06-30 00:00",
                ]
            ),
            "amount": [100.0, 10.0, 20.0, 50.0, 5.0, 70.0],
            "refund_amount": [0.0, 0.0, 5.0, 0.0, 60.0, 0.0],
        }
    )
    labels = labels_after(orders, datetime(2025, 4, 1), 90).set_index("oneid")
    assert labels.loc["a", "label_spend"] == pytest.approx(25.0)  # 10 + 20 - 5; the March order is before
    assert labels.loc["a", "label_orders"] == 2
    assert labels.loc["b", "label_spend"] == 0.0  # a refund larger than the window's spend floors at 0
    assert "c" not in labels.index  # 30 June is day 91: outside [1 April, 30 June)


def test_features_at_a_cutoff_do_not_change_when_later_data_changes():
    orders, events, records = member_tables()
    cutoff = datetime(2025, 4, 1)
    before = frame_at_cutoff(orders, events, records, cutoff, features_at, 90)

    later = pd.Timestamp(cutoff)
    mutated_orders = orders.copy()
    after = mutated_orders["ordered_at"] >= later
    assert after.sum() > 100
    mutated_orders.loc[after, "amount"] *= 10  # every later order changes ...
    extra = mutated_orders[after].head(200).assign(order_id=lambda f: f["order_id"] + "-dup")
    newcomer = orders.head(5).assign(
        oneid="NEW",
        record_id="RNEW",
        order_id=lambda f: f["order_id"] + "-new",
        ordered_at=later + pd.Timedelta(days=3),
    )
    mutated_orders = pd.concat([mutated_orders, extra, newcomer], ignore_index=True)  # ... and more arrive
    mutated_events = pd.concat(
        [events, events.head(300).assign(ts=later + pd.Timedelta(hours=1))], ignore_index=True
    )
    mutated_records = pd.concat(
        [
            records,
            pd.DataFrame(
                {
                    "channel": ["app"],
                    "record_id": ["RNEW"],
                    "registered_at": [later],
                    "updated_at": [later],
                    "oneid": ["NEW"],
                }
            ).astype({"registered_at": "datetime64[us]", "updated_at": "datetime64[us]"}),
        ],
        ignore_index=True,
    )
    again = frame_at_cutoff(mutated_orders, mutated_events, mutated_records, cutoff, features_at, 90)

    feature_columns = [c for c in before.columns if not c.startswith("label_")]
    pd.testing.assert_frame_equal(before[feature_columns], again[feature_columns])
    assert "NEW" not in set(again["oneid"])  # joined after the cutoff: not in that cutoff's population
    assert (again["label_spend"] > before["label_spend"]).any()  # the labels do see the later data


def test_training_set_stacks_cutoffs_with_validation_last():
    orders, events, records = member_tables()
    settings = ModelSettings(training_cutoffs=3)
    training, validation = build_training_set(
        orders, events, records, datetime(2025, 12, 1), features_at, settings
    )
    assert sorted(training["cutoff"].unique()) == [pd.Timestamp(f"2025-{m:02d}-01") for m in (4, 5, 6)]
    assert validation["cutoff"].unique().tolist() == [pd.Timestamp("2025-09-01")]
    assert not training.duplicated(["cutoff", "oneid"]).any()
    assert (training["label_churned"] == (training["label_orders"] == 0)).all()
    known = records.loc[records["registered_at"] < pd.Timestamp("2025-04-01"), "oneid"].nunique()
    assert (training["cutoff"] == pd.Timestamp("2025-04-01")).sum() == known


def test_too_little_history_says_what_to_do():
    orders, events, records = member_tables(50)
    with pytest.raises(ModelFitError, match="history_months"):
        build_training_set(orders, events, records, datetime(2024, 5, 1), features_at, ModelSettings())


@pytest.fixture(scope="module")
def sets():
    orders, events, records = member_tables(600, seed=4)
    return build_training_set(orders, events, records, datetime(2025, 12, 1), features_at, ModelSettings())


def fitted(training, **params) -> TieringModel:
    model = TieringModel(value_params=FAST, churn_params=FAST, **params)
    return model.fit(training, training["label_spend"], training["label_churned"])


def test_model_follows_scikit_learn_conventions(sets):
    training, validation = sets
    model = TieringModel(value_params=FAST, churn_params=FAST, value_loss="poisson", random_state=3)
    assert model.value_params is FAST and model.churn_params is FAST and model.random_state == 3
    with pytest.raises(NotFittedError, match="not fitted"):
        model.predict(validation)
    assert model.fit(training, training["label_spend"], training["label_churned"]) is model
    assert "expected_purchases_90d" in model.numeric_features_ and model.derived_features_ == [
        "clv_value_90d"
    ]
    assert model.categorical_features_ == ["lifecycle_stage"]
    predicted = model.predict(validation)
    assert (predicted["predicted_value_90d"] >= 0).all()
    assert predicted["churn_probability"].between(0, 1).all()
    again = fitted(training, random_state=3).predict(validation)
    pd.testing.assert_frame_equal(predicted, again)  # same data, same seed: same predictions


def test_prediction_walks_each_tree_once_and_gives_the_same_scores_on_one_and_two_threads(sets, monkeypatch):
    from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor

    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two cores to run prediction on two threads")
    training, validation = sets
    model = fitted(training)
    # Enough rows that OpenMP gives each thread a share of every tree's rows.
    members = pd.concat([validation] * 40, ignore_index=True)
    walks = []
    walk = TreePredictor.predict

    def counted(self, X, known_cat_bitsets, f_idx_map, n_threads):
        walks.append(n_threads)
        return walk(self, X, known_cat_bitsets, f_idx_map, n_threads)

    monkeypatch.setattr(TreePredictor, "predict", counted)
    trees = model.churn_pipeline_[-1].n_iter_ + model.spend_pipeline_[-1].n_iter_
    predicted = {}
    for threads in (1, 2):
        walks.clear()
        model.threads = threads
        predicted[threads] = model.predict(members)
        assert walks == [threads] * trees  # every tree once (churn feeds both columns), on these threads
    pd.testing.assert_frame_equal(predicted[1], predicted[2], check_exact=True)


def test_model_refuses_bad_labels_and_params(sets):
    training, _ = sets
    with pytest.raises(ModelFitError, match="one class"):
        TieringModel().fit(training, training["label_spend"], np.zeros(len(training), dtype=bool))
    with pytest.raises(ModelFitError, match="non-negative"):
        TieringModel().fit(training, -training["label_spend"] - 1, training["label_churned"])
    with pytest.raises(ModelFitError, match="value_loss"):
        TieringModel(value_loss="gamma").fit(training, training["label_spend"], training["label_churned"])


def test_scoring_features_without_a_trained_column_names_it(sets):
    training, validation = sets
    model = fitted(training)
    with pytest.raises(InputError, match=r"\['channel_count'\].*retrain"):
        model.predict(validation.drop(columns=["channel_count"]))


def test_clv_baseline_scores_before_any_model(sets):
    _, validation = sets
    scores = score_members(validation.drop(columns=["label_spend", "label_orders", "label_churned"]))
    assert list(scores.columns) == ["oneid", "predicted_value_90d", "churn_probability", "model_version"]
    assert (scores["model_version"] == CLV_BASELINE_VERSION).all()
    buyers = validation.set_index("oneid")["frequency"] > 0
    by_member = scores.set_index("oneid")
    assert (by_member.loc[buyers[~buyers].index, "predicted_value_90d"] == 0).all()
    assert (by_member.loc[buyers[~buyers].index, "churn_probability"] == 1).all()
    assert (by_member.loc[buyers[buyers].index, "predicted_value_90d"] > 0).mean() > 0.9


def test_registry_versions_reload_and_approval_history(sets, storage):
    training, validation = sets
    registry = ModelRegistry(storage)
    model = fitted(training)
    version = registry.save(model, {"metrics": {}}, "2025-11")
    assert version.startswith("2025-11-")
    assert registry.save(fitted(training), {"metrics": {}}, "2025-11") == version  # same bytes, same version
    sha256 = registry.card(version)["artifact_sha256"]
    reloaded = registry.load(version, sha256)
    pd.testing.assert_frame_equal(reloaded.predict(validation), model.predict(validation))
    assert registry.card(version)["version"] == version
    assert registry.approved() is None and registry.approved_for("2026-01") is None

    registry.approve(version, {"metric": "top_share_capture", "candidate_value": 0.7}, "2025-12")
    other = registry.save(fitted(training, random_state=9), {"metrics": {}}, "2026-02")
    registry.approve(other, {"metric": "top_share_capture", "candidate_value": 0.8}, "2026-03")
    pointer = registry.approved()
    assert pointer["version"] == other and [e["from_period"] for e in pointer["history"]] == [
        "2025-12",
        "2026-03",
    ]
    assert pointer["history"][1]["replaces"] == version
    assert registry.approved_for("2025-11") is None
    assert registry.approved_for("2026-02")["version"] == version  # a rerun of February keeps its model
    assert registry.approved_for("2026-07")["version"] == other
    with pytest.raises(StorageError, match="versions stored"):
        registry.card("2020-01-nothing")
    with pytest.raises(StorageError, match="retrain"):
        registry.load("2020-01-nothing", "0" * 64)


def card(model: float | None, clv: float, incumbent: float | None = None) -> dict:
    metrics = {"model": {"top_share_capture": model}, "clv_baseline": {"top_share_capture": clv}}
    incumbent_block = {"version": None, "metrics": None}
    if incumbent is not None:
        incumbent_block = {"version": "2025-09-old", "metrics": {"top_share_capture": incumbent}}
    return {"metrics": metrics, "incumbent": incumbent_block}


def test_promotion_needs_the_margin_over_the_model_in_effect():
    settings = ModelSettings(promotion_margin=0.005)
    first = decide_promotion(card(0.72, 0.71), "new", settings)
    assert first.promote and first.incumbent == CLV_BASELINE_VERSION
    close = decide_promotion(card(0.713, 0.71), "new", settings)
    assert not close.promote
    assert "margin 0.005" in close.reason and f"{CLV_BASELINE_VERSION} stays" in close.reason
    beaten = decide_promotion(card(0.74, 0.70, incumbent=0.738), "new", settings)
    assert not beaten.promote and beaten.incumbent == "2025-09-old" and beaten.incumbent_value == 0.738
    assert decide_promotion(card(0.75, 0.70, incumbent=0.738), "new", settings).promote
    assert not decide_promotion(card(None, 0.70), "new", settings).promote
