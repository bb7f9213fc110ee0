"""Extract stage: standardize and validate each channel's month into storage, filling in missing history.

Per table: connector -> source schema check -> standardize -> raw validation
(GX).  Accepted rows go to ``standardized/``; extract's and validation's
rejects together to ``quarantine/.../stage=extract/``.  A month is written
only after every table of the channel passed, so a failing channel keeps its
previous outputs for the month whole.
"""

from __future__ import annotations

import tempfile
import time

from tierlib.catalog import field_quarantine_key, quarantine_key, standardized_key, standardized_marker_key
from tierlib.errors import ExtractError
from tierlib.extract import SourceMissing, Standardized, standardize
from tierlib.extract.connectors import read_source_table
from tierlib.period import previous_period
from tierlib.pipeline.context import RunContext, log
from tierlib.pipeline.redelivered import DeliveredOrders
from tierlib.schemas import COLUMNS_BY_KIND, QUARANTINE_COLUMNS, empty_frame


def extract_channel_month(
    ctx: RunContext, channel_name: str, period: str, delivered: DeliveredOrders | None = None
) -> dict:
    """Read, standardize, validate and store every table of one channel for one month.

    Returns ``{kind: figures}`` (rows_in = accepted + quarantined, per reason).
    Raises ``ValidationFailed`` before writing anything when a table's schema
    changed, a critical check failed, the quarantined share passed its
    threshold, the volume left its band, most of an identifier column is damaged,
    or the whole channel is empty.  ``delivered``: the channel's stored order ids,
    shared by the months of one run.
    """
    return _extract_month(ctx, channel_name, period, delivered)[0]


def _extract_month(
    ctx: RunContext, channel_name: str, period: str, delivered: DeliveredOrders | None = None
) -> tuple[dict, str | None]:
    from tierlib.extract.identifiers import identifier_quality
    from tierlib.pipeline.erasure import erasure_filter, exclude_standardized, remember_records
    from tierlib.validation import (
        Failure,
        ValidationSettings,
        data_docs_prefix,
        identifier_findings,
        parse_drift_failures,
        publish_data_docs,
        raise_for_failures,
        source_schema_failures,
        validate_raw,
    )

    channel = ctx.config.channels[channel_name]
    erasure = erasure_filter(ctx)
    erased_records: set = set()
    erased_rows: dict[str, int] = {}
    # A Config made in code may lack the section; the defaults are what an empty section gives.
    settings = ctx.config.stages.get("validation") or ValidationSettings()
    identity = ctx.config.stages.get("identity")
    region = getattr(identity, "default_region", "CN")
    delivered = delivered or DeliveredOrders(ctx, channel_name)
    docs = settings.data_docs == "all" or (settings.data_docs == "run_month" and period == ctx.period)
    previous_marker = _previous_marker(ctx, channel_name, period)
    previous = {kind: int(counts["accepted"]) for kind, counts in previous_marker.items()}
    outcomes = {}
    failures: list = []
    warnings: list[dict] = []
    sources = {}
    with tempfile.TemporaryDirectory(prefix="tierflow-gx-") as workdir:
        for kind, mapping in channel.tables().items():
            try:
                table = read_source_table(
                    channel_name, channel, kind, period, ctx.config.run.timezone, ctx.connections, ctx.s3
                )
            except SourceMissing as missing:
                raise ExtractError(
                    f"channel {channel_name}, {period}: {missing}. The month's {kind} drop has not arrived; "
                    f"deliver it, or run without this channel (param 'channels')."
                ) from missing
            sources[kind] = table.source
            drift = source_schema_failures(table, channel=channel_name, kind=kind, mapping=mapping)
            if drift:
                failures += drift
                continue
            if len(table.frame) == 0:
                result = _empty_standardized(kind)
            else:
                result = standardize(
                    table, channel_name, kind, mapping, ctx.config.run.timezone, channel.null_values
                )
            # Erasure is its own step: erased people's rows leave before anything checks or keeps them.
            result, erased_rows[kind] = exclude_standardized(
                ctx, erasure, table, result, kind, mapping, erased_records
            )
            drift = parse_drift_failures(
                table, result, channel=channel_name, kind=kind, mapping=mapping, settings=settings
            )
            if drift:
                failures += drift
                continue
            outcome = validate_raw(
                result,
                channel=channel_name,
                kind=kind,
                period=period,
                settings=settings,
                as_of=ctx.as_of if period <= ctx.period else None,
                previous_rows=previous.get(kind),
                source=table.source,
                source_frame=table.frame,
                context_dir=workdir,
                build_docs=docs,
                source_columns=mapping.columns,
                delivered_elsewhere=delivered.elsewhere(period, mapping.redelivered)
                if kind == "orders"
                else None,
            )
            if erasure:
                outcome.figures["erased"] = erased_rows[kind]
                outcome.figures["rows_in"] += erased_rows[kind]
            outcomes[kind] = outcome
            failures += outcome.failures
            if table.encoding and table.encoding != channel.encoding:
                outcome.figures["encoding"] = table.encoding
            if kind == "records":
                quality = identifier_quality(outcome.accepted, mapping.columns, region)
                outcome.figures["identifiers"] = quality
                stops, raised = identifier_findings(
                    quality,
                    previous_marker.get("records", {}).get("identifiers"),
                    channel=channel_name,
                    period=period,
                    where=f"channel {channel_name}, records of {period} ({table.source})",
                    settings=settings,
                )
                failures += stops
                warnings += raised
            _log_table(channel_name, period, kind, outcome.figures)
        empty = len(outcomes) == len(sources) and all(o.figures["rows_in"] == 0 for o in outcomes.values())
        if empty and not settings.allow_empty_channel:
            failures.insert(
                0,
                Failure(
                    "empty_channel",
                    f"channel {channel_name}: every table of {period} is empty "
                    f"({', '.join(sources.values())}). The month's export came out empty: check the job "
                    f"that writes it and deliver again, or set validation.allow_empty_channel if that is "
                    f"expected.",
                ),
            )
        docs_uri = None
        if docs:
            docs_uri = publish_data_docs(
                ctx.storage, workdir, data_docs_prefix(period, "extract", channel_name)
            )
            if docs_uri:
                log.info("extract %s %s: Data Docs at %s", channel_name, period, docs_uri)
    if failures:
        for failure in failures:
            log.error("extract %s %s: %s", channel_name, period, failure.message)
        raise_for_failures(failures)

    for warning in warnings:
        log.warning("extract %s %s: %s", channel_name, period, warning["message"])
    figures: dict[str, dict] = {}
    ctx.storage.delete(standardized_marker_key(period, channel_name))
    if erasure:
        remember_records(ctx, erasure, period, f"channel={channel_name}", erased_records)
    for kind, outcome in outcomes.items():
        ctx.storage.write_parquet(standardized_key(period, channel_name, kind), outcome.accepted)
        ctx.storage.write_parquet(quarantine_key(period, "extract", channel_name, kind), outcome.quarantined)
        ctx.storage.write_parquet(field_quarantine_key(period, "extract", channel_name, kind), outcome.fields)
        figures[kind] = outcome.figures
    if warnings:
        figures["records"]["warnings"] = warnings
    # The marker is an output like the tables: a rerun writes the same bytes, so no timings in it.
    marker = {
        kind: {k: v for k, v in counts.items() if k != "validation_seconds"}
        for kind, counts in figures.items()
    }
    ctx.storage.write_json(standardized_marker_key(period, channel_name), marker)
    if "orders" in outcomes:
        delivered.written(period, outcomes["orders"].accepted)
        if channel.orders.redelivered == "update":
            moved = delivered.supersede_earlier(period, outcomes["orders"].accepted)
            if moved:
                figures["orders"]["superseded_earlier"] = moved
    return figures, docs_uri


