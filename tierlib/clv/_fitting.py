"""Shared pieces of the CLV models: input checks and the maximum-likelihood solver.

Both models are fitted the same way: minimise the weighted mean negative
log-likelihood over the logarithms of the parameters (so every parameter stays
positive without constraints), with analytic gradients, by L-BFGS-B, and then
polish the optimum with a few Newton steps whose Hessian is a finite difference
of the analytic gradient.  The polish makes the answer independent of where
L-BFGS-B happened to stop, which is what lets two implementations agree to
far better than the optimiser's own tolerance.

An optimum is accepted only where the data pin the parameters down.  Data that
no finite parameters explain best (every buyer buying every period and never
dropping out, drop-out indistinguishable from a low rate) send the optimiser
along a ridge towards 0 or infinity, where the likelihood goes flat: its
gradient vanishes there too, so a small gradient alone proves nothing.  Hence
three checks besides the gradient: no parameter at the search box, none more
than ``RUNAWAY_FACTOR`` from its natural scale, and a Hessian that is positive
definite with no log-parameter less certain than ``MAX_LOG_STANDARD_ERROR`` (for
unpenalized fits).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from threadpoolctl import threadpool_limits  # installed with scikit-learn

from tierlib.errors import InputError, ModelFitError

LOG_PARAM_BOUND = 25.0
"""|log(parameter)| above this means the optimum runs off to 0 or infinity."""

GRADIENT_TOLERANCE = 1e-6
"""Largest accepted |gradient| of the mean negative log-likelihood at the optimum."""

RUNAWAY_FACTOR = 1e6
"""A parameter this many times above or below its starting scale has run off along a ridge.

The models start at their data's natural scale (time rescaled to the longest
history, spend to its mean), where fitted shape and scale parameters of real
data lie within a few orders of magnitude of 1.
"""

MAX_LOG_STANDARD_ERROR = 5.0
"""Largest accepted standard error of a log-parameter: beyond it (a factor e^5 ~ 150
either way at one standard error) the likelihood is flat and the fit means nothing."""

Objective = Callable[[np.ndarray], tuple[float, np.ndarray]]


def as_float_array(values, name: str) -> np.ndarray:
    """One 1-D float64 array from a list, Series or array, copying only when needed."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        array = array.reshape(-1)
    if not np.all(np.isfinite(array)):
        bad = int(np.flatnonzero(~np.isfinite(array))[0])
        raise InputError(
            f"{name} holds a missing or infinite value at position {bad}: drop or fill it first."
        )
    return array


def check_same_length(**arrays: np.ndarray) -> int:
    lengths = {name: len(array) for name, array in arrays.items()}
    if len(set(lengths.values())) != 1:
        raise InputError(f"inputs differ in length: {lengths}; pass one value per customer in each.")
    return next(iter(lengths.values()))


def check_weights(weights, n: int) -> np.ndarray:
    if weights is None:
        return np.ones(n)
    weights = as_float_array(weights, "weights")
    check_same_length(weights=weights, data=np.empty(n))
    if np.any(weights < 0) or weights.sum() <= 0:
        raise InputError("weights must be non-negative counts with a positive total.")
    return weights


def check_penalizer(penalizer) -> float:
    if isinstance(penalizer, bool) or not isinstance(penalizer, int | float) or not penalizer >= 0:
        raise InputError(f"penalizer must be a number >= 0, got {penalizer!r}.")
    return float(penalizer)


def first_violation(mask: np.ndarray) -> int | None:
    hits = np.flatnonzero(mask)
    return int(hits[0]) if hits.size else None


