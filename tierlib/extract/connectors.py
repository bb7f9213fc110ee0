"""Connectors: read one channel's source table for one month, as the source wrote it.

A connector returns the source's own columns untouched (text formats as
strings) plus where the rows came from; mapping onto the standard schema is
:mod:`tierlib.extract.standardize`'s job.
"""

from __future__ import annotations

import functools
import io
import json
from dataclasses import dataclass

import pandas as pd
import pyarrow.parquet as pq

from tierlib.config import ChannelConfig, TableMapping
from tierlib.errors import ExtractError


@dataclass(frozen=True)
class SourceTable:
    frame: pd.DataFrame
    """The source's rows and columns, in source order."""
    source: str
    """The file or table the rows came from, for lineage and messages."""
    text_format: bool
    """True where bytes were decoded from text (CSV, JSON lines): bad encodings are possible."""


class SourceMissing(ExtractError):
    """The month's file or table is not there (yet)."""


def read_source_table(
    channel_name: str,
    channel: ChannelConfig,
    kind: str,
    period: str,
    timezone: str = "Asia/Shanghai",
    connections=None,
) -> SourceTable:
    """The month's table as the source wrote it.  ``timezone`` bounds SQL months (``run.timezone``);
    ``connections`` turns a SQL channel's ``conn_id`` into a URL (see :mod:`tierlib.extract.sql`)."""
    if channel.connector == "sql":
        from tierlib.extract.sql import read_sql_month

        return read_sql_month(channel_name, channel, kind, period, timezone, connections)
    return _read_file(channel_name, channel, channel.tables()[kind], period)


def source_location(channel: ChannelConfig, mapping: TableMapping, period: str) -> str:
    return f"{channel.location.rstrip('/')}/period={period}/{mapping.file}"


@functools.cache
def _bucket_storage(bucket_root: str):
    """One S3 storage per bucket for the whole process: opening one costs a boto3 session."""
    from tierlib.storage import open_storage

    return open_storage(bucket_root)


def _read_bytes(location: str) -> bytes:
    if location.startswith("s3://"):
        bucket, _, key = location.removeprefix("s3://").partition("/")
        storage = _bucket_storage(f"s3://{bucket}")
        if not storage.exists(key):
            raise SourceMissing(f"{location} does not exist")
        return storage.read_bytes(key)
    try:
        with open(location, "rb") as handle:
            return handle.read()
    except FileNotFoundError as error:
        raise SourceMissing(f"{location} does not exist") from error


def _read_file(channel_name: str, channel: ChannelConfig, mapping: TableMapping, period: str) -> SourceTable:
    location = source_location(channel, mapping, period)
    data = _read_bytes(location)
    try:
        if channel.format == "parquet":
            frame = pq.read_table(io.BytesIO(data)).to_pandas()
            return SourceTable(frame, location, text_format=False)
        text = data.decode(channel.encoding, errors="replace")
        if channel.format == "csv":
            frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_values=[""])
        else:
            frame = _read_json_lines(text)
    except ExtractError:
        raise
    except Exception as error:  # any parser failure: name the file and the channel
        raise ExtractError(
            f"channel {channel_name}: cannot read {location} as {channel.format}: {error}. "
            f"Check that the file is complete and that channels.{channel_name}.format is right."
        ) from error
    return SourceTable(frame, location, text_format=True)


def _read_json_lines(text: str) -> pd.DataFrame:
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as error:
            raise ExtractError(f"line {number} is not valid JSON: {error}") from error
    frame = pd.DataFrame.from_records(rows)
    # Text keeps one dtype per column however JSON typed each value, so a
    # stray string in a numeric column is caught by standardization, not lost.
    return frame.astype(object).where(frame.notna(), None).astype("string")
