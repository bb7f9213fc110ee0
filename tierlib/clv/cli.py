"""``python -m tierlib clv``: fit BG/NBD and Gamma-Gamma on a transactions file, print JSON."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from tierlib.clv._bgnbd import BetaGeoModel
from tierlib.clv._gamma_gamma import GammaGammaModel
from tierlib.clv._summary import summarize_transactions
from tierlib.errors import InputError


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "clv",
        help="fit BG/NBD + Gamma-Gamma CLV models on a transactions file and print their parameters",
        description=(
            "Summarise transactions per customer at an as-of date (exclusive), fit the BG/NBD purchase "
            "model and the Gamma-Gamma spend model, and print parameters and log-likelihoods as JSON."
        ),
    )
    parser.add_argument(
        "--transactions", required=True, type=Path, help="CSV or Parquet file, one row a purchase"
    )
    parser.add_argument("--customer-col", required=True, help="column holding the customer id")
    parser.add_argument("--date-col", required=True, help="column holding the purchase date or timestamp")
    parser.add_argument("--amount-col", help="column holding the amount; without it Gamma-Gamma is skipped")
    parser.add_argument(
        "--as-of", required=True, help="only purchases before this date count, e.g. 2024-07-01"
    )
    parser.add_argument("--unit", choices=("week", "day"), default="week", help="time unit (default: week)")
    parser.add_argument(
        "--penalizer", type=float, default=0.0, help="L2 penalizer for both models (default 0)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    transactions = read_table(args.transactions)
    summary = summarize_transactions(
        transactions,
        customer_col=args.customer_col,
        date_col=args.date_col,
        amount_col=args.amount_col,
        as_of=args.as_of,
        unit=args.unit,
    )
    if summary.empty:
        raise InputError(f"{args.transactions} has no transaction before {args.as_of}: nothing to fit.")
    bgnbd = BetaGeoModel(penalizer=args.penalizer).fit(summary["frequency"], summary["recency"], summary["T"])
    report = {
        "as_of": str(pd.Timestamp(args.as_of).date()),
        "unit": args.unit,
        "customers": len(summary),
        "repeat_customers": int((summary["frequency"] > 0).sum()),
        "bgnbd": {"params": bgnbd.params_, "log_likelihood": bgnbd.log_likelihood_},
        "gamma_gamma": None,
    }
    if args.amount_col:
        repeat = summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
        gg = GammaGammaModel(penalizer=args.penalizer).fit(repeat["frequency"], repeat["monetary_value"])
        report["gamma_gamma"] = {
            "params": gg.params_,
            "log_likelihood": gg.log_likelihood_,
            "customers": len(repeat),
        }
    print(json.dumps(report, indent=2))
    return 0


def read_table(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise InputError(f"transactions file {path} does not exist.")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if suffix in (".csv", ".txt", ".gz"):
            return pd.read_csv(path)
    except (OSError, ValueError) as error:
        raise InputError(f"cannot read {path}: {error}") from error
    raise InputError(f"{path}: unknown file type {suffix!r}; give a .csv or .parquet file.")
