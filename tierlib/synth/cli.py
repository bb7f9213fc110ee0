"""``python -m tierlib synth``: write a synthetic dataset."""

from __future__ import annotations

import argparse

from tierlib.synth._generate import generate, stderr_log
from tierlib.synth._settings import SynthSettings


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "synth",
        help="write a synthetic multi-channel dataset with ground truth",
        description="Write DIR/<channel>/period=YYYY-MM/<table>.<ext> for every channel and month, "
        "plus DIR/_truth/ and DIR/_suppression/optouts.csv.  Same seed, same bytes.",
    )
    parser.add_argument("--members", type=int, default=SynthSettings.members, help="people to generate")
    parser.add_argument("--months", type=int, default=SynthSettings.months, help="months of data")
    parser.add_argument("--start", default=SynthSettings.start, help="first month, YYYY-MM")
    parser.add_argument("--seed", type=int, default=SynthSettings.seed)
    parser.add_argument("--out", required=True, help="output folder (new, empty, or an earlier synth output)")
    parser.add_argument(
        "--bad-rate",
        type=float,
        default=SynthSettings.bad_rate,
        help="share of member/order/event rows made bad",
    )
    parser.add_argument(
        "--new-member-share",
        type=float,
        default=SynthSettings.new_member_share,
        help="share of members who join during the span",
    )
    parser.add_argument(
        "--unlinked-records",
        action="store_true",
        help="add records that share no strong identifier with their person's others "
        "(masked marketplace phones, walk-ins, second accounts: docs/synthetic-data.md)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    settings = SynthSettings(
        members=args.members,
        months=args.months,
        start=args.start,
        seed=args.seed,
        bad_rate=args.bad_rate,
        new_member_share=args.new_member_share,
        unlinked_records=args.unlinked_records,
    )
    summary = generate(settings, args.out, log=None if args.quiet else stderr_log)
    total = sum(sum(tables.values()) for tables in summary.rows.values())
    print(
        f"wrote {summary.out_dir}: {summary.persons:,} people, {total:,} source rows, "
        f"{sum(summary.bad_rows.values()):,} bad rows, linkability {summary.linkability['all_versions']:.4f}"
    )
    return 0
