"""The two baselines every model is measured against, from the feature table alone.

- RFM: the sum of the recency, frequency and monetary quintile scores (3..15).
  It ranks members; it gives no probability, so its churn Brier score is left out
  and its churn ranking is the reverse of its recency score.
- CLV: BG/NBD expected purchases over the horizon times the Gamma-Gamma expected
  order value.  Its churn probability is P(no purchase in the horizon): a member
  dead with probability 1 - P(alive) surely buys nothing, an alive one buys
  nothing with probability exp(-λt), where λt = E[purchases] / P(alive).

This is also what monthly scoring falls back to before any model is approved.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tierlib.errors import InputError

RFM_SCORE_COLUMNS = ("r_score", "f_score", "m_score")
EXPECTED_PURCHASES_COLUMN = "expected_purchases_90d"
EXPECTED_ORDER_VALUE_COLUMN = "expected_average_value"
PROBABILITY_ALIVE_COLUMN = "probability_alive"

CLV_BASELINE_VERSION = "baseline:clv"
"""``model_version`` of scores from the CLV fallback."""


def _require(features: pd.DataFrame, columns, what: str) -> None:
    missing = [column for column in columns if column not in features.columns]
    if missing:
        raise InputError(
            f"the {what} needs feature column(s) {missing}; the feature table has {sorted(features.columns)}"
        )


def rfm_score(features: pd.DataFrame) -> np.ndarray:
    """r + f + m scores; members without scores (no purchase yet) rank lowest (0)."""
    _require(features, RFM_SCORE_COLUMNS, "RFM baseline")
    total = sum(features[column].astype("float64").fillna(0.0) for column in RFM_SCORE_COLUMNS)
    return np.asarray(total, dtype=np.float64)


def rfm_churn_score(features: pd.DataFrame) -> np.ndarray:
    """Higher for members whose last purchase is older: 5 - r_score (no purchase: 5)."""
    _require(features, RFM_SCORE_COLUMNS[:1], "RFM baseline")
    return 5.0 - features[RFM_SCORE_COLUMNS[0]].astype("float64").fillna(0.0).to_numpy()


def clv_value(features: pd.DataFrame) -> np.ndarray:
    """Expected spend over the horizon under BG/NBD + Gamma-Gamma (0 where undefined)."""
    _require(features, (EXPECTED_PURCHASES_COLUMN, EXPECTED_ORDER_VALUE_COLUMN), "CLV baseline")
    purchases = features[EXPECTED_PURCHASES_COLUMN].astype("float64").fillna(0.0).to_numpy()
    order_value = features[EXPECTED_ORDER_VALUE_COLUMN].astype("float64").fillna(0.0).to_numpy()
    return np.clip(purchases * order_value, 0.0, None)


def clv_churn_probability(features: pd.DataFrame) -> np.ndarray:
    """P(no purchase over the horizon) from P(alive) and expected purchases (1 where undefined)."""
    _require(features, (EXPECTED_PURCHASES_COLUMN, PROBABILITY_ALIVE_COLUMN), "CLV baseline")
    alive = np.clip(features[PROBABILITY_ALIVE_COLUMN].astype("float64").fillna(0.0).to_numpy(), 0.0, 1.0)
    purchases = np.clip(
        features[EXPECTED_PURCHASES_COLUMN].astype("float64").fillna(0.0).to_numpy(), 0.0, None
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(alive > 0, purchases / alive, 0.0)
    return np.clip(1.0 - alive + alive * np.exp(-rate), 0.0, 1.0)


def clv_baseline_scores(features: pd.DataFrame) -> pd.DataFrame:
    """The scores table from the CLV baseline, for months before any model is approved."""
    return pd.DataFrame(
        {
            "oneid": features["oneid"].astype("string").to_numpy(),
            "predicted_value_90d": clv_value(features),
            "churn_probability": clv_churn_probability(features),
            "model_version": CLV_BASELINE_VERSION,
        }
    )
