"""Map a channel's source rows onto a standard table, quarantining rows that cannot be typed.

A row goes to quarantine, with the first reason that applies, when it could not be read
(``malformed_row``), its key is missing, it holds undecodable bytes, a required date or
amount cannot be parsed (or is infinite), or its channel code is not one the channel
declares.  An optional field that cannot be typed (a ``NULL`` discount, a ``0000/00/00``
birthday, a consent of ``maybe``) is cleared instead: the row is kept, and the field, its
reason and the value as written go to ``fields``.  Rules about values (negative amounts,
future dates, duplicates) belong to validation, which sees typed data.

Repairs that are certain are made before typing: Excel's text markers (``="0123"``, a
leading apostrophe before a number) are removed, and null spellings (``NULL``, ``\\N``)
read as missing where a value is typed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tierlib.config import DEFAULT_NULL_VALUES, NumberFormat, TableMapping
from tierlib.errors import ExtractError
from tierlib.extract.connectors import SourceTable
from tierlib.schemas import (
    BOOLEAN,
    COLUMNS_BY_KIND,
    FIELD_QUARANTINE_COLUMNS,
    FLOAT,
    QUARANTINE_COLUMNS,
    REQUIRED_COLUMNS_BY_KIND,
    STRING,
    TIMESTAMP,
    empty_frame,
)

_TRUE = {"true", "1", "y", "yes", "t"}
_FALSE = {"false", "0", "n", "no", "f"}
REPLACEMENT_CHARACTER = "\ufffd"
_ZERO_DATE = r"^\s*0{2,4}[-/.]0{1,2}[-/.]0{1,4}(?:[ T].*)?$"
_PLAIN_NUMBER = r"^\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*$"
_INFINITY = r"^\s*[+-]?(?:inf|infinity)\s*$"


@dataclass(frozen=True)
class Standardized:
    accepted: pd.DataFrame
    """Standard columns plus ``source_file`` and ``source_row``."""
    quarantined: pd.DataFrame
    """``QUARANTINE_COLUMNS`` rows, one per rejected source row."""
    fields: pd.DataFrame = field(default_factory=lambda: empty_frame(FIELD_QUARANTINE_COLUMNS))
    """``FIELD_QUARANTINE_COLUMNS``: optional fields of accepted rows that were cleared, and why."""

    @property
    def figures(self) -> dict[str, int]:
        return {
            "rows_in": len(self.accepted) + len(self.quarantined),
            "accepted": len(self.accepted),
            "quarantined": len(self.quarantined),
        }


def standardize(
    table: SourceTable,
    channel: str,
    kind: str,
    mapping: TableMapping,
    timezone: str = "Asia/Shanghai",
    null_values: tuple[str, ...] = DEFAULT_NULL_VALUES,
) -> Standardized:
    source = table.frame
    missing = [column for column in mapping.columns.values() if column not in source.columns]
    if mapping.channel_code and mapping.channel_code.column not in source.columns:
        missing.append(mapping.channel_code.column)
    if missing:
        raise ExtractError(
            f"channel {channel}: {table.source} has no column {', '.join(map(repr, missing))} "
            f"(found: {', '.join(map(repr, map(str, source.columns)))}). The source schema changed: fix the "
            f"file or update channels.{channel}.{kind}.columns in the config."
        )
    columns = COLUMNS_BY_KIND[kind]
    required = REQUIRED_COLUMNS_BY_KIND[kind]
    reasons = pd.Series(pd.NA, index=source.index, dtype="string")
    details = pd.Series(pd.NA, index=source.index, dtype="string")
    cleared: list[tuple[pd.Series, str, str, str, pd.Series]] = []

    def reject(mask: pd.Series, reason: str, detail) -> None:
        fresh = mask & reasons.isna()
        reasons[fresh] = reason
        details[fresh] = detail if isinstance(detail, str) else detail[fresh]

    if table.broken:
        broken = pd.Series(False, index=source.index)
        broken.iloc[list(table.broken)] = True
        detail = pd.Series(pd.NA, index=source.index, dtype="string")
        detail.iloc[list(table.broken)] = [text for text, _ in table.broken.values()]
        reject(broken, "malformed_row", detail)

    values = {column: unwrap_spreadsheet_text(source[column]) for column in set(mapping.columns.values())}
    key = "order_id" if kind == "orders" else "record_id"
    key_values = values[mapping.columns[key]]
    key_text = key_values.astype("string").str.strip()
    reject(
        (key_values.isna() | (key_text == "") | key_text.isin(list(null_values))).fillna(True).astype(bool),
        "missing_key",
        key,
    )
    if table.text_format:
        hint = f" ({table.encoding_hint})" if table.encoding_hint else ""
        for column in dict.fromkeys(mapping.columns.values()):
            column_values = source[column]
            if column_values.dtype == object or isinstance(column_values.dtype, pd.StringDtype):
                broken_text = column_values.astype("string").str.contains(REPLACEMENT_CHARACTER, regex=False)
                reject(broken_text.fillna(False).astype(bool), "bad_encoding", f"{column}{hint}")

    out: dict[str, pd.Series] = {"channel": pd.Series(channel, index=source.index, dtype="string")}
    for target, dtype in columns.items():
        if target == "channel":
            continue
        if target not in mapping.columns:
            out[target] = pd.Series(index=source.index, dtype=dtype)
            continue
        column = mapping.columns[target]
        raw = values[column]
        optional = target not in required
        if dtype == TIMESTAMP:
            parsed = parse_timestamps(raw, mapping.formats.get(target, "iso"), timezone)
            failed = {"unparseable_date": raw.notna() & parsed.isna()}
        elif dtype == FLOAT:
            parsed, failed = parse_numbers(raw, mapping.numbers.get(target))
        elif dtype == BOOLEAN:
            parsed = parse_booleans(raw)
            failed = {"unknown_boolean": raw.notna() & parsed.isna()}
        else:
            parsed, failed = (raw.astype(STRING) if raw.dtype != STRING else raw), {}
        for reason, mask in failed.items():
            mask = mask.fillna(False).astype(bool)
            if not mask.any():
                continue
            if optional:
                # Of the values that did not parse, those spelling "no value" are placeholders.
                placeholder = _placeholders(raw[mask], dtype, null_values).reindex(
                    raw.index, fill_value=False
                )
                if placeholder.any():
                    cleared.append((placeholder, target, column, "placeholder_value", raw))
                cleared.append((mask & ~placeholder, target, column, reason, raw))
                parsed = parsed.where(~mask)
            else:
                reject(mask, reason, _parse_detail(target, reason, raw[mask], mapping, channel, kind))
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
    quarantined = _quarantine_rows(source, bad, reasons, details, table, channel, kind)
    fields = field_rejects(cleared, ~bad, table.source, channel, kind)
    return Standardized(accepted, quarantined, fields)


def unwrap_spreadsheet_text(values: pd.Series) -> pd.Series:
    """Excel's text markers removed: ``="13912345678"`` and ``'13912345678`` are 13912345678.

    A leading apostrophe is taken off only before a digit or ``+``: there it can only be the
    marker that kept a number as text.
    """
    if not (values.dtype == object or isinstance(values.dtype, pd.StringDtype)):
        return values
    text = values.astype("string")
    marked = text.str.startswith('="') | text.str.startswith("'")
    marked = marked | text.str.lstrip().str.startswith('="')
    marked = marked.fillna(False).astype(bool)
    if not marked.any():
        return values
    fixed = (
        text[marked]
        .str.replace(r'^\s*="(.*)"\s*$', r"\1", regex=True)
        .str.replace(r"^'(?=[+\d])", "", regex=True)
    )
    result = text.copy()
    result[marked] = fixed
    return result


def _placeholders(raw: pd.Series, dtype: str, null_values: tuple[str, ...]) -> pd.Series:
    if not (raw.dtype == object or isinstance(raw.dtype, pd.StringDtype)) or not len(raw):
        return pd.Series(False, index=raw.index)
    text = raw.astype("string").str.strip()
    found = text.isin(list(null_values))
    if dtype == TIMESTAMP:
        found = found | text.str.contains(_ZERO_DATE, regex=True)
    return found.fillna(False).astype(bool)


def parse_numbers(raw: pd.Series, how: NumberFormat | None = None) -> tuple[pd.Series, dict[str, pd.Series]]:
    """Numbers as float64 and, per failure reason, the rows that are not a finite number.

    Plain numbers only (``1234.5``, ``-3``, ``1e3``) unless ``how`` declares separators and
    currency symbols; ``inf``, ``Infinity`` and ``1e309`` are ``non_finite_amount``.
    """
    if pd.api.types.is_bool_dtype(raw.dtype) or not (
        raw.dtype == object or isinstance(raw.dtype, pd.StringDtype)
    ):
        parsed = pd.to_numeric(raw, errors="coerce").astype(FLOAT)
        return parsed, {"non_finite_amount": pd.Series(np.isinf(parsed.to_numpy()), index=raw.index)}
    if raw.dtype == object and len(raw.dropna()) and not isinstance(raw.dropna().iloc[0], str):
        # Decimal (Parquet decimal128, SQL NUMERIC) or numbers in an object column.
        parsed = pd.to_numeric(raw, errors="coerce").astype(FLOAT)
        infinite = pd.Series(np.isinf(parsed.to_numpy()), index=raw.index)
        return parsed, {"non_numeric_amount": raw.notna() & parsed.isna(), "non_finite_amount": infinite}
    text = raw.astype("string").str.strip()
    if how is not None:
        text = _declared_number(text, how)
    plain = text.str.contains(_PLAIN_NUMBER, regex=True).fillna(False).astype(bool)
    parsed = pd.Series(np.nan, index=raw.index, dtype=FLOAT)
    if plain.any():
        parsed[plain] = pd.to_numeric(text[plain], errors="coerce").astype(FLOAT)
    spelled = text.str.contains(_INFINITY, case=False, regex=True).fillna(False).astype(bool)
    infinite = (plain & pd.Series(np.isinf(parsed.to_numpy()), index=raw.index)) | spelled
    parsed = parsed.where(~infinite)
    not_a_number = raw.notna() & ~plain & ~infinite
    return parsed, {"non_numeric_amount": not_a_number, "non_finite_amount": infinite}


def _declared_number(text: pd.Series, how: NumberFormat) -> pd.Series:
    """Declared currency symbols off, thousands groups checked and joined, the decimal mark a point."""
    for symbol in sorted(how.currency, key=len, reverse=True):
        escaped = re.escape(symbol)
        text = text.str.replace(rf"^([+-]?)\s*{escaped}\s*", r"\1", regex=True).str.replace(
            rf"\s*{escaped}$", "", regex=True
        )
    decimal = re.escape(how.decimal)
    if how.thousands is not None:
        group = re.escape(how.thousands)
        grouped = rf"^[+-]?\d{{1,3}}(?:{group}\d{{3}})+(?:{decimal}\d+)?$"
        is_grouped = text.str.contains(grouped, regex=True).fillna(False).astype(bool)
        # A separator anywhere else ("12,34.5") leaves the value unparseable: never guessed.
        text = text.where(~is_grouped, text.str.replace(how.thousands, "", regex=False))
    if how.decimal != ".":
        # A point left over is not this channel's decimal mark: the value is not a number.
        stray_point = text.str.contains(".", regex=False).fillna(False).astype(bool)
        text = text.str.replace(how.decimal, ".", regex=False).where(~stray_point, "not a number")
    return text


def _parse_detail(target: str, reason: str, failing: pd.Series, mapping, channel: str, kind: str) -> str:
    if reason != "non_numeric_amount" or target in mapping.numbers:
        return target
    text = failing.astype("string")
    if text.str.contains(r"[,¥￥$€£元]|RMB|CNY", regex=True).fillna(False).any():
        return (
            f"{target} (thousands separators or a currency symbol? declare them in "
            f"channels.{channel}.{kind}.numbers.{target})"
        )
    return target


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


def field_rejects(cleared, kept: np.ndarray, source_file: str, channel: str, kind: str) -> pd.DataFrame:
    """``FIELD_QUARANTINE_COLUMNS`` rows of the cleared fields of kept rows (by source row, then column)."""
    parts = []
    for mask, target, column, reason, raw in cleared:
        rows = np.flatnonzero(mask.to_numpy() & kept)
        if not len(rows):
            continue
        written = raw.iloc[rows]
        parts.append(
            pd.DataFrame(
                {
                    "source_row": rows.astype("int64"),
                    "column": target,
                    "source_column": column,
                    "reason": reason,
                    "value": written.astype("string").to_numpy() if len(written) else [],
                }
            )
        )
    if not parts:
        return empty_frame(FIELD_QUARANTINE_COLUMNS)
    frame = pd.concat(parts, ignore_index=True).sort_values(["source_row", "column"], kind="stable")
    frame.insert(0, "stage", "extract")
    frame.insert(1, "channel", channel)
    frame.insert(2, "kind", kind)
    frame.insert(3, "source_file", source_file)
    return frame.reset_index(drop=True).astype(FIELD_QUARANTINE_COLUMNS)[list(FIELD_QUARANTINE_COLUMNS)]


def _quarantine_rows(
    source: pd.DataFrame,
    bad: np.ndarray,
    reasons: pd.Series,
    details: pd.Series,
    table: SourceTable,
    channel: str,
    kind: str,
) -> pd.DataFrame:
    if not bad.any():
        return empty_frame(QUARANTINE_COLUMNS)
    rejected = source.loc[bad]
    positions = np.flatnonzero(bad)
    rows = [
        json.dumps({"line": table.broken[position][1]}, ensure_ascii=False)
        if position in table.broken
        else json.dumps({k: (None if pd.isna(v) else str(v)) for k, v in row.items()}, ensure_ascii=False)
        for position, row in zip(positions, rejected.to_dict(orient="records"), strict=True)
    ]
    quarantined = pd.DataFrame(
        {
            "stage": "extract",
            "channel": channel,
            "kind": kind,
            "source_file": table.source,
            "source_row": positions.astype("int64"),
            "reason": reasons[bad].to_numpy(),
            "detail": details[bad].to_numpy(),
            "row_json": rows,
        }
    )
    return quarantined.astype(QUARANTINE_COLUMNS)
