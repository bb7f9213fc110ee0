"""Where every stage reads and writes: one interface over a local folder and S3.

::

    storage = open_storage("/data/tierflow")                           # local folder
    storage = open_storage("s3://bucket/tierflow", endpoint_url=...)   # S3 / MinIO
    storage.write_parquet(period_prefix("tiers", "2026-10") + "tiers.parquet", df)

Keys are '/'-separated paths relative to the root; each stage keeps a month's
outputs under ``<area>/period=YYYY-MM/`` (see :func:`period_prefix`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tierlib.errors import StorageError
from tierlib.storage._base import Storage
from tierlib.storage._keys import period_prefix
from tierlib.storage._local import LocalStorage

if TYPE_CHECKING:
    import boto3
    import botocore.config

    from tierlib.storage._s3 import S3Storage

__all__ = ["LocalStorage", "S3Access", "S3Storage", "Storage", "open_storage", "period_prefix"]


def open_storage(
    location: str | os.PathLike[str],
    endpoint_url: str | None = None,
    region_name: str | None = None,
    boto3_session: boto3.session.Session | None = None,
    botocore_config: botocore.config.Config | None = None,
    **s3_options: Any,
) -> Storage:
    """Open the storage root at ``location``: ``s3://bucket/prefix`` or a local folder.

    ``endpoint_url``, ``region_name``, ``boto3_session`` and ``botocore_config`` (merged over
    Tierflow's retry policy, its values winning) concern S3 only and are
    ignored for a folder, so one config can switch between the two by its root
    alone.  ``s3_options`` go to :class:`S3Storage` (``multipart_threshold``,
    ``multipart_chunksize``, ``checksum_algorithm``).
    """
    if isinstance(location, os.PathLike):
        location = os.fspath(location)
    if not isinstance(location, str) or location.strip() == "":
        raise StorageError(f"storage root {location!r} is empty: give a folder or s3://bucket/prefix")
    if location.startswith("s3://"):
        from tierlib.storage._s3 import S3Storage  # boto3 is imported only when S3 is used

        return S3Storage(
            location,
            endpoint_url=endpoint_url,
            region_name=region_name,
            boto3_session=boto3_session,
            botocore_config=botocore_config,
            **s3_options,
        )
    if location.startswith("file://"):
        location = location[len("file://") :]
    elif "://" in location:
        scheme = location.split("://", 1)[0]
        raise StorageError(
            f"storage root {location!r} uses {scheme}://, which Tierflow does not support: "
            "use s3://bucket/prefix (any S3-compatible endpoint) or a local folder"
        )
    if s3_options:
        raise StorageError(
            f"options {sorted(s3_options)} apply to S3 roots only; {location!r} is a local folder"
        )
    return LocalStorage(location)


@dataclass(frozen=True)
class S3Access:
    """How every S3 read of a run is made: the storage root, source drops, opt-out lists, the UI view.

    One credential path: in Airflow all four come from the connection named by
    ``storage.aws_conn_id`` (``tierflow_airflow.support.s3_access``): its boto3 session and its
    botocore settings, kept as the connection gives them.  Outside Airflow, boto3's default chain.
    """

    boto3_session: Any = None
    endpoint_url: str | None = None
    region_name: str | None = None
    botocore_config: Any = None

    def open(self, location: str | os.PathLike[str]) -> Storage:
        """A storage at ``location`` (a folder or ``s3://bucket/prefix``) reached this way."""
        return open_storage(
            location,
            endpoint_url=self.endpoint_url,
            region_name=self.region_name,
            boto3_session=self.boto3_session,
            botocore_config=self.botocore_config,
        )


def __getattr__(name: str) -> Any:
    # S3Storage is importable from here without making boto3 a cost of every import.
    if name == "S3Storage":
        from tierlib.storage._s3 import S3Storage

        return S3Storage
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
