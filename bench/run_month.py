"""One normal monthly run, stage by stage: wall and CPU seconds, rows per second, peak memory.

Usage: .venv/bin/python bench/run_month.py --members 100000 [--sources DIR] [--storage DIR]
       [--period 2026-10] [--seed 7] [--history-months 24] [--no-warm] [--retrain]

Synthetic sources (``python -m tierlib synth``, 24 months ending at ``--period``) are generated
into ``--sources`` unless a synth manifest is already there.  Warm-up (untimed, in a child
process, so its memory does not count): the whole pipeline for the month before ``--period``,
which extracts and validates every history month.  The measured month is then what a scheduled
run sees: history already standardized, last month's identity, tiers and exports in storage.
``--retrain`` also runs the quarterly retrain on the month before (untimed, child process), so
the month is scored by an approved model rather than the CLV baseline, as in production.

Timed in this process: every registered stage of ``--period`` in pipeline order (extract over all
channels, counted as one stage), then ``read_once``: reading every input the month uses once
(the standardized parquet of the history window before the month, plus the month's source files)
with the same readers the pipeline uses.  CPU seconds are user + system of this process
(``resource.getrusage``), which is what to compare on a loaded shared machine; wall seconds wait
on the other tenants too.  Peak memory per stage is the resident high-water mark of the stage
(reset between stages through ``/proc/self/clear_refs`` where Linux allows it, else ``ru_maxrss``);
the run's peak is the largest stage peak.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tierlib.period import shift_period  # noqa: E402

CONFIG = ROOT / "config" / "tierflow.yaml"


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def reset_peak() -> bool:
    """Reset this process's resident high-water mark (Linux >= 4.0); False where not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_mb() -> float:
    """The resident high-water mark since the last reset (VmHWM), else the process's ru_maxrss."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ensure_sources(sources: Path, members: int, period: str, seed: int, months: int) -> None:
    if (sources / "_truth").exists():
        print(f"sources: reusing {sources}", flush=True)
        return
    start = shift_period(period, 1 - months)
    command = [sys.executable, "-m", "tierlib", "synth", "--members", str(members), "--months", str(months)]
    command += ["--start", start, "--seed", str(seed), "--out", str(sources), "--quiet"]
    print(f"sources: generating {members} members, {months} months from {start} ...", flush=True)
    started = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT)
    print(f"sources: generated in {time.perf_counter() - started:.0f} s (untimed)", flush=True)


def warm(env: dict, period: str) -> None:
    """The month before: history extracted, last month's identity, tiers and exports in storage."""
    previous = shift_period(period, -1)
    from tierlib.pipeline.stages import stage_names

    # The next month reads nothing of this month's report, so the warm-up stops before it.
    stages = [name for name in stage_names() if name != "report"]
    command = [sys.executable, "-m", "tierlib", "run", "--config", str(CONFIG), "--period", previous]
    command += ["--stages", *stages]
    print(f"warm-up: {', '.join(stages)} for {previous} (untimed, child process) ...", flush=True)
    started = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    print(f"warm-up: done in {time.perf_counter() - started:.0f} s", flush=True)


def retrain(env: dict, period: str) -> None:
    """The quarterly retrain on the month before, so the measured month has a model to score with."""
    previous = shift_period(period, -1)
    command = [sys.executable, "-m", "tierlib", "retrain", "--config", str(CONFIG), "--period", previous]
    print(f"retrain: {previous} (untimed, child process) ...", flush=True)
    started = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    print(f"retrain: done in {time.perf_counter() - started:.0f} s", flush=True)


def stage_rows(name: str, figures: dict) -> int | None:
    """The rows a stage works through, from its own figures (None when it names none)."""
    if name == "extract":
        return sum(each["totals"]["rows_in"] for each in figures.values())
    if name == "identity":
        return figures.get("records")
    if name == "features":
        return (figures.get("orders_in") or 0) + (figures.get("events_in") or 0) or None
    for key in ("members", "rows", "oneids"):
        if isinstance(figures.get(key), int):
            return figures[key]
    return None


def read_once(ctx) -> tuple[int, dict]:
    """Read every input the month uses once: standardized history before the month + its sources."""
    from tierlib.catalog import read_standardized
    from tierlib.extract.connectors import read_source_table

    rows = 0
    history = ctx.history_periods[:-1]
    for kind in ("records", "orders", "events"):
        rows += len(read_standardized(ctx.storage, kind, history, ctx.channels))
    for name in ctx.channels:
        channel = ctx.config.channels[name]
        for kind in channel.tables():
            rows += len(read_source_table(name, channel, kind, ctx.period).frame)
    return rows, {"history_months": len(history), "channels": len(ctx.channels)}


