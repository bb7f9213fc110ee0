"""Source tables in each channel's file format, with injected bad rows.

A :class:`SourceTable` holds a channel table with typed values for all months,
sorted by month.  :func:`write_source_table` picks the bad rows, corrupts them
the way real exports go wrong, and writes one file per month.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tierlib.synth._calendar import DAY, LOCAL_UTC_OFFSET, YEAR
from tierlib.synth._strings import digits_matrix, from_fixed_width, hstack_bytes, join, pick, to_fixed_width

UNPARSEABLE_DATE = "unparseable_date"
NEGATIVE_AMOUNT = "negative_amount"
NON_NUMERIC_AMOUNT = "non_numeric_amount"
FUTURE_DATE = "future_date"
DUPLICATE_ORDER_ID = "duplicate_order_id"
UNKNOWN_CHANNEL_CODE = "unknown_channel_code"
BAD_ENCODING = "bad_encoding"
BAD_ROW_REASONS = (
    UNPARSEABLE_DATE,
    NEGATIVE_AMOUNT,
    NON_NUMERIC_AMOUNT,
    FUTURE_DATE,
    DUPLICATE_ORDER_ID,
    UNKNOWN_CHANNEL_CODE,
    BAD_ENCODING,
)
TEXT_ONLY_REASONS = (UNPARSEABLE_DATE, NON_NUMERIC_AMOUNT, BAD_ENCODING)
"""A typed Parquet column cannot hold these."""

UNKNOWN_CODES = ("ZZ9", "X01", "TEST", "WX2")
NON_NUMERIC = ("N/A", "#VALUE!", "12..50", "--", "abc", "一百")


@dataclass
class Column:
    """One source column.

    ``kind``: ``str`` (identifiers and codes, pa string array), ``text`` (free text
    that may need quoting), ``int``, ``amount`` (float yuan), ``bool``, ``time``
    (int64 local seconds, written per ``style``) or ``arrow`` (a ready typed array,
    Parquet only).  ``style`` for time: parquet, epoch, ymdhms, slash_hm, iso; for
    bool: bool, yn, 10.  ``missing`` (JSON lines): ``null`` or ``omit`` the key.
    """

    name: str
    kind: str
    values: object
    style: str = ""
    missing: str = "null"


@dataclass
class SourceTable:
    channel: str
    table: str
    ext: str
    columns: list[Column]
    period: np.ndarray
    time_column: str
    amount_column: str | None = None
    code_column: str | None = None
    text_column: str | None = None
    encoded_text: tuple[tuple[str, ...], np.ndarray] | None = None
    """(vocabulary, index per row): Chinese text to write GBK-encoded in ``text_column`` for
    bad_encoding rows (default: the value itself).  Indices, not strings: only a few rows need it."""
    corruptible: np.ndarray | None = None
    """Rows that may be chosen as bad rows (default: all)."""

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    def reasons(self) -> tuple[str, ...]:
        reasons = [UNPARSEABLE_DATE, FUTURE_DATE]
        if self.table == "orders":
            reasons += [NEGATIVE_AMOUNT, NON_NUMERIC_AMOUNT, DUPLICATE_ORDER_ID, UNKNOWN_CHANNEL_CODE]
        if self.text_column is not None:
            reasons.append(BAD_ENCODING)
        if self.ext == "parquet":
            reasons = [r for r in reasons if r not in TEXT_ONLY_REASONS]
        return tuple(r for r in BAD_ROW_REASONS if r in reasons)


def write_source_table(
    table: SourceTable,
    out_dir: str,
    periods: list[str],
    span_end: int,
    bad_rate: float,
    rng: np.random.Generator,
) -> tuple[dict[str, int], dict]:
    """Write ``table`` month by month; return rows per period and the bad rows written."""
    n = len(table.period)
    reasons = table.reasons()
    eligible = np.arange(n) if table.corruptible is None else np.flatnonzero(table.corruptible)
    n_eligible = len(eligible)
    n_bad = int(rng.binomial(n_eligible, bad_rate)) if n_eligible and bad_rate > 0 else 0
    chosen = (
        eligible[np.sort(rng.choice(n_eligible, size=n_bad, replace=False))]
        if n_bad
        else np.zeros(0, dtype=np.int64)
    )
    # Every applicable reason gets its share: cycle through them, then shuffle over the rows.
    cycled = np.asarray(reasons, dtype=object)[rng.permutation(len(reasons))][np.arange(n_bad) % len(reasons)]
    reason_of = cycled[rng.permutation(n_bad)] if n_bad else cycled

    columns = list(table.columns)
    by_name = {c.name: c for c in columns}
    _corrupt_typed(by_name, table, chosen, reason_of, span_end, rng)

    bounds = np.searchsorted(table.period, np.arange(len(periods) + 1))
    bad_period = np.searchsorted(bounds, chosen, side="right") - 1
    counts, bad_rows = {}, []
    for index, label in enumerate(periods):
        start, end = int(bounds[index]), int(bounds[index + 1])
        folder = os.path.join(out_dir, table.channel, f"period={label}")
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, f"{table.table}.{table.ext}")
        in_period = bad_period == index
        local = chosen[in_period] - start
        local_reasons = reason_of[in_period]
        # A duplicated order is re-sent: an identical row right after the original, which stays good.
        duplicated = local[local_reasons == DUPLICATE_ORDER_ID]
        take = None
        if len(duplicated):
            copies = np.zeros(end - start, dtype=np.int64)
            copies[duplicated] = 1
            take = np.repeat(np.arange(end - start), 1 + copies)
        sliced = [_slice(c, start, end) for c in columns]
        if table.ext == "parquet":
            _write_parquet(sliced, path, take)
        else:
            text = None
            if table.encoded_text is not None:
                text = (table.encoded_text[0], table.encoded_text[1][start:end])
            _write_text(table, sliced, path, local, local_reasons, text, rng, take)
        counts[label] = end - start + len(duplicated)
        shifted = local + np.searchsorted(duplicated, local, side="left")
        bad_rows.append(shifted + (local_reasons == DUPLICATE_ORDER_ID))
    positions = np.concatenate(bad_rows) if bad_rows else np.zeros(0, dtype=np.int64)
    bad = {
        "period": [periods[i] for i in bad_period],
        "source_row": positions.tolist(),
        "reason": [str(r) for r in reason_of],
    }
    return counts, bad


def _slice(column: Column, start: int, end: int) -> Column:
    values = column.values
    values = values.slice(start, end - start) if isinstance(values, pa.Array) else values[start:end]
    return Column(column.name, column.kind, values, column.style, column.missing)


def _corrupt_typed(by_name, table: SourceTable, position, reason, span_end: int, rng) -> None:
    """Corruptions a typed column can hold: done before formatting so Parquet gets them too."""
    future = position[reason == FUTURE_DATE]
    if len(future):
        column = by_name[table.time_column]
        time = column.values = np.array(column.values, dtype=np.int64)
        # Clock and typing errors: a year or more past the whole dataset, at most a few decades.
        time[future] = span_end + (400 * DAY + rng.random(len(future)) * 25 * YEAR).astype(np.int64)
    negative = position[reason == NEGATIVE_AMOUNT]
    if len(negative):
        column = by_name[table.amount_column]
        amount = column.values = np.array(column.values, dtype=np.float64)
        amount[negative] = -np.abs(amount[negative])
    unknown = position[reason == UNKNOWN_CHANNEL_CODE]
    if len(unknown):
        code = by_name[table.code_column]
        mask = np.zeros(len(code.values), dtype=bool)
        mask[unknown] = True
        replacement = pa.array([UNKNOWN_CODES[i] for i in rng.integers(0, len(UNKNOWN_CODES), len(unknown))])
        code.values = pc.replace_with_mask(code.values, pa.array(mask), replacement)


def _write_parquet(columns: list[Column], path: str, take: np.ndarray | None) -> None:
    arrays, names = [], []
    for column in columns:
        names.append(column.name)
        values = column.values
        if column.kind == "time":
            arrays.append(pa.array(np.asarray(values, dtype=np.int64) * 1_000_000, type=pa.timestamp("us")))
        elif column.kind == "amount":
            arrays.append(pa.array(np.asarray(values, dtype=np.float64)))
        elif column.kind == "bool":
            arrays.append(pa.array(np.asarray(values, dtype=bool)))
        elif column.kind == "int":
            arrays.append(pa.array(np.asarray(values, dtype=np.int64)))
        else:
            arrays.append(values.cast(pa.string()) if column.kind != "arrow" else values)
    result = pa.Table.from_arrays(arrays, names=names)
    if take is not None:
        result = result.take(pa.array(take))
    pq.write_table(result, path, compression="snappy")


def _write_text(table: SourceTable, columns, path, bad_rows, bad_reasons, encoded_text, rng, take) -> None:
    is_json = table.ext == "jsonl"
    n = len(columns[0].values)
    tokens = {c.name: _tokens(c, is_json) for c in columns}
    if len(bad_rows):
        _corrupt_tokens(table, tokens, columns, bad_rows, bad_reasons, encoded_text, is_json, rng)
    parts: list = []
    if is_json:
        for index, column in enumerate(columns):
            key = ('{"' if index == 0 else ',"') + column.name + '":'
            token, quoted = tokens[column.name]
            if column.missing == "omit":
                parts.append(pc.fill_null(join(key, _quote(token) if quoted else token), b""))
            elif quoted and token.null_count == 0:
                # Quotes go into the constant parts around the value: one pass less over the data.
                parts += [key + '"', token, '"']
            else:
                parts += [key, _fill(_quote(token) if quoted else token, b"null")]
        parts.append("}\n")
        header = b""
    else:
        for index, column in enumerate(columns):
            if index:
                parts.append(",")
            parts.append(_fill(tokens[column.name][0], b""))
        parts.append("\n")
        header = (",".join(c.name for c in columns) + "\n").encode()
    with open(path, "wb") as handle:
        handle.write(header)
        if n:
            lines = join(*_merge_constants(parts))
            handle.write(_buffer_bytes(lines if take is None else lines.take(pa.array(take))))


def _quote(token: pa.Array) -> pa.Array:
    return join(b'"', token, b'"')


def _fill(token: pa.Array, missing: bytes) -> pa.Array:
    return pc.fill_null(token, missing) if token.null_count else token


def _merge_constants(parts: list) -> list:
    merged: list = []
    for part in parts:
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] += part
        else:
            merged.append(part)
    return merged


def _buffer_bytes(array: pa.Array) -> memoryview:
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int32)[array.offset : array.offset + len(array) + 1]
    return memoryview(array.buffers()[2])[int(offsets[0]) : int(offsets[-1])]


def _tokens(column: Column, is_json: bool) -> tuple[pa.Array, bool]:
    """Each value as it appears in the file, as binary (null where the value is missing).

    The flag says the value is a JSON string still to be put in quotes.
    """
    values = column.values
    kind = column.kind
    if kind in ("str", "text"):
        values = values.cast(pa.string())
        if kind == "text":
            if is_json:
                values = pc.replace_substring(pc.replace_substring(values, "\\", "\\\\"), '"', '\\"')
            else:
                needs_quotes = pc.match_substring_regex(values, '[,"\\r\\n]')
                quoted = join('"', pc.replace_substring(values, '"', '""'), '"')
                values = pc.if_else(needs_quotes, quoted, values)
        return values.cast(pa.binary()), is_json
    if kind == "int":
        return pa.array(np.asarray(values, dtype=np.int64)).cast(pa.string()).cast(pa.binary()), False
    if kind == "amount":
        return format_amounts(np.asarray(values, dtype=np.float64)).cast(pa.binary()), False
    if kind == "bool":
        truthy, falsy = {"bool": ("true", "false"), "yn": ("Y", "N"), "10": ("1", "0")}[column.style]
        text = pc.if_else(pa.array(np.asarray(values, dtype=bool)), truthy, falsy).cast(pa.binary())
        return text, is_json and column.style != "bool"
    if kind == "time":
        text = format_times(np.asarray(values, dtype=np.int64), column.style)
        return text.cast(pa.binary()), is_json and column.style != "epoch"
    raise ValueError(f"column {column.name}: kind {kind!r} cannot be written as text")


def format_amounts(values: np.ndarray) -> pa.Array:
    """Yuan with two decimals (``129.90``), the way the exports print money."""
    cents = np.round(np.abs(values) * 100).astype(np.int64)
    nonzero = np.flatnonzero(cents)
    if len(nonzero) * 2 < len(cents):
        # Discounts and refunds are mostly zero: format only the others.
        mask = np.zeros(len(cents), dtype=bool)
        mask[nonzero] = True
        text = pc.replace_with_mask(
            pick(("0.00",), np.zeros(len(cents), dtype=np.int64)), pa.array(mask), _cents_text(cents[nonzero])
        )
    else:
        text = _cents_text(cents)
    negative = values < 0
    if negative.any():
        text = pc.if_else(pa.array(negative), join("-", text), text)
    return text


def _cents_text(cents: np.ndarray) -> pa.Array:
    whole = pa.array(cents // 100).cast(pa.string())
    return join(whole, ".", from_fixed_width(digits_matrix(cents % 100, 2)))


def format_times(seconds: np.ndarray, style: str) -> pa.Array:
    """Local times in a channel's style."""
    if style == "epoch":
        return pa.array(seconds - LOCAL_UTC_OFFSET).cast(pa.string())
    n = len(seconds)
    standard = pa.array(seconds.astype("datetime64[s]")).cast(pa.string())  # YYYY-MM-DD HH:MM:SS
    if style == "ymdhms":
        return standard
    matrix = to_fixed_width(standard, 19) if n else np.zeros((0, 19), dtype=np.uint8)
    if style == "slash_hm":
        parts = [matrix[:, 0:4], b"/", matrix[:, 5:7], b"/", matrix[:, 8:10], b" ", matrix[:, 11:16]]
    elif style == "iso":
        parts = [matrix[:, 0:10], b"T", matrix[:, 11:19], b"+08:00"]
    else:
        raise ValueError(f"unknown time style {style!r}")
    return from_fixed_width(hstack_bytes(parts, n))


