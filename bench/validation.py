"""How long GX validation takes: raw orders, events and records; features, scores and tiers tables.

    .venv/bin/python bench/validation.py --rows 1000000

Prints wall and CPU seconds per table (CPU counts this process only, so it is the
fairer figure on a busy machine) and seconds per million rows.  The frames are
made here, already standardized, with 0.2% bad rows of each kind validation
catches; ``--duplicated`` also times a table delivered twice (half its rows fail).
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import pandas as pd

from tierlib.extract import Standardized
from tierlib.schemas import COLUMNS_BY_KIND, QUARANTINE_COLUMNS, empty_frame
from tierlib.validation import ValidationSettings, validate_dataset, validate_raw

PERIOD = "2026-10"


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(label: str, rows: int, run) -> None:
    wall, used = time.perf_counter(), cpu()
    outcome = run()
    wall, used = time.perf_counter() - wall, cpu() - used
    print(
        f"{label:<28} {rows:>10,} rows  {wall:7.2f} s wall  {used:7.2f} s cpu  "
        f"{used / rows * 1e6:6.2f} cpu s per 1M rows  quarantined {outcome.figures['quarantined']:,}"
        f"  failures {len(outcome.failures)}"
    )


def standardized(kind: str, frame: pd.DataFrame) -> Standardized:
    columns = COLUMNS_BY_KIND[kind]
    for column, dtype in columns.items():
        if column not in frame:
            frame[column] = pd.Series(index=frame.index, dtype=dtype)
    frame = frame[list(columns)].astype(columns)
    frame["source_file"] = pd.Series("bench", index=frame.index, dtype="string")
    frame["source_row"] = np.arange(len(frame), dtype="int64")
    return Standardized(frame, empty_frame(QUARANTINE_COLUMNS))


def times(rng, n: int) -> pd.Series:
    seconds = rng.integers(0, 31 * 86_400, n)
    return pd.Series(pd.Timestamp(f"{PERIOD}-01") + pd.to_timedelta(seconds, unit="s")).astype(
        "datetime64[us]"
    )


def orders(rng, n: int) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "channel": "pos",
            "order_id": pd.array(np.char.add("O", np.arange(n).astype(str)), dtype="string"),
            "record_id": pd.array(
                np.char.add("R", rng.integers(0, n // 20 + 1, n).astype(str)), dtype="string"
            ),
            "ordered_at": times(rng, n),
            "amount": rng.gamma(2.0, 80.0, n).round(2),
            "discount": rng.gamma(1.0, 5.0, n).round(2),
            "refund_amount": 0.0,
        }
    )
    bad = rng.choice(n, size=3 * (n // 500), replace=False).reshape(3, -1)
    frame.loc[bad[0], "amount"] *= -1
    frame.loc[bad[1], "ordered_at"] = pd.Timestamp("2049-01-01")
    frame.loc[bad[2], "order_id"] = frame["order_id"].iloc[bad[2] - 1].to_numpy()
    return frame


def events(rng, n: int) -> pd.DataFrame:
    kinds = np.array(["view", "share", "review", "invite", "post"])
    frame = pd.DataFrame(
        {
            "channel": "app",
            "record_id": pd.array(
                np.char.add("R", rng.integers(0, n // 10 + 1, n).astype(str)), dtype="string"
            ),
            "event_type": pd.array(kinds[rng.integers(0, 5, n)], dtype="string"),
            "ts": times(rng, n),
        }
    )
    frame.loc[rng.choice(n, n // 500, replace=False), "ts"] = pd.Timestamp("2049-01-01")
    return frame


def records(rng, n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "channel": "app",
            "record_id": pd.array(np.char.add("R", np.arange(n).astype(str)), dtype="string"),
            "updated_at": times(rng, n),
            "registered_at": times(rng, n) - pd.Timedelta(days=400),
            "birth_date": pd.Series(pd.Timestamp("1990-01-01"), index=range(n)).astype("datetime64[us]"),
        }
    )


def features(rng, n: int) -> pd.DataFrame:
    """The feature table's checked columns, in the dtypes the features stage writes (int8 scores)."""
    stages = np.array(["new", "active", "silent", "churned", "reactivated"])
    frequency = rng.poisson(2.0, n)
    return pd.DataFrame(
        {
            "oneid": oneids(n),
            "frequency": frequency,
            "monetary": rng.gamma(2.0, 200.0, n).round(2) * (frequency > 0),
            "rfm_score": rng.integers(3, 16, n).astype("int8"),
            "channel_count": rng.integers(1, 4, n),
            "tenure_days": rng.integers(0, 2000, n).astype(float),
            "r_score": rng.integers(1, 6, n).astype("int8"),
            "f_score": rng.integers(1, 6, n).astype("int8"),
            "m_score": rng.integers(1, 6, n).astype("int8"),
            "probability_alive": rng.random(n),
            "lifecycle_stage": pd.array(stages[rng.integers(0, 5, n)], dtype="string"),
        }
    )


def oneids(n: int) -> pd.array:
    return pd.array(np.char.add("P", np.arange(n).astype(str)), dtype="string")


def scores(rng, n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "oneid": oneids(n),
            "predicted_value_90d": rng.gamma(1.0, 100.0, n),
            "churn_probability": rng.random(n),
            "model_version": pd.array(["2026-09-0123456789"] * n, dtype="string"),
        }
    )


TIERS = ("vip", "high_value", "potential", "regular", "dormant")


def tiers(rng, n: int) -> pd.DataFrame:
    return (
        scores(rng, n)
        .drop(columns="model_version")
        .assign(
            tier=pd.array(np.array(TIERS)[rng.integers(0, len(TIERS), n)], dtype="string"),
            vip=rng.random(n) < 0.2,
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--docs", action="store_true", help="render Data Docs pages too")
    parser.add_argument("--duplicated", action="store_true", help="also time an orders file sent twice")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    settings = ValidationSettings()
    n = args.rows

    started = time.perf_counter()
    timed(
        "warm-up (GX import, 1k rows)",
        1000,
        lambda: validate_raw(
            standardized("orders", orders(rng, 1000)),
            channel="pos",
            kind="orders",
            period=PERIOD,
            settings=settings,
            build_docs=False,
        ),
    )
    print(f"  first call incl. import: {time.perf_counter() - started:.1f} s")
    small = standardized("orders", orders(rng, 2000))
    timed(
        "orders, small table",
        2000,
        lambda: validate_raw(
            small, channel="pos", kind="orders", period=PERIOD, settings=settings, build_docs=args.docs
        ),
    )
    for kind, make in (("orders", orders), ("events", events), ("records", records)):
        table = standardized(kind, make(rng, n))
        timed(
            f"raw {kind}",
            n,
            lambda table=table, kind=kind: validate_raw(
                table, channel="pos", kind=kind, period=PERIOD, settings=settings, build_docs=args.docs
            ),
        )
    for name, make, extra in (
        ("features", features, {"expected_rows": n}),
        ("scores", scores, {}),
        ("tiers", tiers, {"allowed_tiers": TIERS}),
    ):
        table = make(rng, n)
        timed(
            name,
            n,
            lambda table=table, name=name, extra=extra: validate_dataset(
                name, table, period=PERIOD, settings=settings, build_docs=args.docs, **extra
            ),
        )
    if args.duplicated:
        half = orders(rng, n // 2)
        twice = standardized("orders", pd.concat([half, half], ignore_index=True))
        timed(
            "orders sent twice",
            n,
            lambda: validate_raw(
                twice, channel="pos", kind="orders", period=PERIOD, settings=settings, build_docs=False
            ),
        )


if __name__ == "__main__":
    main()
