"""``python -m tierlib``: one entry point, one sub-command per module.

Each module named in ``COMMANDS`` exposes ``add_parser(subparsers)``, which adds
its sub-command and sets ``func`` (taking the parsed namespace, returning an
exit code).  Modules are imported only when the command line is built, so a
heavy stage does not slow down the others.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from tierlib.errors import TierflowError

COMMANDS = (
    "tierlib.synth.cli",
    "tierlib.pipeline.cli",
    "tierlib.clv.cli",
    "tierlib.identity.cli",
    "tierlib.model.cli",
    "tierlib.privacy.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tierlib",
        description="Tierflow: value tiers and channel segment exports from multi-channel member data.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in COMMANDS:
        importlib.import_module(module_name).add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except TierflowError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
