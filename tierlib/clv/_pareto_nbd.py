"""The Pareto/NBD purchase model (Schmittlein, Morrison & Colombo 1987).

Each customer buys at a Poisson rate λ ~ Gamma(r, α) while alive, and lives an
exponential lifetime of rate μ ~ Gamma(s, β), unobserved.  The likelihood and
the conditional expressions are those of Fader, Hardie & Lee's 2005 note "A Note
on Deriving the Pareto/NBD Model and Related Expressions":

    L = Γ(r+x) α^r β^s / Γ(r) · [ (α+T)^-(r+x) (β+T)^-s + s/(r+s+x) · A0 ]

where A0 = F(t_x) - F(T) with F(t) = 2F1(r+s+x, s+1; r+s+x+1; (α-β)/(α+t)) / (α+t)^(r+s+x)
for α >= β, and the same with α, β (and s+1 by r+x) swapped otherwise.  For α < β the
Gauss hypergeometric function is evaluated after Euler's transformation,
(1-z)^(1-r-x) 2F1(1, s+1; r+s+x+1; z), whose arguments stay small for frequent buyers.
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln, hyp2f1

from tierlib.clv._purchase import PurchaseModel

PARAM_NAMES = ("r", "alpha", "s", "beta")

GRADIENT_STEP = 1e-5
"""Central-difference step in log-parameter space (error ~1e-10 relative)."""


class ParetoNBDModel(PurchaseModel):
    """Pareto/NBD model fitted by exact maximum likelihood, with BetaGeoModel's API.

    ``params_`` holds ``r``, ``alpha`` (purchase rate heterogeneity) and ``s``,
    ``beta`` (drop-out rate heterogeneity); α and β are in the caller's time unit.
    ``penalizer`` is weighed against the mean log-likelihood as in every tierlib.clv
    model (lifetimes' ParetoNBDFitter, unlike its other fitters, adds its
    ``penalizer_coef`` to the total: ours is theirs divided by the number of
    customers).  Agrees with lifetimes' ParetoNBDFitter.
    """

    model_name = "Pareto/NBD"
    param_names = PARAM_NAMES
    time_params = ("alpha", "beta")

    def _objective(self, x, t_x, age, w, penalizer):
        total_weight = w.sum()

        def value_at(theta: np.ndarray) -> float:
            params = np.exp(theta)
            ll = (w * _log_likelihood_at(*params, x, t_x, age)).sum()
            return -ll / total_weight + penalizer * float(np.sum(params**2))

        def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
            # The derivatives of 2F1 in its parameters have no closed form; central
            # differences of the exact log-likelihood are accurate to ~1e-10.
            value = value_at(theta)
            gradient = np.empty(len(theta))
            for i in range(len(theta)):
                step = np.zeros(len(theta))
                step[i] = GRADIENT_STEP
                gradient[i] = (value_at(theta + step) - value_at(theta - step)) / (2 * GRADIENT_STEP)
            return float(value), gradient

        return objective

    def _log_likelihood(self, params, x, t_x, age):
        return _log_likelihood_at(*(params[name] for name in PARAM_NAMES), x, t_x, age)

    def _log_probability_alive(self, params, x, t_x, age):
        log_alive, _ = _log_terms(*(params[name] for name in PARAM_NAMES), x, t_x, age)
        return log_alive

    def _expected_purchases(self, params, t, x, t_x, age):
        r, alpha, s, beta = (params[name] for name in PARAM_NAMES)
        log_alive, _ = _log_terms(r, alpha, s, beta, x, t_x, age)
        # (r+x)/(α+T) · (β+T)/(s-1) · [1 - ((β+T)/(β+T+t))^(s-1)], with its s -> 1 limit
        u = np.log1p(t / (beta + age))
        if abs(s - 1.0) < 1e-9:
            lifetime = (beta + age) * u
        else:
            lifetime = (beta + age) * -np.expm1(-(s - 1.0) * u) / (s - 1.0)
        return (r + x) / (alpha + age) * lifetime * np.exp(log_alive)


def _log_likelihood_at(r, alpha, s, beta, x, t_x, age):
    _, log_bracket = _log_terms(r, alpha, s, beta, x, t_x, age)
    return gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta) + log_bracket


def _log_terms(r, alpha, s, beta, x, t_x, age):
    """(log P(alive at T), log of the bracket in L) per customer."""
    k = r + s + x
    log_alive_term = -(r + x) * np.log(alpha + age) - s * np.log(beta + age)
    with np.errstate(divide="ignore"):
        log_a0 = _log_a0(r, alpha, s, beta, x, t_x, age, k)
        log_dead_term = np.log(s) - np.log(k) + log_a0
    log_bracket = np.logaddexp(log_alive_term, log_dead_term)
    return log_alive_term - log_bracket, log_bracket


def _log_a0(r, alpha, s, beta, x, t_x, age, k):
    """log(F(t_x) - F(T)); -inf where t_x == T (no time to drop out unseen)."""
    if alpha >= beta:
        high, gap = alpha, alpha - beta

        def log_f(t):
            z = gap / (high + t)
            return np.log(hyp2f1(k, s + 1.0, k + 1.0, z)) - k * np.log(high + t)
    else:
        high, gap = beta, beta - alpha

        def log_f(t):
            z = gap / (high + t)
            # Euler: 2F1(k, r+x; k+1; z) = (1-z)^(1-r-x) 2F1(1, s+1; k+1; z)
            return (
                (1.0 - r - x) * np.log1p(-z) + np.log(hyp2f1(1.0, s + 1.0, k + 1.0, z)) - k * np.log(high + t)
            )

    log_f_tx = log_f(t_x)
    log_f_age = log_f(age)
    return log_f_tx + np.log(-np.expm1(np.minimum(log_f_age - log_f_tx, 0.0)))
