"""Settings of the ``privacy`` config section: where erasure requests come from."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PrivacySettings:
    erasure_requests: str | None = None
    """A CSV or Parquet file of erasure requests: a local path (relative to the config file) or
    ``s3://bucket/key``.  Columns: ``request_id``, ``requested_at`` and one or more of ``phone``,
    ``email``, ``member_id``, ``unionid``, ``oneid``.  Keep it outside the storage root."""
    erasure_requests_url: str | None = None
    """Or a SQLAlchemy URL whose ``erasure_requests_table`` holds the requests (same columns)."""
    erasure_requests_table: str = "erasure_requests"
