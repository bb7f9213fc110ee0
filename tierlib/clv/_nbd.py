"""The NBD purchase model: BG/NBD's limit when nobody is seen to drop out (Ehrenberg 1959).

Each customer buys at a Poisson rate λ ~ Gamma(r, α) and stays a customer for
ever.  It is what BG/NBD, Pareto/NBD and MBG/NBD tend to when a history is too
short to show drop-out (their drop-out parameters run off to 0, so their fits
fail): the likelihood of the purchase timings is BG/NBD's at a -> 0, and r, α
stay identifiable.  Forecasts from it are optimistic by construction, since
P(alive) is 1 for everyone.
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma, gammaln

from tierlib.clv._fitting import factorize_sorted
from tierlib.clv._purchase import PurchaseModel


class NoDropoutModel(PurchaseModel):
    """NBD (Gamma-Poisson) purchases without drop-out, with BetaGeoModel's API.

    ``params_`` holds ``r`` and ``alpha`` (α in the caller's time unit); recency
    does not enter the likelihood and ``probability_alive`` is 1.
    """

    model_name = "NBD"
    param_names = ("r", "alpha")
    time_params = ("alpha",)
    needs_repeat_buyers = False

    def _objective(self, x, t_x, age, w, penalizer):
        x_values, x_index = factorize_sorted(x)
        weight_per_x = np.bincount(x_index, weights=w)
        age_values, age_index = factorize_sorted(age)
        weight_per_age = np.bincount(age_index, weights=w)
        # Σ w (r + x) log(α + T) splits into r Σ_T w log(α+T) + Σ_T (Σ w x) log(α+T)
        wx_per_age = np.bincount(age_index, weights=w * x)
        total_weight = w.sum()

        def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
            params = np.exp(theta)
            r, alpha = params
            log_alpha_T = np.log(alpha + age_values)
            ll = (
                ((gammaln(r + x_values) - gammaln(r)) * weight_per_x).sum()
                + total_weight * r * np.log(alpha)
                - ((r * weight_per_age + wx_per_age) * log_alpha_T).sum()
            )
            d_r = (
                ((digamma(r + x_values) - digamma(r)) * weight_per_x).sum()
                + total_weight * np.log(alpha)
                - (weight_per_age * log_alpha_T).sum()
            )
            d_alpha = (
                total_weight * r / alpha - ((r * weight_per_age + wx_per_age) / (alpha + age_values)).sum()
            )
            value = -ll / total_weight + penalizer * np.sum(params**2)
            gradient = -np.array([d_r, d_alpha]) / total_weight
            return float(value), (gradient + 2 * penalizer * params) * params

        return objective

    def _log_likelihood(self, params, x, t_x, age):
        r, alpha = params["r"], params["alpha"]
        return gammaln(r + x) - gammaln(r) + r * np.log(alpha) - (r + x) * np.log(alpha + age)

    def _log_probability_alive(self, params, x, t_x, age):
        return np.zeros(len(x))

    def _expected_purchases(self, params, t, x, t_x, age):
        # the posterior mean rate (r + x) / (α + T), kept for the whole horizon
        return (params["r"] + x) / (params["alpha"] + age) * t
