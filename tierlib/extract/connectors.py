"""Connectors: read one channel's source table for one month, as the source wrote it.

A connector returns the source's own columns untouched (text formats as
strings) plus where the rows came from; mapping onto the standard schema is
:mod:`tierlib.extract.standardize`'s job.
"""

from __future__ import annotations

import csv
import functools
import io
import json
from dataclasses import dataclass, field

import pandas as pd
import pyarrow.parquet as pq

from tierlib.config import ChannelConfig, TableMapping
from tierlib.errors import ExtractError
from tierlib.extract.encoding import decode
from tierlib.storage import S3Access


@dataclass(frozen=True)
class SourceTable:
    frame: pd.DataFrame
    """The source's rows and columns, in source order."""
    source: str
    """The file or table the rows came from, for lineage and messages."""
    text_format: bool
    """True where bytes were decoded from text (CSV, JSON lines): bad encodings are possible."""
    broken: dict[int, tuple[str, str]] = field(default_factory=dict)
    """Rows that could not be read (a broken JSON line, a CSV row with the wrong number of
    fields): row position -> (what is wrong, the raw text).  ``frame`` holds an empty row there,
    so positions stay the source's row numbers."""
    encoding: str | None = None
    """The encoding a text file was decoded with (the declared one, or what ``auto`` found)."""
    encoding_hint: str = ""
    """Why some rows hold U+FFFD, for the messages about them (empty when all bytes decoded)."""


class SourceMissing(ExtractError):
    """The month's file or table is not there (yet)."""


def read_source_table(
    channel_name: str,
    channel: ChannelConfig,
    kind: str,
    period: str,
    timezone: str = "Asia/Shanghai",
    connections=None,
    s3: S3Access | None = None,
) -> SourceTable:
    """The month's table as the source wrote it.  ``timezone`` bounds SQL months (``run.timezone``);
    ``connections`` turns a SQL channel's ``conn_id`` into a URL (see :mod:`tierlib.extract.sql`);
    ``s3``: how to reach drops on S3 (the run's, from the Airflow connection in DAG tasks)."""
    if channel.connector == "sql":
        from tierlib.extract.sql import read_sql_month

        return read_sql_month(channel_name, channel, kind, period, timezone, connections)
    return _read_file(channel_name, channel, channel.tables()[kind], period, s3 or S3Access())


def source_location(channel: ChannelConfig, mapping: TableMapping, period: str) -> str:
    return f"{channel.location.rstrip('/')}/period={period}/{mapping.file}"


@functools.cache
def _bucket_storage(bucket_root: str, s3: S3Access):
    """One S3 storage per bucket and access for the whole process: opening one costs a boto3 client."""
    return s3.open(bucket_root)


def _read_bytes(location: str, s3: S3Access) -> bytes:
    if location.startswith("s3://"):
        bucket, _, key = location.removeprefix("s3://").partition("/")
        storage = _bucket_storage(f"s3://{bucket}", s3)
        if not storage.exists(key):
            raise SourceMissing(f"{location} does not exist")
        return storage.read_bytes(key)
    try:
        with open(location, "rb") as handle:
            return handle.read()
    except FileNotFoundError as error:
        raise SourceMissing(f"{location} does not exist") from error


def _read_file(
    channel_name: str, channel: ChannelConfig, mapping: TableMapping, period: str, s3: S3Access
) -> SourceTable:
    location = source_location(channel, mapping, period)
    data = _read_bytes(location, s3)
    where = f"channel {channel_name}: {location}"
    if channel.format == "parquet":
        try:
            frame = pq.read_table(io.BytesIO(data)).to_pandas()
        except Exception as error:  # any parser failure: name the file and the channel
            raise ExtractError(
                f"{where} cannot be read as parquet: {error}. Check that the file is complete and that "
                f"channels.{channel_name}.format is right."
            ) from error
        return SourceTable(frame, location, text_format=False)
    decoded = decode(
        data,
        channel.encoding,
        where,
        f"channels.{channel_name}.encoding",
        f"channels.{channel_name}.delimiter" if channel.format == "csv" else None,
    )
    if channel.format == "csv":
        frame, broken = _read_csv(decoded.text, channel.delimiter, where, channel_name)
    else:
        frame, broken = _read_json_lines(decoded.text)
    frame.columns = [str(column).strip() for column in frame.columns]
    if frame.columns.duplicated().any():
        repeated = sorted({repr(c) for c in frame.columns[frame.columns.duplicated()]})
        raise ExtractError(
            f"{where}: the header names {', '.join(repeated)} twice (once its spaces are trimmed): "
            f"fix the export so that each column has one name."
        )
    return SourceTable(frame, location, True, broken, decoded.encoding, decoded.hint)


