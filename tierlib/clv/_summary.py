"""Per-customer (frequency, recency, T, monetary value) from raw transactions, and backtests.

Conventions are those of the BG/NBD literature and the lifetimes package:
transactions are bucketed into periods of the chosen unit (calendar days, or
Monday-to-Sunday weeks as pandas' ``W`` periods); several transactions in one
period count once and their amounts add up.  Per customer, counted in periods:

- ``frequency``: periods with a purchase, minus the first one (repeat purchases);
- ``recency``: last purchase period minus first purchase period;
- ``T``: the last period before ``as_of`` minus the first purchase period;
- ``monetary_value``: mean amount per repeat period (the first period excluded),
  0 for customers without a repeat purchase.

``as_of`` is an exclusive upper bound: only transactions strictly before it count,
and the observation ends in the period holding the last instant before it.  That
equals lifetimes' ``observation_period_end = as_of - 1 day`` for a midnight
``as_of``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tierlib.clv._fitting import distinct_values
from tierlib.clv._purchase import PurchaseModel
from tierlib.clv._value import TIME_UNIT_DAYS
from tierlib.errors import InputError

MICROS_PER_DAY = 86_400_000_000
EPOCH_WEEKDAY_SHIFT = 3
"""1970-01-01 was a Thursday: shifting day numbers by 3 makes weeks start on Monday."""


def period_numbers(timestamps: np.ndarray, unit: str) -> np.ndarray:
    """Integer period of each datetime64 value: days since 1970-01-01, or Monday-based weeks."""
    if unit not in TIME_UNIT_DAYS:
        raise InputError(f"unit must be one of {sorted(TIME_UNIT_DAYS)}, got {unit!r}.")
    micros = np.asarray(timestamps).astype("datetime64[us]").view(np.int64)
    days = np.floor_divide(micros, MICROS_PER_DAY)
    if unit == "day":
        return days
    return np.floor_divide(days + EPOCH_WEEKDAY_SHIFT, 7)


def summarize_periods(
    codes: np.ndarray,
    periods: np.ndarray,
    amounts: np.ndarray | None,
    n_customers: int,
    last_period: int,
    first_last: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """frequency, recency, T (and monetary_value) per customer code from per-transaction arrays.

    ``codes`` are 0..n_customers-1; customers without a transaction get NaN everywhere.
    ``first_last`` may pass each customer's first and last period when the caller has them
    (int64 min/max sentinels for customers without one).  One sort over (code, period)
    pairs does the distinct-period count; everything else is a bincount, so twenty
    million transactions take seconds.
    """
    if first_last is None:
        first = np.full(n_customers, np.iinfo(np.int64).max)
        np.minimum.at(first, codes, periods)
        last = np.full(n_customers, np.iinfo(np.int64).min)
        np.maximum.at(last, codes, periods)
    else:
        first, last = first_last
    buyer = first != np.iinfo(np.int64).max
    n_periods = count_periods(codes, periods, n_customers)
    frequency = np.where(buyer, n_periods - 1, np.nan).astype(np.float64)
    recency = np.where(buyer, last - first, np.nan).astype(np.float64)
    age = np.where(buyer, last_period - first, np.nan).astype(np.float64)
    result = {"frequency": frequency, "recency": recency, "T": age}
    if amounts is not None:
        total = np.bincount(codes, weights=amounts, minlength=n_customers)
        in_first = periods == first[codes]
        first_amount = np.bincount(codes[in_first], weights=amounts[in_first], minlength=n_customers)
        with np.errstate(invalid="ignore", divide="ignore"):
            monetary = np.where(frequency > 0, (total - first_amount) / frequency, 0.0)
        result["monetary_value"] = np.where(buyer, monetary, np.nan)
    return result


def count_periods(codes: np.ndarray, periods: np.ndarray, n_customers: int) -> np.ndarray:
    """Distinct periods with a purchase per customer code (one sort over (code, period) keys)."""
    if not codes.size:
        return np.zeros(n_customers, dtype=np.int64)
    low = int(periods.min())
    span = int(periods.max()) - low + 1
    distinct_keys = distinct_values(codes.astype(np.int64, copy=False) * span + (periods - low))
    return np.bincount(distinct_keys // span, minlength=n_customers)


def summarize_transactions(
    transactions: pd.DataFrame,
    *,
    customer_col: str,
    date_col: str,
    amount_col: str | None = None,
    as_of,
    unit: str = "week",
) -> pd.DataFrame:
    """One row per customer with a transaction before ``as_of``: frequency, recency, T[, monetary_value].

    The index is the customer id (sorted); see the module docstring for the conventions.
    """
    as_of = _timestamp(as_of, "as_of")
    customers, dates, amounts = _columns(transactions, customer_col, date_col, amount_col)
    before = dates < np.datetime64(as_of.as_unit("us"))
    customers, dates = customers[before], dates[before]
    amounts = amounts[before] if amounts is not None else None
    codes, ids = pd.factorize(customers, sort=True)
    last_period = _last_period(as_of, unit)
    summary = summarize_periods(codes, period_numbers(dates, unit), amounts, len(ids), last_period)
    return pd.DataFrame(summary, index=pd.Index(ids, name=customer_col))


def calibration_holdout_split(
    transactions: pd.DataFrame,
    *,
    customer_col: str,
    date_col: str,
    amount_col: str | None = None,
    calibration_end,
    observation_end,
    unit: str = "week",
) -> pd.DataFrame:
    """Summaries over a calibration window and what each customer then did in the holdout.

    Calibration holds transactions before ``calibration_end``; the holdout those in
    [``calibration_end``, ``observation_end``).  One row per customer seen in the
    calibration window, columns ``frequency_cal``, ``recency_cal``, ``T_cal``
    (``monetary_value_cal``), ``frequency_holdout`` (periods with a purchase in the
    holdout; every holdout purchase is a repeat one), (``monetary_value_holdout``: mean
    amount per holdout period, 0 without one) and ``duration_holdout`` in periods.
    """
    calibration_end = _timestamp(calibration_end, "calibration_end")
    observation_end = _timestamp(observation_end, "observation_end")
    if observation_end <= calibration_end:
        raise InputError(
            f"observation_end ({observation_end.date()}) must be after calibration_end "
            f"({calibration_end.date()}): the holdout window would be empty."
        )
    calibration = summarize_transactions(
        transactions,
        customer_col=customer_col,
        date_col=date_col,
        amount_col=amount_col,
        as_of=calibration_end,
        unit=unit,
    )
    calibration.columns = [f"{name}_cal" for name in calibration.columns]
    customers, dates, amounts = _columns(transactions, customer_col, date_col, amount_col)
    in_holdout = (dates >= np.datetime64(calibration_end.as_unit("us"))) & (
        dates < np.datetime64(observation_end.as_unit("us"))
    )
    codes = calibration.index.get_indexer(customers[in_holdout])
    known = codes >= 0
    codes = codes[known]
    periods = period_numbers(dates[in_holdout][known], unit)
    n = len(calibration)
    holdout_periods = count_periods(codes, periods, n)
    result = calibration.copy()
    result["frequency_holdout"] = holdout_periods.astype(np.float64)
    if amounts is not None:
        spent = np.bincount(codes, weights=amounts[in_holdout][known], minlength=n)
        with np.errstate(invalid="ignore", divide="ignore"):
            result["monetary_value_holdout"] = np.where(holdout_periods > 0, spent / holdout_periods, 0.0)
    result["duration_holdout"] = float(
        _last_period(observation_end, unit) - _last_period(calibration_end, unit)
    )
    return result


def backtest(model: PurchaseModel, split: pd.DataFrame, *, max_frequency: int = 7) -> pd.DataFrame:
    """Predicted against actual holdout purchases, per calibration-frequency bucket.

    ``split`` is the output of :func:`calibration_holdout_split`; frequencies at or
    above ``max_frequency`` share the last bucket (labelled ``"7+"`` by default).
    Columns: customers, actual_mean, predicted_mean, actual_total, predicted_total.
    """
    missing = [
        c
        for c in ("frequency_cal", "recency_cal", "T_cal", "frequency_holdout", "duration_holdout")
        if c not in split
    ]
    if missing:
        raise InputError(f"backtest needs the columns of calibration_holdout_split; missing {missing}.")
    predicted = model.expected_purchases(
        split["duration_holdout"].to_numpy(), split["frequency_cal"], split["recency_cal"], split["T_cal"]
    )
    bucket = np.minimum(split["frequency_cal"].to_numpy(), max_frequency).astype(np.int64)
    labels = [str(k) for k in range(max_frequency)] + [f"{max_frequency}+"]
    customers = np.bincount(bucket, minlength=max_frequency + 1)
    actual_total = np.bincount(
        bucket, weights=split["frequency_holdout"].to_numpy(), minlength=max_frequency + 1
    )
    predicted_total = np.bincount(bucket, weights=predicted, minlength=max_frequency + 1)
    table = pd.DataFrame(
        {
            "customers": customers,
            "actual_mean": actual_total / np.maximum(customers, 1),
            "predicted_mean": predicted_total / np.maximum(customers, 1),
            "actual_total": actual_total,
            "predicted_total": predicted_total,
        },
        index=pd.Index(labels, name="frequency_cal"),
    )
    return table[table["customers"] > 0]


def _timestamp(value, name: str) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as error:
        raise InputError(f"{name} must be a date like 2024-07-01, got {value!r}.") from error
    if stamp is pd.NaT:
        raise InputError(f"{name} must be a date, got a missing value.")
    return stamp.tz_localize(None) if stamp.tzinfo is not None else stamp


def _last_period(as_of: pd.Timestamp, unit: str) -> int:
    last_instant = np.datetime64(as_of.as_unit("us")) - np.timedelta64(1, "us")
    return int(period_numbers(np.array([last_instant]), unit)[0])


def _columns(transactions: pd.DataFrame, customer_col: str, date_col: str, amount_col: str | None):
    wanted = [customer_col, date_col] + ([amount_col] if amount_col else [])
    missing = [name for name in wanted if name not in transactions.columns]
    if missing:
        raise InputError(
            f"transactions lack column(s) {missing}; available: {list(transactions.columns)}. "
            "Name the customer, date and amount columns."
        )
    customers = transactions[customer_col]
    if customers.isna().any():
        row = int(np.flatnonzero(customers.isna().to_numpy())[0])
        raise InputError(
            f"column {customer_col!r} is empty at row {row}: every transaction needs a customer."
        )
    try:
        dates = pd.to_datetime(transactions[date_col])
    except (TypeError, ValueError) as error:
        raise InputError(f"column {date_col!r} holds a value that is not a date: {error}") from error
    if getattr(dates.dt, "tz", None) is not None:
        dates = dates.dt.tz_localize(None)
    if dates.isna().any():
        row = int(np.flatnonzero(dates.isna().to_numpy())[0])
        raise InputError(f"column {date_col!r} is empty at row {row}.")
    amounts = None
    if amount_col:
        amounts = pd.to_numeric(transactions[amount_col], errors="coerce").to_numpy(dtype=np.float64)
        if not np.all(np.isfinite(amounts)):
            row = int(np.flatnonzero(~np.isfinite(amounts))[0])
            raise InputError(f"column {amount_col!r} holds a missing or non-numeric amount at row {row}.")
    return customers, dates.to_numpy().astype("datetime64[us]"), amounts
