"""Monthly scores: the approved model's predictions, or the CLV baseline before one exists."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tierlib.model._baselines import clv_baseline_scores
from tierlib.model._estimator import TieringModel

SCORE_COLUMNS: dict[str, str] = {
    "oneid": "string",
    "predicted_value_90d": "float64",
    "churn_probability": "float64",
    "model_version": "string",
}


def score_members(
    features: pd.DataFrame, model: TieringModel | None = None, version: str | None = None
) -> pd.DataFrame:
    """One row per oneid, sorted by oneid; ``model=None`` scores with the CLV baseline."""
    if model is None:
        scores = clv_baseline_scores(features)
    else:
        predicted = model.predict(features)
        scores = pd.DataFrame(
            {
                "oneid": features["oneid"].astype("string").to_numpy(),
                "predicted_value_90d": predicted["predicted_value_90d"].to_numpy(dtype=np.float64),
                "churn_probability": predicted["churn_probability"].to_numpy(dtype=np.float64),
                "model_version": version or "unversioned",
            }
        )
    scores = scores.astype(SCORE_COLUMNS)
    return scores.sort_values("oneid", kind="stable").reset_index(drop=True)
