"""``python -m tierlib oneid``: resolve identities of a standardized records file."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "oneid",
        help="link standardized member records into people with stable OneIDs",
        description=(
            "Read standardized member records (Parquet or CSV with the record columns), link them into "
            "people and write DIR/identity_map.parquet, DIR/registry.parquet, DIR/merge_log.parquet and "
            "DIR/hub_values.parquet.  To keep last month's OneIDs, pass last month's registry; its "
            "identity map is read from the same folder unless --previous-map names it.  The merge log "
            "hashes values with the secret in $TIERFLOW_IDENTITY_HASH_KEY (required, unless "
            "--allow-unkeyed-hashes or the config's identity.allow_unkeyed_hashes says otherwise)."
        ),
    )
    parser.add_argument("--records", required=True, help="standardized records, .parquet or .csv")
    parser.add_argument("--out", required=True, help="folder to write the outputs to (created if missing)")
    parser.add_argument("--registry", help="registry.parquet of the previous month's run")
    parser.add_argument(
        "--previous-map", help="identity_map.parquet of the previous month (default: next to --registry)"
    )
    parser.add_argument(
        "--period", help="the month being resolved, YYYY-MM (default: month of the latest updated_at)"
    )
    parser.add_argument(
        "--config", help="Tierflow YAML config whose 'identity' section to use (default: defaults)"
    )
    parser.add_argument(
        "--allow-unkeyed-hashes",
        action="store_true",
        help="hash without a key when TIERFLOW_IDENTITY_HASH_KEY is unset (demos and tests only)",
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:

    from tierlib.errors import StorageError, ValidationFailed
    from tierlib.identity._hashing import identity_hash_key
    from tierlib.identity._resolve import resolve_identities
    from tierlib.identity._settings import IdentitySettings

    settings = _settings(args.config) or IdentitySettings()
    hash_key = identity_hash_key(
        args.allow_unkeyed_hashes or settings.allow_unkeyed_hashes,
        "--allow-unkeyed-hashes (or identity.allow_unkeyed_hashes in --config)",
    )
    started = time.perf_counter()
    records = _read_table(Path(args.records), "records")
    read_seconds = time.perf_counter() - started

    previous_map = previous_registry = None
    if args.previous_map and not args.registry:
        raise ValidationFailed("--previous-map needs --registry from the same earlier run")
    if args.registry:
        registry_path = Path(args.registry)
        map_path = (
            Path(args.previous_map) if args.previous_map else registry_path.with_name("identity_map.parquet")
        )
        if not map_path.is_file():
            raise StorageError(
                f"{map_path} does not exist: the previous identity map is needed with --registry; "
                "pass it with --previous-map"
            )
        previous_registry = _read_table(registry_path, "registry")
        previous_map = _read_table(map_path, "identity map")

    period = args.period or _latest_month(records, args.records)

    started = time.perf_counter()
    result = resolve_identities(records, settings, period, previous_map, previous_registry, hash_key=hash_key)
    resolve_seconds = time.perf_counter() - started

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, table in (
        ("identity_map", result.identity_map),
        ("registry", result.registry),
        ("merge_log", result.merge_log),
        ("hub_values", result.hub_values),
    ):
        _write_atomic(table, out / f"{name}.parquet")
    figures = {"period": period, **result.figures, "read_seconds": round(read_seconds, 2)}
    figures["resolve_seconds"] = round(resolve_seconds, 2)
    print(json.dumps(figures, indent=2))
    print(f"wrote identity_map, registry, merge_log and hub_values to {out}", file=sys.stderr)
    return 0


def _latest_month(records, source: str) -> str:
    """Month of the latest ``updated_at`` that is not in the future (a typo'd 2049 is not a month to run)."""
    import pandas as pd

    from tierlib.errors import ValidationFailed
    from tierlib.period import period_of

    updated = (
        pd.to_datetime(records["updated_at"], errors="coerce") if "updated_at" in records.columns else None
    )
    past = None if updated is None else updated[updated <= pd.Timestamp.now()].dropna()
    if past is None or past.empty:
        raise ValidationFailed(
            f"{source} has no past updated_at to tell the month from: pass --period YYYY-MM"
        )
    return period_of(past.max())


def _settings(config_path: str | None):
    if not config_path:
        return None
    from tierlib.config import load_config

    return load_config(config_path).stage("identity")


def _read_table(path: Path, what: str):
    import pandas as pd
    import pyarrow as pa

    from tierlib.errors import StorageError
    from tierlib.schemas import RECORD_COLUMNS

    if not path.is_file():
        raise StorageError(f"{what} file {path} does not exist")
    try:
        if path.suffix.lower() == ".parquet":
            return pd.read_parquet(path)
        if path.suffix.lower() == ".csv":
            # Identifiers are text: read every column as a string so 0-led ids and phones survive.
            table = pd.read_csv(path, dtype="string", keep_default_na=False, na_values=[""])
            times = [c for c in ("updated_at", "registered_at", "birth_date") if c in table.columns]
            for column in times:
                table[column] = pd.to_datetime(table[column], errors="coerce").astype(RECORD_COLUMNS[column])
            return table
    except (OSError, ValueError, pa.ArrowException) as error:
        raise StorageError(f"cannot read {what} file {path}: {error}") from error
    raise StorageError(f"{what} file {path}: use a .parquet or .csv file")


def _write_atomic(table, path: Path) -> None:
    partial = path.with_name(f".{path.name}.partial")
    table.to_parquet(partial, index=False)
    os.replace(partial, path)
