"""Choosing a purchase model on a holdout: fit each on a calibration window, compare forecasts.

Buy-till-you-die models differ most in how they treat drop-out, and the likelihood of
one cannot be compared with another's on equal terms.  What an analyst compares is
the forecast: fit each model on the calibration part of the history, predict every
customer's purchases in the holdout part, and set predicted against observed by
number of past purchases (the calibration-versus-holdout check of Fader, Hardie & Lee
2005).  The score is the weighted absolute error of those group totals relative to
all holdout purchases: 0 is a perfect forecast in every group.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from tierlib.clv._bgnbd import BetaGeoModel, ModifiedBetaGeoModel
from tierlib.clv._pareto_nbd import ParetoNBDModel
from tierlib.clv._summary import backtest
from tierlib.errors import InputError, ModelFitError

PURCHASE_MODELS = {"bgnbd": BetaGeoModel, "pareto_nbd": ParetoNBDModel, "mbgnbd": ModifiedBetaGeoModel}
"""The purchase models a caller can choose between, by configuration name."""


def compare_on_holdout(
    split: pd.DataFrame, models: Sequence[str], *, penalizer: float = 0.0, max_frequency: int = 7
) -> dict:
    """Fit each named model on the calibration columns of ``split`` and score it on the holdout.

    ``split`` has calibration_holdout_split's columns.  Returns a JSON-ready dict:
    ``best`` (the lowest score's name, None when no model could be fitted), ``scores``
    (per fitted model: ``score``, ``predicted`` and ``actual`` holdout purchases,
    ``params``, and ``by_frequency``: customers, actual and predicted mean per
    calibration-frequency group), ``skipped`` (per model that could not be fitted: why),
    ``customers`` and ``holdout_periods``.
    """
    unknown = [name for name in models if name not in PURCHASE_MODELS]
    if unknown or not models:
        raise InputError(f"models must be some of {sorted(PURCHASE_MODELS)}, got {list(models)!r}.")
    scores: dict[str, dict] = {}
    skipped: dict[str, str] = {}
    for name in models:
        try:
            model = PURCHASE_MODELS[name](penalizer=penalizer).fit(
                split["frequency_cal"], split["recency_cal"], split["T_cal"]
            )
        except ModelFitError as error:
            skipped[name] = str(error)
            continue
        with np.errstate(all="ignore"):
            table = backtest(model, split, max_frequency=max_frequency)
        if not np.isfinite(table["predicted_total"]).all():
            skipped[name] = (
                f"{model.model_name} fits the calibration window but its holdout forecast overflows"
            )
            continue
        actual = float(table["actual_total"].sum())
        error = float(np.abs(table["predicted_total"] - table["actual_total"]).sum()) / max(actual, 1.0)
        scores[name] = {
            "model": model.model_name,
            "score": error,
            "predicted": float(table["predicted_total"].sum()),
            "actual": actual,
            "params": model.params_,
            "by_frequency": [
                {
                    "frequency_cal": label,
                    "customers": int(row.customers),
                    "actual_mean": float(row.actual_mean),
                    "predicted_mean": float(row.predicted_mean),
                }
                for label, row in table.iterrows()
            ],
        }
    best = min(scores, key=lambda name: scores[name]["score"]) if scores else None
    return {
        "best": best,
        "scores": scores,
        "skipped": skipped,
        "customers": len(split),
        "holdout_periods": float(split["duration_holdout"].iloc[0]) if len(split) else 0.0,
    }
