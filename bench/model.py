"""Time the quarterly retrain and the monthly scoring and tiering at a chosen size.

    .venv/bin/python bench/model.py --members 200000 [--threads 1]

Members buy by the BG/NBD process (tierlib.clv.simulate_transactions) from
2024-01 to 2025-12 and engage a little; the script times building the
training set (four cutoffs plus the validation window, features included),
fitting the model, permutation importance, scoring every member, and tier
assignment, and prints each with the peak memory.
"""

from __future__ import annotations

import argparse
import dataclasses
import resource
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tierlib.clv import simulate_transactions
from tierlib.features import compute_features
from tierlib.model import ModelSettings, build_training_set, feature_importances, fit_candidate
from tierlib.tiers import TierSettings, assign_tiers


def tables(n: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    purchases = simulate_transactions(
        n,
        start="2024-01-01",
        end="2025-12-31",
        r=0.9,
        alpha=16.0,
        a=1.0,
        b=14.0,
        p=6.0,
        q=4.0,
        gamma=125.0,
        seed=seed,
    )
    oneid = np.char.add("M", np.arange(n).astype(str)).astype(object)
    first = purchases.groupby("customer_id")["date"].min().reindex(range(n)).to_numpy()
    records = pd.DataFrame(
        {"channel": "app", "record_id": oneid, "registered_at": first, "updated_at": first, "oneid": oneid}
    ).astype({"registered_at": "datetime64[us]", "updated_at": "datetime64[us]"})
    who = purchases["customer_id"].to_numpy()
    orders = pd.DataFrame(
        {
            "channel": "app",
            "order_id": np.arange(len(purchases)).astype(str),
            "record_id": oneid[who],
            "ordered_at": purchases["date"].to_numpy(),
            "amount": purchases["amount"].to_numpy(),
            "discount": np.where(rng.random(len(purchases)) < 0.3, 5.0, 0.0),
            "refund_amount": 0.0,
            "category": rng.choice(np.array(["a", "b", "c", "d"], dtype=object), len(purchases)),
            "oneid": oneid[who],
        }
    )
    clicks = rng.integers(0, n, 3 * n)
    offset = pd.to_timedelta(rng.integers(0, 700, 3 * n), unit="D").to_numpy()
    events = pd.DataFrame(
        {
            "channel": "app",
            "record_id": oneid[clicks],
            "event_type": rng.choice(np.array(["view", "share", "review"], dtype=object), 3 * n),
            "ts": (first[clicks] + offset).astype("datetime64[us]"),
            "oneid": oneid[clicks],
        }
    )
    return orders, events.dropna(subset=["ts"]), records


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=200_000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    started = time.perf_counter()
    orders, events, records = tables(args.members, args.seed)
    print(
        f"data: {args.members:,} members, {len(orders):,} orders, {len(events):,} events "
        f"({time.perf_counter() - started:.1f} s)"
    )
    settings = dataclasses.replace(ModelSettings(), threads=args.threads)

    def features_at(o, e, r, as_of):
        return compute_features(o, e, r, as_of)

    clock = time.perf_counter()
    cpu = time.process_time()
    training, validation = build_training_set(
        orders, events, records, datetime(2026, 1, 1), features_at, settings
    )
    print(
        f"training set: {len(training):,} rows + {len(validation):,} validation rows in "
        f"{time.perf_counter() - clock:.1f} s (cpu {time.process_time() - cpu:.1f} s)"
    )
    clock, cpu = time.perf_counter(), time.process_time()
    model, _ = fit_candidate(training, settings)
    print(f"fit: {time.perf_counter() - clock:.1f} s (cpu {time.process_time() - cpu:.1f} s)")
    clock, cpu = time.perf_counter(), time.process_time()
    feature_importances(model, validation, repeats=settings.importance_repeats, seed=0)
    print(
        f"permutation importance ({settings.importance_repeats} repeats): "
        f"{time.perf_counter() - clock:.1f} s (cpu {time.process_time() - cpu:.1f} s)"
    )

    members = compute_features(orders, events, records, datetime(2026, 1, 1))
    clock, cpu = time.perf_counter(), time.process_time()
    scored = model.predict(members)
    print(
        f"scoring {len(members):,} members: {time.perf_counter() - clock:.1f} s "
        f"(cpu {time.process_time() - cpu:.1f} s)"
    )
    members = members.assign(**{name: scored[name].to_numpy() for name in scored.columns})
    clock, cpu = time.perf_counter(), time.process_time()
    tiers = assign_tiers(members, TierSettings())
    print(
        f"tiers for {len(tiers):,} members: {time.perf_counter() - clock:.1f} s "
        f"(cpu {time.process_time() - cpu:.1f} s)"
    )
    print(f"peak memory: {peak_mb():,.0f} MB")


if __name__ == "__main__":
    main()
