"""Where every dataset lives in storage: one function per dataset, so no stage spells a key twice.

Layout: ``<area>/period=YYYY-MM/...``; re-running a month overwrites that month's keys.
"""

from __future__ import annotations

import pandas as pd

from tierlib.period import parse_period
from tierlib.schemas import COLUMNS_BY_KIND, LINEAGE_COLUMNS, empty_frame


def _period(area: str, period: str) -> str:
    parse_period(period)
    return f"{area}/period={period}"


def standardized_key(period: str, channel: str, kind: str) -> str:
    return f"{_period('standardized', period)}/channel={channel}/{kind}.parquet"


def standardized_marker_key(period: str, channel: str) -> str:
    """Written last when a channel's month is extracted; holds the figures."""
    return f"{_period('standardized', period)}/channel={channel}/_SUCCESS.json"


def quarantine_key(period: str, stage: str, channel: str, kind: str) -> str:
    return f"{_period('quarantine', period)}/stage={stage}/channel={channel}/{kind}.parquet"


def figures_key(period: str, stage: str) -> str:
    return f"{_period('runs', period)}/{stage}.json"


def read_standardized(storage, kind: str, periods: list[str], channels: list[str]) -> pd.DataFrame:
    """All accepted rows of ``kind`` for those months and channels, in a stable order."""
    frames = []
    for period in periods:
        for channel in channels:
            key = standardized_key(period, channel, kind)
            if storage.exists(key):
                frames.append(storage.read_parquet(key))
    if not frames:
        columns = dict(COLUMNS_BY_KIND[kind])
        columns.update({"source_file": "string", "source_row": "int64"})
        return empty_frame(columns)
    frames = [frame for frame in frames if len(frame)] or frames[:1]
    return pd.concat(frames, ignore_index=True)


__all__ = [
    "LINEAGE_COLUMNS",
    "figures_key",
    "quarantine_key",
    "read_standardized",
    "standardized_key",
    "standardized_marker_key",
]
