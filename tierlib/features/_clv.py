"""CLV features: BG/NBD + Gamma-Gamma fitted on the whole population at the as-of date."""

from __future__ import annotations

import numpy as np

from tierlib.clv import BetaGeoModel, GammaGammaModel
from tierlib.clv._summary import EPOCH_WEEKDAY_SHIFT, summarize_periods
from tierlib.clv._value import TIME_UNIT_DAYS, customer_lifetime_value
from tierlib.errors import ModelFitError

PREDICTION_DAYS = 90

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

    x = summary["frequency"][buyer]
    t_x = summary["recency"][buyer]
    age = summary["T"][buyer]
    m = np.maximum(summary["monetary_value"][buyer], 0.0)  # refunds can push an average below zero
    try:
        bgnbd = BetaGeoModel(penalizer=penalizer).fit(x, t_x, age)
        spenders = (x > 0) & (m > 0)
        gg = GammaGammaModel(penalizer=penalizer).fit(x[spenders], m[spenders])
    except ModelFitError as error:
        raise ModelFitError(
            f"features: the CLV models could not be fitted at the as-of date: {error} "
            "(config: features.clv_penalizer, features.clv_time_unit; features.clv_enabled: false "
            "turns the CLV columns off)"
        ) from error

    horizon = PREDICTION_DAYS / TIME_UNIT_DAYS[time_unit]
    columns["expected_purchases_90d"][buyer] = bgnbd.expected_purchases(horizon, x, t_x, age)
    columns["probability_alive"][buyer] = bgnbd.probability_alive(x, t_x, age)
    columns["expected_average_value"][buyer] = gg.expected_average_value(x, m)
    columns["clv"][buyer] = customer_lifetime_value(
        bgnbd, gg, x, t_x, age, m, horizon_months, monthly_discount_rate, time_unit
    )
    fitted = {
        "time_unit": time_unit,
        "bgnbd": {"params": bgnbd.params_, "log_likelihood": bgnbd.log_likelihood_},
        "gamma_gamma": {"params": gg.params_, "log_likelihood": gg.log_likelihood_},
    }
    return columns, fitted


def _periods(day: np.ndarray, time_unit: str) -> np.ndarray:
    if time_unit == "day":
        return day
    return np.floor_divide(day + EPOCH_WEEKDAY_SHIFT, 7)
