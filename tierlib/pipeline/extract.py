"""Extract stage: standardize each channel's month into storage, filling in missing history."""

from __future__ import annotations

from tierlib.catalog import quarantine_key, standardized_key, standardized_marker_key
from tierlib.errors import ExtractError
from tierlib.extract import SourceMissing, extract_table
from tierlib.pipeline.context import RunContext, log


def extract_channel_month(ctx: RunContext, channel_name: str, period: str) -> dict:
    """Read, standardize and store every table of one channel for one month.

    The month's keys are overwritten as a whole, and the marker goes last, so a
    reader that finds the marker finds a complete month.
    """
    channel = ctx.config.channels[channel_name]
    figures: dict[str, dict[str, int]] = {}
    results = {}
    for kind in channel.tables():
        try:
            results[kind] = extract_table(channel_name, channel, kind, period, ctx.config.run.timezone)
        except SourceMissing as missing:
            raise ExtractError(
                f"channel {channel_name}, {period}: {missing}. The month's {kind} drop has not arrived; "
                f"deliver it, or run without this channel (param 'channels')."
            ) from missing
    ctx.storage.delete(standardized_marker_key(period, channel_name))
    for kind, result in results.items():
        ctx.storage.write_parquet(standardized_key(period, channel_name, kind), result.accepted)
        ctx.storage.write_parquet(quarantine_key(period, "extract", channel_name, kind), result.quarantined)
        figures[kind] = result.figures
        log.info(
            "extract %s %s %s: %d rows in, %d accepted, %d quarantined",
            channel_name,
            period,
            kind,
            result.figures["rows_in"],
            result.figures["accepted"],
            result.figures["quarantined"],
        )
    ctx.storage.write_json(standardized_marker_key(period, channel_name), figures)
    return figures


def run_extract_channel(ctx: RunContext, channel_name: str) -> dict:
    """Extract the run's month (always) and any history month not yet in storage.

    A history month whose source has not been delivered is skipped and counted:
    channels start at different times.  The run's own month must be there.
    """
    history: dict[str, object] = {}
    for period in ctx.history_periods[:-1]:
        if ctx.storage.exists(standardized_marker_key(period, channel_name)):
            continue
        try:
            history[period] = extract_channel_month(ctx, channel_name, period)
        except ExtractError as error:
            if not isinstance(error.__cause__, SourceMissing):
                raise
            history[period] = "no source"
    if history:
        filled = sum(1 for value in history.values() if value != "no source")
        log.info(
            "extract %s: filled %d history months (%d had no source)",
            channel_name,
            filled,
            len(history) - filled,
        )
    month = extract_channel_month(ctx, channel_name, ctx.period)
    return {
        "channel": channel_name,
        "period": ctx.period,
        "tables": month,
        "history_months_filled": len(history),
    }
