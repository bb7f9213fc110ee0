"""BG/NBD + Gamma-Gamma fit and 90-day predictions: tierlib.clv against lifetimes 0.11.3, same data.

Usage: .venv/bin/python bench/clv_vs_lifetimes.py [--customers 1000000] [--seed 0]

Draws customers from known BG/NBD and Gamma-Gamma parameters with whole-week
ages (as a weekly transaction summary has), then times, for each library in
this one process: the BG/NBD fit, the Gamma-Gamma fit on repeat buyers and the
expected purchases over the next 90 days for every customer.  Prints both
times, the speed-up and how far the fitted parameters differ.  Needs the
test-only dependency lifetimes (requirements-test.txt).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tierlib.clv import (
    BetaGeoModel,
    GammaGammaModel,
    simulate_average_spend,
    simulate_bgnbd_summary,
)

HORIZON_WEEKS = 90 / 7


def make_data(customers: int, seed: int):
    rng = np.random.default_rng(seed)
    ages = rng.integers(1, 105, customers).astype(np.float64)
    data = simulate_bgnbd_summary(ages, r=0.4, alpha=6.0, a=0.7, b=2.5, seed=seed + 1)
    data["recency"] = np.floor(data["recency"])  # whole weeks, as summarised transactions are
    data["monetary_value"] = simulate_average_spend(
        data["frequency"], p=6.0, q=4.0, gamma=15.0, seed=seed + 2
    )
    return data


def run_ours(data, repeat):
    started = time.perf_counter()
    cpu_started = time.process_time()
    bgnbd = BetaGeoModel().fit(data["frequency"], data["recency"], data["T"])
    gg = GammaGammaModel().fit(repeat["frequency"], repeat["monetary_value"])
    predicted = bgnbd.expected_purchases(HORIZON_WEEKS, data["frequency"], data["recency"], data["T"])
    elapsed = time.perf_counter() - started, time.process_time() - cpu_started
    return elapsed, bgnbd.params_, gg.params_, predicted


def run_lifetimes(data, repeat):
    from lifetimes import BetaGeoFitter, GammaGammaFitter

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        started = time.perf_counter()
        cpu_started = time.process_time()
        bgf = BetaGeoFitter().fit(data["frequency"], data["recency"], data["T"])
        ggf = GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])
        predicted = bgf.conditional_expected_number_of_purchases_up_to_time(
            HORIZON_WEEKS, data["frequency"], data["recency"], data["T"]
        )
        elapsed = time.perf_counter() - started, time.process_time() - cpu_started
    gg_params = {"p": ggf.params_["p"], "q": ggf.params_["q"], "gamma": ggf.params_["v"]}
    return elapsed, dict(bgf.params_), gg_params, np.asarray(predicted)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    data = make_data(args.customers, args.seed)
    repeat = data[data["frequency"] > 0]
    print(f"customers: {len(data):,}  repeat buyers: {len(repeat):,}")

    ours_time, ours_bg, ours_gg, ours_pred = run_ours(data, repeat)
    print(
        f"tierlib.clv : {ours_time[0]:8.2f} s wall {ours_time[1]:8.2f} s CPU  "
        f"BG/NBD {fmt(ours_bg)}  GG {fmt(ours_gg)}"
    )
    theirs_time, theirs_bg, theirs_gg, theirs_pred = run_lifetimes(data, repeat)
    print(
        f"lifetimes   : {theirs_time[0]:8.2f} s wall {theirs_time[1]:8.2f} s CPU  "
        f"BG/NBD {fmt(theirs_bg)}  GG {fmt(theirs_gg)}"
    )

    worst_param = max(
        abs(ours[name] / theirs[name] - 1)
        for ours, theirs in ((ours_bg, theirs_bg), (ours_gg, theirs_gg))
        for name in ours
    )
    worst_prediction = float(np.max(np.abs(ours_pred - theirs_pred) / np.maximum(np.abs(theirs_pred), 1e-12)))
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"speed-up    : {theirs_time[0] / ours_time[0]:8.1f}x wall, "
        f"{theirs_time[1] / ours_time[1]:.1f}x CPU  (goal >= 10x)"
    )
    print(
        f"largest relative difference: parameters {worst_param:.2e}, "
        f"90-day predictions {worst_prediction:.2e}"
    )
    print(f"peak memory : {peak_mib:,.0f} MiB")
    return 0


def fmt(params: dict) -> str:
    return " ".join(f"{name}={value:.5g}" for name, value in params.items())


if __name__ == "__main__":
    raise SystemExit(main())
