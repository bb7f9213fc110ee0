"""``python -m tierlib run``: the monthly pipeline without Airflow, for debugging."""

from __future__ import annotations

import argparse
import json
import logging
import sys


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run the monthly pipeline for one month without Airflow",
        description="Run the monthly pipeline (or some of its stages) for one month, in this process.",
    )
    parser.add_argument("--config", required=True, help="the Tierflow YAML config")
    parser.add_argument("--period", required=True, help="the month to run, YYYY-MM")
    parser.add_argument("--stages", nargs="+", metavar="STAGE", help="only these stages (default: all)")
    parser.add_argument("--channels", nargs="+", metavar="CHANNEL", help="only these channels (default: all)")
    parser.add_argument(
        "--engine",
        choices=("embedded", "spark"),
        help="what runs the member stages (default: run.engine of the config)",
    )
    parser.set_defaults(func=_run)
    add_outputs_parser(subparsers)


def _run(args: argparse.Namespace) -> int:
    from tierlib.pipeline.context import RunContext
    from tierlib.pipeline.runner import run_pipeline

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    ctx = RunContext.open(args.config, args.period, channels=args.channels, engine=args.engine)
    results = run_pipeline(ctx, args.stages, progress=lambda line: print(line, file=sys.stderr, flush=True))
    print(json.dumps(results, indent=2, ensure_ascii=False, default=str))
    print(f"outputs under {ctx.storage.root}", file=sys.stderr)
    return 0


def add_outputs_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "outputs",
        help="show where a month's outputs are",
        description="List what a month's run wrote, by area, and where it is.",
    )
    parser.add_argument("--config", required=True, help="the Tierflow YAML config")
    parser.add_argument("--period", required=True, help="the month, YYYY-MM")
    parser.set_defaults(func=_outputs)


def _outputs(args: argparse.Namespace) -> int:
    from tierlib.pipeline.context import RunContext

    ctx = RunContext.open(args.config, args.period)
    marker = f"period={ctx.period}/"
    areas: dict[str, list[str]] = {}
    for key in ctx.storage.list(""):
        if marker in key:
            areas.setdefault(key.split("/", 1)[0], []).append(key)
    if not areas:
        print(f"nothing written for {ctx.period} under {ctx.storage.root}")
        return 1
    print(f"outputs for {ctx.period} under {ctx.storage.root}:")
    for area, keys in sorted(areas.items()):
        print(f"  {area + '/':<14} {len(keys):>4} files  {ctx.storage.root.rstrip('/')}/{area}/{marker}")
    keys = sorted(k for keys in areas.values() for k in keys)
    docs = [key for key in keys if key.startswith("quality/") and key.endswith("/index.html")]
    if docs:
        print(f"  Data Docs:      {len(docs)} sites, e.g. {ctx.storage.uri(docs[0])}")
    for key in keys:
        if key.endswith(("exports/period=" + ctx.period + "/manifest.json", "/report.html")):
            print(f"  -> {ctx.storage.uri(key)}")
    return 0
