"""Two months on the suite's synthetic data give exactly the pinned scores, tiers and exports.

This is the guard for speed work (#23): a faster features, score, tiers or validation step must
not change a single output.  On the session's synthetic sources (1,500 people, seed 11), with a
fixed identity hash key, the history is standardized the quick way, then 2026-09 runs from
extract to publish on the CLV baseline, the quarterly retrain fits a model that is approved for
2026-10, and 2026-10 runs from extract to publish scored by it.  For both months the test compares
with ``tests/golden/month.json``:

- scores and tiers: column names, dtypes, row count, and a SHA-256 per column over a canonical
  text of its values (floats by their exact ``repr``), so a failure names the columns that moved;
- every published export file (segment CSV and Parquet files, assignments, lift): SHA-256 of its
  bytes.  The manifest and the ``_SUCCESS`` marker are left out: they hold the config digest
  (which names this machine's paths) and the commit's time.

Re-pinning, when a change is *meant* to alter outputs (a new feature, a model change, another
export column): run ``TIERFLOW_REPIN_GOLDEN=1 pytest tests/test_golden_month.py``, look at the
diff of ``tests/golden/month.json`` (it shows which tables and columns changed) and commit it
with the change, saying why the outputs changed.  Never re-pin to make a speed change pass.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_model_synthetic import standardize_history

from tierlib.catalog import exports_manifest_key, exports_prefix, exports_success_key, scores_key, tiers_key
from tierlib.model import ModelRegistry
from tierlib.period import periods_between
from tierlib.pipeline.context import RunContext
from tierlib.pipeline.retrain import run_train
from tierlib.pipeline.runner import run_pipeline

pytestmark = pytest.mark.slow

GOLDEN = Path(__file__).parent / "golden" / "month.json"
REPIN = os.environ.get("TIERFLOW_REPIN_GOLDEN") == "1"
STAGES = ["extract", "identity", "features", "score", "tiers", "publish"]
HASH_KEY = "tierflow-golden-month-key-not-a-secret"
"""Fixed here, whatever the environment holds: OneIDs and exported hashes are keyed with it."""


def canonical_text(values: pd.Series) -> str:
    """One line per value, the same for the same values whatever the dtype's storage."""
    if pd.api.types.is_float_dtype(values.dtype):
        numbers = values.to_numpy(dtype=np.float64, na_value=np.nan)
        return "\n".join("<NA>" if np.isnan(x) else repr(float(x)) for x in numbers)
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return "\n".join("<NA>" if pd.isna(x) else x.isoformat() for x in values)
    return "\n".join("<NA>" if pd.isna(x) else str(x) for x in values.astype(object))


def table_digest(frame: pd.DataFrame) -> dict:
    return {
        "rows": len(frame),
        "dtypes": {str(column): str(dtype) for column, dtype in frame.dtypes.items()},
        "columns": {
            str(column): hashlib.sha256(canonical_text(frame[column]).encode()).hexdigest()
            for column in frame.columns
        },
    }


def export_digests(storage, period: str) -> dict[str, str]:
    prefix = exports_prefix(period)
    commit_files = {exports_manifest_key(period), exports_success_key(period)}
    keys = sorted(key for key in storage.list(prefix) if key not in commit_files)
    return {key[len(prefix) :]: hashlib.sha256(storage.read_bytes(key)).hexdigest() for key in keys}


def month_digest(storage, period: str) -> dict:
    return {
        "scores": table_digest(storage.read_parquet(scores_key(period))),
        "tiers": table_digest(storage.read_parquet(tiers_key(period))),
        "exports": export_digests(storage, period),
    }


def differences(pinned: dict, got: dict, where: str = "") -> list[str]:
    """Every leaf that differs, by its path (``2026-10/tiers/columns/tier``)."""
    if isinstance(pinned, dict) and isinstance(got, dict):
        found = []
        for key in sorted(set(pinned) | set(got)):
            path = f"{where}/{key}" if where else str(key)
            if key not in got:
                found.append(f"{path}: pinned but not produced")
            elif key not in pinned:
                found.append(f"{path}: produced but not pinned")
            else:
                found.extend(differences(pinned[key], got[key], path))
        return found
    return [] if pinned == got else [f"{where}: pinned {pinned!r}, got {got!r}"]


def test_two_months_give_the_pinned_scores_tiers_and_exports(pipeline_env, monkeypatch):
    monkeypatch.setenv("TIERFLOW_IDENTITY_HASH_KEY", HASH_KEY)
    september = RunContext.open(os.environ["TIERFLOW_CONFIG"], "2026-09")
    storage = september.storage
    standardize_history(september, periods_between("2025-10", "2026-08"))
    run_pipeline(september, STAGES)
    trained = run_train(september)
    ModelRegistry(storage).approve(trained["candidate"], {"metric": "top_share_capture"}, "2026-10")
    october = RunContext.open(os.environ["TIERFLOW_CONFIG"], "2026-10")
    figures = run_pipeline(october, STAGES)
    assert figures["score"]["source"] == "model"  # the pinned October is the model's, not the baseline's

    got = {period: month_digest(storage, period) for period in ("2026-09", "2026-10")}
    assert all(len(month["exports"]) > 4 for month in got.values())  # segment files were published
    if REPIN:
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
    pinned = json.loads(GOLDEN.read_text())
    changed = differences(pinned, got)
    assert not changed, (
        "outputs differ from tests/golden/month.json (if the change is meant to alter outputs, "
        "re-pin with TIERFLOW_REPIN_GOLDEN=1 and say why in the commit):\n" + "\n".join(changed[:40])
    )
