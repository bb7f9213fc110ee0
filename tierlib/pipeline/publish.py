"""Publish stage: read tiers, records, identity and opt-outs; write the month's exports atomically."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import re
import time

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tierlib.catalog import (
    exports_prefix,
    identity_key,
    identity_map_key,
    read_standardized,
    scores_key,
    standardized_key,
    tiers_key,
)
from tierlib.errors import ConfigError, InputError
from tierlib.period import previous_period, shift_period
from tierlib.pipeline.context import RunContext, log, read_location
from tierlib.publish import (
    ROLES,
    ExportFile,
    ExportTables,
    PublishSettings,
    Suppression,
    build_exports,
    decode,
    encode,
    lift_table,
    member_outcomes,
    publish,
    read_published,
    segment_file_path,
    suppression_from_frames,
    upload_archives,
    upload_file_path,
)
from tierlib.publish._contacts import RECORD_INPUT_COLUMNS
from tierlib.publish._control import empty_program, program_lift
from tierlib.publish._lift import lift_records

SECTION = "exports"
UPLOAD_ROLES = ("members", "added", "removed")
ASSIGNMENTS_PATH = "assignments.parquet"
LIFT_PARQUET_PATH = "lift/lift.parquet"
LIFT_JSON_PATH = "lift/lift.json"
PROGRAM_PATH = "program.parquet"
CONTACT_LOG_PATH = "contact_log.parquet"
PROGRAM_LIFT_PARQUET_PATH = "lift/program.parquet"
PROGRAM_LIFT_JSON_PATH = "lift/program.json"
_STANDARDIZED_PERIOD = re.compile(r"^standardized/period=(\d{4}-\d{2})/")


def run_publish(ctx: RunContext) -> dict:
    """Build and publish the month's segment exports; return the run's figures.

    A dry run (``ctx.dry_run``) builds, stages and verifies every file but leaves
    the published month untouched.
    """
    started = time.perf_counter()
    settings: PublishSettings = ctx.config.stage(SECTION)
    if not settings.channels:
        log.warning(
            "publish %s: no export channels in config section '%s'; nothing published", ctx.period, SECTION
        )
        return {"period": ctx.period, "skipped": "no export channels configured"}
    _check_record_channels(ctx, settings)
    suppression = load_suppression(ctx, settings)

    tiers = _read_required(ctx.storage, tiers_key(ctx.period), "tiers")
    model_version = _model_version(ctx)
    identity_map = _read_required(ctx.storage, identity_map_key(ctx.period), "identity")
    records = read_records_up_to(ctx.storage, ctx.period, ctx.channels)
    previous = previous_publish(ctx.storage, ctx.period)
    seconds_reading = time.perf_counter() - started

    tables = build_exports(
        tiers,
        records,
        identity_map,
        suppression,
        settings,
        previous=None if previous is None else previous["members"],
        period=ctx.period,
        contact_history=contact_history(ctx.storage, ctx.period, settings.contact_budget.window_months),
    )
    lift, lift_header, program_lift_table = _lift(ctx, settings, previous, identity_map)
    files = export_files(tables, settings, lift, lift_header, program_lift_table)
    header = _manifest_header(ctx, settings, tables, model_version, previous is not None, suppression)
    dry_run = bool(getattr(ctx, "dry_run", False))
    commit = publish(
        ctx.storage, ctx.period, files, header, workers=settings.parallel_transfers, commit=not dry_run
    )
    figures = {
        "period": ctx.period,
        "prefix": exports_prefix(ctx.period),
        "model_version": model_version,
        "previous_published": previous is not None,
        **tables.figures,
        "lift_rows": len(lift),
        "program_lift_rows": len(program_lift_table),
        **commit,
        "seconds_reading": round(seconds_reading, 3),
        "seconds": round(time.perf_counter() - started, 3),
    }
    log.info(
        "publish %s: %d files (%s), %d members suppressed, commit %s",
        ctx.period,
        commit["files"],
        _size(commit["bytes"]),
        tables.figures["members_suppressed"],
        commit["commit"],
    )
    return figures


def export_files(
    tables: ExportTables,
    settings: PublishSettings,
    lift: pd.DataFrame,
    lift_header: dict,
    program_lift_table: pd.DataFrame | None = None,
) -> list[ExportFile]:
    """Encode every table of the month into the files of its publish."""
    files = []
    for (channel, segment), roles in sorted(tables.segments.items()):
        for role in ROLES:
            for file_format in settings.formats:
                frame = roles[role]
                files.append(
                    ExportFile(
                        path=segment_file_path(channel, segment, role, file_format),
                        data=encode(frame, file_format),
                        rows=len(frame),
                        role=role,
                        format=file_format,
                        channel=channel,
                        segment=segment,
                    )
                )
        files.extend(_upload_files(channel, segment, roles, settings))
        if settings.channels[channel].kind == "wecom":
            tasks = wecom_tasks(roles["members"])
            path = f"channel={channel}/segment={segment}/tasks.json"
            files.append(
                ExportFile(
                    path, _json_bytes(tasks), len(tasks), "tasks", "json", channel=channel, segment=segment
                )
            )
    files.append(
        _file(ASSIGNMENTS_PATH, encode(tables.assignments, "parquet"), len(tables.assignments), "assignments")
    )
    if tables.contact_log is not None:
        log_data = encode(tables.contact_log, "parquet")
        files.append(_file(CONTACT_LOG_PATH, log_data, len(tables.contact_log), "contact_log"))
    files.append(_file(PROGRAM_PATH, encode(tables.program, "parquet"), len(tables.program), "program"))
    if program_lift_table is None:
        program_lift_table = program_lift(empty_program(), _no_outcomes())
    files.append(
        _file(
            PROGRAM_LIFT_PARQUET_PATH,
            encode(program_lift_table, "parquet"),
            len(program_lift_table),
            "program_lift",
        )
    )
    program_json = {**lift_header, "rows": lift_records(program_lift_table)}
    files.append(
        _file(PROGRAM_LIFT_JSON_PATH, _json_bytes(program_json), len(program_lift_table), "program_lift")
    )
    files.append(_file(LIFT_PARQUET_PATH, encode(lift, "parquet"), len(lift), "lift"))
    lift_json = {**lift_header, "rows": lift_records(lift)}
    files.append(_file(LIFT_JSON_PATH, _json_bytes(lift_json), len(lift), "lift"))
    return files


def _upload_files(channel: str, segment: str, roles: dict, settings: PublishSettings) -> list[ExportFile]:
    """An ad platform channel's upload archives: members (full), added (APPEND), removed (REDUCE)."""
    export = settings.channels[channel]
    if export.upload_limit is None:
        return []
    column = export.export_columns[0]
    files = []
    for role in UPLOAD_ROLES:
        archives = upload_archives(roles[role][column], role, export.upload_limit)
        for number, (data, rows) in enumerate(archives, start=1):
            files.append(
                ExportFile(
                    path=upload_file_path(channel, segment, role, number),
                    data=data,
                    rows=rows,
                    role=f"upload_{role}",
                    format="zip",
                    channel=channel,
                    segment=segment,
                )
            )
    return files