def check_rfm(frequency, recency, T, *, model: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validated float arrays of one (frequency, recency, T) history per customer."""
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
            f"{model} inputs are inconsistent: "
            + "; ".join(problems)
            + ". frequency counts repeat purchase periods, recency is the age at the last purchase, "
            "T the age at the end of observation, all in one time unit."
        )
    return x, t_x, age


def collapse_patterns(x, t_x, age, w):
    """Distinct (x, t_x, T) rows with summed weights: the likelihood only depends on these."""
    (xs, ts, ages), inverse = unique_rows(x, t_x, age)
    counts = np.bincount(inverse, weights=w, minlength=len(xs))
    keep = counts > 0
    return xs[keep], ts[keep], ages[keep], counts[keep]


def maximize_likelihood(
    objective: Objective,
    start: np.ndarray,
    *,
    model: str,
    names: Sequence[str],
    advice: str,
    n_observations: float,
    penalized: bool,
) -> np.ndarray:
    """Log-parameters at the maximum of the likelihood, or a ModelFitError saying what to try.

    ``objective`` maps log-parameters to (mean negative log-likelihood, gradient) over
    ``n_observations`` customers (the sum of the weights): the count turns the curvature
    of the mean into standard errors.  ``penalized`` says the objective includes a penalty.
    """
    bounds = [(-LOG_PARAM_BOUND, LOG_PARAM_BOUND)] * len(start)
    # L-BFGS-B calls BLAS on vectors of four numbers; BLAS worker threads only add
    # hand-over cost there (about half the fit time on a busy 2-core machine).
    with np.errstate(all="ignore"), threadpool_limits(1, user_api="blas"):
        result = minimize(
            objective,
            start,
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options={"maxiter": 2000, "ftol": 1e-15, "gtol": 1e-10, "maxcor": 20},
        )
        theta, hessian = _newton_polish(objective, np.asarray(result.x, dtype=np.float64))
        value, gradient = objective(theta)

    def fail(reason: str) -> ModelFitError:
        shown = ", ".join(f"{n}={np.exp(t):.4g}" for n, t in zip(names, theta, strict=True))
        return ModelFitError(f"{model} fit did not converge: {reason} (last parameters {shown}). {advice}")

    if not np.isfinite(value) or not np.all(np.isfinite(gradient)):
        raise fail("the log-likelihood is not finite")
    runaway_log = np.log(RUNAWAY_FACTOR)
    ran_off = [
        name
        for name, t, t0 in zip(names, theta, start, strict=True)
        if abs(t) >= LOG_PARAM_BOUND - 1e-6 or abs(t - t0) > runaway_log
    ]
    if ran_off:
        raise fail(
            f"parameter(s) {', '.join(ran_off)} ran off towards 0 or infinity: no finite parameters "
            "fit these data best"
        )
    if np.max(np.abs(gradient)) > GRADIENT_TOLERANCE:
        raise fail(f"the gradient is still {np.max(np.abs(gradient)):.2g} after {result.nit} iterations")
    # A penalized fit is a chosen compromise: its penalty, not the data, may be what holds
    # a parameter in place, so only plain maximum likelihood must be pinned down by the data.
    flat = _poorly_determined(hessian, n_observations, names) if not penalized else []
    if flat:
        raise fail(
            f"the likelihood is flat along {', '.join(flat)}: the data cannot pin "
            f"{'it' if len(flat) == 1 else 'them'} down"
        )
    return theta


def _poorly_determined(hessian: np.ndarray | None, n_observations: float, names: Sequence[str]) -> list[str]:
    """Parameters whose log has a standard error above MAX_LOG_STANDARD_ERROR (all, if the
    Hessian is not positive definite: then the point is no proper maximum)."""
    if hessian is None or not np.all(np.isfinite(hessian)):
        return list(names)
    eigenvalues, eigenvectors = np.linalg.eigh(hessian)
    if eigenvalues.min() <= 0:
        # a saddle or a flat valley floor: name the parameters that move along it
        direction = np.abs(eigenvectors[:, np.argmin(eigenvalues)])
        return [name for name, weight in zip(names, direction, strict=True) if weight > 0.3]
    variance = (eigenvectors**2 / eigenvalues).sum(axis=1) / n_observations
    return [
        name for name, var in zip(names, variance, strict=True) if not np.sqrt(var) <= MAX_LOG_STANDARD_ERROR
    ]


def _newton_polish(
    objective: Objective, theta: np.ndarray, steps: int = 6
) -> tuple[np.ndarray, np.ndarray | None]:
    """A few damped Newton steps from ``theta``: the best point seen and the Hessian there
    (None where the objective is not finite)."""
    best_value, gradient = objective(theta)
    if not np.isfinite(best_value):
        return theta, None
    hessian = _hessian(objective, theta)
    for _ in range(steps):
        try:
            step = np.linalg.solve(hessian, gradient)
        except np.linalg.LinAlgError:
            break
        if not np.all(np.isfinite(step)) or np.dot(step, gradient) <= 0:
            break  # not a descent direction: the Hessian is not positive definite here
        for scale in (1.0, 0.5, 0.25, 0.125):
            candidate = np.clip(theta - scale * step, -LOG_PARAM_BOUND, LOG_PARAM_BOUND)
            value, candidate_gradient = objective(candidate)
            if np.isfinite(value) and value <= best_value:
                break
        else:
            break
        improved = best_value - value
        theta, best_value, gradient = candidate, value, candidate_gradient
        hessian = _hessian(objective, theta)
        if np.max(np.abs(gradient)) < 1e-12 or improved == 0:
            break
    return theta, hessian


def _hessian(objective: Objective, theta: np.ndarray) -> np.ndarray:
    size = len(theta)
    hessian = np.empty((size, size))
    for i in range(size):
        h = 1e-5 * max(1.0, abs(theta[i]))
        up, down = theta.copy(), theta.copy()
        up[i] += h
        down[i] -= h
        hessian[:, i] = (objective(up)[1] - objective(down)[1]) / (2 * h)
    return (hessian + hessian.T) / 2


def distinct_values(keys: np.ndarray) -> np.ndarray:
    """Sorted distinct values of an integer array.

    ``np.sort`` plus a neighbour comparison: on tens of millions of int64 keys this is
    many times faster than ``np.unique`` (whose hash path is slow in NumPy 2.4).
    """
    ordered = np.sort(keys)
    if ordered.size == 0:
        return ordered
    keep = np.empty(ordered.size, dtype=bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


def factorize_sorted(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted distinct values, index of each value among them), like np.unique(return_inverse)."""
    codes, distinct = pd.factorize(values, sort=True)
    return np.asarray(distinct), codes.astype(np.int64)


def unique_rows(*columns: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Distinct rows of equal-length columns (sorted) and, per input row, the index of its row.

    Predictions and likelihoods repeat for customers with the same history; computing
    them once per distinct row is what keeps a million customers cheap.  Each column
    is ranked on its own, and the ranks are packed into one int64 key so that a
    single integer sort does the work of a (much slower) multi-key lexsort.
    """
    ranks, values = [], []
    capacity = 1
    for column in columns:
        # hash-based factorize is several times faster than np.unique's sort at 1M rows
        rank, distinct = pd.factorize(column, sort=True)
        values.append(np.asarray(distinct))
        ranks.append(rank.astype(np.int64))
        capacity *= max(len(distinct), 1)
    if capacity >= 2**62:  # ranks do not fit in one key: fall back to a multi-key sort
        return _unique_rows_lexsort(columns)
    key = np.zeros(len(columns[0]), dtype=np.int64)
    for rank, distinct in zip(ranks, values, strict=True):
        key = key * len(distinct) + rank
    inverse, distinct_keys = pd.factorize(key, sort=True)
    distinct_keys = np.asarray(distinct_keys)
    unique_columns = []
    for distinct in reversed(values):
        unique_columns.append(distinct[distinct_keys % len(distinct)])
        distinct_keys = distinct_keys // len(distinct)
    return unique_columns[::-1], inverse


def _unique_rows_lexsort(columns) -> tuple[list[np.ndarray], np.ndarray]:
    order = np.lexsort(columns[::-1])
    sorted_columns = [column[order] for column in columns]
    new_row = np.zeros(len(order), dtype=bool)
    if len(order):
        new_row[0] = True
    for column in sorted_columns:
        new_row[1:] |= column[1:] != column[:-1]
    inverse = np.empty(len(order), dtype=np.int64)
    inverse[order] = np.cumsum(new_row) - 1
    return [column[new_row] for column in sorted_columns], inverse
