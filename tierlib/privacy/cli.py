"""``python -m tierlib erase``: purge what storage holds of the people in the erasure requests."""

from __future__ import annotations

import argparse
import json
import logging
import sys


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "erase",
        help="purge erased people (privacy.erasure_requests) from everything storage already holds",
        description=(
            "Find every person the erasure requests name (by each identifier given and by the OneID it "
            "resolves to), keep keyed hashes of them so later runs leave them out, remove them from every "
            "file under the storage root (standardized months, quarantine, identity, features, scores, "
            "tiers, exports and their manifests, Data Docs, reports, and anything else), check that no "
            "file mentions them, and write an audit record of counts under privacy/audit/. "
            "Prints the audit as JSON; exit status 3 when a file could not be purged."
        ),
    )
    parser.add_argument("--config", required=True, help="the Tierflow YAML config")
    parser.add_argument(
        "--check", action="store_true", help="only list the files that still mention an erased person"
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from tierlib.pipeline.context import RunContext
    from tierlib.privacy._erase import ErasureIncomplete, erase

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    ctx = RunContext.open(args.config, "2000-01")  # the purge is not about a month
    try:
        result = erase(ctx, check_only=args.check)
    except ErasureIncomplete as error:
        print(f"error: {error}", file=sys.stderr)
        return 3
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 1 if args.check and result.get("files_mentioning") else 0