def measure(label: str, action) -> tuple[object, dict]:
    reset_peak()
    wall, cpu = time.perf_counter(), cpu_seconds()
    result = action()
    figures = {
        "stage": label,
        "wall_s": time.perf_counter() - wall,
        "cpu_s": cpu_seconds() - cpu,
        "peak_mb": peak_mb(),
    }
    return result, figures


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--period", default="2026-10", help="the measured month, YYYY-MM")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--history-months", type=int, default=24)
    parser.add_argument("--sources", type=Path, help="synth output (default var/bench/month/sources-N-SEED)")
    parser.add_argument("--storage", type=Path, help="storage root (default var/bench/month/storage-N-SEED)")
    parser.add_argument("--no-warm", action="store_true", help="storage already holds the month before")
    parser.add_argument("--retrain", action="store_true", help="retrain on the month before (untimed)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    base = ROOT / "var" / "bench" / "month"
    sources = (args.sources or base / f"sources-{args.members}-{args.seed}").resolve()
    storage = (args.storage or base / f"storage-{args.members}-{args.seed}").resolve()
    env = dict(os.environ)
    env.update(
        TIERFLOW_SOURCES=str(sources),
        TIERFLOW_STORAGE=str(storage),
        TIERFLOW_HISTORY_MONTHS=str(args.history_months),
    )
    ensure_sources(sources, args.members, args.period, args.seed, args.history_months)
    if not args.no_warm:
        warm(env, args.period)
    if args.retrain:
        retrain(env, args.period)
    os.environ.update(env)

    from tierlib.config import load_config
    from tierlib.pipeline.context import RunContext
    from tierlib.pipeline.runner import run_stage
    from tierlib.pipeline.stages import stage_names

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    config = load_config(CONFIG)
    ctx = RunContext.open(config, args.period)
    (read_rows, read_info), read_figures = measure("read_once", lambda: read_once(ctx))
    read_figures["rows"] = read_rows

    rows_out = []
    started = time.perf_counter()
    failed = {}
    scored_with = None
    for name in stage_names():
        try:
            figures, timing = measure(name, lambda name=name: run_stage(ctx, name))
        except Exception as error:  # a bench reports a broken stage and goes on measuring the rest
            failed[name] = f"{type(error).__name__}: {error}"
            print(f"  {name:<10} FAILED {failed[name][:300]}", flush=True)
            continue
        timing["rows"] = stage_rows(name, figures)
        if name == "score":
            scored_with = figures.get("model_version")
        rows_out.append(timing)
        print(f"  {name:<10} wall {timing['wall_s']:8.1f} s  cpu {timing['cpu_s']:8.1f} s", flush=True)
    total_wall = time.perf_counter() - started
    total = {
        "stage": "whole run",
        "wall_s": total_wall,
        "cpu_s": sum(row["cpu_s"] for row in rows_out),
        # clear_refs resets ru_maxrss with the high-water mark, so the run's peak is the stages' largest
        "peak_mb": max(row["peak_mb"] for row in rows_out),
        "rows": None,
    }

    print(f"\nmonthly run {args.period}: {args.members} members, {args.history_months} months of history")
    print(f"sources {sources}\nstorage {storage}")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; scored with {scored_with}")
    print(f"{'stage':<10} {'wall s':>9} {'cpu s':>9} {'rows':>12} {'rows/cpu s':>12} {'peak MB':>9}")
    for row in [*rows_out, total, read_figures]:
        rate = f"{row['rows'] / row['cpu_s']:12.0f}" if row["rows"] and row["cpu_s"] > 0 else f"{'':>12}"
        rows = f"{row['rows']:12d}" if row["rows"] else f"{'':>12}"
        timing = f"{row['wall_s']:9.1f} {row['cpu_s']:9.1f}"
        print(f"{row['stage']:<10} {timing} {rows} {rate} {row['peak_mb']:9.0f}")
    ratio_wall = total_wall / read_figures["wall_s"]
    ratio_cpu = total["cpu_s"] / read_figures["cpu_s"]
    print(
        f"whole run / read-once: {ratio_wall:.1f}x wall, {ratio_cpu:.1f}x cpu "
        f"(read-once: {read_info['history_months']} standardized months x {read_info['channels']} channels "
        f"+ the month's sources)"
    )
    for name, error in failed.items():
        print(f"NOT MEASURED: stage {name} failed ({error[:300]}); the whole run excludes it")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "members": args.members,
                    "period": args.period,
                    "stages": rows_out,
                    "total": total,
                    "read_once": read_figures,
                    "ratio_wall": ratio_wall,
                    "ratio_cpu": ratio_cpu,
                    "failed": failed,
                    "scored_with": scored_with,
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
