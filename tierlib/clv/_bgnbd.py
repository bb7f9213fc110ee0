"""The BG/NBD purchase model (Fader, Hardie & Lee 2005, "Counting your customers the easy way")
and its modification MBG/NBD (Batislam, Denizel & Filiztekin 2007).

Each customer buys at a Poisson rate λ ~ Gamma(r, α) while alive and, after each
purchase, drops out with probability p ~ Beta(a, b).  MBG/NBD also lets a customer
drop out at time 0, right after the first purchase, so a customer without a repeat
purchase is no longer certainly alive.  Data per customer: ``frequency`` x (repeat
purchase periods), ``recency`` t_x (age at the last purchase) and ``T`` (age at
the end of observation), all in one time unit.

Both likelihoods are one formula with a drop-out ``offset`` o (0 for BG/NBD, 1 for
MBG/NBD): B(a, b+x+o)/B(a, b) · Γ(r+x)α^r/Γ(r) · [(α+T)^-(r+x) + a/(b+x+o-1) (α+t_x)^-(r+x)],
the second term for x > 0 only when o = 0.
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma, gammaln, hyp2f1

from tierlib.clv._fitting import factorize_sorted
from tierlib.clv._purchase import PurchaseModel

PARAM_NAMES = ("r", "alpha", "a", "b")


class BetaGeoModel(PurchaseModel):
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

    ``probability_alive`` is 1 for customers without a repeat purchase (BG/NBD
    customers drop out only right after a purchase); ``expected_purchases`` is
    equation (10) of FHL 2005.
    """

    model_name = "BG/NBD"
    param_names = PARAM_NAMES
    time_params = ("alpha",)
    offset = 0
    """Drop-out opportunities before the first repeat purchase: 0 here, 1 in MBG/NBD."""

    def _objective(self, x, t_x, age, w, penalizer):
        return _objective(x, t_x, age, w, penalizer, self.offset)

    def _log_likelihood(self, params, x, t_x, age):
        return _log_likelihood(params, x, t_x, age, self.offset)

    def _log_probability_alive(self, params, x, t_x, age):
        return _log_probability_alive(params, x, t_x, age, self.offset)

    def _expected_purchases(self, params, t, x, t_x, age):
        return _expected_purchases(params, t, x, t_x, age, self.offset)


class ModifiedBetaGeoModel(BetaGeoModel):
    """MBG/NBD model (Batislam et al. 2007) fitted by exact maximum likelihood.

    BetaGeoModel's parameters, attributes and methods; a customer may also drop out
    right after the first purchase, so ``probability_alive`` is below 1 for customers
    without a repeat purchase too.  Agrees with lifetimes' ModifiedBetaGeoFitter.
    """

    model_name = "MBG/NBD"
    offset = 1