def _log_table(channel: str, period: str, kind: str, figures: dict) -> None:
    reasons = ", ".join(f"{reason} {count}" for reason, count in figures["reasons"].items())
    log.info(
        "extract %s %s %s: %d rows in = %d accepted + %d quarantined (%d extract, %d validation%s)"
        "%s in %.1f s",
        channel,
        period,
        kind,
        figures["rows_in"],
        figures["accepted"],
        figures["quarantined"],
        figures["quarantined_extract"],
        figures["quarantined_validation"],
        f"; {reasons}" if reasons else "",
        f" + {figures['erased']} erased" if figures.get("erased") else "",
        figures["validation_seconds"],
    )


def _previous_marker(ctx: RunContext, channel_name: str, period: str) -> dict[str, dict]:
    """Last month's figures per table, from its marker (empty when it was not extracted)."""
    key = standardized_marker_key(previous_period(period), channel_name)
    if not ctx.storage.exists(key):
        return {}
    return ctx.storage.read_json(key)


def _empty_standardized(kind: str) -> Standardized:
    # An empty text file has no header to standardize; its table is empty all the same.
    columns = dict(COLUMNS_BY_KIND[kind])
    columns.update({"source_file": "string", "source_row": "int64"})
    return Standardized(empty_frame(columns), empty_frame(QUARANTINE_COLUMNS))


def run_extract_channel(ctx: RunContext, channel_name: str) -> dict:
    """Extract the run's month (always) and any history month not yet in storage.

    A history month whose source has not been delivered is skipped and counted:
    channels start at different times.  The run's own month must be there.
    """
    started = time.perf_counter()
    history: dict[str, object] = {}
    delivered = DeliveredOrders(ctx, channel_name)
    for period in ctx.history_periods[:-1]:
        if ctx.storage.exists(standardized_marker_key(period, channel_name)):
            continue
        try:
            history[period] = extract_channel_month(ctx, channel_name, period, delivered)
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
    month, docs_uri = _extract_month(ctx, channel_name, ctx.period, delivered)
    totals = {
        name: sum(counts.get(name, 0) for counts in month.values())
        for name in ("rows_in", "accepted", "quarantined", "erased")
    }
    log.info(
        "extract %s %s: %d rows in = %d accepted + %d quarantined over %d tables in %.1f s",
        channel_name,
        ctx.period,
        totals["rows_in"],
        totals["accepted"],
        totals["quarantined"],
        len(month),
        time.perf_counter() - started,
    )
    return {
        "channel": channel_name,
        "period": ctx.period,
        "tables": month,
        "totals": totals,
        "history_months_filled": len(history),
        "data_docs": docs_uri,
        "warnings": month.get("records", {}).get("warnings", []),
    }
