"""Customer lifetime value: discounted expected purchases times expected spend per purchase."""

from __future__ import annotations

import numpy as np

from tierlib.clv._bgnbd import BetaGeoModel
from tierlib.clv._fitting import as_float_array, unique_rows
from tierlib.clv._gamma_gamma import GammaGammaModel
from tierlib.errors import InputError

DAYS_PER_MONTH = 365.25 / 12
TIME_UNIT_DAYS = {"day": 1, "week": 7}
"""Length of each supported time unit in days."""


def periods_per_month(time_unit: str) -> float:
    """How many ``time_unit`` periods an average calendar month holds (30.4375 days)."""
    if time_unit not in TIME_UNIT_DAYS:
        raise InputError(f"time_unit must be one of {sorted(TIME_UNIT_DAYS)}, got {time_unit!r}.")
    return DAYS_PER_MONTH / TIME_UNIT_DAYS[time_unit]


def customer_lifetime_value(
    bgnbd: BetaGeoModel,
    gg: GammaGammaModel,
    frequency,
    recency,
    T,
    monetary_value,
    horizon_months: int = 12,
    monthly_discount_rate: float = 0.01,
    time_unit: str = "week",
    *,
    periods_per_month_override: float | None = None,
) -> np.ndarray:
    """Value of each customer's purchases over the next ``horizon_months``, discounted monthly.

    CLV = Σ_{k=1..H} E[purchases in month k] · E[spend per purchase] / (1 + d)^k, where
    E[purchases in month k] is the BG/NBD conditional expectation up to the end of
    month k minus that up to the end of month k-1, and the spend is the Gamma-Gamma
    conditional mean.  ``time_unit`` is the unit the models were fitted in; a month is
    365.25/12 days unless ``periods_per_month_override`` says how many units it holds
    (lifetimes uses 30 days or 4.345 weeks).
    """
    if (
        isinstance(horizon_months, bool)
        or not isinstance(horizon_months, int | np.integer)
        or horizon_months < 1
    ):
        raise InputError(f"horizon_months must be a whole number >= 1, got {horizon_months!r}.")
    if not np.isfinite(monthly_discount_rate) or monthly_discount_rate <= -1:
        raise InputError(f"monthly_discount_rate must be > -1, got {monthly_discount_rate!r}.")
    month = periods_per_month(time_unit) if periods_per_month_override is None else periods_per_month_override
    if not month > 0:
        raise InputError(f"periods_per_month_override must be > 0, got {month!r}.")
    value = gg.expected_average_value(frequency, monetary_value)
    purchases = discounted_expected_purchases(
        bgnbd, frequency, recency, T, horizon_months, monthly_discount_rate, month
    )
    return value * purchases


def discounted_expected_purchases(
    bgnbd: BetaGeoModel,
    frequency,
    recency,
    T,
    horizon_months: int,
    monthly_discount_rate: float,
    month: float,
) -> np.ndarray:
    """Σ_k E[purchases in month k] / (1 + d)^k, computed once per distinct (x, t_x, T)."""
    x = as_float_array(frequency, "frequency")
    t_x = as_float_array(recency, "recency")
    age = as_float_array(T, "T")
    (u_x, u_tx, u_age), inverse = unique_rows(x, t_x, age)
    total = np.zeros(len(u_x))
    previous = np.zeros(len(u_x))
    for k in range(1, horizon_months + 1):
        cumulative = bgnbd.expected_purchases(k * month, u_x, u_tx, u_age)
        total += (cumulative - previous) / (1.0 + monthly_discount_rate) ** k
        previous = cumulative
    return total[inverse]
