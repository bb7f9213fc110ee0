"""Draw data from the BG/NBD and Gamma-Gamma models themselves, for tests and benchmarks.

Drawing from known parameters and fitting them back is the most direct check
that a fitter is right, and these draws give benchmarks realistic shapes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def simulate_bgnbd_summary(T, *, r: float, alpha: float, a: float, b: float, seed: int = 0) -> pd.DataFrame:
    """frequency, recency and T for one customer per value of ``T`` (first purchase at time 0).

    Repeat purchases arrive at rate λ ~ Gamma(r, rate α); after each repeat purchase the
    customer drops out with probability p ~ Beta(a, b).  Given N arrivals in (0, T], the
    k-th arrival time is T times the k-th uniform order statistic, Beta(k, N - k + 1).
    """
    rng = np.random.default_rng(seed)
    age = np.asarray(T, dtype=np.float64)
    rate = rng.gamma(r, 1.0 / alpha, size=age.size)
    dropout = rng.beta(a, b, size=age.size)
    arrivals = rng.poisson(rate * age)
    purchases_before_dropout = rng.geometric(np.clip(dropout, 1e-12, 1.0))
    frequency = np.minimum(arrivals, purchases_before_dropout)
    repeat = frequency > 0
    recency = np.zeros(age.size)
    recency[repeat] = age[repeat] * rng.beta(frequency[repeat], arrivals[repeat] - frequency[repeat] + 1)
    return pd.DataFrame({"frequency": frequency.astype(np.float64), "recency": recency, "T": age})


def simulate_average_spend(frequency, *, p: float, q: float, gamma: float, seed: int = 0) -> np.ndarray:
    """Mean spend over ``frequency`` purchases under Gamma-Gamma; NaN where frequency is 0.

    Each customer's scale ν ~ Gamma(q, rate γ); one purchase is Gamma(p, rate ν), so the
    mean of x purchases is Gamma(p·x, rate ν·x).
    """
    rng = np.random.default_rng(seed)
    x = np.asarray(frequency, dtype=np.float64)
    nu = rng.gamma(q, 1.0 / gamma, size=x.size)
    spend = np.full(x.size, np.nan)
    buyers = x > 0
    spend[buyers] = rng.gamma(p * x[buyers], 1.0 / (nu[buyers] * x[buyers]))
    return spend


def simulate_transactions(
    n_customers: int,
    *,
    start: str,
    end: str,
    r: float,
    alpha: float,
    a: float,
    b: float,
    p: float = 6.0,
    q: float = 4.0,
    gamma: float = 15.0,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per purchase (customer_id, date, amount) for customers whose first purchase
    falls uniformly in [start, end); rates are per day, the process runs until ``end``.
    """
    rng = np.random.default_rng(seed)
    start_day = pd.Timestamp(start).to_datetime64().astype("datetime64[D]").astype(np.int64)
    end_day = pd.Timestamp(end).to_datetime64().astype("datetime64[D]").astype(np.int64)
    first = rng.integers(start_day, end_day, size=n_customers)
    horizon = (end_day - first).astype(np.float64)
    rate = rng.gamma(r, 1.0 / alpha, size=n_customers)
    dropout = rng.beta(a, b, size=n_customers)
    arrivals = rng.poisson(rate * horizon)
    kept = np.minimum(arrivals, rng.geometric(np.clip(dropout, 1e-12, 1.0)))
    owner = np.repeat(np.arange(n_customers), arrivals)
    offsets = rng.uniform(0.0, 1.0, size=owner.size) * horizon[owner]
    order = np.lexsort((offsets, owner))
    owner, offsets = owner[order], offsets[order]
    rank = np.arange(owner.size) - np.repeat(np.cumsum(arrivals) - arrivals, arrivals)
    keep = rank < kept[owner]
    owner = np.concatenate([np.arange(n_customers), owner[keep]])
    days = np.concatenate([first.astype(np.float64), first[owner[n_customers:]] + offsets[keep]])
    nu = rng.gamma(q, 1.0 / gamma, size=n_customers)
    amount = rng.gamma(p, 1.0 / nu[owner])
    stamps = (days * 86_400_000_000).astype(np.int64).astype("datetime64[us]")
    frame = pd.DataFrame({"customer_id": owner, "date": stamps, "amount": np.round(amount, 2)})
    return frame.sort_values(["customer_id", "date"], kind="stable").reset_index(drop=True)
