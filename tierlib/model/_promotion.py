"""Fit a candidate, describe it in a model card, and decide whether it replaces the current model.

A candidate is promoted only if it beats the incumbent on the primary metric
by the configured margin, both measured on the same out-of-time window.  The
incumbent is the approved model, or, before any model was approved, the CLV
baseline (what monthly scoring uses then).
"""

from __future__ import annotations

import dataclasses
import platform
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import sklearn

import tierlib
from tierlib.errors import TierflowError
from tierlib.model._baselines import CLV_BASELINE_VERSION
from tierlib.model._estimator import TieringModel
from tierlib.model._evaluate import evaluate_window, feature_importances
from tierlib.model._settings import ModelSettings
from tierlib.model._training_set import describe_window


@dataclass(frozen=True)
class PromotionDecision:
    promote: bool
    candidate: str
    incumbent: str
    metric: str
    candidate_value: float | None
    incumbent_value: float | None
    margin: float
    reason: str

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def code_version() -> dict:
    """tierlib's version, the git commit of the checkout it runs from (if any), and library versions."""
    commit = None
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(tierlib.__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        commit = result.stdout.strip() or None if result.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {
        "tierlib": tierlib.__version__,
        "git_commit": commit,
        "scikit_learn": sklearn.__version__,
        "pandas": pd.__version__,
        "python": platform.python_version(),
    }


def fit_candidate(training: pd.DataFrame, settings: ModelSettings) -> tuple[TieringModel, float]:
    """The fitted model and the seconds fitting took."""
    started = time.perf_counter()
    model = TieringModel(
        value_params=settings.value,
        churn_params=settings.churn,
        value_loss=settings.value_loss,
        exclude_features=settings.exclude_features,
        max_categories=settings.max_categories,
        threads=settings.threads,
        random_state=settings.seed,
    ).fit(training, training["label_spend"], training["label_churned"])
    return model, round(time.perf_counter() - started, 3)


def incumbent_metrics(
    validation: pd.DataFrame,
    incumbent: TieringModel | None,
    incumbent_version: str | None,
    settings: ModelSettings,
) -> dict:
    """How the current approved model does on the candidate's validation window.

    An incumbent that cannot score today's features (a column was renamed, say)
    is reported as such; the candidate is then judged against the CLV baseline.
    """
    if incumbent is None:
        return {"version": None, "metrics": None, "note": "no approved model yet: the CLV baseline is in use"}
    try:
        metrics = evaluate_window(validation, incumbent, top_share=settings.top_share)["model"]
    except TierflowError as error:
        return {
            "version": incumbent_version,
            "metrics": None,
            "note": f"cannot score the validation window: {error}",
        }
    return {
        "version": incumbent_version,
        "metrics": metrics,
        "note": "scored on the candidate's validation window",
    }


def build_card(
    *,
    model: TieringModel,
    training: pd.DataFrame,
    validation: pd.DataFrame,
    settings: ModelSettings,
    training_seconds: float,
    incumbent: dict,
    period: str,
) -> dict:
    """The model card (JSON-able): window, rows, metrics beside both baselines, importances, code."""
    started = time.perf_counter()
    metrics = evaluate_window(validation, model, top_share=settings.top_share)
    evaluated = time.perf_counter()
    importances = feature_importances(
        model,
        validation,
        repeats=settings.importance_repeats,
        seed=settings.seed,
        top_share=settings.top_share,
    )
    seconds = {
        "fit": training_seconds,
        "evaluate": round(evaluated - started, 3),
        "feature_importance": round(time.perf_counter() - evaluated, 3),
    }
    return {
        "period": period,
        "trained_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "training_seconds": training_seconds,
        "seconds": seconds,
        "data_window": describe_window(training, validation, settings.horizon_days),
        "rows": {
            "training": len(training),
            "validation": len(validation),
            "training_members": int(training["oneid"].nunique()),
        },
        "primary_metric": settings.primary_metric,
        "top_share": settings.top_share,
        "metrics": metrics,
        "incumbent": incumbent,
        "features": {"numeric": model.numeric_features_, "categorical": model.categorical_features_},
        "feature_importances": importances,
        "settings": dataclasses.asdict(settings),
        "code_version": code_version(),
    }


def decide_promotion(card: dict, candidate_version: str, settings: ModelSettings) -> PromotionDecision:
    """Promote only if the candidate beats the incumbent (or the CLV baseline) by the margin."""
    metric = settings.primary_metric
    candidate_value = card["metrics"]["model"].get(metric)
    incumbent = card.get("incumbent") or {}
    if incumbent.get("metrics"):
        incumbent_name, incumbent_value = incumbent["version"], incumbent["metrics"].get(metric)
    else:
        incumbent_name, incumbent_value = CLV_BASELINE_VERSION, card["metrics"]["clv_baseline"].get(metric)
    margin = settings.promotion_margin
    if candidate_value is None:
        promote = False
        reason = (
            f"{candidate_version}: {metric} is undefined on the validation window (no spend in it?); "
            f"keeping {incumbent_name}"
        )
    elif incumbent_value is None or candidate_value >= incumbent_value + margin:
        promote = True
        reason = (
            f"{candidate_version} approved: {metric} {candidate_value:.4f} vs {incumbent_name} "
            f"{'n/a' if incumbent_value is None else f'{incumbent_value:.4f}'} (margin {margin})"
        )
    else:
        promote = False
        reason = (
            f"{candidate_version} not approved: {metric} {candidate_value:.4f} does not beat "
            f"{incumbent_name} {incumbent_value:.4f} by the margin {margin} (model.promotion_margin); "
            f"{incumbent_name} stays"
        )
    return PromotionDecision(
        promote=promote,
        candidate=candidate_version,
        incumbent=incumbent_name,
        metric=metric,
        candidate_value=candidate_value,
        incumbent_value=incumbent_value,
        margin=margin,
        reason=reason,
    )
