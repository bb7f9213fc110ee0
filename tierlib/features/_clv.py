"""CLV features: a purchase model (BG/NBD, Pareto/NBD, MBG/NBD, or the best of them on a holdout)
+ Gamma-Gamma, fitted on the whole population at the as-of date.

Two steps, so that hash partitions of the members can run the first: ``clv_summaries``
is per member (the history's frequency, recency, T and mean repeat spend, and the same
over a calibration window with the purchases in the holdout after it), ``clv_population``
fits the models on every buyer and predicts.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from tierlib.clv import PURCHASE_MODELS, GammaGammaModel, NoDropoutModel, compare_on_holdout
from tierlib.clv._summary import EPOCH_WEEKDAY_SHIFT, count_periods, summarize_periods
from tierlib.clv._value import TIME_UNIT_DAYS, customer_lifetime_value
from tierlib.errors import ModelFitError

PREDICTION_DAYS = 90

log = logging.getLogger(__name__)

SUMMARY_COLUMNS = ("clv_frequency", "clv_recency", "clv_T")
POPULATION_COLUMNS = ("expected_purchases_90d", "probability_alive", "expected_average_value", "clv")
CLV_COLUMNS = (*SUMMARY_COLUMNS, *POPULATION_COLUMNS)
"""The CLV columns of the feature table."""

CLV_MONETARY = "clv_monetary_value"
CALIBRATION_COLUMNS = ("clv_frequency_cal", "clv_recency_cal", "clv_T_cal", "clv_frequency_holdout")
WORKING_COLUMNS = (CLV_MONETARY, *CALIBRATION_COLUMNS)
"""Per-member inputs of the fit that are not feature columns (partials carry them)."""

AUTO_CANDIDATES = ("bgnbd", "pareto_nbd", "mbgnbd")


def holdout_periods(settings) -> int:
    """Length of the holdout window in CLV periods (at least one)."""
    return max(1, round(settings.clv_holdout_days / TIME_UNIT_DAYS[settings.clv_time_unit]))


def clv_summaries(
    n: int,
    member: np.ndarray,
    day: np.ndarray,
    net_amount: np.ndarray,
    first_day: np.ndarray,
    last_day: np.ndarray,
    as_of_day: int,
    settings,
) -> dict[str, np.ndarray]:
    """Per member, in CLV periods: SUMMARY_COLUMNS and WORKING_COLUMNS (NaN without a purchase).

    ``member``, ``day`` and ``net_amount`` describe purchases before the as-of date;
    ``first_day`` and ``last_day`` each member's first and last purchase day (int64 max/min
    sentinels without one).  The calibration window is the history up to
    ``holdout_periods`` before the last period; ``clv_frequency_holdout`` counts the
    periods with a purchase after it (NaN for members first seen in the holdout).
    """
    time_unit = settings.clv_time_unit
    periods = _periods(day, time_unit)
    last_period = int(_periods(np.array([as_of_day - 1]), time_unit)[0])
    buyer = last_day != np.iinfo(np.int64).min
    # periods grow with days, so the first and last purchase periods follow from the days
    first_period = np.where(buyer, _periods(np.where(buyer, first_day, 0), time_unit), first_day)
    last_period_of = np.where(buyer, _periods(np.where(buyer, last_day, 0), time_unit), last_day)
    summary = summarize_periods(
        member, periods, net_amount, n, last_period, first_last=(first_period, last_period_of)
    )
    calibration_end = last_period - holdout_periods(settings)
    in_calibration = periods <= calibration_end
    calibration = summarize_periods(member[in_calibration], periods[in_calibration], None, n, calibration_end)
    holdout = count_periods(member[~in_calibration], periods[~in_calibration], n).astype(np.float64)
    return {
        "clv_frequency": summary["frequency"],
        "clv_recency": summary["recency"],
        "clv_T": summary["T"],
        CLV_MONETARY: summary["monetary_value"],
        "clv_frequency_cal": calibration["frequency"],
        "clv_recency_cal": calibration["recency"],
        "clv_T_cal": calibration["T"],
        "clv_frequency_holdout": np.where(np.isnan(calibration["frequency"]), np.nan, holdout),
    }


def clv_population(columns: dict, settings) -> tuple[dict[str, np.ndarray], dict]:
    """POPULATION_COLUMNS for every member (NaN for non-buyers) and the fit's record.

    ``columns`` holds SUMMARY_COLUMNS and WORKING_COLUMNS of every member.
    """
    frequency = np.asarray(columns["clv_frequency"], dtype=np.float64)
    n = frequency.size
    out = {name: np.full(n, np.nan) for name in POPULATION_COLUMNS}
    buyer = ~np.isnan(frequency)
    if not buyer.any():
        return out, {}
    calibrated = ~np.isnan(np.asarray(columns["clv_frequency_cal"], dtype=np.float64))
    split = pd.DataFrame(
        {
            "frequency_cal": np.asarray(columns["clv_frequency_cal"], dtype=np.float64)[calibrated],
            "recency_cal": np.asarray(columns["clv_recency_cal"], dtype=np.float64)[calibrated],
            "T_cal": np.asarray(columns["clv_T_cal"], dtype=np.float64)[calibrated],
            "frequency_holdout": np.asarray(columns["clv_frequency_holdout"], dtype=np.float64)[calibrated],
            "duration_holdout": float(holdout_periods(settings)),
        }
    )
    column = {
        name: np.asarray(columns[name], dtype=np.float64)[buyer] for name in (*SUMMARY_COLUMNS, CLV_MONETARY)
    }
    predicted, fitted = fit_and_predict(
        column["clv_frequency"],
        column["clv_recency"],
        column["clv_T"],
        column[CLV_MONETARY],
        holdout=split,
        model=settings.clv_model,
        time_unit=settings.clv_time_unit,
        horizon_months=settings.clv_horizon_months,
        monthly_discount_rate=settings.clv_monthly_discount_rate,
        penalizer=settings.clv_penalizer,
    )
    for name, values in predicted.items():
        out[name][buyer] = values
    return out, fitted


def fit_and_predict(
    x: np.ndarray,
    t_x: np.ndarray,
    age: np.ndarray,
    monetary: np.ndarray,
    *,
    holdout: pd.DataFrame,
    model: str,
    time_unit: str,
    horizon_months: int,
    monthly_discount_rate: float,
    penalizer: float,
) -> tuple[dict[str, np.ndarray], dict]:
    """Fit the purchase model + Gamma-Gamma on the buyers' summary and predict their CLV columns.

    ``holdout`` (calibration_holdout_split's columns) checks the forecast first: ``model``
    ``auto`` fits each of AUTO_CANDIDATES on the calibration window and keeps the one whose
    holdout purchases, by number of past purchases, come closest to those observed (a model
    that cannot be fitted there is skipped, with the reason recorded); a named model is
    checked the same way, for the report's calibration chart.

    A short history (a new program, a few months of data) often cannot tell drop-out from a
    low purchase rate: the unpenalized optimum then runs off along a ridge (a and b growing
    together, or the drop-out rate going to 0), where no finite parameters fit best and
    ``fit`` raises ModelFitError.  So a fit counts only when it converges *and* every
    buyer's prediction is finite; otherwise it is retried with the ``FALLBACK_PENALIZERS``
    above the configured one, smallest first, then with the other candidates.  When nothing
    helps, the history shows no drop-out at all, and the purchases come from the models'
    no-drop-out limit (NBD, every buyer alive).  The model and penalizer used are logged and
    kept with the parameters, so the month's figures show them.
    """
    candidates = AUTO_CANDIDATES if model == "auto" else (model,)
    choice = _check_on_holdout(holdout, candidates, penalizer)
    ranked = sorted(choice["scores"], key=lambda name: choice["scores"][name]["score"])
    order = [
        *ranked,
        *(name for name in AUTO_CANDIDATES if name not in ranked and (model == "auto" or name == model)),
    ]
    m = np.maximum(monetary, 0.0)  # refunds can push an average below zero
    spenders = (x > 0) & (m > 0)
    ladder = [penalizer] + [value for value in FALLBACK_PENALIZERS if value > penalizer]
    tried: list[str] = []
    for key in [*order, "nbd"]:
        model_class = NoDropoutModel if key == "nbd" else PURCHASE_MODELS[key]
        for value in ladder:
            try:
                purchases = model_class(penalizer=value).fit(x, t_x, age)
                gg = GammaGammaModel(penalizer=value).fit(x[spenders], m[spenders])
            except ModelFitError as error:
                tried.append(f"{model_class.model_name} at penalizer {value:g}: {error}")
                continue
            predicted = _predict(
                purchases, gg, x, t_x, age, m, time_unit, horizon_months, monthly_discount_rate
            )
            broken = [name for name, values in predicted.items() if not np.isfinite(values).all()]
            if broken:
                tried.append(
                    f"{model_class.model_name} at penalizer {value:g}: the fit gives non-finite "
                    + ", ".join(broken)
                )
                continue
            if tried:
                log.warning(
                    "features: the CLV fit failed with %s at features.clv_penalizer=%g (%s); this "
                    "month uses %s at penalizer %g",
                    PURCHASE_MODELS[order[0]].model_name,
                    penalizer,
                    tried[0],
                    model_class.model_name,
                    value,
                )
            fitted = {
                "time_unit": time_unit,
                "penalizer": value,
                "model": key,
                "configured_model": model,
                key: {"params": purchases.params_, "log_likelihood": purchases.log_likelihood_},
                "gamma_gamma": {"params": gg.params_, "log_likelihood": gg.log_likelihood_},
                "holdout_check": choice,
            }
            if key == "nbd":
                fitted["note"] = (
                    "the history shows no drop-out yet, so no model with drop-out could be fitted at "
                    "any penalizer tried; purchases come from their no-drop-out limit (NBD: every buyer "
                    "alive), which overstates CLV for buyers who have in fact left"
                )
            elif key != order[0]:
                fitted["note"] = f"{PURCHASE_MODELS[order[0]].model_name} could not be fitted: {tried[0]}"
            return predicted, fitted
    raise ModelFitError(
        "features: the CLV models could not be fitted at the as-of date with any penalizer tried ("
        + "; ".join(tried)
        + "). Set features.clv_penalizer higher, check features.clv_time_unit, or set "
        "features.clv_enabled: false to turn the CLV columns off."
    )


def _check_on_holdout(holdout: pd.DataFrame, candidates, penalizer: float) -> dict:
    """compare_on_holdout's record, or one saying why there was nothing to check."""
    if not len(holdout):
        return {
            "best": None,
            "scores": {},
            "skipped": {name: "no buyer before the holdout window" for name in candidates},
            "customers": 0,
            "holdout_periods": 0.0,
        }
    choice = compare_on_holdout(holdout, candidates, penalizer=penalizer)
    for name, reason in choice["skipped"].items():
        log.info("features: CLV model %s skipped on the holdout check: %s", name, reason)
    return choice


FALLBACK_PENALIZERS = (0.0001, 0.001, 0.01, 0.1)
"""Penalizers tried, in order, when the fit at the configured one fails."""


def _predict(purchases, gg, x, t_x, age, m, time_unit, horizon_months, monthly_discount_rate) -> dict:
    horizon = PREDICTION_DAYS / TIME_UNIT_DAYS[time_unit]
    with np.errstate(all="ignore"):  # a degenerate fit shows up as non-finite values, checked above
        return {
            "expected_purchases_90d": purchases.expected_purchases(horizon, x, t_x, age),
            "probability_alive": purchases.probability_alive(x, t_x, age),
            "expected_average_value": gg.expected_average_value(x, m),
            "clv": customer_lifetime_value(
                purchases, gg, x, t_x, age, m, horizon_months, monthly_discount_rate, time_unit
            ),
        }


def _periods(day: np.ndarray, time_unit: str) -> np.ndarray:
    if time_unit == "day":
        return day
    return np.floor_divide(day + EPOCH_WEEKDAY_SHIFT, 7)
