"""CLV features: BG/NBD (or its no-drop-out limit) + Gamma-Gamma, fitted on the whole population
at the as-of date."""

from __future__ import annotations

import logging

import numpy as np

from tierlib.clv import BetaGeoModel, GammaGammaModel, NoDropoutModel
from tierlib.clv._summary import EPOCH_WEEKDAY_SHIFT, summarize_periods
from tierlib.clv._value import TIME_UNIT_DAYS, customer_lifetime_value
from tierlib.errors import ModelFitError

PREDICTION_DAYS = 90

log = logging.getLogger(__name__)

CLV_COLUMNS = (
    "clv_frequency",
    "clv_recency",
    "clv_T",
    "expected_purchases_90d",
    "probability_alive",
    "expected_average_value",
    "clv",
)


def clv_features(
    n: int,
    member: np.ndarray,
    day: np.ndarray,
    net_amount: np.ndarray,
    first_day: np.ndarray,
    last_day: np.ndarray,
    as_of_day: int,
    *,
    time_unit: str,
    horizon_months: int,
    monthly_discount_rate: float,
    penalizer: float,
) -> tuple[dict[str, np.ndarray], dict]:
    """Per-member CLV columns (NaN for members without a purchase) and the fitted parameters.

    ``member``, ``day`` and ``net_amount`` describe purchases before the as-of date;
    ``first_day`` and ``last_day`` each member's first and last purchase day (int64 max/min
    sentinels without one).
    """
    periods = _periods(day, time_unit)
    last_period = int(_periods(np.array([as_of_day - 1]), time_unit)[0])
    buyer = last_day != np.iinfo(np.int64).min
    # periods grow with days, so the first and last purchase periods follow from the days
    first_period = np.where(buyer, _periods(np.where(buyer, first_day, 0), time_unit), first_day)
    last_period_of = np.where(buyer, _periods(np.where(buyer, last_day, 0), time_unit), last_day)
    summary = summarize_periods(
        member, periods, net_amount, n, last_period, first_last=(first_period, last_period_of)
    )
    buyer = ~np.isnan(summary["frequency"])
    columns = {name: np.full(n, np.nan) for name in CLV_COLUMNS}
    columns["clv_frequency"] = summary["frequency"]
    columns["clv_recency"] = summary["recency"]
    columns["clv_T"] = summary["T"]
    if not buyer.any():
        return columns, {}

    predicted, fitted = fit_and_predict(
        summary["frequency"][buyer],
        summary["recency"][buyer],
        summary["T"][buyer],
        summary["monetary_value"][buyer],
        time_unit=time_unit,
        horizon_months=horizon_months,
        monthly_discount_rate=monthly_discount_rate,
        penalizer=penalizer,
    )
    for name, values in predicted.items():
        columns[name][buyer] = values
    return columns, fitted


def fit_and_predict(
    x: np.ndarray,
    t_x: np.ndarray,
    age: np.ndarray,
    monetary: np.ndarray,
    *,
    time_unit: str,
    horizon_months: int,
    monthly_discount_rate: float,
    penalizer: float,
) -> tuple[dict[str, np.ndarray], dict]:
    """Fit BG/NBD + Gamma-Gamma on the buyers' summary and predict their CLV columns.

    A short history (a new program, a few months of data) often cannot tell drop-out from a
    low purchase rate: the unpenalized BG/NBD optimum then runs off along a ridge (a and b
    growing together, or the drop-out probability going to 0), where no finite parameters fit
    best and ``fit`` raises ModelFitError.  So a fit counts only when it converges *and* every
    buyer's prediction is finite; otherwise it is retried with the ``FALLBACK_PENALIZERS``
    above the configured one, smallest first.  When no penalizer helps either, the history
    shows no drop-out at all, and the purchases come from BG/NBD's no-drop-out limit (NBD,
    every buyer alive).  The model and penalizer used are logged and kept with the
    parameters, so the month's figures show them.
    """
    m = np.maximum(monetary, 0.0)  # refunds can push an average below zero
    spenders = (x > 0) & (m > 0)
    ladder = [penalizer] + [value for value in FALLBACK_PENALIZERS if value > penalizer]
    tried: list[str] = []
    for key, model_class in PURCHASE_MODELS:
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
                    "features: the CLV fit failed with BG/NBD at features.clv_penalizer=%g (%s); this "
                    "month uses %s at penalizer %g",
                    penalizer,
                    tried[0],
                    model_class.model_name,
                    value,
                )
            fitted = {
                "time_unit": time_unit,
                "penalizer": value,
                "model": key,
                key: {"params": purchases.params_, "log_likelihood": purchases.log_likelihood_},
                "gamma_gamma": {"params": gg.params_, "log_likelihood": gg.log_likelihood_},
            }
            if key == "nbd":
                fitted["note"] = (
                    "the history shows no drop-out yet, so BG/NBD could not be fitted at any penalizer "
                    "tried; purchases come from its no-drop-out limit (NBD: every buyer alive), which "
                    "overstates CLV for buyers who have in fact left"
                )
            return predicted, fitted
    raise ModelFitError(
        "features: the CLV models could not be fitted at the as-of date with any penalizer tried ("
        + "; ".join(tried)
        + "). Set features.clv_penalizer higher, check features.clv_time_unit, or set "
        "features.clv_enabled: false to turn the CLV columns off."
    )


FALLBACK_PENALIZERS = (0.0001, 0.001, 0.01, 0.1)
"""Penalizers tried, in order, when the fit at the configured one fails."""

PURCHASE_MODELS = (("bgnbd", BetaGeoModel), ("nbd", NoDropoutModel))
"""Purchase models in the order tried; NBD only when BG/NBD fails at every penalizer."""


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
