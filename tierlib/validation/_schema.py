"""Schema drift: a channel's file lost, renamed or retyped a column the mapping reads.

Checked on the source table as delivered, before standardization, so the
message names the source column, the file and the config key to change.  A
retyped column shows in two ways: a typed source (Parquet, SQL) reports a dtype
of the wrong family; a text source (CSV, JSON lines) suddenly fails to parse in
most rows, which standardization reports per column.
"""

from __future__ import annotations

import datetime
import decimal

import pandas as pd
import pyarrow as pa

from tierlib.schemas import BOOLEAN, COLUMNS_BY_KIND, FLOAT, STRING, TIMESTAMP
from tierlib.validation._outcome import Failure
from tierlib.validation.settings import ValidationSettings

PARSE_REASONS = ("unparseable_date", "non_numeric_amount", "unknown_boolean")
MIN_PARSE_FAILURES = 5


def source_schema_failures(table, *, channel: str, kind: str, mapping) -> list[Failure]:
    """Missing, renamed or retyped mapped columns of one source table (``SourceTable``)."""
    frame = table.frame
    if len(frame) == 0 and len(frame.columns) == 0:
        return []  # an empty text file has no header to check; the empty-channel rule speaks for it
    mapped = dict(mapping.columns)
    if mapping.channel_code:
        mapped.setdefault("_channel_code", mapping.channel_code.column)
    failures = []
    missing = {target: column for target, column in mapped.items() if column not in frame.columns}
    if missing:
        unmapped = [str(c) for c in frame.columns if c not in set(mapped.values())]
        for target, column in missing.items():
            key = (
                f"channels.{channel}.{kind}.channel_code.column"
                if target == "_channel_code"
                else f"channels.{channel}.{kind}.columns.{target}"
            )
            hint = (
                f"; columns the mapping does not know: {', '.join(unmapped)} (renamed?)" if unmapped else ""
            )
            failures.append(
                Failure(
                    "source_schema",
                    f"channel {channel}: {table.source} has no column {column!r} (mapped to {target}){hint}. "
                    f"The source schema changed: fix the file, or update {key}.",
                )
            )
    if table.text_format:
        return failures
    contract = COLUMNS_BY_KIND[kind]
    absent = set(missing.values())
    for target, column in mapped.items():
        if column in absent or target not in contract:
            continue
        expected = _expected_family(contract[target], mapping.formats.get(target, "iso"))
        actual = _family(frame[column])
        if actual is None or actual in expected:
            continue
        failures.append(
            Failure(
                "source_schema",
                f"channel {channel}: {table.source} column {column!r} (mapped to {target}) is now "
                f"{_dtype_name(frame[column], actual)} ({actual}), expected "
                f"{' or '.join(sorted(expected, key=_FAMILY_ORDER.index))}. The source schema changed: "
                f"fix the export, or update channels.{channel}.{kind}.columns.{target} "
                f"(and .formats.{target}).",
            )
        )
    return failures


def parse_drift_failures(
    table, standardized, *, channel: str, kind: str, mapping, settings: ValidationSettings
) -> list[Failure]:
    """Columns most of whose values failed to parse: the source changed the column's type or format.

    Counted over required columns (rows quarantined) and optional ones (fields cleared) alike;
    placeholders (``NULL``, ``0000-00-00``) are missing values, not a changed format.
    """
    rejects = standardized.quarantined
    rows_in = len(standardized.accepted) + len(rejects)
    if not rows_in:
        return []
    parse = rejects.loc[rejects["reason"].isin(PARSE_REASONS), ["detail", "source_row", "reason"]]
    parse = pd.DataFrame(
        {
            "target": parse["detail"].str.split(" ").str[0],
            "source_row": parse["source_row"],
            "reason": parse["reason"],
        }
    )
    fields = getattr(standardized, "fields", None)
    if fields is not None and len(fields):
        cleared = fields[fields["reason"].isin(PARSE_REASONS)]
        parse = pd.concat(
            [parse, cleared.rename(columns={"column": "target"})[["target", "source_row", "reason"]]],
            ignore_index=True,
        )
    failures = []
    for target, count in parse["target"].value_counts().items():
        if count < MIN_PARSE_FAILURES or count / rows_in < settings.schema_parse_failure_share:
            continue
        column = mapping.columns.get(target, target)
        rows = parse.loc[parse["target"] == target, "source_row"].head(2).to_numpy()
        examples = (
            ", ".join(repr(str(v)) for v in table.frame[column].iloc[rows]) if column in table.frame else ""
        )
        if COLUMNS_BY_KIND[kind].get(target) == TIMESTAMP:
            how, key = mapping.formats.get(target, "iso"), f"formats.{target}"
        elif COLUMNS_BY_KIND[kind].get(target) == BOOLEAN:
            how, key = "yes/no (true/false, 1/0, y/n)", f"columns.{target}"
        else:
            how, key = "a number", f"numbers.{target} (decimal, thousands, currency)"
        failures.append(
            Failure(
                "source_schema",
                f"channel {channel}: {table.source} column {column!r} (mapped to {target}): {count} of "
                f"{rows_in} values ({count / rows_in:.0%}) do not parse as {how}, e.g. {examples}. The "
                f"column's type or format changed: fix the export, or update "
                f"channels.{channel}.{kind}.{key}.",
                observed=round(count / rows_in, 6),
            )
        )
    return failures


_FAMILY_ORDER = ["boolean", "datetime", "float", "integer", "decimal", "text"]


def _dtype_name(values: pd.Series, family: str) -> str:
    # Decimal objects sit in an object column; "object" would say nothing of them.
    return "decimal" if family == "decimal" else str(values.dtype)


def _family(values: pd.Series) -> str | None:
    dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if pd.api.types.is_integer_dtype(dtype):
        return "integer"
    if pd.api.types.is_float_dtype(dtype):
        return "float"
    if isinstance(dtype, pd.ArrowDtype) and pa.types.is_decimal(dtype.pyarrow_dtype):
        return "decimal"
    if pd.api.types.is_string_dtype(dtype) or pd.api.types.is_object_dtype(dtype):
        present = values.dropna()
        if not len(present):
            return None  # an all-null column says nothing of its type
        # Parquet decimal128 and SQL NUMERIC columns arrive as Python Decimal objects.
        if isinstance(present.iloc[0], decimal.Decimal):
            return "decimal"
        if isinstance(present.iloc[0], datetime.datetime | datetime.date):
            return "datetime"
        return "text"
    return str(dtype)


def _expected_family(dtype: str, how: str) -> set[str]:
    if dtype == FLOAT:
        return {"integer", "float", "decimal"}
    if dtype == TIMESTAMP:
        return {"integer", "float"} if how in ("epoch_s", "epoch_ms") else {"datetime", "text"}
    if dtype == BOOLEAN:
        return {"boolean", "integer", "text"}
    if dtype == STRING:
        return {"text", "integer"}
    return {"text"}