_LIKELY_DELIMITERS = (",", ";", "\t", "|")


def _read_csv(text: str, delimiter: str, where: str, channel_name: str) -> tuple[pd.DataFrame, dict]:
    """Every value as text; a row with too many or too few fields is one broken row, not a stop."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    if not text.strip():
        return pd.DataFrame(), {}
    header = [name for name in next(csv.reader(io.StringIO(text), delimiter=delimiter), [])]
    if not header:
        return pd.DataFrame(), {}
    data = text.encode("utf-8")
    parse = {"delimiter": delimiter, "newlines_in_values": True}
    _check_delimiter(header, delimiter, where, channel_name)
    invalid: list = []

    def keep_aside(row) -> str:
        invalid.append((row.number, row.actual_columns, row.text))
        return "skip"

    try:
        table = pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(use_threads=False),
            parse_options=pacsv.ParseOptions(**parse, invalid_row_handler=keep_aside),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in header},
                null_values=[""],
                strings_can_be_null=True,
            ),
        )
    except pa.ArrowInvalid as error:
        raise ExtractError(
            f"{where} cannot be read as CSV: {error}. Check that the file is complete and that "
            f"channels.{channel_name}.format and .delimiter are right."
        ) from error
    frame = table.to_pandas()
    broken = {}
    for number, fields, raw in invalid:
        # ``number`` counts records from 1 with the header; rows count from 0 without it.
        hint = (
            f" (a value holding the delimiter {delimiter!r} unquoted, such as 1,234.50? Quote such values "
            f"in the export, or declare channels.{channel_name}.delimiter)"
            if fields > len(header)
            else ""
        )
        broken[number - 2] = (f"line {number}: {fields} fields where the header has {len(header)}{hint}", raw)
    return _with_broken_rows(frame, broken), broken


def _check_delimiter(header: list[str], delimiter: str, where: str, channel_name: str) -> None:
    if len(header) != 1:
        return
    for other in _LIKELY_DELIMITERS:
        if other != delimiter and header[0].count(other) >= 1:
            raise ExtractError(
                f"{where}: the header reads as one column {header[0]!r}: the file looks delimited by "
                f"{other!r}, not {delimiter!r}. Set channels.{channel_name}.delimiter: {other!r}."
            )


def _read_json_lines(text: str) -> tuple[pd.DataFrame, dict]:
    rows: list[dict] = []
    broken: dict[int, tuple[str, str]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            broken[len(rows)] = (f"line {number}: not valid JSON ({error.msg} at column {error.colno})", line)
            rows.append({})
            continue
        if not isinstance(row, dict):
            broken[len(rows)] = (f"line {number}: a JSON {type(row).__name__}, not an object of fields", line)
            rows.append({})
            continue
        rows.append({key: _json_text(value) for key, value in row.items()})
    frame = pd.DataFrame.from_records(rows) if rows else pd.DataFrame()
    # Text keeps one dtype per column however JSON typed each value, so a
    # stray string in a numeric column is caught by standardization, not lost.
    return frame.astype(object).where(frame.notna(), None).astype("string"), broken


def _json_text(value):
    """A JSON value as the text a CSV would hold: nested objects and lists stay JSON."""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _with_broken_rows(frame: pd.DataFrame, broken: dict) -> pd.DataFrame:
    """Empty rows where the broken ones were, so that every row keeps its position in the file."""
    if not broken:
        return frame
    total = len(frame) + len(broken)
    kept = [position for position in range(total) if position not in broken]
    frame.index = pd.Index(kept)
    return frame.reindex(range(total))
