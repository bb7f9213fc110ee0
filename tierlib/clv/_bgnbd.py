"""The BG/NBD purchase model (Fader, Hardie & Lee 2005, "Counting your customers the easy way").

Each customer buys at a Poisson rate λ ~ Gamma(r, α) while alive and, after each
purchase, drops out with probability p ~ Beta(a, b).  Data per customer:
``frequency`` x (repeat purchase periods), ``recency`` t_x (age at the last
purchase) and ``T`` (age at the end of observation), all in one time unit.
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma, gammaln, hyp2f1

from tierlib.clv._fitting import (
    as_float_array,
    check_penalizer,
    check_same_length,
    check_weights,
    factorize_sorted,
    first_violation,
    maximize_likelihood,
    unique_rows,
)
from tierlib.errors import InputError, ModelFitError

PARAM_NAMES = ("r", "alpha", "a", "b")

FIT_ADVICE = (
    "Check that frequency, recency and T share one time unit (weeks or days) and that T is the age "
    "since the first purchase; make sure the data holds repeat purchases (not only zero-frequency "
    "customers); use a longer history, so that drop-out can be told from a low purchase rate; or "
    "refit with a small penalizer, e.g. BetaGeoModel(penalizer=0.001)."
)


class BetaGeoModel:
    """BG/NBD model fitted by exact maximum likelihood.

    Parameters
    ----------
    penalizer:
        L2 penalty on the parameters (r, α, a, b), added to the mean negative
        log-likelihood exactly as the lifetimes package does it: with time
        rescaled so that the oldest customer's T is 1.  0 (the default) is
        plain maximum likelihood.

    Attributes (after ``fit``)
    --------------------------
    params_: dict with ``r``, ``alpha``, ``a``, ``b`` (α in the caller's time unit).
    log_likelihood_: total log-likelihood of the data at ``params_`` (a sum over
        customers, not a mean; the penalty is not included).
    n_customers_: number of customers (sum of weights) fitted.
    n_patterns_: number of distinct (frequency, recency, T) rows the fit ran on.
    """

    def __init__(self, *, penalizer: float = 0.0):
        self.penalizer = penalizer

    def fit(self, frequency, recency, T, weights=None) -> BetaGeoModel:
        penalizer = check_penalizer(self.penalizer)
        x, t_x, age = _check_rfm(frequency, recency, T)
        w = check_weights(weights, len(x))
        if not np.any((x > 0) & (w > 0)):
            raise ModelFitError(
                "BG/NBD fit is impossible: no customer has a repeat purchase (every frequency is 0), so "
                "purchase and drop-out rates cannot be told apart. Use a longer observation window or "
                "check that frequency counts repeat purchase periods."
            )
        x, t_x, age, w = _collapse_patterns(x, t_x, age, w)
        if age.max() <= 0:
            raise ModelFitError("BG/NBD fit is impossible: every customer has T = 0. " + FIT_ADVICE)
        # Time is rescaled so the oldest customer has T = 1: it keeps α near 1 for the
        # optimiser and makes the penalty mean the same as lifetimes' penalizer_coef.
        scale = 1.0 / age.max()
        objective = _objective(x, t_x * scale, age * scale, w, penalizer)
        theta = maximize_likelihood(
            objective,
            np.zeros(4),
            model="BG/NBD",
            names=PARAM_NAMES,
            advice=FIT_ADVICE,
            n_observations=w.sum(),
            penalized=penalizer > 0,
        )
        r, alpha, a, b = np.exp(theta)
        self.params_ = {"r": float(r), "alpha": float(alpha / scale), "a": float(a), "b": float(b)}
        self.log_likelihood_ = float((w * _log_likelihood(self.params_, x, t_x, age)).sum())
        self.n_customers_ = float(w.sum())
        self.n_patterns_ = len(x)
        return self

    def log_likelihood(self, frequency, recency, T) -> np.ndarray:
        """Log-likelihood of each customer's (frequency, recency, T) at the fitted parameters."""
        x, t_x, age = _check_rfm(frequency, recency, T)
        return _log_likelihood(self._fitted_params(), x, t_x, age)

    def probability_alive(self, frequency, recency, T) -> np.ndarray:
        """P(customer is still alive at T | x, t_x, T); 1 for customers with no repeat purchase."""
        x, t_x, age = _check_rfm(frequency, recency, T)
        return np.exp(_log_probability_alive(self._fitted_params(), x, t_x, age))

    def expected_purchases(self, t, frequency, recency, T) -> np.ndarray:
        """E[number of purchases in (T, T + t] | x, t_x, T]: equation (10) of FHL 2005.

        ``t`` is a scalar or an array of one value per customer, in the fitting time unit.
        """
        x, t_x, age = _check_rfm(frequency, recency, T)
        horizon = np.broadcast_to(np.asarray(t, dtype=np.float64), x.shape)
        if np.any(~np.isfinite(horizon) | (horizon < 0)):
            raise InputError("t must be a finite number of time units >= 0.")
        (u_t, u_x, u_tx, u_age), inverse = unique_rows(horizon, x, t_x, age)
        return _expected_purchases(self._fitted_params(), u_t, u_x, u_tx, u_age)[inverse]

    def _fitted_params(self) -> dict[str, float]:
        if not hasattr(self, "params_"):
            raise ModelFitError("this BetaGeoModel is not fitted yet: call fit(frequency, recency, T) first.")
        return self.params_


def _check_rfm(frequency, recency, T) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = as_float_array(frequency, "frequency")
    t_x = as_float_array(recency, "recency")
    age = as_float_array(T, "T")
    n = check_same_length(frequency=x, recency=t_x, T=age)
    if n == 0:
        raise InputError("no customers: frequency, recency and T are empty.")
    checks = {
        "frequency is negative or not a whole number": (x < 0) | (x != np.round(x)),
        "recency is negative": t_x < 0,
        "recency is larger than T": t_x > age,
        "T is negative": age < 0,
    }
    problems = [
        f"{what} (first at position {pos})"
        for what, mask in checks.items()
        if (pos := first_violation(mask)) is not None
    ]
    if problems:
        raise InputError(
            "BG/NBD inputs are inconsistent: "
            + "; ".join(problems)
            + ". frequency counts repeat purchase periods, recency is the age at the last purchase, "
            "T the age at the end of observation, all in one time unit."
        )
    return x, t_x, age


def _collapse_patterns(x, t_x, age, w):
    """Distinct (x, t_x, T) rows with summed weights: the likelihood only depends on these."""
    (xs, ts, ages), inverse = unique_rows(x, t_x, age)
    counts = np.bincount(inverse, weights=w, minlength=len(xs))
    keep = counts > 0
    return xs[keep], ts[keep], ages[keep], counts[keep]


def _objective(x, t_x, age, w, penalizer):
    """Mean negative log-likelihood and its gradient over log(r, α, a, b).

    Terms that depend on x alone are evaluated once per distinct x and weighted by
    the customers holding it; logs of α + T and α + t_x once per distinct age.
    Sums are plain multiply-adds: BLAS dot products on vectors this size are
    slower under thread contention and gain nothing.
    """
    x_values, x_index = factorize_sorted(x)
    weight_per_x = np.bincount(x_index, weights=w)
    age_values, age_index = factorize_sorted(age)
    tx_values, tx_index = factorize_sorted(t_x)
    repeat = x > 0
    x_minus_one = np.where(repeat, x - 1.0, 0.0)
    total_weight = w.sum()

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        params = np.exp(theta)
        r, alpha, a, b = params
        log_alpha_T = np.log(alpha + age_values)[age_index]
        log_alpha_tx = np.log(alpha + tx_values)[tx_index]
        # b + x - 1 appears only for repeat buyers; 1.0 elsewhere keeps the log finite.
        b_x1 = np.where(repeat, b + x_minus_one, 1.0)
        r_x = r + x
        a3 = -r_x * log_alpha_T
        a4 = np.where(repeat, np.log(a) - np.log(b_x1) - r_x * log_alpha_tx, -np.inf)
        tail = np.logaddexp(a3, a4)
        # posterior weights of "still alive at T" (w3) and "dropped out after t_x" (w4)
        w3 = w * np.exp(a3 - tail)
        w4 = w * np.exp(a4 - tail)
        per_x = (gammaln(r + x_values) + gammaln(b + x_values) - gammaln(a + b + x_values)) * weight_per_x
        ll = (
            per_x.sum()
            + total_weight * (r * np.log(alpha) - gammaln(r) + gammaln(a + b) - gammaln(b))
            + (w * tail).sum()
        )
        psi_abx = (digamma(a + b + x_values) * weight_per_x).sum()
        d_r = (
            (digamma(r + x_values) * weight_per_x).sum()
            + total_weight * (np.log(alpha) - digamma(r))
            - (w3 * log_alpha_T).sum()
            - (w4 * log_alpha_tx).sum()
        )
        d_alpha = total_weight * r / alpha - (r_x * (w3 / (alpha + age) + w4 / (alpha + t_x))).sum()
        d_a = total_weight * digamma(a + b) - psi_abx + w4.sum() / a
        d_b = (
            total_weight * (digamma(a + b) - digamma(b))
            + (digamma(b + x_values) * weight_per_x).sum()
            - psi_abx
            - (w4 / b_x1).sum()
        )
        value = -ll / total_weight + penalizer * np.sum(params**2)
        gradient = -np.array([d_r, d_alpha, d_a, d_b]) / total_weight
        gradient = (gradient + 2 * penalizer * params) * params
        return float(value), gradient

    return objective


def _log_likelihood(params, x, t_x, age):
    r, alpha, a, b = (params[name] for name in PARAM_NAMES)
    repeat = x > 0
    b_x1 = np.where(repeat, b + x - 1, 1.0)
    a3 = -(r + x) * np.log(alpha + age)
    a4 = np.where(repeat, np.log(a) - np.log(b_x1) - (r + x) * np.log(alpha + t_x), -np.inf)
    return (
        gammaln(r + x)
        - gammaln(r)
        + r * np.log(alpha)
        + gammaln(a + b)
        + gammaln(b + x)
        - gammaln(b)
        - gammaln(a + b + x)
        + np.logaddexp(a3, a4)
    )


def _log_probability_alive(params, x, t_x, age):
    r, alpha, a, b = (params[name] for name in PARAM_NAMES)
    repeat = x > 0
    b_x1 = np.where(repeat, b + x - 1, 1.0)
    # log of a/(b+x-1) * ((α+T)/(α+t_x))^(r+x); kept in log space because the power
    # overflows for frequencies in the thousands.
    log_odds_dead = np.log(a) - np.log(b_x1) + (r + x) * (np.log(alpha + age) - np.log(alpha + t_x))
    return np.where(repeat, -np.logaddexp(0.0, log_odds_dead), 0.0)


def _expected_purchases(params, t, x, t_x, age):
    r, alpha, a, b = (params[name] for name in PARAM_NAMES)
    if abs(a - 1.0) < 1e-9:
        a = 1.0 + 1e-9  # the formula is 0/0 at a = 1; its limit is continuous, so step beside it
    z = t / (alpha + age + t)
    # Euler's transformation turns 2F1(r+x, b+x; a+b+x-1; z) (1-z)^(r+x) into
    # (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z): the first two arguments no longer
    # grow with x, which keeps the series well-behaved for very frequent buyers.
    hyper = hyp2f1(a + b - 1 - r, a - 1, a + b + x - 1, z)
    survival = np.exp((a - 1) * np.log1p(-z)) * hyper
    unconditional = (a + b + x - 1) / (a - 1) * (1.0 - survival)
    with np.errstate(invalid="ignore"):
        expected = unconditional * np.exp(_log_probability_alive(params, x, t_x, age))
    return np.where(t == 0, 0.0, expected)
