"""Features and scores over hash partitions of the OneID equal the unpartitioned run exactly."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tierlib.catalog import clv_params_key, features_key, scores_key
from tierlib.clv import simulate_transactions
from tierlib.config import load_config
from tierlib.errors import ConfigError, InputError
from tierlib.features import FeatureSettings, compute_features
from tierlib.features._partial import combine_partials, member_partials
from tierlib.pipeline.context import RunContext
from tierlib.pipeline.partitions import partitions_of, split_by_partition
from tierlib.pipeline.runner import run_pipeline, run_stage

AS_OF = pd.Timestamp("2024-07-01")
CONFIG = Path(__file__).resolve().parent.parent / "config" / "tierflow.yaml"


def population(members: int = 2000, seed: int = 5) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Orders (with discounts, refunds, several channels), events and records of simulated buyers."""
    rng = np.random.default_rng(seed)
    tx = simulate_transactions(
        members, start="2023-01-01", end="2024-07-01", r=0.6, alpha=12, a=0.9, b=4, seed=seed
    )
    n = len(tx)
    oneids = [f"O{c:06d}" for c in tx.iloc[:, 0]]
    orders = pd.DataFrame(
        {
            "channel": rng.choice(["app", "pos", "ecommerce"], n),
            "order_id": [f"o{i}" for i in range(n)],
            "record_id": [f"r-{o}" for o in oneids],
            "ordered_at": pd.to_datetime(tx.iloc[:, 1]).astype("datetime64[us]"),
            "amount": tx.iloc[:, 2].to_numpy(dtype=float),
            "discount": np.where(rng.random(n) < 0.3, 5.0, 0.0),
            "refund_amount": np.where(rng.random(n) < 0.05, tx.iloc[:, 2].to_numpy(dtype=float), 0.0),
            "category": rng.choice(["shoes", "bags", "tops", None], n),
            "store_id": "s1",
            "oneid": oneids,
        }
    )
    people = sorted(set(oneids)) + [f"N{i:04d}" for i in range(50)]  # and some who never bought
    picks = rng.integers(0, len(people), 4 * members)
    events = pd.DataFrame(
        {
            "channel": "wechat",
            "record_id": [f"r-{people[i]}" for i in picks],
            "event_type": rng.choice(["view", "share", "review", "invite", "post"], picks.size),
            "ts": (AS_OF - pd.to_timedelta(rng.integers(1, 400, picks.size), unit="D")).astype(
                "datetime64[us]"
            ),
            "oneid": [people[i] for i in picks],
        }
    )
    records = pd.DataFrame(
        {
            "channel": "member_center",
            "record_id": [f"r-{o}" for o in people],
            "registered_at": (AS_OF - pd.to_timedelta(rng.integers(30, 900, len(people)), unit="D")).astype(
                "datetime64[us]"
            ),
            "oneid": people,
        }
    )
    return orders, events, records


def partitioned(orders, events, records, count, settings) -> pd.DataFrame:
    pieces = zip(*(split_by_partition(frame, count) for frame in (orders, events, records)), strict=True)
    return combine_partials(
        [member_partials(o, e, r, AS_OF, settings) for o, e, r in pieces], AS_OF, settings
    )


@pytest.mark.parametrize(
    "settings", [FeatureSettings(), FeatureSettings(rfm_split="median", clv_time_unit="day")]
)
def test_partitioned_features_equal_the_whole_population_for_any_partition_count(settings):
    orders, events, records = population()
    whole = compute_features(orders, events, records, AS_OF, settings)
    for count in (1, 8):
        result = partitioned(orders, events, records, count, settings)
        pd.testing.assert_frame_equal(result, whole, check_exact=True)
        assert result.attrs == whole.attrs
    assert whole["r_score"].max() == 5 and whole["clv"].notna().sum() > 1000  # the population parts are live


def test_partitions_are_a_stable_function_of_the_oneid():
    oneids = pd.Series([f"O{i:06d}" for i in range(5000)])
    parts = partitions_of(oneids, 8)
    assert set(parts) == set(range(8)) and np.bincount(parts).min() > 450
    np.testing.assert_array_equal(partitions_of(oneids[::-1], 8), parts[::-1])
    np.testing.assert_array_equal(partitions_of(oneids, 1), np.zeros(5000))


def test_a_oneid_in_two_partials_is_an_input_error():
    orders, events, records = population(200)
    partial = member_partials(orders, events, records, AS_OF)
    with pytest.raises(InputError, match="more than one partition"):
        combine_partials([partial, partial.iloc[:3]], AS_OF)


def context(partitions: int) -> RunContext:
    config = load_config(CONFIG)
    run = dataclasses.replace(config.run, history_months=3, partitions=partitions)
    return RunContext.open(dataclasses.replace(config, run=run), "2026-10")


def test_pipeline_features_and_scores_with_eight_partitions_equal_one(pipeline_env):
    one = context(1)
    run_pipeline(one, ["extract", "identity", "features", "score"])
    features_1 = one.storage.read_parquet(features_key("2026-10"))
    scores_1 = one.storage.read_parquet(scores_key("2026-10"))
    clv_1 = one.storage.read_json(clv_params_key("2026-10"))

    eight = context(8)
    figures = run_stage(eight, "features")
    assert figures["partitions"] == 8 and figures["members"] == len(features_1)
    # the DAG runs the steps as separate tasks: a partition that has not run stops the combine
    eight.storage.delete(eight.storage.list("features/period=2026-10/partitions=8/part=3/partial.json")[0])
    with pytest.raises(InputError, match="partition 3 of 8 has not run"):
        run_stage(eight, "features", step="combine")
    run_stage(eight, "features", partition=3)
    run_stage(eight, "features", step="combine")
    run_stage(eight, "score")

    pd.testing.assert_frame_equal(
        eight.storage.read_parquet(features_key("2026-10")), features_1, check_exact=True
    )
    pd.testing.assert_frame_equal(
        eight.storage.read_parquet(scores_key("2026-10")), scores_1, check_exact=True
    )
    assert eight.storage.read_json(clv_params_key("2026-10")) == clv_1
    assert len(features_1) > 100 and scores_1["predicted_value_90d"].gt(0).any()


def test_partitions_must_be_at_least_one(monkeypatch):
    monkeypatch.setenv("TIERFLOW_PARTITIONS", "0")
    with pytest.raises(ConfigError, match=r"run\.partitions must be at least 1"):
        load_config(CONFIG)
    monkeypatch.setenv("TIERFLOW_PARTITIONS", "8")
    assert load_config(CONFIG).run.partitions == 8
