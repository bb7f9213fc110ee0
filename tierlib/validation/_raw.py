"""Raw suites: one channel's standardized records, orders or events for one month.

The suites check what standardization cannot: values against the month and
the as-of instant, amounts, uniqueness, and the table's volume against last
month.  Failing rows join extract's rejects in the quarantine; the run stops
on a critical check or when a table's quarantined share passes the threshold.
"""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np
import pandas as pd

from tierlib.period import as_of as as_of_period
from tierlib.period import period_end, period_start, previous_period
from tierlib.schemas import (
    FIELD_QUARANTINE_COLUMNS,
    FLOAT,
    REQUIRED_COLUMNS_BY_KIND,
    STRING,
    TIME_COLUMN_BY_KIND,
    TIMESTAMP,
    empty_frame,
)
from tierlib.validation._engine import Check, row_verdicts, run_checks
from tierlib.validation._outcome import (
    Failure,
    ValidationOutcome,
    check_failures,
    check_figures,
    quarantine_frame,
)
from tierlib.validation.settings import ValidationSettings

RAW_CHECKED_COLUMNS: dict[str, dict[str, str]] = {
    "records": {
        "record_id": STRING,
        "updated_at": TIMESTAMP,
        "registered_at": TIMESTAMP,
        "birth_date": TIMESTAMP,
    },
    "orders": {
        "order_id": STRING,
        "record_id": STRING,
        "ordered_at": TIMESTAMP,
        "amount": FLOAT,
        "discount": FLOAT,
        "refund_amount": FLOAT,
    },
    "events": {"record_id": STRING, "event_type": STRING, "ts": TIMESTAMP},
}
"""The standard columns the raw suites read; the suites check that each is there with its type."""

GX_TYPE_NAMES = {
    STRING: "str",
    TIMESTAMP: "datetime64",
    FLOAT: "float64",
    "boolean": "bool",
    "int64": "int64",
}
"""Contract dtype -> the type name GX reports for it on pandas 3 (``string`` shows as ``str``)."""

AMOUNT_COLUMNS = ("amount", "discount", "refund_amount")


def raw_checks(
    kind: str,
    *,
    period: str,
    settings: ValidationSettings,
    as_of: datetime | None = None,
    previous_rows: int | None = None,
) -> list[Check]:
    """The raw suite of ``kind`` for ``period``, in priority order.

    A row failing several checks is quarantined with the first one's reason.

    ``as_of`` is the run's as-of instant (default: the end of ``period``);
    ``previous_rows`` last month's accepted rows of the table, for the volume check.
    """
    if kind not in RAW_CHECKED_COLUMNS:
        raise ValueError(f"unknown table {kind!r}; raw tables are {', '.join(RAW_CHECKED_COLUMNS)}")
    as_of = as_of or as_of_period(period)
    start, end = period_start(period), period_end(period)
    columns = RAW_CHECKED_COLUMNS[kind]
    checks: list[Check] = []
    for column, dtype in columns.items():
        # The type check fails on a missing column too; a separate ExpectColumnToExist would only
        # add GX's fixed cost per expectation (about 30 ms) to every table of every month.
        checks.append(
            Check(
                f"{kind}.column_type.{column}",
                "ExpectColumnValuesToBeOfType",
                {"column": column, "type_": GX_TYPE_NAMES[dtype]},
                rule=f"of type {dtype}",
            )
        )
    key = "order_id" if kind == "orders" else "record_id"
    keys = [key] + (["record_id"] if kind == "orders" else [])
    for column in keys:
        checks.append(_not_null(kind, column, "missing_key"))
    time_column = TIME_COLUMN_BY_KIND[kind]
    checks.append(_not_null(kind, time_column, "missing_date"))
    for column, dtype in columns.items():
        if dtype == TIMESTAMP:
            checks.append(
                Check(
                    f"{kind}.{column}.not_future",
                    "ExpectColumnValuesToBeBetween",
                    {"column": column, "max_value": as_of, "strict_max": True},
                    reason="future_date",
                    rule=f"before the as-of {as_of:%Y-%m-%d %H:%M}",
                    field_level=column not in REQUIRED_COLUMNS_BY_KIND[kind],
                )
            )
    checks.append(
        Check(
            f"{kind}.{time_column}.in_period",
            "ExpectColumnValuesToBeBetween",
            {"column": time_column, "min_value": start, "max_value": end, "strict_max": True},
            reason="outside_period",
            rule=f"in {period}",
        )
    )
    if kind == "orders":
        checks.append(_not_null(kind, "amount", "missing_amount"))
        for column in AMOUNT_COLUMNS:
            checks.append(
                Check(
                    f"orders.{column}.not_negative",
                    "ExpectColumnValuesToBeBetween",
                    {"column": column, "min_value": 0},
                    reason="negative_amount",
                    rule="not below 0",
                    field_level=column not in REQUIRED_COLUMNS_BY_KIND[kind],
                )
            )
        checks.append(
            Check(
                "orders.order_id.unique",
                "ExpectColumnValuesToBeUnique",
                {"column": "order_id"},
                reason="duplicate_order_id",
                rule="unique in the channel's month; the first copy is kept",
                keep_first=("order_id",),
            )
        )
    if kind == "events":
        checks.append(
            Check(
                "events.event_type.known",
                "ExpectColumnValuesToBeInSet",
                {"column": "event_type", "value_set": list(settings.event_types)},
                reason="unknown_event_type",
                rule=f"one of {', '.join(settings.event_types)}",
            )
        )
    volume = settings.volume
    if kind in volume.tables and previous_rows is not None and previous_rows >= volume.min_previous_rows:
        low = math.ceil(volume.min_ratio * previous_rows)
        high = math.floor(volume.max_ratio * previous_rows) if volume.max_ratio is not None else None
        checks.append(
            Check(
                f"{kind}.volume",
                "ExpectTableRowCountToBeBetween",
                {"min_value": low, "max_value": high},
                rule=f"{low} to {high if high is not None else 'any number of'} rows "
                f"(last month: {previous_rows} accepted)",
            )
        )
    return checks