def _objective(x, t_x, age, w, penalizer, offset):
    """Mean negative log-likelihood and its gradient over log(r, α, a, b).

    Terms that depend on x alone are evaluated once per distinct x and weighted by
    the customers holding it; logs of α + T and α + t_x once per distinct age.
    Sums are plain multiply-adds: BLAS dot products on vectors this size are
    slower under thread contention and gain nothing.
    """
    x_values, x_index = factorize_sorted(x)
    weight_per_x = np.bincount(x_index, weights=w)
    x_values_o = x_values + offset
    age_values, age_index = factorize_sorted(age)
    tx_values, tx_index = factorize_sorted(t_x)
    can_drop = _can_drop(x, offset)
    # b + x + o - 1 appears only where a drop-out after t_x is possible; elsewhere 0, and b + 0
    # keeps the log finite
    x_shift = np.where(can_drop, x + offset - 1.0, 0.0)
    total_weight = w.sum()

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        params = np.exp(theta)
        r, alpha, a, b = params
        log_alpha_T = np.log(alpha + age_values)[age_index]
        log_alpha_tx = np.log(alpha + tx_values)[tx_index]
        b_x1 = b + x_shift
        r_x = r + x
        a3 = -r_x * log_alpha_T
        a4 = np.where(can_drop, np.log(a) - np.log(b_x1) - r_x * log_alpha_tx, -np.inf)
        tail = np.logaddexp(a3, a4)
        # posterior weights of "still alive at T" (w3) and "dropped out after t_x" (w4)
        w3 = w * np.exp(a3 - tail)
        w4 = w * np.exp(a4 - tail)
        per_x = (gammaln(r + x_values) + gammaln(b + x_values_o) - gammaln(a + b + x_values_o)) * weight_per_x
        ll = (
            per_x.sum()
            + total_weight * (r * np.log(alpha) - gammaln(r) + gammaln(a + b) - gammaln(b))
            + (w * tail).sum()
        )
        psi_abx = (digamma(a + b + x_values_o) * weight_per_x).sum()
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
            + (digamma(b + x_values_o) * weight_per_x).sum()
            - psi_abx
            - (w4 / b_x1).sum()
        )
        value = -ll / total_weight + penalizer * np.sum(params**2)
        gradient = -np.array([d_r, d_alpha, d_a, d_b]) / total_weight
        gradient = (gradient + 2 * penalizer * params) * params
        return float(value), gradient

    return objective


def _can_drop(x, offset):
    """Whether a drop-out after the last purchase is possible: BG/NBD needs a repeat purchase."""
    return np.ones(x.shape, dtype=bool) if offset else x > 0


def _log_likelihood(params, x, t_x, age, offset):
    r, alpha, a, b = (params[name] for name in PARAM_NAMES)
    can_drop = _can_drop(x, offset)
    b_x1 = np.where(can_drop, b + x + offset - 1, 1.0)
    a3 = -(r + x) * np.log(alpha + age)
    a4 = np.where(can_drop, np.log(a) - np.log(b_x1) - (r + x) * np.log(alpha + t_x), -np.inf)
    return (
        gammaln(r + x)
        - gammaln(r)
        + r * np.log(alpha)
        + gammaln(a + b)
        + gammaln(b + x + offset)
        - gammaln(b)
        - gammaln(a + b + x + offset)
        + np.logaddexp(a3, a4)
    )


def _log_probability_alive(params, x, t_x, age, offset):
    r, alpha, a, b = (params[name] for name in PARAM_NAMES)
    can_drop = _can_drop(x, offset)
    b_x1 = np.where(can_drop, b + x + offset - 1, 1.0)
    # log of a/(b+x+o-1) * ((α+T)/(α+t_x))^(r+x); kept in log space because the power
    # overflows for frequencies in the thousands.
    log_odds_dead = np.log(a) - np.log(b_x1) + (r + x) * (np.log(alpha + age) - np.log(alpha + t_x))
    return np.where(can_drop, -np.logaddexp(0.0, log_odds_dead), 0.0)


def _expected_purchases(params, t, x, t_x, age, offset):
    r, alpha, a, b = (params[name] for name in PARAM_NAMES)
    if abs(a - 1.0) < 1e-9:
        a = 1.0 + 1e-9  # the formula is 0/0 at a = 1; its limit is continuous, so step beside it
    z = t / (alpha + age + t)
    c = a + b + x + offset - 1
    # Euler's transformation turns 2F1(r+x, b+x+o; c; z) (1-z)^(r+x) into
    # (1-z)^(a-1) 2F1(a+b+o-1-r, a-1; c; z): the first two arguments no longer
    # grow with x, which keeps the series well-behaved for very frequent buyers.
    hyper = hyp2f1(a + b + offset - 1 - r, a - 1, c, z)
    survival = np.exp((a - 1) * np.log1p(-z)) * hyper
    unconditional = c / (a - 1) * (1.0 - survival)
    return unconditional * np.exp(_log_probability_alive(params, x, t_x, age, offset))
