"""All member features for a large synthetic population: time and peak memory.

Usage: .venv/bin/python bench/features.py [--members 1000000] [--orders 20000000]
       [--events 10000000] [--seed 0]

Inputs are generated here with NumPy/Arrow in the shapes the pipeline hands the
feature stage (standardized orders, events and records with a string ``oneid``
joined on, strings stored as Arrow-backed ``str`` like Parquet reads give), so
the benchmark depends on no other stage.  Only ``compute_features`` is timed.
Goal: 1M members and 20M orders in at most 60 s on 2 cores.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tierlib.features import FeatureSettings, compute_features
from tierlib.schemas import CHANNELS, EVENT_TYPES

AS_OF = pd.Timestamp("2025-07-01")
HISTORY_DAYS = 730
MICROS_PER_DAY = 86_400_000_000


def strings(values: list[str], codes: np.ndarray) -> pd.Series:
    """A ``str`` Series (Arrow storage) of ``values[codes]`` without Python-level loops."""
    return pd.Series(pa.array(values).take(pa.array(codes)).to_pandas())


def oneid_strings(n: int) -> pa.Array:
    digits = pc.utf8_lpad(pc.cast(pa.array(np.arange(n)), pa.string()), 9, "0")
    return pc.binary_join_element_wise("O", digits, "")


def timestamps(days: np.ndarray) -> np.ndarray:
    return (days * MICROS_PER_DAY).astype(np.int64).astype("datetime64[us]")


def make_inputs(members: int, orders: int, events: int, seed: int):
    rng = np.random.default_rng(seed)
    ids = oneid_strings(members)
    as_of_day = AS_OF.value // (MICROS_PER_DAY * 1000)
    start = as_of_day - rng.integers(1, HISTORY_DAYS, members)  # each member's first day
    # half of the members stop buying at some point before the as-of date
    stops = rng.random(members) < 0.5
    end = np.where(stops, start + (as_of_day - start) * rng.random(members), as_of_day)

    # orders: heavy-tailed activity per member, dates between the member's start and as-of
    activity = rng.gamma(0.6, 1.0, members)
    order_member = np.searchsorted(np.cumsum(activity / activity.sum()), rng.random(orders))
    order_member = np.minimum(order_member, members - 1)
    order_day = start[order_member] + rng.random(orders) * (end[order_member] - start[order_member])
    amount = np.round(rng.gamma(2.0, 60.0, orders), 2)
    discounted = rng.random(orders) < 0.3
    discount = np.where(discounted, np.round(amount * rng.uniform(0.05, 0.3, orders), 2), 0.0)
    refund_draw = rng.random(orders)
    refund = np.where(
        refund_draw < 0.03, amount, np.where(refund_draw < 0.05, np.round(amount * 0.3, 2), 0.0)
    )
    categories = [f"cat{i:02d}" for i in range(40)]
    orders_frame = pd.DataFrame(
        {
            "channel": strings(list(CHANNELS), rng.integers(0, len(CHANNELS), orders)),
            "order_id": pd.Series(pc.cast(pa.array(np.arange(orders)), pa.string()).to_pandas()),
            "record_id": pd.Series(ids.take(pa.array(order_member)).to_pandas()),
            "ordered_at": timestamps(order_day),
            "amount": amount,
            "discount": discount,
            "refund_amount": refund,
            "category": strings(categories, rng.integers(0, len(categories), orders)),
            "store_id": strings([f"s{i}" for i in range(200)], rng.integers(0, 200, orders)),
            "oneid": pd.Series(ids.take(pa.array(order_member)).to_pandas()),
        }
    )

    event_member = rng.integers(0, members, events)
    event_day = as_of_day - rng.random(events) * 365
    events_frame = pd.DataFrame(
        {
            "channel": strings(list(CHANNELS), rng.integers(0, len(CHANNELS), events)),
            "record_id": pd.Series(ids.take(pa.array(event_member)).to_pandas()),
            "event_type": strings(list(EVENT_TYPES), rng.choice(5, events, p=[0.7, 0.1, 0.08, 0.05, 0.07])),
            "ts": timestamps(event_day),
            "oneid": pd.Series(ids.take(pa.array(event_member)).to_pandas()),
        }
    )

    # records: every member has one, a fifth a second one in another channel
    second = rng.random(members) < 0.2
    record_member = np.concatenate([np.arange(members), np.flatnonzero(second)])
    registered = start[record_member] - rng.integers(0, 60, record_member.size)
    records_frame = pd.DataFrame(
        {
            "channel": strings(list(CHANNELS), rng.integers(0, len(CHANNELS), record_member.size)),
            "record_id": pd.Series(ids.take(pa.array(record_member)).to_pandas()),
            "registered_at": timestamps(registered.astype(np.float64)),
            "oneid": pd.Series(ids.take(pa.array(record_member)).to_pandas()),
        }
    )
    return orders_frame, events_frame, records_frame


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=20_000_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    started = time.perf_counter()
    orders, events, records = make_inputs(args.members, args.orders, args.events, args.seed)
    print(
        f"inputs: {len(records):,} records, {len(orders):,} orders, {len(events):,} events "
        f"(generated in {time.perf_counter() - started:.1f} s; peak so far {peak_mib():,.0f} MiB)"
    )
    before = peak_mib()
    started, cpu_started = time.perf_counter(), time.process_time()
    features = compute_features(orders, events, records, AS_OF, FeatureSettings())
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    after = peak_mib()
    print(f"features: {len(features):,} members x {features.shape[1]} columns")
    print(f"compute_features: {elapsed:.1f} s wall, {cpu:.1f} s CPU  (goal <= 60 s on 2 cores)")
    print(
        f"peak memory: {after:,.0f} MiB for the process, {max(after - before, 0):,.0f} MiB above the inputs"
    )
    print("lifecycle:", features["lifecycle_stage"].value_counts().to_dict())
    print("CLV fit:", features.attrs["clv"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