def _not_null(kind: str, column: str, reason: str) -> Check:
    return Check(
        f"{kind}.{column}.not_null",
        "ExpectColumnValuesToNotBeNull",
        {"column": column},
        reason=reason,
        rule="not empty",
    )


def validate_raw(
    standardized,
    *,
    channel: str,
    kind: str,
    period: str,
    settings: ValidationSettings,
    as_of: datetime | None = None,
    previous_rows: int | None = None,
    source: str | None = None,
    source_frame: pd.DataFrame | None = None,
    context_dir=None,
    build_docs: bool = True,
    stage: str = "extract",
    source_columns: dict[str, str] | None = None,
    delivered_elsewhere: pd.DataFrame | None = None,
) -> ValidationOutcome:
    """Validate one channel's standardized ``kind`` table for ``period`` and decide on it.

    ``standardized`` is what :func:`tierlib.extract.standardize` returned
    (``accepted`` with ``source_file``/``source_row``, and its ``quarantined``
    rows).  ``source_frame`` (the rows as the source wrote them) fills the
    quarantined rows' ``row_json``; without it the typed row is used.
    ``previous_rows``: last month's accepted rows of this table (None: no volume
    check).  Data Docs go to ``context_dir`` (a local folder) when ``build_docs``.
    ``source_columns`` (standard -> source column) names the source column of cleared fields.
    ``delivered_elsewhere`` (orders: ``order_id, period, reason``): order ids the channel
    delivered in another month; a row passing every check that carries one is quarantined
    with that row's reason (``duplicate_order_id`` for an earlier month, ``superseded_order``
    for a later one that replaces it).

    Field-level checks (optional columns: a birthday in the future, a negative discount)
    clear the value instead of rejecting the row; the outcome's ``fields`` lists them with
    standardization's cleared fields.

    The outcome's ``quarantined`` holds extract's and validation's rejects
    together, ordered by source row; ``figures`` reconcile
    ``rows_in == accepted + quarantined`` and ``failures`` say why the run must
    stop (empty when it may go on).
    """
    frame = standardized.accepted.reset_index(drop=True)
    extract_rejects = standardized.quarantined
    source = source or _source_of(frame, extract_rejects, channel, kind)
    as_of = as_of or as_of_period(period)
    checks = raw_checks(kind, period=period, settings=settings, as_of=as_of, previous_rows=previous_rows)
    outcomes, seconds = run_checks(
        frame,
        checks,
        suite=f"raw.{kind}",
        settings=settings,
        run_name=f"{period} {channel}",
        run_time=as_of,
        build_docs=build_docs,
        docs_folder=context_dir,
    )
    verdicts = row_verdicts(frame, outcomes)
    elsewhere_check = None
    if delivered_elsewhere is not None and len(delivered_elsewhere) and len(frame):
        elsewhere_check = _delivered_elsewhere(frame, verdicts, delivered_elsewhere)
        checks = [*checks, elsewhere_check]
    failing = np.asarray(verdicts.failing, dtype=bool)
    frame, cleared = _clear_fields(frame, outcomes, failing, source_columns or {}, channel, kind, stage)
    rows = frame.loc[failing]
    if source_frame is not None and len(rows):
        shown = source_frame.iloc[rows["source_row"].to_numpy()]
    else:
        shown = rows.drop(columns=["source_file", "source_row"], errors="ignore")
    validation_rejects = quarantine_frame(
        shown,
        stage=stage,
        channel=channel,
        kind=kind,
        source_file=rows["source_file"].to_numpy(dtype=object) if len(rows) else source,
        source_row=rows["source_row"].to_numpy() if len(rows) else [],
        reason=verdicts.reason[failing],
        detail=verdicts.detail[failing],
    )
    quarantined = _combine(extract_rejects, validation_rejects)
    accepted = frame.loc[~failing].reset_index(drop=True)
    fields = _accepted_fields(standardized, cleared, accepted)

    rows_in = len(frame) + len(extract_rejects)
    where = f"channel {channel}, {kind} of {period} ({source})"
    failures = check_failures(outcomes, where, frame)
    failures = [_volume_message(f, outcomes, where, previous_rows, period) for f in failures]
    contributions = _contributions(extract_rejects, validation_rejects, verdicts, failing, checks)
    share_failure = quarantine_share_failure(
        len(quarantined),
        rows_in,
        channel=channel,
        kind=kind,
        settings=settings,
        where=where,
        contributions=contributions,
    )
    if share_failure:
        failures.append(share_failure)
    reasons = quarantined["reason"].value_counts().sort_index()
    figures = {
        "rows_in": rows_in,
        "accepted": len(accepted),
        "quarantined": len(quarantined),
        "quarantined_extract": len(extract_rejects),
        "quarantined_validation": len(validation_rejects),
        "quarantine_share": round(len(quarantined) / rows_in, 6) if rows_in else 0.0,
        "reasons": {str(reason): int(count) for reason, count in reasons.items()},
        "failed_checks": check_figures(outcomes, verdicts),
        "fields_cleared": _cleared_counts(fields),
        "previous_accepted": previous_rows,
        "validation_seconds": round(seconds, 3),
    }
    if elsewhere_check is not None and elsewhere_check.name in verdicts.claimed:
        figures["failed_checks"][elsewhere_check.name] = {
            "expectation": elsewhere_check.described,
            "critical": False,
            "unexpected": verdicts.claimed[elsewhere_check.name],
            "quarantined": verdicts.claimed[elsewhere_check.name],
            "fraction": round(verdicts.claimed[elsewhere_check.name] / len(frame), 6),
            "reason": "duplicate_order_id / superseded_order",
        }
    failures += _cleared_share_failures(fields, cleared, len(frame), where, settings, channel, kind)
    return ValidationOutcome(
        f"raw.{kind}", accepted, quarantined, tuple(failures), figures, tuple(outcomes), fields
    )


