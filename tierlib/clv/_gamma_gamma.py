"""The Gamma-Gamma spend model (Fader, Hardie & Lee 2005 "RFM and CLV"; Colombo & Jiang 1999).

A customer's spend per transaction is Gamma(p, ν) with ν ~ Gamma(q, γ) across
customers; the average m of x transactions is then Gamma(p·x, ν·x).  Only
customers with at least one repeat purchase (x > 0) and a positive average
enter the fit.  The model assumes spend is independent of purchase frequency.
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma, gammaln

from tierlib.clv._fitting import (
    as_float_array,
    check_penalizer,
    check_same_length,
    check_weights,
    factorize_sorted,
    first_violation,
    maximize_likelihood,
)
from tierlib.errors import InputError, ModelFitError

PARAM_NAMES = ("p", "q", "gamma")

FIT_ADVICE = (
    "Fit only customers with frequency > 0 and a positive average spend, check that monetary_value "
    "is the average per repeat purchase (not a total), or refit with a small penalizer, "
    "e.g. GammaGammaModel(penalizer=0.001)."
)


class GammaGammaModel:
    """Gamma-Gamma model of average transaction value, fitted by exact maximum likelihood.

    Parameters
    ----------
    penalizer:
        L2 penalty on (p, q, γ) added to the mean negative log-likelihood, as in
        lifetimes' ``penalizer_coef``.  0 (the default) is plain maximum likelihood.

    Attributes (after ``fit``)
    --------------------------
    params_: dict with ``p``, ``q``, ``gamma`` (γ is lifetimes' ``v``).
    log_likelihood_: total log-likelihood (sum over customers; penalty excluded).
    n_customers_: number of customers (sum of weights) fitted.
    """

    def __init__(self, *, penalizer: float = 0.0):
        self.penalizer = penalizer

    def fit(self, frequency, monetary_value, weights=None) -> GammaGammaModel:
        penalizer = check_penalizer(self.penalizer)
        x, m = _check_inputs(frequency, monetary_value)
        w = check_weights(weights, len(x))
        problems = [
            f"{what} (first at position {pos})"
            for what, mask in {
                "frequency is 0": x <= 0,
                "monetary_value is not positive": m <= 0,
            }.items()
            if (pos := first_violation(mask & (w > 0))) is not None
        ]
        if problems:
            raise InputError(
                "Gamma-Gamma is fitted on repeat buyers with a positive average spend only: "
                + "; ".join(problems)
                + ". Filter to frequency > 0 and monetary_value > 0 first."
            )
        if np.count_nonzero(w) < 2:
            raise ModelFitError("Gamma-Gamma fit needs at least two repeat buyers; " + FIT_ADVICE)
        start = np.log([1.0, 2.0, float(np.average(m, weights=w))])
        objective = _objective(x, m, w, penalizer)
        theta = maximize_likelihood(
            objective,
            start,
            model="Gamma-Gamma",
            names=PARAM_NAMES,
            advice=FIT_ADVICE,
            n_observations=w.sum(),
            penalized=penalizer > 0,
        )
        p, q, gamma = np.exp(theta)
        self.params_ = {"p": float(p), "q": float(q), "gamma": float(gamma)}
        self.log_likelihood_ = float((w * _log_likelihood(self.params_, x, m)).sum())
        self.n_customers_ = float(w.sum())
        return self

    def log_likelihood(self, frequency, monetary_value) -> np.ndarray:
        """Log-density of each repeat buyer's average spend at the fitted parameters."""
        x, m = _check_inputs(frequency, monetary_value)
        return _log_likelihood(self._fitted_params(), x, m)

    def expected_average_value(self, frequency, monetary_value) -> np.ndarray:
        """E[spend per transaction | x, m]: a credibility mix of the population mean and m.

        For x = 0 this is the population mean p·γ/(q-1); it is NaN where it does not
        exist (q <= 1 and too few transactions to make the mean finite).
        """
        p, q, gamma = (self._fitted_params()[name] for name in PARAM_NAMES)
        x, m = _check_inputs(frequency, monetary_value)
        denominator = p * x + q - 1
        with np.errstate(divide="ignore", invalid="ignore"):
            value = p * (gamma + x * m) / denominator
        return np.where(denominator > 0, value, np.nan)

    def _fitted_params(self) -> dict[str, float]:
        if not hasattr(self, "params_"):
            raise ModelFitError(
                "this GammaGammaModel is not fitted yet: call fit(frequency, monetary_value) first."
            )
        return self.params_


def _check_inputs(frequency, monetary_value) -> tuple[np.ndarray, np.ndarray]:
    x = as_float_array(frequency, "frequency")
    m = as_float_array(monetary_value, "monetary_value")
    if check_same_length(frequency=x, monetary_value=m) == 0:
        raise InputError("no customers: frequency and monetary_value are empty.")
    if (pos := first_violation((x < 0) | (x != np.round(x)))) is not None:
        raise InputError(f"frequency must be a whole number >= 0 (position {pos} is {x[pos]}).")
    return x, m


def _objective(x, m, w, penalizer):
    """Mean negative log-likelihood and gradient over log(p, q, γ) (Hardie's note 025, eq. 1a).

    The gamma functions depend on x alone, so they run once per distinct x; the
    terms linear in p reduce to weighted sums computed once before the search.
    Only log(x·m + γ) needs every customer at every step.
    """
    x_values, x_index = factorize_sorted(x)
    weight_per_x = np.bincount(x_index, weights=w)
    total_weight = w.sum()
    xm = x * m
    wx = w * x
    sum_w_log_m = (w * np.log(m)).sum()
    sum_wx_log_xm = (wx * (np.log(m) + np.log(x))).sum()

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        params = np.exp(theta)
        p, q, gamma = params
        px = p * x_values
        log_xm_gamma = np.log(xm + gamma)
        sum_w_log_xm_gamma = (w * log_xm_gamma).sum()
        sum_wx_log_xm_gamma = (wx * log_xm_gamma).sum()
        sum_w_inv = (w / (xm + gamma)).sum()
        sum_wx_inv = (wx / (xm + gamma)).sum()
        ll = (
            ((gammaln(px + q) - gammaln(px)) * weight_per_x).sum()
            + total_weight * (q * np.log(gamma) - gammaln(q))
            + p * sum_wx_log_xm
            - sum_w_log_m
            - p * sum_wx_log_xm_gamma
            - q * sum_w_log_xm_gamma
        )
        psi_pxq = digamma(px + q) * weight_per_x
        d_p = ((psi_pxq - digamma(px) * weight_per_x) * x_values).sum() + sum_wx_log_xm - sum_wx_log_xm_gamma
        d_q = psi_pxq.sum() + total_weight * (np.log(gamma) - digamma(q)) - sum_w_log_xm_gamma
        d_gamma = total_weight * q / gamma - p * sum_wx_inv - q * sum_w_inv
        value = -ll / total_weight + penalizer * np.sum(params**2)
        gradient = -np.array([d_p, d_q, d_gamma]) / total_weight
        gradient = (gradient + 2 * penalizer * params) * params
        return float(value), gradient

    return objective


def _log_likelihood(params, x, m):
    p, q, gamma = (params[name] for name in PARAM_NAMES)
    px = p * x
    return (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(gamma)
        + (px - 1) * np.log(m)
        + px * np.log(x)
        - (px + q) * np.log(x * m + gamma)
    )
