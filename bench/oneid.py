"""Benchmark OneID resolution: time, peak memory and quality against the synthetic ground truth.

    .venv/bin/python bench/oneid.py                      # 1,000,000 members x 24 months
    .venv/bin/python bench/oneid.py --members 1200000    # about 3 million record versions
    .venv/bin/python bench/oneid.py --members 50000 --months 6

Goal: one million members (about three million records) resolved in at most
60 seconds with at most 4 GB peak memory on 2 cores; pairwise precision
at least 0.995 and recall at least 0.98; at least 99.5% of people keep their
OneID from one month to the next.

Preparation (not timed): the synthetic generator writes every channel's files
under the work folder, the real extract connectors standardize the member
records of every month, and the record versions known up to the last two
months are saved as Parquet, sorted by record as the pipeline hands them over
(at 1,000,000 members and 24 months: 2.5 million versions of 2.0 million
records).  Each measured run is a fresh process pinned to ``--cores`` CPUs, so
its peak memory is its own: it reads the records (timed
separately), then ``resolve_identities`` is timed.  The first run resolves the
second-to-last month from scratch; the monthly run resolves the last month
continuing from it, as the pipeline does.  Prepared inputs are reused when the
work folder already holds them for the same settings.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--start", default="2023-01")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--cores", type=int, default=2, help="CPUs each measured run may use")
    parser.add_argument(
        "--work", help="folder for sources, records and outputs (default: var/bench/oneid-...)"
    )
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--records", help=argparse.SUPPRESS)
    parser.add_argument("--period", help=argparse.SUPPRESS)
    parser.add_argument("--previous", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        return measure(args)
    if args.months < 2:
        parser.error("--months must be at least 2: the monthly run continues from the month before")

    work = Path(args.work or ROOT / "var" / "bench" / f"oneid-{args.members}-{args.months}-{args.seed}")
    work.mkdir(parents=True, exist_ok=True)
    periods, preparation = prepare(args, work)
    first, last = periods[-2], periods[-1]
    runs = {}
    for name, period, previous in (("first_run", first, None), ("monthly_run", last, work / f"out-{first}")):
        command = [sys.executable, __file__, "--measure", "--cores", str(args.cores)]
        command += ["--records", str(work / f"records-{period}.parquet"), "--period", period]
        command += ["--out", str(work / f"out-{period}")]
        if previous:
            command += ["--previous", str(previous)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode:
            print(done.stdout, done.stderr, file=sys.stderr)
            return done.returncode
        runs[name] = json.loads(done.stdout)

    quality = evaluate(work, first, last)
    report = {
        "members": args.members,
        "months": args.months,
        "cores": args.cores,
        "preparation": preparation,
        **runs,
        "quality": quality,
    }
    print(json.dumps(report, indent=2))
    monthly = runs["monthly_run"]
    print(
        f"\nmonthly run ({last}): {monthly['records']:,} record versions, "
        f"{monthly['record_nodes']:,} records, {monthly['oneids']:,} OneIDs\n"
        f"  read {monthly['read_seconds']:.1f} s; resolve {monthly['resolve_seconds']:.1f} s wall, "
        f"{monthly['resolve_cpu_seconds']:.1f} s CPU; peak RSS {monthly['peak_rss_mib'] / 1024:.2f} GiB "
        f"(goal: 60 s, 4 GB)\n"
        f"  pairwise precision {quality['precision']:.4f} (goal 0.995), recall {quality['recall']:.4f} "
        f"(goal 0.98); stability {first}->{last} {quality['stability']:.4f} (goal 0.995)",
    )
    return 0


RECORDS_LAYOUT = 2
"""Bump when the prepared records change shape, so that old preparations are redone."""


def prepare(args: argparse.Namespace, work: Path) -> tuple[list[str], dict]:
    """Synthetic sources, then cumulative standardized records for the last two months.

    The records are every version delivered up to the month, sorted by channel,
    record id and update time, as the pipeline's identity stage hands them over.
    """
    from tierlib.period import periods_between, shift_period

    periods = periods_between(args.start, shift_period(args.start, args.months - 1))
    wanted = {"members": args.members, "months": args.months, "start": args.start, "seed": args.seed}
    stamp = work / "prepared.json"
    done = json.loads(stamp.read_text()) if stamp.is_file() else {}
    if done.get("settings") == wanted and done.get("records_layout") == RECORDS_LAYOUT:
        return periods, done["figures"]

    import pandas as pd

    from tierlib.config import load_config
    from tierlib.extract import extract_table
    from tierlib.synth import SynthSettings, generate

    figures = dict(done.get("figures", {})) if done.get("settings") == wanted else {}
    sources = work / "sources"
    if done.get("settings") != wanted:
        started = time.perf_counter()
        generate(SynthSettings(**wanted), str(sources))
        figures = {"synth_seconds": round(time.perf_counter() - started, 1)}

    started = time.perf_counter()
    os.environ["TIERFLOW_SOURCES"] = str(sources)
    config = load_config(ROOT / "config" / "tierflow.yaml")
    delivered = []
    for period in periods:
        for name, channel in config.channels.items():
            delivered.append(extract_table(name, channel, "records", period).accepted)
        if period in periods[-2:]:
            records = pd.concat(delivered, ignore_index=True)
            records = records.sort_values(
                ["channel", "record_id", "updated_at"], kind="stable", ignore_index=True
            )
            records.to_parquet(work / f"records-{period}.parquet", index=False)
            figures[f"record_versions_{period}"] = len(records)
            del records
    figures["extract_seconds"] = round(time.perf_counter() - started, 1)
    stamp.write_text(json.dumps({"settings": wanted, "records_layout": RECORDS_LAYOUT, "figures": figures}))
    return periods, figures


def measure(args: argparse.Namespace) -> int:
    """One measured run in this (fresh) process; prints its figures as JSON."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[: args.cores])
    import pandas as pd

    from tierlib.identity import IdentitySettings, resolve_identities

    started = time.perf_counter()
    records = pd.read_parquet(args.records)
    previous_map = previous_registry = None
    if args.previous:
        previous_map = pd.read_parquet(Path(args.previous) / "identity_map.parquet")
        previous_registry = pd.read_parquet(Path(args.previous) / "registry.parquet")
    read_seconds = time.perf_counter() - started

    started, cpu = time.perf_counter(), time.process_time()
    result = resolve_identities(
        records, IdentitySettings(), args.period, previous_map, previous_registry, hash_key=b"bench"
    )
    resolve_seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    peak = peak_rss_mib()

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in ("identity_map", "registry", "merge_log", "hub_values"):
        getattr(result, name).to_parquet(out / f"{name}.parquet", index=False)
    print(
        json.dumps(
            {
                "period": args.period,
                "read_seconds": round(read_seconds, 2),
                "resolve_seconds": round(resolve_seconds, 2),
                "resolve_cpu_seconds": round(cpu_seconds, 2),
                "peak_rss_mib": round(peak),
                "merge_log_rows": len(result.merge_log),
                **result.figures,
            }
        )
    )
    return 0


def peak_rss_mib() -> float:
    """Peak resident set size of this process, in MiB.

    Linux's ``ru_maxrss`` of a process started by a big parent still counts the
    parent's pages at fork time, so the kernel's own high-water mark of this
    process's memory (VmHWM) is read where there is one.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def evaluate(work: Path, first: str, last: str) -> dict:
    import pandas as pd

    from tierlib.identity import oneid_stability, pairwise_scores

    truth = pd.read_parquet(work / "sources" / "_truth" / "record_person.parquet")
    earlier = pd.read_parquet(work / f"out-{first}" / "identity_map.parquet")
    later = pd.read_parquet(work / f"out-{last}" / "identity_map.parquet")
    registry = pd.read_parquet(work / f"out-{last}" / "registry.parquet")
    scores = pairwise_scores(truth, later)
    stability = oneid_stability(truth, earlier, later, registry)
    return {**scores, **stability}


if __name__ == "__main__":
    sys.exit(main())