ELSEWHERE_CHECK = "orders.order_id.not_delivered_before"


def _delivered_elsewhere(frame: pd.DataFrame, verdicts, elsewhere: pd.DataFrame) -> Check:
    """Mark passing rows whose order id the channel delivered in another month (in place on ``verdicts``)."""
    first = elsewhere.drop_duplicates("order_id", keep="first").set_index("order_id")
    ids = frame["order_id"].astype("string")
    hit = ids.isin(first.index).fillna(False).to_numpy(dtype=bool) & ~np.asarray(verdicts.failing, dtype=bool)
    check = Check(
        ELSEWHERE_CHECK,
        "OrderIdNotDeliveredInAnotherMonth",
        {"column": "order_id"},
        reason="duplicate_order_id",
        rule="an order id the channel delivered in another month of the history window",
    )
    if not hit.any():
        return check
    rows = np.flatnonzero(hit)
    found = first.loc[ids.iloc[rows].to_numpy()]
    reasons = found["reason"].to_numpy(dtype=object)
    words = np.where(reasons == "superseded_order", "re-delivered in", "first delivered in")
    detail = [
        f"{ELSEWHERE_CHECK}: order_id={order_id} {how} {period}"
        for order_id, how, period in zip(ids.iloc[rows], words, found["period"], strict=True)
    ]
    verdicts.reason[rows] = reasons
    verdicts.detail[rows] = detail
    verdicts.check[rows] = ELSEWHERE_CHECK
    verdicts.claimed[ELSEWHERE_CHECK] = len(rows)
    return check


