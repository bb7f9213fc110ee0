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
from tierlib.period import period_end, period_start
from tierlib.storage import S3Access


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
    channel_name: str, channel: ChannelConfig, kind: str, period: str, s3: S3Access | None = None
) -> SourceTable:
    """``s3``: how to reach drops on S3 (the run's, from the Airflow connection in DAG tasks)."""
    mapping = channel.tables()[kind]
    if channel.connector == "sql":
        return _read_sql(channel_name, channel, mapping, period)
    return _read_file(channel_name, channel, mapping, period, s3 or S3Access())


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


def _read_sql(channel_name: str, channel: ChannelConfig, mapping: TableMapping, period: str) -> SourceTable:
    import sqlalchemy as sa

    engine = sa.create_engine(channel.url)
    source = f"{_redact(channel.url)}#{mapping.table}"
    try:
        with engine.connect() as connection:
            table = sa.Table(mapping.table, sa.MetaData(), autoload_with=connection)
            if mapping.time_column not in table.columns:
                raise ExtractError(
                    f"channel {channel_name}: table {mapping.table} has no column {mapping.time_column!r} "
                    f"(channels.{channel_name}.{_kind_of(channel, mapping)}.time_column)"
                )
            time_column = table.columns[mapping.time_column]
            start, end = period_start(period), period_end(period)
            bounds = (start.isoformat(sep=" "), end.isoformat(sep=" "))
            query = (
                sa.select(table)
                .where(time_column >= bounds[0], time_column < bounds[1])
                .order_by(*table.primary_key.columns or table.columns)
            )
            frame = pd.read_sql(query, connection)
    except sa.exc.NoSuchTableError as error:
        raise SourceMissing(f"{source}: table {mapping.table} does not exist") from error
    except sa.exc.SQLAlchemyError as error:
        raise ExtractError(f"channel {channel_name}: reading {source} failed: {error}") from error
    finally:
        engine.dispose()
    return SourceTable(frame, source, text_format=False)


def _kind_of(channel: ChannelConfig, mapping: TableMapping) -> str:
    return next(kind for kind, candidate in channel.tables().items() if candidate is mapping)


def _redact(url: str) -> str:
    """Never log a password that sits in a SQLAlchemy URL."""
    import sqlalchemy as sa

    return sa.engine.make_url(url).render_as_string(hide_password=True)
