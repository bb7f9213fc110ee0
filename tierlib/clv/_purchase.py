"""What every buy-till-you-die purchase model shares: checks, fitting, and the prediction API.

A model is a subclass naming its parameters and supplying its mean negative
log-likelihood (with gradient) on rescaled time, its per-customer
log-likelihood, P(alive) and conditional expected purchases.  Fitting is the
same for all: collapse customers with the same (x, t_x, T), rescale time so the
oldest customer has T = 1 (it keeps the time-scale parameters near 1 for the
optimiser and makes the penalty mean what lifetimes' penalizer_coef means), and
maximise the likelihood exactly.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from tierlib.clv._fitting import (
    check_penalizer,
    check_rfm,
    check_weights,
    collapse_patterns,
    maximize_likelihood,
    unique_rows,
)
from tierlib.errors import InputError, ModelFitError

COMMON_ADVICE = (
    "Check that frequency, recency and T share one time unit (weeks or days) and that T is the age "
    "since the first purchase; make sure the data holds repeat purchases (not only zero-frequency "
    "customers); use a longer history, so that drop-out can be told from a low purchase rate; or "
    "refit with a small penalizer, e.g. {cls}(penalizer=0.001)."
)


class PurchaseModel:
    """Base of the purchase models; see BetaGeoModel for the parameters and attributes."""

    model_name: ClassVar[str]
    """How errors and reports name the model, e.g. "BG/NBD"."""
    param_names: ClassVar[tuple[str, ...]]
    time_params: ClassVar[tuple[str, ...]]
    """Parameters measured in time units (rates' scales): divided by the time scale after a fit."""
    needs_repeat_buyers: ClassVar[bool] = True

    def __init__(self, *, penalizer: float = 0.0):
        self.penalizer = penalizer

    def fit(self, frequency, recency, T, weights=None):
        penalizer = check_penalizer(self.penalizer)
        x, t_x, age = check_rfm(frequency, recency, T, model=self.model_name)
        w = check_weights(weights, len(x))
        if self.needs_repeat_buyers and not np.any((x > 0) & (w > 0)):
            raise ModelFitError(
                f"{self.model_name} fit is impossible: no customer has a repeat purchase (every "
                "frequency is 0), so purchase and drop-out rates cannot be told apart. Use a longer "
                "observation window or check that frequency counts repeat purchase periods."
            )
        x, t_x, age, w = collapse_patterns(x, t_x, age, w)
        if age.max() <= 0:
            raise ModelFitError(
                f"{self.model_name} fit is impossible: every customer has T = 0. " + self.fit_advice()
            )
        scale = 1.0 / float(age.max())
        theta = maximize_likelihood(
            self._objective(x, t_x * scale, age * scale, w, penalizer),
            np.zeros(len(self.param_names)),
            model=self.model_name,
            names=self.param_names,
            advice=self.fit_advice(),
            n_observations=w.sum(),
            penalized=penalizer > 0,
        )
        params = dict(zip(self.param_names, np.exp(theta).tolist(), strict=True))
        for name in self.time_params:
            params[name] /= scale
        self.params_ = params
        self.log_likelihood_ = float((w * self._log_likelihood(params, x, t_x, age)).sum())
        self.n_customers_ = float(w.sum())
        self.n_patterns_ = len(x)
        return self

    @classmethod
    def fit_advice(cls) -> str:
        return COMMON_ADVICE.format(cls=cls.__name__)

    def log_likelihood(self, frequency, recency, T) -> np.ndarray:
        """Log-likelihood of each customer's (frequency, recency, T) at the fitted parameters."""
        x, t_x, age = check_rfm(frequency, recency, T, model=self.model_name)
        return self._log_likelihood(self._fitted_params(), x, t_x, age)

    def probability_alive(self, frequency, recency, T) -> np.ndarray:
        """P(customer is still alive at T | x, t_x, T)."""
        x, t_x, age = check_rfm(frequency, recency, T, model=self.model_name)
        (u_x, u_tx, u_age), inverse = unique_rows(x, t_x, age)
        return np.exp(self._log_probability_alive(self._fitted_params(), u_x, u_tx, u_age))[inverse]

    def expected_purchases(self, t, frequency, recency, T) -> np.ndarray:
        """E[number of purchases in (T, T + t] | x, t_x, T].

        ``t`` is a scalar or an array of one value per customer, in the fitting time unit.
        """
        x, t_x, age = check_rfm(frequency, recency, T, model=self.model_name)
        horizon = np.broadcast_to(np.asarray(t, dtype=np.float64), x.shape)
        if np.any(~np.isfinite(horizon) | (horizon < 0)):
            raise InputError("t must be a finite number of time units >= 0.")
        (u_t, u_x, u_tx, u_age), inverse = unique_rows(horizon, x, t_x, age)
        with np.errstate(invalid="ignore"):
            expected = self._expected_purchases(self._fitted_params(), u_t, u_x, u_tx, u_age)
        return np.where(u_t == 0, 0.0, expected)[inverse]

    def _fitted_params(self) -> dict[str, float]:
        if not hasattr(self, "params_"):
            raise ModelFitError(
                f"this {type(self).__name__} is not fitted yet: call fit(frequency, recency, T) first."
            )
        return self.params_

    # What each model supplies (all on arrays of distinct customers' histories):
    def _objective(self, x, t_x, age, w, penalizer):
        """(mean negative log-likelihood + penalty, gradient) as a function of log-parameters."""
        raise NotImplementedError

    def _log_likelihood(self, params, x, t_x, age) -> np.ndarray:
        raise NotImplementedError

    def _log_probability_alive(self, params, x, t_x, age) -> np.ndarray:
        raise NotImplementedError

    def _expected_purchases(self, params, t, x, t_x, age) -> np.ndarray:
        raise NotImplementedError
