"""Export files as bytes: CSV (UTF-8, header) and Parquet, equal frames giving equal bytes."""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tierlib.errors import InputError

PARQUET_COMPRESSION = "zstd"


@dataclass(frozen=True)
class ExportFile:
    """One file of a publish; ``path`` is relative to the month's export prefix."""

    path: str
    data: bytes
    rows: int
    role: str
    format: str
    channel: str | None = None
    segment: str | None = None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def manifest_entry(self) -> dict:
        return {
            "path": self.path,
            "channel": self.channel,
            "segment": self.segment,
            "role": self.role,
            "format": self.format,
            "rows": self.rows,
            "bytes": len(self.data),
            "sha256": self.sha256,
        }


def segment_file_path(channel: str, segment: str, role: str, file_format: str) -> str:
    """``channel=sms/segment=vip/members.csv``: where a segment file sits under the month's prefix."""
    return f"channel={channel}/segment={segment}/{role}.{file_format}"


def upload_file_path(channel: str, segment: str, role: str, part: int) -> str:
    """``channel=tx_phone/segment=vip/upload/members-001.zip``: one archive of a platform upload."""
    return f"channel={channel}/segment={segment}/upload/{role}-{part:03d}.zip"


_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_ARCHIVE_OVERHEAD = 1024
"""Bytes kept free in each archive for its headers (local header, central directory, end record)."""


def upload_archives(values: pd.Series, name: str, limit: int) -> list[tuple[bytes, int]]:
    """A platform upload: zips of one text file each, one identifier per line, each zip <= ``limit`` bytes.

    The text is UTF-8 with ``\n`` line ends and no header (the platforms read every line as an
    identifier).  An archive holds at most ``limit`` bytes of text, so it is within the limit
    however little the text compresses; entries carry a fixed time so reruns give equal bytes.
    Returns ``(archive, lines)`` per archive; none for no values.
    """
    lines = [f"{value}\n".encode() for value in values.dropna().astype(str)]
    archives, part, size = [], [], 0
    room = limit - _ARCHIVE_OVERHEAD
    for line in lines:
        if part and size + len(line) > room:
            archives.append(part)
            part, size = [], 0
        part.append(line)
        size += len(line)
    if part:
        archives.append(part)
    out = []
    for number, chunk in enumerate(archives, start=1):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            info = zipfile.ZipInfo(f"{name}-{number:03d}.txt", date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, b"".join(chunk))
        out.append((buffer.getvalue(), len(chunk)))
    return out


def encode_csv(frame: pd.DataFrame) -> bytes:
    """UTF-8 CSV with a header row, ``\\n`` line ends, nulls as empty fields, no index."""
    return frame.to_csv(index=False, lineterminator="\n", na_rep="").encode("utf-8")


def encode_parquet(frame: pd.DataFrame) -> bytes:
    """Parquet (zstd, no index); the pandas dtypes ride along in the schema metadata."""
    table = pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False)
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression=PARQUET_COMPRESSION)
    return buffer.getvalue()


def encode(frame: pd.DataFrame, file_format: str) -> bytes:
    if file_format == "csv":
        return encode_csv(frame)
    if file_format == "parquet":
        return encode_parquet(frame)
    raise InputError(f"export format {file_format!r} is not supported; use csv or parquet")


def decode(data: bytes, file_format: str, where: str) -> pd.DataFrame:
    """Read back a file written by :func:`encode`; all export columns are text."""
    try:
        if file_format == "parquet":
            return pq.read_table(pa.BufferReader(data)).to_pandas()
        frame = pd.read_csv(io.BytesIO(data), dtype="string", keep_default_na=False, encoding="utf-8")
        return frame.replace("", pd.NA)
    except (pa.ArrowException, ValueError, UnicodeDecodeError) as error:
        raise InputError(
            f"{where} is not a readable {file_format} export ({error}); republish that month"
        ) from error
