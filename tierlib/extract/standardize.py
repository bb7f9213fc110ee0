"""Map a channel's source rows onto a standard table, quarantining rows that cannot be typed.

A row goes to quarantine, with the first reason that applies, when its key is
missing, it holds undecodable bytes, a date or amount cannot be parsed, or its
channel code is not one the channel declares.  Everything else is accepted;
rules about values (negative amounts, future dates, duplicates) belong to
validation, which sees typed data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tierlib.config import TableMapping
from tierlib.errors import ExtractError
from tierlib.extract.connectors import SourceTable
from tierlib.schemas import (
    BOOLEAN,
    COLUMNS_BY_KIND,
    FLOAT,
    QUARANTINE_COLUMNS,
    STRING,
    TIMESTAMP,
    empty_frame,
)

_TRUE = {"true", "1", "y", "yes", "t"}
_FALSE = {"false", "0", "n", "no", "f"}
REPLACEMENT_CHARACTER = "\ufffd"


@dataclass(frozen=True)
class Standardized:
    accepted: pd.DataFrame
    """Standard columns plus ``source_file`` and ``source_row``."""
    quarantined: pd.DataFrame
    """``QUARANTINE_COLUMNS`` rows, one per rejected source row."""

    @property
    def figures(self) -> dict[str, int]:
        return {
            "rows_in": len(self.accepted) + len(self.quarantined),
            "accepted": len(self.accepted),
            "quarantined": len(self.quarantined),
        }


def standardize(
    table: SourceTable, channel: str, kind: str, mapping: TableMapping, timezone: str = "Asia/Shanghai"
) -> Standardized:
    source = table.frame
    missing = [column for column in mapping.columns.values() if column not in source.columns]
    if mapping.channel_code and mapping.channel_code.column not in source.columns:
        missing.append(mapping.channel_code.column)
    if missing:
        raise ExtractError(
            f"channel {channel}: {table.source} has no column {', '.join(map(repr, missing))} "
            f"(found: {', '.join(map(str, source.columns))}). The source schema changed: fix the file "
            f"or update channels.{channel}.{kind}.columns in the config."
        )
    columns = COLUMNS_BY_KIND[kind]
    reasons = pd.Series(pd.NA, index=source.index, dtype="string")
    details = pd.Series(pd.NA, index=source.index, dtype="string")

    def reject(mask: pd.Series, reason: str, detail: str) -> None:
        fresh = mask & reasons.isna()
        reasons[fresh] = reason
        details[fresh] = detail

    key = "order_id" if kind == "orders" else "record_id"
    key_values = source[mapping.columns[key]]
    reject(key_values.isna() | (key_values.astype("string").str.strip() == ""), "missing_key", key)
    if table.text_format:
        for column in mapping.columns.values():
            values = source[column]
            if values.dtype == object or isinstance(values.dtype, pd.StringDtype):
                broken = values.astype("string").str.contains(REPLACEMENT_CHARACTER, regex=False)
                reject(broken.fillna(False).astype(bool), "bad_encoding", column)

    out: dict[str, pd.Series] = {"channel": pd.Series(channel, index=source.index, dtype="string")}
    for target, dtype in columns.items():
        if target == "channel":
            continue
        if target not in mapping.columns:
            out[target] = pd.Series(index=source.index, dtype=dtype)
            continue
        raw = source[mapping.columns[target]]
        if dtype == TIMESTAMP:
            parsed = parse_timestamps(raw, mapping.formats.get(target, "iso"), timezone)
            reject(raw.notna() & parsed.isna(), "unparseable_date", target)
        elif dtype == FLOAT:
            parsed = pd.to_numeric(raw, errors="coerce").astype(FLOAT)
            reject(raw.notna() & parsed.isna(), "non_numeric_amount", target)
        elif dtype == BOOLEAN:
            parsed = parse_booleans(raw)
        else:
            parsed = raw.astype(STRING) if raw.dtype != STRING else raw
        out[target] = parsed
    if mapping.channel_code:
        codes = source[mapping.channel_code.column].astype("string")
        unknown = ~codes.isin(list(mapping.channel_code.allowed)).fillna(False).astype(bool)
        reject(unknown, "unknown_channel_code", mapping.channel_code.column)

    frame = pd.DataFrame(out, index=source.index)
    frame["source_file"] = pd.Series(table.source, index=source.index, dtype="string")
    frame["source_row"] = np.arange(len(source), dtype="int64")
    bad = reasons.notna().to_numpy()
    accepted = frame.loc[~bad].reset_index(drop=True)
    return Standardized(
        accepted, _quarantine_rows(source, bad, reasons, details, table.source, channel, kind)
    )


def parse_timestamps(raw: pd.Series, how: str, timezone: str) -> pd.Series:
    """Parse a source time column into naive local time; values that do not parse become NaT.

    Unix instants and values with a UTC offset are converted to ``timezone`` (the
    business's local time, which every naive timestamp downstream is in).
    """
    if pd.api.types.is_datetime64_any_dtype(raw.dtype):
        return _naive_local(raw, timezone)
    if how in ("epoch_s", "epoch_ms"):
        numbers = pd.to_numeric(raw, errors="coerce")
        instants = pd.to_datetime(numbers, unit="s" if how == "epoch_s" else "ms", errors="coerce", utc=True)
        return _naive_local(instants, timezone)
    text = raw.astype("string").str.strip()
    pattern = "ISO8601" if how == "iso" else how
    with_offset = text.str.contains(r"(?:[+-]\d{2}:?\d{2}|Z)$", regex=True).fillna(False).astype(bool)
    if not with_offset.any():
        return pd.to_datetime(text, format=pattern, errors="coerce").astype(TIMESTAMP)
    # Values with an offset are instants: parse through UTC, then to local time.
    aware = _naive_local(
        pd.to_datetime(text.where(with_offset), format=pattern, errors="coerce", utc=True), timezone
    )
    if with_offset.all():
        return aware
    naive = pd.to_datetime(text.where(~with_offset), format=pattern, errors="coerce").astype(TIMESTAMP)
    return naive.where(~with_offset, aware)


def _naive_local(values: pd.Series, timezone: str) -> pd.Series:
    if getattr(values.dtype, "tz", None) is not None:
        values = values.dt.tz_convert(timezone).dt.tz_localize(None)
    return values.astype(TIMESTAMP)


def parse_booleans(raw: pd.Series) -> pd.Series:
    if pd.api.types.is_bool_dtype(raw.dtype):
        return raw.astype(BOOLEAN)
    text = raw.astype("string").str.strip().str.lower()
    result = pd.Series(pd.NA, index=raw.index, dtype=BOOLEAN)
    result[text.isin(list(_TRUE)).fillna(False).astype(bool)] = True
    result[text.isin(list(_FALSE)).fillna(False).astype(bool)] = False
    return result


def _quarantine_rows(
    source: pd.DataFrame,
    bad: np.ndarray,
    reasons: pd.Series,
    details: pd.Series,
    source_file: str,
    channel: str,
    kind: str,
) -> pd.DataFrame:
    if not bad.any():
        return empty_frame(QUARANTINE_COLUMNS)
    rejected = source.loc[bad]
    rows = [
        json.dumps({k: (None if pd.isna(v) else str(v)) for k, v in row.items()}, ensure_ascii=False)
        for row in rejected.to_dict(orient="records")
    ]
    quarantined = pd.DataFrame(
        {
            "stage": "extract",
            "channel": channel,
            "kind": kind,
            "source_file": source_file,
            "source_row": np.flatnonzero(bad).astype("int64"),
            "reason": reasons[bad].to_numpy(),
            "detail": details[bad].to_numpy(),
            "row_json": rows,
        }
    )
    return quarantined.astype(QUARANTINE_COLUMNS)
