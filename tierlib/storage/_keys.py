"""Rules for storage keys, the one place that decides what a key may look like.

A key is a path relative to the storage root, '/'-separated on every platform,
so the same key names the same object on a local folder and in an S3 bucket.
"""

from __future__ import annotations

import re

from tierlib.errors import StorageError

TEMP_PREFIX = ".tierflow-tmp-"
"""Name prefix of the local backend's in-flight temp files; list() never shows them."""

MISSING_HINT = (
    "run the earlier stage that writes it for that month first, or check the storage root and the period"
)

_PERIOD = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


def validate_key(key: object) -> str:
    """Return ``key`` if it names one object under the root, else raise StorageError."""
    return _check_path(key, what="key")


def validate_prefix(prefix: object) -> str:
    """Return ``prefix`` ('' for the whole root) if it stays under the root, else raise."""
    return _check_path(prefix, what="prefix")


def _check_path(path: object, *, what: str) -> str:
    if not isinstance(path, str):
        raise StorageError(f"storage {what} must be a str, got {type(path).__name__} {path!r}")
    if path == "":
        if what == "prefix":
            return path
        raise StorageError("storage key is empty: give a path such as 'identity/period=2026-10/map.parquet'")
    if "://" in path:
        raise StorageError(
            f"storage {what} {path!r} looks like a full location: pass it relative to the storage root, "
            "e.g. 'standardized/period=2026-10/channel=app/orders.parquet'"
        )
    if path.startswith("/"):
        raise StorageError(f"storage {what} {path!r} is absolute: {what}s are relative to the storage root")
    if "\\" in path:
        raise StorageError(f"storage {what} {path!r} contains '\\': separate the parts of a {what} with '/'")
    if path.endswith("/"):
        if what == "key":
            raise StorageError(f"storage key {path!r} ends with '/': a key names one object, not a prefix")
        path_parts = path[:-1].split("/")
    else:
        path_parts = path.split("/")
    for part in path_parts:
        if part == "":
            raise StorageError(f"storage {what} {path!r} has an empty part ('//'): remove the doubled '/'")
        if part in (".", ".."):
            raise StorageError(
                f"storage {what} {path!r} contains {part!r}: {what}s may not step outside or around the root"
            )
        if part.startswith(TEMP_PREFIX):
            raise StorageError(
                f"storage {what} {path!r} uses the name prefix {TEMP_PREFIX!r}, reserved for temp files"
            )
    return path


def period_prefix(area: str, period: str) -> str:
    """Prefix of one month's outputs of one area: ``period_prefix("identity", "2026-10")``
    gives ``"identity/period=2026-10/"``."""
    if not isinstance(period, str) or not _PERIOD.fullmatch(period):
        raise StorageError(f"period {period!r} is not a month in the form YYYY-MM (e.g. '2026-10')")
    if not isinstance(area, str) or area.strip("/") == "":
        raise StorageError(f"storage area {area!r} is empty: name the stage's folder, e.g. 'identity'")
    area = area.rstrip("/")
    validate_key(area)
    return f"{area}/period={period}/"


def missing_message(uri: str) -> str:
    return f"{uri} does not exist: {MISSING_HINT}"