WECOM_CUSTOMERS_PER_TASK = 20000
"""WeCom: one group send reaches at most 20000 customers (docs/publish.md)."""


def wecom_tasks(members: pd.DataFrame) -> list[dict]:
    """A segment's group-send tasks: per guide (``sender``), their customers' external contact ids
    (at most WECOM_CUSTOMERS_PER_TASK a task) and the phones of customers they have yet to add."""
    tasks = []
    for guide, rows in members.groupby("guide_id", sort=True):
        externals = sorted(rows["external_userid"].dropna())
        phones = sorted(rows["phone"].dropna())
        chunks = [
            externals[start : start + WECOM_CUSTOMERS_PER_TASK]
            for start in range(0, len(externals), WECOM_CUSTOMERS_PER_TASK)
        ] or [[]]
        for number, chunk in enumerate(chunks):
            task = {"sender": str(guide), "chat_type": "single", "external_userid": chunk}
            task["phones_to_add"] = phones if number == 0 else []
            tasks.append(task)
    return tasks


def _file(path: str, data: bytes, rows: int, role: str) -> ExportFile:
    return ExportFile(path=path, data=data, rows=rows, role=role, format=path.rsplit(".", 1)[1])


def _json_bytes(obj) -> bytes:
    return (json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode()


def load_suppression(ctx: RunContext, settings: PublishSettings) -> Suppression:
    """Read and normalize every opt-out list the config names; a named list that is missing stops the run."""
    if settings.suppression is None:
        raise ConfigError(
            f"{ctx.config.path}: {SECTION}.suppression is not set. Name the opt-out list(s) (CSV or Parquet "
            "with phone and/or email columns), or write 'suppression: []' to publish without one"
        )
    frames = []
    for index, location in enumerate(settings.suppression):
        where = f"{SECTION}.suppression[{index}] ({location})"
        frames.append((where, _read_table(ctx, location, where)))
    return suppression_from_frames(frames, settings.default_region)


def _read_table(ctx: RunContext, location: str, where: str) -> pd.DataFrame:
    data = read_location(ctx, location, where, "The opt-out list must be there before anything is published")
    try:
        if location.lower().endswith(".parquet"):
            return pq.read_table(pa.BufferReader(data)).to_pandas()
        return pd.read_csv(io.BytesIO(data), dtype="string", keep_default_na=False, encoding="utf-8-sig")
    except (pa.ArrowException, ValueError, UnicodeDecodeError) as error:
        raise InputError(
            f"{where}: cannot read the opt-out list ({error}); give UTF-8 CSV or Parquet"
        ) from error


def _check_record_channels(ctx: RunContext, settings: PublishSettings) -> None:
    problems = []
    for name, channel in settings.channels.items():
        unknown = sorted(set(channel.record_channels) - set(ctx.config.channels))
        if unknown:
            problems.append(
                f"{SECTION}.channels.{name}.record_channels: {unknown} are not source channels; "
                f"configured: {sorted(ctx.config.channels)}"
            )
    if problems:
        raise ConfigError(f"{ctx.config.path}: " + "; ".join(problems))


def _read_required(storage, key: str, stage: str) -> pd.DataFrame:
    if not storage.exists(key):
        raise InputError(f"{storage.uri(key)} does not exist: run the {stage} stage for this month first")
    return storage.read_parquet(key)


def _model_version(ctx: RunContext) -> str:
    scores = _read_required(ctx.storage, scores_key(ctx.period), "score")
    if "model_version" not in scores.columns:
        raise InputError(
            f"{ctx.storage.uri(scores_key(ctx.period))} has no model_version column; rerun the score stage"
        )
    versions = sorted(scores["model_version"].dropna().astype(str).unique())
    if not versions:
        raise InputError(
            f"{ctx.storage.uri(scores_key(ctx.period))} names no model_version; rerun the score stage"
        )
    return ",".join(versions)


def standardized_periods(storage, up_to: str) -> list[str]:
    """Months with standardized data in storage, up to and including ``up_to``, oldest first."""
    periods = set()
    for key in storage.list("standardized/period="):
        match = _STANDARDIZED_PERIOD.match(key)
        if match and match.group(1) <= up_to:
            periods.add(match.group(1))
    return sorted(periods)


def read_records_up_to(storage, period: str, channels: list[str]) -> pd.DataFrame:
    """Every record version of every month up to ``period``: only the columns publishing uses.

    The identity stage keeps exactly that as a snapshot beside its map (the records
    the map was built from); without one, every standardized month is read.
    """
    snapshot = identity_key(period, "records")
    if storage.exists(snapshot):
        return storage.read_parquet(snapshot, columns=list(RECORD_INPUT_COLUMNS))
    frames = []
    for month in standardized_periods(storage, period):
        for channel in channels:
            key = standardized_key(month, channel, "records")
            if storage.exists(key):
                frame = storage.read_parquet(key, columns=list(RECORD_INPUT_COLUMNS))
                if len(frame):
                    frames.append(frame)
    if not frames:
        return read_standardized(storage, "records", [], channels)[list(RECORD_INPUT_COLUMNS)]
    return pd.concat(frames, ignore_index=True)


def previous_publish(storage, period: str) -> dict | None:
    """Last month's published members tables and assignments, or None if it was not published."""
    earlier = previous_period(period)
    manifest = read_published(storage, earlier)
    if manifest is None:
        return None
    prefix = manifest["prefix"]
    members: dict[tuple[str, str], pd.DataFrame] = {}
    chosen: dict[tuple[str, str], dict] = {}
    for entry in manifest["files"]:
        if entry["role"] != "members":
            continue
        pair = (entry["channel"], entry["segment"])
        if pair not in chosen or entry["format"] == "parquet":
            chosen[pair] = entry
    for pair, entry in chosen.items():
        key = prefix + entry["path"]
        members[pair] = decode(storage.read_bytes(key), entry["format"], storage.uri(key))
    tables = {"assignments": None, "program": None}
    for entry in manifest["files"]:
        if entry["role"] in tables:
            tables[entry["role"]] = storage.read_parquet(prefix + entry["path"])
    return {"period": earlier, "members": members, **tables}


def contact_history(storage, period: str, window_months: int) -> pd.DataFrame | None:
    """The contact logs of the budget window's earlier months (those that were published)."""
    frames = []
    for back in range(1, window_months):
        month = shift_period(period, -back)
        manifest = read_published(storage, month)
        if manifest is None:
            continue
        for entry in manifest["files"]:
            if entry["role"] == "contact_log":
                frames.append(storage.read_parquet(manifest["prefix"] + entry["path"]))
    return pd.concat(frames, ignore_index=True) if frames else None


def _lift(
    ctx: RunContext, settings: PublishSettings, previous: dict | None, identity_map
) -> tuple[pd.DataFrame, dict, pd.DataFrame]:
    """Last month's segment lift, its JSON header, and the program's lift against the global control."""
    header = {
        "segments_period": previous_period(ctx.period),
        "outcome_period": ctx.period,
        "confidence": settings.lift_confidence,
    }
    if previous is None or previous["assignments"] is None:
        empty = lift_table(_empty_assignments(), member_outcomes(_empty_orders(), identity_map))
        note = {**header, "note": "last month was not published: no lift to measure"}
        return empty, note, program_lift(empty_program(), _no_outcomes())
    orders = read_standardized(ctx.storage, "orders", [ctx.period], ctx.channels)
    outcomes = member_outcomes(orders, identity_map)
    table = lift_table(previous["assignments"], outcomes, settings.lift_confidence)
    program = previous["program"] if previous["program"] is not None else empty_program()
    return table, header, program_lift(program, outcomes, settings.lift_confidence)


def _no_outcomes() -> pd.DataFrame:
    return pd.DataFrame({"oneid": [], "converted": [], "spend": []}).astype(
        {"oneid": "string", "converted": "bool", "spend": "float64"}
    )


def _empty_assignments() -> pd.DataFrame:
    from tierlib.publish import ASSIGNMENT_COLUMNS

    return pd.DataFrame({name: [] for name in ASSIGNMENT_COLUMNS}).astype(ASSIGNMENT_COLUMNS)


def _empty_orders() -> pd.DataFrame:
    return pd.DataFrame({"channel": [], "record_id": [], "amount": [], "refund_amount": []}).astype(
        {"channel": "string", "record_id": "string", "amount": "float64", "refund_amount": "float64"}
    )


def _manifest_header(
    ctx: RunContext,
    settings: PublishSettings,
    tables: ExportTables,
    model_version: str,
    previous_published: bool,
    suppression: Suppression,
) -> dict:
    segments = []
    for (channel, segment), roles in sorted(tables.segments.items()):
        share, salt = settings.segment_holdout(segment)
        export = settings.channels[channel]
        segments.append(
            {
                "channel": channel,
                "kind": export.kind,
                "segment": segment,
                "columns": list(settings.channels[channel].export_columns),
                "priority": settings.segments[segment].priority,
                "holdout_share": share,
                "campaign_salt_sha256": hashlib.sha256(salt.encode("utf-8")).hexdigest(),
                "delta_basis": tables.delta_basis[(channel, segment)],
                "rows": {role: len(roles[role]) for role in ROLES},
                "invalid": tables.invalid.get((channel, segment), {}),
                "over_budget": tables.figures["channels"][channel]["segments"][segment]["over_budget"],
            }
        )
    return {
        "config_digest": ctx.config.digest,
        "model_version": model_version,
        "previous_period": previous_period(ctx.period),
        "previous_published": previous_published,
        "suppression_lists": list(settings.suppression or ()),
        "suppression_entries": len(suppression.phones) + len(suppression.emails),
        "global_control": _control_header(settings, ctx.period),
        "contact_budget": dataclasses.asdict(settings.contact_budget),
        "segments": segments,
    }


def _control_header(settings: PublishSettings, period: str) -> dict:
    control = settings.global_control
    return {
        "share": control.share,
        "rotation": control.rotation,
        "salt_sha256": hashlib.sha256(control.period_salt(period).encode("utf-8")).hexdigest(),
    }


def _size(count: int) -> str:
    return f"{count / 1e6:.1f} MB" if count >= 1e5 else f"{count} B"
