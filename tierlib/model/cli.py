"""``python -m tierlib retrain``: the quarterly retrain without Airflow."""

from __future__ import annotations

import argparse
import json
import logging
import sys


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "retrain",
        help="fit a candidate tiering model and promote it if it beats the current one",
        description=(
            "Build the time-split training set from data up to the end of PERIOD, fit a candidate, "
            "evaluate it on the out-of-time window beside the RFM and CLV baselines, and approve it "
            "(for the months after PERIOD) only if it beats the model in effect by model.promotion_margin. "
            "Prints the figures and the decision as JSON."
        ),
    )
    parser.add_argument("--config", required=True, help="the Tierflow YAML config")
    parser.add_argument("--period", required=True, help="the last data month, YYYY-MM (e.g. 2025-12)")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from tierlib.pipeline.context import RunContext
    from tierlib.pipeline.retrain import run_retrain

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    result = run_retrain(RunContext.open(args.config, args.period))
    print(json.dumps(result, indent=2, ensure_ascii=False, default=str))
    return 0
