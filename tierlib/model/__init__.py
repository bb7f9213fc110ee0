"""The tiering model: time-split training data, a scikit-learn model, evaluation, promotion.

::

    training, validation = build_training_set(orders, events, records, as_of, feature_function, settings)
    model, seconds = fit_candidate(training, settings)
    metrics = evaluate_window(validation, model)          # model beside the RFM and CLV baselines
    scores = score_members(features, model, version)       # or score_members(features) for the CLV baseline

``ModelRegistry`` stores versions and the approved pointer in a Storage.
"""

from __future__ import annotations

import importlib

# Names load on first use: the config loader imports the settings module, and
# scikit-learn (seconds to import) should load only when a model is fitted or used.
_EXPORTS = {
    "CLV_BASELINE_VERSION": "tierlib.model._baselines",
    "clv_baseline_scores": "tierlib.model._baselines",
    "clv_churn_probability": "tierlib.model._baselines",
    "clv_value": "tierlib.model._baselines",
    "rfm_churn_score": "tierlib.model._baselines",
    "rfm_score": "tierlib.model._baselines",
    "NotFittedError": "tierlib.model._estimator",
    "TieringModel": "tierlib.model._estimator",
    "select_feature_columns": "tierlib.model._estimator",
    "evaluate_window": "tierlib.model._evaluate",
    "feature_importances": "tierlib.model._evaluate",
    "METRIC_NAMES": "tierlib.model._metrics",
    "brier": "tierlib.model._metrics",
    "churn_auc": "tierlib.model._metrics",
    "evaluate_predictions": "tierlib.model._metrics",
    "normalized_gini": "tierlib.model._metrics",
    "spearman": "tierlib.model._metrics",
    "top_share_capture": "tierlib.model._metrics",
    "PromotionDecision": "tierlib.model._promotion",
    "build_card": "tierlib.model._promotion",
    "code_version": "tierlib.model._promotion",
    "decide_promotion": "tierlib.model._promotion",
    "fit_candidate": "tierlib.model._promotion",
    "incumbent_metrics": "tierlib.model._promotion",
    "ModelRegistry": "tierlib.model._registry",
    "version_name": "tierlib.model._registry",
    "SCORE_COLUMNS": "tierlib.model._score",
    "score_members": "tierlib.model._score",
    "BoostingParams": "tierlib.model._settings",
    "ModelSettings": "tierlib.model._settings",
    "LABEL_COLUMNS": "tierlib.model._training_set",
    "build_training_set": "tierlib.model._training_set",
    "cutoff_schedule": "tierlib.model._training_set",
    "frame_at_cutoff": "tierlib.model._training_set",
    "labels_after": "tierlib.model._training_set",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
