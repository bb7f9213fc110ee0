"""Benchmark the synthetic data generator: wall time, peak memory, rows written.

    .venv/bin/python bench/synth.py                  # 1,000,000 members x 24 months
    .venv/bin/python bench/synth.py --members 100000 --keep /tmp/synth-100k

Goal: one million members over 24 months in at most 3 minutes and 6 GB peak
RSS on a 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tierlib.synth import SynthSettings, generate
from tierlib.synth._generate import stderr_log


def peak_rss_mib() -> float:
    """Peak resident set size of this process and its children, in MiB (Linux reports KiB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return (own + children) / 1024


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--start", default="2023-01")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", help="write here and keep the output (default: a temp dir, removed)")
    args = parser.parse_args()

    settings = SynthSettings(members=args.members, months=args.months, start=args.start, seed=args.seed)
    work = tempfile.mkdtemp(prefix="tierflow-synth-bench-")
    out_dir = args.keep or os.path.join(work, "data")
    try:
        started = time.perf_counter()
        summary = generate(settings, out_dir, log=stderr_log)
        seconds = time.perf_counter() - started
        size = sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(out_dir) for f in files)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"members={args.members:,} months={args.months}")
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(f"wall_seconds={seconds:.1f}")
    print(
        f"cpu_seconds={usage.ru_utime + usage.ru_stime:.1f}  (user+system; above wall when threads overlap)"
    )
    print(f"peak_rss_mib={peak_rss_mib():.0f}")
    print(f"output_mib={size / 2**20:.0f}")
    for table in ("members", "orders", "events"):
        total = sum(tables.get(table, 0) for tables in summary.rows.values())
        print(f"rows_{table}={total:,}")
    print(f"bad_rows={sum(summary.bad_rows.values()):,} {summary.bad_rows}")
    print(f"linkability_all_versions={summary.linkability['all_versions']:.4f}")
    print(f"linkability_latest_version={summary.linkability['latest_version']:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
