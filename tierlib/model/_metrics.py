"""How well a ranking of members finds next quarter's spend, and how well churn is predicted.

Ties in a score are common (the RFM score has 13 distinct values), so the
ranking metrics treat tied members as one block whose spend is spread evenly
over its positions: the expected result of ordering the tie at random.  This
is fair to coarse scores and makes every figure independent of row order.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr
from sklearn.metrics import brier_score_loss, roc_auc_score


def _gains_curve(actual: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative members and cumulative actual at the end of each tie block, best score first."""
    order = np.argsort(-score, kind="stable")
    sorted_score, sorted_actual = score[order], actual[order]
    block_end = np.flatnonzero(np.diff(sorted_score) != 0)
    ends = np.append(block_end, len(score) - 1)
    members = np.concatenate([[0.0], ends + 1.0])
    cumulative = np.concatenate([[0.0], np.cumsum(sorted_actual)[ends]])
    return members, cumulative


def _clean(actual, score) -> tuple[np.ndarray, np.ndarray]:
    actual = np.asarray(actual, dtype=np.float64)
    score = np.nan_to_num(np.asarray(score, dtype=np.float64), nan=-np.inf)
    if actual.shape != score.shape:
        raise ValueError(f"actual and score differ in length: {actual.shape} vs {score.shape}")
    return actual, score


def top_share_capture(actual, score, share: float = 0.2) -> float | None:
    """Share of total ``actual`` held by the top ``share`` of members by ``score``."""
    actual, score = _clean(actual, score)
    total = actual.sum()
    if len(actual) == 0 or total <= 0:
        return None
    members, cumulative = _gains_curve(actual, score)
    return float(np.interp(share * len(actual), members, cumulative) / total)


def normalized_gini(actual, score) -> float | None:
    """Gini of the gains curve ordered by ``score``, over the Gini of the perfect order (1 = perfect)."""
    actual, score = _clean(actual, score)
    if len(actual) < 2 or actual.sum() <= 0:
        return None

    def gini(ranking: np.ndarray) -> float:
        members, cumulative = _gains_curve(actual, ranking)
        x, y = members / len(actual), cumulative / actual.sum()
        area = float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2.0))
        return 2.0 * area - 1.0

    best = gini(actual)
    return None if best <= 0 else gini(score) / best


def spearman(actual, score) -> float | None:
    actual, score = _clean(actual, score)
    if len(actual) < 3 or np.all(score == score[0]) or np.all(actual == actual[0]):
        return None
    return float(spearmanr(score, actual).statistic)


def churn_auc(churned, score) -> float | None:
    """ROC AUC of ``score`` (higher: more likely to churn) against the churn label."""
    churned = np.asarray(churned, dtype=bool)
    if churned.all() or not churned.any():
        return None
    return float(roc_auc_score(churned, np.nan_to_num(np.asarray(score, dtype=np.float64), nan=0.0)))


def brier(churned, probability) -> float | None:
    churned = np.asarray(churned, dtype=bool)
    if len(churned) == 0:
        return None
    return float(brier_score_loss(churned, np.clip(np.asarray(probability, dtype=np.float64), 0.0, 1.0)))


METRIC_NAMES = ("top_share_capture", "normalized_gini", "spearman", "churn_auc", "churn_brier")


def evaluate_predictions(
    actual_spend,
    churned,
    value_score,
    churn_score=None,
    *,
    churn_is_probability: bool = True,
    top_share: float = 0.2,
) -> dict[str, float | None]:
    """Every metric for one scorer; churn ones are None without a churn score, Brier without probabilities."""
    metrics = {
        "top_share_capture": top_share_capture(actual_spend, value_score, top_share),
        "normalized_gini": normalized_gini(actual_spend, value_score),
        "spearman": spearman(actual_spend, value_score),
        "churn_auc": None if churn_score is None else churn_auc(churned, churn_score),
        "churn_brier": None
        if churn_score is None or not churn_is_probability
        else brier(churned, churn_score),
    }
    return {name: None if value is None else round(value, 6) for name, value in metrics.items()}