def format_dates(days: np.ndarray, separator: str) -> pa.Array:
    text = pa.array(np.asarray(days, dtype=np.int64).astype("datetime64[D]")).cast(pa.string())
    if separator == "-":
        return text
    matrix = to_fixed_width(text, 10) if len(days) else np.zeros((0, 10), dtype=np.uint8)
    sep = separator.encode()
    return from_fixed_width(
        hstack_bytes([matrix[:, 0:4], sep, matrix[:, 5:7], sep, matrix[:, 8:10]], len(days))
    )


def _corrupt_tokens(table, tokens, columns, rows, reasons, encoded_text, is_json, rng) -> None:
    """Corruptions only a text file can hold; values chosen per row (there are few)."""
    by_name = {c.name: c for c in columns}
    time_column = by_name[table.time_column]
    replacements: dict[str, dict[int, bytes]] = {}
    for row, reason in zip(rows.tolist(), reasons, strict=True):
        if reason == UNPARSEABLE_DATE:
            seconds = int(time_column.values[row])
            value = _unparseable(seconds, time_column.style, rng).encode()
            column = table.time_column
        elif reason == NON_NUMERIC_AMOUNT:
            value = NON_NUMERIC[int(rng.integers(0, len(NON_NUMERIC)))].encode()
            column = table.amount_column
        elif reason == BAD_ENCODING:
            if encoded_text is not None:
                text = encoded_text[0][int(encoded_text[1][row])]
            else:
                text = by_name[table.text_column].values[row].as_py()
            value = gbk_bytes(text or "王")
            column = table.text_column
        else:
            continue
        if is_json:
            if not tokens[column][1]:
                value = b'"' + value + b'"'
        elif b"," in value or b'"' in value:
            value = b'"' + value.replace(b'"', b'""') + b'"'
        replacements.setdefault(column, {})[row] = value
    for column, values in replacements.items():
        token, quoted = tokens[column]
        mask = np.zeros(len(token), dtype=bool)
        positions = sorted(values)
        mask[positions] = True
        replacement = pa.array([values[p] for p in positions], type=pa.binary())
        tokens[column] = (pc.replace_with_mask(token, pa.array(mask), replacement), quoted)


def _unparseable(seconds: int, style: str, rng: np.random.Generator) -> str:
    stamp = str(np.datetime64(max(seconds, 0), "s"))
    year, hour = stamp[:4], stamp[11:13]
    options = {
        "ymdhms": (
            f"{year}-02-30 {hour}:15:00",
            f"{year}-13-{stamp[8:10]} {stamp[11:19]}",
            "0000-00-00 00:00:00",
        ),
        "slash_hm": (
            f"{year}/02/30 {hour}:15",
            f"{year}/13/{stamp[8:10]} {stamp[11:16]}",
            "00/00/0000 00:00",
        ),
        "epoch": ("undefined", "NaN", f"{year}-02-30"),
        "iso": (f"{year}-02-30T{hour}:15:00+08:00", "Invalid Date", f"{year}-13-01T00:00:00+08:00"),
    }[style]
    return options[int(rng.integers(0, len(options)))]


def gbk_bytes(text: str) -> bytes:
    """``text`` as a GBK terminal would store it; always invalid UTF-8, never a quote or backslash."""
    raw = text.encode("gbk", errors="replace")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        raw = "王".encode("gbk") + raw
    if b"\\" in raw or b'"' in raw:
        raw = "王芳".encode("gbk")
    return raw
