"""Extract: read a channel's month of source data and map it onto the standard tables."""

from __future__ import annotations

from tierlib.config import ChannelConfig
from tierlib.extract.connectors import SourceMissing, SourceTable, read_source_table
from tierlib.extract.sql import count_month_rows
from tierlib.extract.standardize import Standardized, standardize

__all__ = ["SourceMissing", "SourceTable", "Standardized", "count_month_rows", "extract_table", "standardize"]


def extract_table(
    channel_name: str, channel: ChannelConfig, kind: str, period: str, timezone: str = "Asia/Shanghai"
) -> Standardized:
    """One channel's ``kind`` table for ``period``, standardized, with its rejected rows."""
    table = read_source_table(channel_name, channel, kind, period, timezone)
    return standardize(table, channel_name, kind, channel.tables()[kind], timezone)