def _clear_fields(frame, outcomes, failing, source_columns, channel, kind, stage):
    """Optional values that failed a field-level check: cleared in a copy of ``frame``, and listed."""
    parts = []
    for outcome in outcomes:
        check = outcome.check
        if not check.field_level or outcome.success or outcome.error or not len(outcome.positions):
            continue
        rows = np.unique(outcome.positions)
        rows = rows[~failing[rows]]
        if not len(rows):
            continue
        column = check.columns[0]
        if not parts:
            frame = frame.copy()
        written = frame[column].iloc[rows].astype("string")
        parts.append(
            pd.DataFrame(
                {
                    "stage": stage,
                    "channel": channel,
                    "kind": kind,
                    "source_file": frame["source_file"].iloc[rows].to_numpy(dtype=object),
                    "source_row": frame["source_row"].iloc[rows].to_numpy(),
                    "column": column,
                    "source_column": source_columns.get(column, column),
                    "reason": check.reason,
                    "value": written.to_numpy(),
                }
            )
        )
        position = frame.columns.get_loc(column)
        frame.iloc[rows, position] = pd.NA if frame[column].dtype != TIMESTAMP else pd.NaT
    if not parts:
        return frame, empty_frame(FIELD_QUARANTINE_COLUMNS)
    return frame, pd.concat(parts, ignore_index=True).astype(FIELD_QUARANTINE_COLUMNS)


def _accepted_fields(standardized, cleared: pd.DataFrame, accepted: pd.DataFrame) -> pd.DataFrame:
    """Cleared fields of the rows that were accepted in the end, by source row and column."""
    parts = [
        part for part in (getattr(standardized, "fields", None), cleared) if part is not None and len(part)
    ]
    if not parts:
        return empty_frame(FIELD_QUARANTINE_COLUMNS)
    fields = pd.concat(parts, ignore_index=True)
    fields = fields[fields["source_row"].isin(accepted["source_row"])]
    return fields.sort_values(["source_row", "column"], kind="stable").reset_index(drop=True)


def _cleared_counts(fields: pd.DataFrame) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for (column, reason), n in fields.groupby(["column", "reason"], sort=True).size().items():
        counts.setdefault(str(column), {})[str(reason)] = int(n)
    return counts


def _cleared_share_failures(fields, cleared, rows, where, settings, channel, kind) -> list[Failure]:
    """A field-level check that clears most of a column: the column's meaning changed, not a few values."""
    failures = []
    if not rows or not len(cleared):
        return failures
    from tierlib.validation._schema import MIN_PARSE_FAILURES

    for (column, reason), n in cleared.groupby(["column", "reason"]).size().items():
        if n < MIN_PARSE_FAILURES or n / rows < settings.schema_parse_failure_share:
            continue
        examples = ", ".join(repr(v) for v in cleared.loc[cleared["column"] == column, "value"].head(2))
        failures.append(
            Failure(
                f"{kind}.{column}.{reason}",
                f"{where}: {n} of {rows} values of {column} ({n / rows:.0%}) fail as {reason}, e.g. "
                f"{examples}: clearing them would empty the column. The export changed what the column "
                f"means (a sign or a date convention): fix the export, or update "
                f"channels.{channel}.{kind}.columns.{column}.",
                observed=round(n / rows, 6),
            )
        )
    return failures


