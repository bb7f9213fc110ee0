"""Publish at scale: build every segment table and commit the month to a local folder (or S3).

Usage: .venv/bin/python bench/publish.py [--members 1000000] [--seed 0] [--root DIR | --root s3://...]

Makes member records directly with numpy (about 2.2 records and 2.6 versions
per member over six channels, random consent flags, 1.5% of members on an
opt-out list written in noisy formats), tiers with a VIP top 20%, and runs the
project config's export channels and segments twice for two months: the
second month has last month's publish to compute deltas and lift against, and
is then rerun (nothing changes, nothing is rewritten).  Prints seconds per
step, files, bytes and peak memory.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tierlib.config import load_config
from tierlib.pipeline.publish import export_files
from tierlib.publish import build_exports, lift_table, member_outcomes, publish, suppression_from_frames
from tierlib.publish._lift import lift_records
from tierlib.schemas import RECORD_COLUMNS
from tierlib.storage import open_storage

CHANNELS = ("app", "wechat", "ecommerce", "pos", "member_center", "guide")
TIERS = ("high_value_loyal", "potential_high_value", "new_or_unknown", "dormant", "churn_risk", "regular")


def make_records(members: int, rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    per_member = rng.choice([1, 2, 3, 4], size=members, p=[0.36, 0.34, 0.2, 0.1])
    owner = np.repeat(np.arange(members), per_member)
    n = len(owner)
    channel = rng.integers(0, len(CHANNELS), n)
    phone = 13_000_000_000 + owner * 7 + rng.integers(0, 2, n)  # most records of a member share a phone
    has_email = rng.random(n) < 0.5
    frame = pd.DataFrame(
        {
            "channel": np.array(CHANNELS)[channel],
            "record_id": np.char.add("r", np.arange(n).astype(str)),
            "phone": phone.astype(str),
            "email": np.where(has_email, np.char.add(np.char.add("m", owner.astype(str)), "@mail.com"), None),
            "openid": np.where(channel == 1, np.char.add("oX", np.arange(n).astype(str)), None),
            "device_id": np.where(channel == 0, np.char.add("DEV-", np.arange(n).astype(str)), None),
            "store_id": np.where(channel >= 3, np.char.add("S", (owner % 50).astype(str)), None),
            "guide_id": np.where(channel == 5, np.char.add("G", (owner % 400).astype(str)), None),
            "updated_at": pd.Timestamp("2026-01-01") + pd.to_timedelta(rng.integers(0, 270, n), unit="D"),
        }
    )
    for flag, share in (
        ("consent_sms", 0.6),
        ("consent_email", 0.5),
        ("consent_push", 0.5),
        ("consent_wechat", 0.7),
    ):
        draw = rng.random(n)
        frame[flag] = pd.array(
            np.where(draw < share, True, np.where(draw < share + 0.2, False, None)), dtype="boolean"
        )
    # A quarter of the records have an older version too.
    older = frame.sample(frac=0.25, random_state=int(rng.integers(1 << 31))).assign(
        updated_at=lambda f: f["updated_at"] - pd.Timedelta(days=40)
    )
    frame = pd.concat([older, frame], ignore_index=True)
    for column, dtype in RECORD_COLUMNS.items():
        if column not in frame:
            frame[column] = pd.Series(pd.NA, index=frame.index, dtype=dtype)
    identity = pd.DataFrame(
        {
            "channel": frame["channel"].iloc[len(older) :].to_numpy(),
            "record_id": frame["record_id"].iloc[len(older) :].to_numpy(),
            "oneid": np.char.add("O", owner.astype(str)),
        }
    )
    return frame.astype(RECORD_COLUMNS), identity


def make_tiers(members: int, rng: np.random.Generator) -> pd.DataFrame:
    value = rng.gamma(0.6, 300.0, members)
    return pd.DataFrame(
        {
            "oneid": np.char.add("O", np.arange(members).astype(str)),
            "tier": np.array(TIERS)[rng.integers(0, len(TIERS), members)],
            "previous_tier": None,
            "rfm_cell": "x",
            "lifecycle_stage": "active",
            "vip": value >= np.quantile(value, 0.8),
            "predicted_value_90d": value,
            "churn_probability": rng.random(members),
        }
    )


def make_optouts(members: int, rng: np.random.Generator) -> pd.DataFrame:
    who = rng.choice(members, size=int(members * 0.015), replace=False)
    phones = (13_000_000_000 + who * 7).astype(str)
    noisy = np.where(rng.random(len(who)) < 0.5, np.char.add("+86 ", phones), phones)
    return pd.DataFrame({"phone": noisy, "email": ""})


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    """CPU time of this process (user + system): steadier than wall time on a busy machine."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Clock:
    """Wall and CPU seconds since the last ``lap``."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), cpu_seconds()

    def lap(self) -> str:
        wall, cpu = time.perf_counter(), cpu_seconds()
        text = f"{wall - self.wall:.1f} s (cpu {cpu - self.cpu:.1f} s)"
        self.wall, self.cpu = wall, cpu
        return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--root", default=None, help="storage root (default: a temp folder)")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    config = load_config(Path(__file__).resolve().parent.parent / "config" / "tierflow.yaml")
    settings = config.stage("exports")
    started = time.perf_counter()
    records, identity = make_records(args.members, rng)
    tiers = make_tiers(args.members, rng)
    suppression = suppression_from_frames([("bench", make_optouts(args.members, rng))], "CN")
    print(
        f"{args.members:,} members, {len(records):,} record versions, {len(identity):,} records, "
        f"{len(suppression.phones):,} opt-outs; made in {time.perf_counter() - started:.1f} s"
    )
    root = args.root or tempfile.mkdtemp(prefix="tierflow-bench-publish-")
    storage = open_storage(root)
    previous = None
    for period in ("2026-09", "2026-10"):
        clock = Clock()
        tables = build_exports(tiers, records, identity, suppression, settings, previous=previous)
        built = clock.lap()
        orders = pd.DataFrame(
            {
                "channel": identity["channel"].iloc[::5],
                "record_id": identity["record_id"].iloc[::5],
                "amount": 120.0,
                "refund_amount": 0.0,
            }
        )
        lift = lift_table(tables.assignments, member_outcomes(orders, identity))
        lifted = clock.lap()
        files = export_files(tables, settings, lift, {"note": "bench"})
        encoded = clock.lap()
        figures = publish(
            storage,
            period,
            files,
            {"config_digest": "bench", "model_version": "bench"},
            workers=settings.parallel_transfers,
        )
        committed = clock.lap()
        again = publish(
            storage,
            period,
            files,
            {"config_digest": "bench", "model_version": "bench"},
            workers=settings.parallel_transfers,
        )
        rerun = clock.lap()
        sent = sum(len(roles["members"]) for roles in tables.segments.values())
        print(
            f"{period}: build {built}, lift {lifted} ({len(lift_records(lift))} rows), "
            f"encode {encoded}, commit {committed} ({figures['files']} files, "
            f"{figures['bytes'] / 1e6:.0f} MB, {sent:,} rows sent, "
            f"{tables.figures['members_suppressed']:,} members suppressed), "
            f"rerun {rerun} ({again['commit']})"
        )
        previous = {pair: roles["members"] for pair, roles in tables.segments.items()}
    print(
        f"total {time.perf_counter() - started:.1f} s (cpu {cpu_seconds():.1f} s), "
        f"peak RSS {peak_mb():,.0f} MB, root {root}"
    )


if __name__ == "__main__":
    main()
