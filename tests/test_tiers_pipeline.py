"""The monthly pipeline scores, tiers, and writes migration and alerts for consecutive months.

On the session's synthetic sources (1,500 people, 2024-11 .. 2026-10): history
months are standardized the quick way, then ``run_pipeline`` runs 2026-09
(no model yet: the CLV baseline) and 2026-10 (with an approved model).
"""

from __future__ import annotations

import os

import pytest
from test_model_synthetic import standardize_history

from tierlib.catalog import (
    alerts_key,
    alerts_summary_key,
    clv_params_key,
    figures_key,
    migration_key,
    migration_summary_key,
    scores_key,
    tiers_key,
)
from tierlib.model import CLV_BASELINE_VERSION, ModelRegistry
from tierlib.period import periods_between
from tierlib.pipeline.context import RunContext
from tierlib.pipeline.retrain import run_train
from tierlib.pipeline.runner import run_pipeline
from tierlib.tiers import ALERT_COLUMNS, GONE, MIGRATION_COLUMNS, NEW, TIER_COLUMNS

pytestmark = pytest.mark.slow

STAGES = ["extract", "identity", "features", "score", "tiers"]


def test_two_consecutive_months_score_tier_migrate_and_alert(pipeline_env):
    first = RunContext.open(os.environ["TIERFLOW_CONFIG"], "2026-09")
    storage = first.storage
    standardize_history(first, periods_between("2024-11", "2026-08"))

    september = run_pipeline(first, STAGES)
    assert september["score"]["fallback_to_clv_baseline"] is True
    assert september["score"]["model_version"] == CLV_BASELINE_VERSION
    assert "CLV baseline" in storage.read_json(figures_key("2026-09", "score"))["figures"]["note"]
    scores = storage.read_parquet(scores_key("2026-09"))
    tiers = storage.read_parquet(tiers_key("2026-09"))
    assert list(tiers.columns) == list(TIER_COLUMNS)
    assert len(tiers) == len(scores) == september["features"]["members"]
    clv = storage.read_json(clv_params_key("2026-09"))
    assert september["features"]["clv_model"] == clv["model"]
    assert clv["holdout_check"]["scores"].keys() | clv["holdout_check"]["skipped"].keys() == {"bgnbd"}
    assert tiers["oneid"].is_unique and tiers["tier"].notna().all() and tiers["reason"].notna().all()
    assert tiers["previous_tier"].isna().all()  # the first month has nothing to compare with
    assert tiers["vip"].sum() == -(-len(tiers) * 2 // 10)  # ceil(20%)
    assert storage.read_parquet(migration_key("2026-09")).empty
    assert storage.read_json(migration_summary_key("2026-09"))["has_previous"] is False
    assert list(storage.read_parquet(alerts_key("2026-09")).columns) == list(ALERT_COLUMNS)
    first_tiers_bytes = storage.read_bytes(tiers_key("2026-09"))

    # A model approved for October on (everything up to September).
    trained = run_train(first)
    registry = ModelRegistry(storage)
    registry.approve(trained["candidate"], {"metric": "top_share_capture"}, "2026-10")

    second = RunContext.open(os.environ["TIERFLOW_CONFIG"], "2026-10")
    october = run_pipeline(second, STAGES)
    assert october["score"]["source"] == "model" and october["score"]["model_version"] == trained["candidate"]
    scores = storage.read_parquet(scores_key("2026-10"))
    assert (scores["model_version"] == trained["candidate"]).all()
    tiers = storage.read_parquet(tiers_key("2026-10"))
    last = storage.read_parquet(tiers_key("2026-09")).set_index("oneid")["tier"]
    stayed = tiers[tiers["oneid"].isin(last.index)]
    assert len(stayed) > 0.9 * len(last)
    assert (stayed["previous_tier"].to_numpy() == last.loc[stayed["oneid"]].to_numpy()).all()
    assert tiers.loc[~tiers["oneid"].isin(last.index), "previous_tier"].isna().all()

    matrix = storage.read_parquet(migration_key("2026-10"))
    assert list(matrix.columns) == list(MIGRATION_COLUMNS)
    assert matrix["members"].sum() == len(tiers) + (~last.index.isin(tiers["oneid"])).sum()
    assert matrix.loc[matrix["from_tier"] == NEW, "members"].sum() == tiers["previous_tier"].isna().sum()
    assert GONE in set(matrix["to_tier"])
    summary = storage.read_json(migration_summary_key("2026-10"))
    assert summary["has_previous"] and 0 <= summary["tier_change_share"] <= 1
    assert summary["potential_to_high_conversion"] is not None
    assert summary["value_variance_change"] is not None
    alerts = storage.read_json(alerts_summary_key("2026-10"))
    assert set(alerts["inactive_high_value"]) == {"L1", "L2", "L3"}
    listed = storage.read_parquet(alerts_key("2026-10"))
    assert sum(alerts["inactive_high_value"].values()) == len(listed)
    # Switching from the CLV baseline to a model moves many members: the run warns, and does not fail.
    codes = {warning["code"] for warning in alerts["warnings"]}
    assert codes <= {"potential_conversion_low", "tier_change_high", "value_variance_moved"}
    assert october["tiers"]["alerts"]["warnings"] == [w["code"] for w in alerts["warnings"]]

    # Rerunning September after the approval scores it as before: byte-identical tiers.
    again = run_pipeline(first, ["score", "tiers"])
    assert again["score"]["model_version"] == CLV_BASELINE_VERSION
    assert storage.read_bytes(tiers_key("2026-09")) == first_tiers_bytes