def quarantine_share_failure(
    count: int,
    rows_in: int,
    *,
    channel: str | None,
    kind: str,
    settings: ValidationSettings,
    where: str,
    contributions: list[tuple[str, int, list[int]]],
) -> Failure | None:
    """A failure when a table's quarantined share passes its threshold (and the minimum count).

    ``contributions``: (what rejected the rows, how many, example source rows), largest first.
    """
    threshold = settings.threshold_for(channel, kind)
    if not rows_in or count < max(settings.quarantine_min_rows, 1) or count / rows_in <= threshold:
        return None
    parts = [
        f"{label} {n / rows_in:.2%} ({n} rows, e.g. source rows {', '.join(map(str, examples))})"
        for label, n, examples in contributions
    ]
    key = f"validation.thresholds.{channel}.{kind}" if channel else "validation.quarantine_threshold"
    hint = ""
    if contributions and "duplicate_order_id" in contributions[0][0] and contributions[0][1] >= rows_in / 3:
        hint = " A third or more of the orders are repeats: was the file delivered twice?"
    elif contributions and "outside_period" in contributions[0][0] and contributions[0][1] >= rows_in / 2:
        hint = " Most rows belong to another month: was another month's file delivered?"
    return Failure(
        "quarantine_share",
        f"{where}: {count} of {rows_in} rows quarantined ({count / rows_in:.2%}), above the threshold of "
        f"{threshold:.2%}. By check: {'; '.join(parts)}.{hint} Fix the delivery and rerun the month, "
        f"or raise {key} if this share is expected.",
        contributions[0][0] if contributions else None,
        round(count / rows_in, 6),
    )


def _contributions(extract_rejects, validation_rejects, verdicts, failing, checks) -> list:
    """Who rejected how many rows: standardization by reason, validation by check; largest first."""
    found = []
    for reason, n in extract_rejects["reason"].value_counts().items():
        rows = extract_rejects.loc[extract_rejects["reason"] == reason, "source_row"].head(3).tolist()
        found.append((f"standardization [{reason}]", int(n), rows))
    by_name = {check.name: check for check in checks}
    claimed_by = verdicts.check[failing]
    for name, n in verdicts.claimed.items():
        rows = validation_rejects["source_row"][claimed_by == name].head(3).tolist()
        check = by_name[name]
        found.append((f"{check.name} = {check.described} [{check.reason}]", int(n), rows))
    return sorted(found, key=lambda item: -item[1])


def _volume_message(failure: Failure, outcomes, where: str, previous_rows, period: str) -> Failure:
    if not failure.check.endswith(".volume"):
        return failure
    outcome = next(o for o in outcomes if o.check.name == failure.check)
    current = outcome.observed
    ratio = current / previous_rows if previous_rows else 0.0
    low, high = outcome.check.kwargs["min_value"], outcome.check.kwargs["max_value"]
    if current < low:
        bound = f"below the band's floor of {low} rows (validation.volume.min_ratio)"
        direction = "drop"
    else:
        bound = f"above the band's ceiling of {high} rows (validation.volume.max_ratio)"
        direction = "jump"
    return Failure(
        failure.check,
        f"{where}: volume {direction}: {current} rows this month against {previous_rows} accepted in "
        f"{previous_period(period)} ({ratio:.0%} of last month), {bound}; "
        f"{outcome.check.described}. Check that the month's file is complete, or adjust validation.volume.",
        outcome.check.described,
        round(ratio, 6),
    )


def _combine(first: pd.DataFrame, second: pd.DataFrame) -> pd.DataFrame:
    parts = [part for part in (first, second) if len(part)]
    if not parts:
        return first if len(first.columns) else second
    combined = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    return combined.sort_values("source_row", kind="stable").reset_index(drop=True)


def _source_of(frame: pd.DataFrame, rejects: pd.DataFrame, channel: str, kind: str) -> str:
    for table in (frame, rejects):
        if len(table) and "source_file" in table.columns:
            return str(table["source_file"].iloc[0])
    return f"{channel}/{kind}"
