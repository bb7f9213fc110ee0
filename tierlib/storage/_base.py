"""The Storage interface, and the Parquet and JSON codecs both backends share.

A backend implements bytes in and out (plus listing, deleting, copying); the
codecs sit on top, so a frame written to a folder and to S3 is the same bytes.
"""

from __future__ import annotations

import json
import pathlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import IO, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tierlib.errors import StorageError

PARQUET_COMPRESSION = "zstd"


class Storage(ABC):
    """One storage root: a local folder or an S3 prefix.

    Keys are '/'-separated paths relative to :attr:`root`.  Every write is
    atomic: a reader sees the previous object or the new one, never a part.
    """

    root: str
    """Where the root is, for logs: a folder path or ``s3://bucket/prefix``."""

    # -- what each backend provides -------------------------------------------------

    @abstractmethod
    def uri(self, key: str) -> str:
        """Full location of ``key``, for messages and logs."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Whether an object is stored at ``key``."""

    @abstractmethod
    def list(self, prefix: str = "") -> list[str]:
        """Sorted keys that start with ``prefix`` (a plain string prefix, as in S3)."""

    @abstractmethod
    def read_bytes(self, key: str) -> bytes:
        """The object's bytes; StorageError naming the location if it is missing."""

    @abstractmethod
    def open_write(self, key: str) -> AbstractContextManager[IO[bytes]]:
        """A binary file to write ``key`` through.

        The object appears, whole, only when the ``with`` block ends cleanly; if
        the block raises, the previous object (if any) stays as it was.
        """

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove ``key``; nothing happens if it is already absent."""

    @abstractmethod
    def copy(self, src_key: str, dst_key: str) -> None:
        """Copy ``src_key`` to ``dst_key`` within this root (atomic for the destination)."""

    @abstractmethod
    def local_path(self, key: str) -> pathlib.Path | None:
        """A real file path for ``key`` on the local backend, None elsewhere."""

    # -- built on the above ----------------------------------------------------------

    def write_bytes(self, key: str, data: bytes) -> None:
        """Store ``data`` at ``key``, replacing what was there, atomically."""
        _check_bytes(key, data)
        with self.open_write(key) as file:
            file.write(data)

    def delete_prefix(self, prefix: str) -> None:
        """Remove every key that starts with ``prefix``.

        An empty prefix is refused: wiping the whole root is never what a stage means.
        """
        if prefix == "":
            raise StorageError(
                f"refusing to delete everything under {self.root}: "
                "give a prefix such as 'tiers/period=2026-10/'"
            )
        self._delete_keys(prefix, self.list(prefix))

    def _delete_keys(self, prefix: str, keys: list[str]) -> None:
        for key in keys:
            self.delete(key)

    def read_parquet(self, key: str, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """Read a Parquet object into a DataFrame with the dtypes it was written with."""
        source = self._parquet_source(key)
        try:
            parquet_file = pq.ParquetFile(source)
        except (pa.ArrowException, OSError) as error:
            raise StorageError(
                f"{self.uri(key)} is not a readable Parquet file ({error}): rewrite it"
            ) from error
        with parquet_file:
            if columns is not None:
                columns = list(columns)
                available = parquet_file.schema_arrow.names
                missing = [column for column in columns if column not in available]
                if missing:
                    raise StorageError(f"{self.uri(key)} has no column(s) {missing}; it has {available}")
            try:
                table = parquet_file.read(columns=columns)
            except (pa.ArrowException, OSError) as error:
                raise StorageError(f"could not read Parquet {self.uri(key)}: {error}") from error
        return table.to_pandas()

    def write_parquet(self, key: str, df: pd.DataFrame) -> None:
        """Write ``df`` as Parquet (no index, zstd), atomically.

        Equal frames give equal bytes, whatever their index, so reruns are
        byte-identical and manifests' checksums stay put.
        """
        table = frame_to_table(df, where=self.uri(key))
        with self.open_write(key) as file:
            pq.write_table(table, file, compression=PARQUET_COMPRESSION)

    def read_json(self, key: str) -> Any:
        """Parse a UTF-8 JSON object."""
        data = self.read_bytes(key)
        try:
            return json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise StorageError(f"{self.uri(key)} is not UTF-8 JSON ({error}): rewrite it") from error

    def write_json(self, key: str, obj: Any) -> None:
        """Write ``obj`` as UTF-8 JSON with sorted keys and 2-space indent, atomically."""
        self.write_bytes(key, encode_json(obj, where=self.uri(key)))

    # -- hooks ---------------------------------------------------------------------------

    def _parquet_source(self, key: str) -> str | pa.NativeFile:
        """What pyarrow reads from: a path where there is one, else the bytes in memory."""
        return pa.BufferReader(self.read_bytes(key))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.root!r})"


def frame_to_table(df: pd.DataFrame, *, where: str) -> pa.Table:
    """Arrow table of ``df`` without its index; pandas dtypes ride along in the schema metadata."""
    if not isinstance(df, pd.DataFrame):
        raise StorageError(f"cannot write {type(df).__name__} as Parquet to {where}: pass a pandas DataFrame")
    try:
        table = pa.Table.from_pandas(df, preserve_index=False)
    except (pa.ArrowException, ValueError, TypeError) as error:
        raise StorageError(
            f"cannot write the frame as Parquet to {where}: {error}; give the named column one type"
        ) from error
    return table


def encode_json(obj: Any, *, where: str) -> bytes:
    """UTF-8 JSON text with sorted keys, indent 2, non-ASCII kept, and a final newline."""
    try:
        text = json.dumps(
            obj, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False, default=_json_default
        )
    except ValueError as error:
        raise StorageError(
            f"cannot write JSON to {where}: {error}; replace NaN/inf with null or a number"
        ) from error
    except TypeError as error:
        raise StorageError(
            f"cannot write JSON to {where}: {error}; convert it to str, number, bool, list or dict first"
        ) from error
    return (text + "\n").encode("utf-8")


def _json_default(value: Any) -> Any:
    # numpy scalars leak out of pandas aggregations; they have an exact JSON form.
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _check_bytes(key: str, data: object) -> None:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise StorageError(f"write_bytes({key!r}) needs bytes, got {type(data).__name__}: encode it first")
