"""Suites of the datasets later stages produce: identity map, features, scores, tiers, exports.

Their checks are critical by default (``ValidationSettings.critical``): a
member without a OneID or with an unknown tier is a defect of the run, not a
bad source row, so the stage runner stops.  A check made non-critical in the
config quarantines its failing rows instead, like the raw suites do.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np
import pandas as pd

from tierlib.errors import InputError
from tierlib.period import as_of as as_of_period
from tierlib.validation._engine import Check, row_verdicts, run_checks
from tierlib.validation._outcome import ValidationOutcome, check_failures, check_figures, quarantine_frame
from tierlib.validation._raw import quarantine_share_failure
from tierlib.validation.settings import ValidationSettings

DATASETS = ("identity_map", "features", "scores", "tiers", "export")

IDENTIFIER_FORMATS = {
    "phone": (r"^\+[1-9][0-9]{6,14}$", "E.164 (+ and 7 to 15 digits)"),
    "email": (r"^[^@\sA-Z]+@[^@\sA-Z]+\.[a-z]{2,}$", "trimmed, lower-case address"),
    "unionid": (r"^\S{1,128}$", "no spaces"),
    "openid": (r"^\S{1,128}$", "no spaces"),
    "member_id": (r"^\S{1,128}$", "no spaces"),
    "platform_user_id": (r"^\S{1,128}$", "no spaces"),
    "device_id": (r"^\S{1,128}$", "no spaces"),
}
"""Normalized identifier forms the identity map is held to, for the identifier columns it carries."""


def validate_dataset(
    name: str,
    df: pd.DataFrame,
    *,
    period: str,
    settings: ValidationSettings,
    context_dir=None,
    stage: str | None = None,
    channel: str | None = None,
    source: str | None = None,
    records: pd.DataFrame | None = None,
    allowed_tiers: Sequence[str] | None = None,
    required_columns: Sequence[str] = (),
    id_columns: Sequence[str] = (),
    expected_rows: int | None = None,
    build_docs: bool = True,
) -> ValidationOutcome:
    """Validate a derived dataset with its suite; quarantine failing rows of non-critical checks.

    ``name`` is one of :data:`DATASETS`.  What each needs besides ``df``:

    - ``identity_map`` (channel, record_id, oneid [, normalized identifier columns]):
      ``records``, the accepted records (channel, record_id) that must each have a OneID.
    - ``features``: nothing; ``expected_rows`` (members known) adds a row-count check.
    - ``scores``: nothing.
    - ``tiers``: ``allowed_tiers``, the configured tier names.
    - ``export`` (one channel's export file): ``required_columns``, ``id_columns`` (no id twice),
      ``channel``.

    ``stage`` (default: the dataset's name) and ``channel`` label quarantined rows;
    ``source`` (a storage key) becomes their ``source_file``.  Data Docs render into
    ``context_dir`` when ``build_docs``.
    """
    if name not in DATASETS:
        raise InputError(f"unknown dataset {name!r}; validate_dataset knows {', '.join(DATASETS)}")
    stage = stage or name
    frame = df.reset_index(drop=True)
    in_input = len(frame)
    if name == "identity_map" and records is not None:
        frame = _with_unmapped_records(frame, records)
    checks = dataset_checks(
        name,
        frame,
        settings=settings,
        allowed_tiers=allowed_tiers,
        required_columns=required_columns,
        id_columns=id_columns,
        expected_rows=expected_rows,
    )
    run_time: datetime = as_of_period(period)
    outcomes, seconds = run_checks(
        frame,
        checks,
        suite=name if channel is None else f"{name}.{channel}",
        settings=settings,
        run_name=f"{period} {channel or stage}",
        run_time=run_time,
        build_docs=build_docs,
        docs_folder=context_dir,
    )
    verdicts = row_verdicts(frame, outcomes)
    failing = np.asarray(verdicts.failing, dtype=bool)
    rejected = frame.loc[failing]
    positions = np.flatnonzero(failing)
    quarantined = quarantine_frame(
        rejected.drop(columns=["_unmapped"], errors="ignore"),
        stage=stage,
        channel=rejected["channel"].astype("string").fillna("").to_numpy(dtype=object)
        if "channel" in rejected.columns
        else (channel or ""),
        kind=name,
        source_file=rejected["source_file"].to_numpy(dtype=object)
        if "source_file" in rejected.columns
        else (source or name),
        source_row=rejected["source_row"].to_numpy() if "source_row" in rejected.columns else positions,
        reason=verdicts.reason[failing],
        detail=verdicts.detail[failing],
    )
    keep = ~failing[:in_input]
    accepted = df.reset_index(drop=True).loc[keep].reset_index(drop=True)
    where = f"{name}{' for channel ' + channel if channel else ''} of {period}"
    failures = check_failures(outcomes, where, frame)
    contributions = [
        (f"{check.name} = {check.described} [{check.reason}]", n, [])
        for check in checks
        if (n := verdicts.claimed.get(check.name))
    ]
    share = quarantine_share_failure(
        len(quarantined),
        len(frame),
        channel=channel,
        kind=name,
        settings=settings,
        where=where,
        contributions=contributions,
    )
    if share:
        failures.append(share)
    figures = {
        "rows_in": len(frame),
        "accepted": len(accepted),
        "quarantined": len(quarantined),
        "quarantine_share": round(len(quarantined) / len(frame), 6) if len(frame) else 0.0,
        "reasons": {str(k): int(v) for k, v in quarantined["reason"].value_counts().sort_index().items()},
        "failed_checks": check_figures(outcomes, verdicts),
        "validation_seconds": round(seconds, 3),
    }
    if len(frame) != in_input:
        figures["records_without_map_row"] = len(frame) - in_input
    return ValidationOutcome(name, accepted, quarantined, tuple(failures), figures, tuple(outcomes))


def dataset_checks(
    name: str,
    frame: pd.DataFrame,
    *,
    settings: ValidationSettings,
    allowed_tiers: Sequence[str] | None = None,
    required_columns: Sequence[str] = (),
    id_columns: Sequence[str] = (),
    expected_rows: int | None = None,
) -> list[Check]:
    """The suite of one derived dataset, in priority order."""
    checks: list[Check] = []
    if name == "identity_map":
        checks += _present(name, ("channel", "record_id"), typed="str") + _present(name, ("oneid",))
        checks += [_not_null(name, "record_id", "missing_value"), _not_null(name, "oneid", "missing_oneid")]
        checks.append(_unique(name, ("channel", "record_id")))
        for column, (pattern, words) in IDENTIFIER_FORMATS.items():
            if column in frame.columns:
                checks.append(
                    Check(
                        f"identity_map.{column}.format",
                        "ExpectColumnValuesToMatchRegex",
                        {"column": column, "regex": pattern},
                        reason="bad_identifier_format",
                        rule=f"normalized: {words}",
                    )
                )
    elif name == "features":
        rules = settings.features
        stage_column = ("lifecycle_stage",) if rules.lifecycle_stages else ()
        needed = (*rules.not_null, *rules.score_columns, *rules.non_negative, *rules.probability_columns)
        checks += _present(name, ("oneid",))
        checks += _present(name, tuple(dict.fromkeys((*needed, *stage_column))))
        checks += [_not_null(name, "oneid", "missing_value"), _unique(name, ("oneid",))]
        checks += [_not_null(name, column, "missing_value") for column in rules.not_null]
        low, high = rules.score_range
        checks += [_between(name, column, low, high) for column in rules.score_columns]
        checks += [_between(name, column, 0, None) for column in rules.non_negative]
        checks += [_between(name, column, 0, 1) for column in rules.probability_columns]
        if rules.lifecycle_stages:
            checks.append(
                Check(
                    "features.lifecycle_stage.known",
                    "ExpectColumnValuesToBeInSet",
                    {"column": "lifecycle_stage", "value_set": list(rules.lifecycle_stages)},
                    reason="out_of_range",
                    rule=f"one of {', '.join(rules.lifecycle_stages)}",
                )
            )
    elif name in ("scores", "tiers"):
        rules = settings.scores
        checks += _present(name, ("oneid",))
        if name == "scores":
            checks += _present(name, tuple(dict.fromkeys((*rules.not_null, *rules.probability_columns))))
        checks += [_not_null(name, "oneid", "missing_value"), _unique(name, ("oneid",))]
        if name == "tiers":
            if allowed_tiers is None:
                raise InputError(
                    "validate_dataset('tiers', ...) needs allowed_tiers: the configured tier names"
                )
            checks += _present(name, ("tier",))
            checks.append(_not_null(name, "tier", "missing_value"))
            checks.append(
                Check(
                    "tiers.tier.configured",
                    "ExpectColumnValuesToBeInSet",
                    {"column": "tier", "value_set": list(allowed_tiers)},
                    reason="unknown_tier",
                    rule=f"one of {', '.join(allowed_tiers)}",
                )
            )
        else:
            checks += [_not_null(name, column, "missing_value") for column in rules.not_null]
        present = set(frame.columns)
        for column in rules.probability_columns:
            if name == "scores" or column in present:
                checks.append(_between(name, column, 0, 1))
        for column in rules.non_negative:
            if name == "scores" or column in present:
                checks.append(_between(name, column, 0, None))
    elif name == "export":
        checks += _present(name, tuple(required_columns))
        if id_columns:
            checks.append(_unique(name, tuple(id_columns)))
    if expected_rows is not None:
        checks.append(
            Check(
                f"{name}.row_count",
                "ExpectTableRowCountToEqual",
                {"value": int(expected_rows)},
                rule=f"exactly {expected_rows} rows",
            )
        )
    return checks


def _present(name: str, columns: Sequence[str], typed: str | None = None) -> list[Check]:
    checks = []
    for column in columns:
        checks.append(Check(f"{name}.column_present.{column}", "ExpectColumnToExist", {"column": column}))
        if typed:
            checks.append(
                Check(
                    f"{name}.column_type.{column}",
                    "ExpectColumnValuesToBeOfType",
                    {"column": column, "type_": typed},
                    rule=f"of type {typed}",
                )
            )
    return checks


def _not_null(name: str, column: str, reason: str) -> Check:
    return Check(
        f"{name}.{column}.not_null", "ExpectColumnValuesToNotBeNull", {"column": column}, reason, "not empty"
    )


def _unique(name: str, columns: tuple[str, ...]) -> Check:
    label = "+".join(columns)
    if len(columns) == 1:
        expectation, kwargs = "ExpectColumnValuesToBeUnique", {"column": columns[0]}
    else:
        expectation, kwargs = "ExpectCompoundColumnsToBeUnique", {"column_list": list(columns)}
    return Check(
        f"{name}.{label}.unique",
        expectation,
        kwargs,
        reason="duplicate_key",
        rule="unique; the first copy is kept",
        keep_first=columns,
    )


def _between(name: str, column: str, low, high) -> Check:
    rule = f"in [{low:g}, {high:g}]" if high is not None else f"at least {low:g}"
    return Check(
        f"{name}.{column}.range",
        "ExpectColumnValuesToBeBetween",
        {"column": column, "min_value": low, "max_value": high},
        reason="out_of_range",
        rule=rule,
    )


def _with_unmapped_records(identity_map: pd.DataFrame, records: pd.DataFrame) -> pd.DataFrame:
    """The map plus one row (oneid empty) per accepted record the map lacks, so GX sees them fail."""
    for column in ("channel", "record_id"):
        if column not in records.columns or column not in identity_map.columns:
            return identity_map
    keys = records[["channel", "record_id"]].astype("string").drop_duplicates()
    mapped = identity_map[["channel", "record_id"]].astype("string").drop_duplicates()
    merged = keys.merge(mapped, how="left", indicator=True)
    unmapped = merged.loc[merged["_merge"] == "left_only", ["channel", "record_id"]]
    if not len(unmapped):
        return identity_map
    extra = unmapped.assign(oneid=pd.Series(pd.NA, index=unmapped.index, dtype="string"), _unmapped=True)
    combined = pd.concat([identity_map.assign(_unmapped=False), extra], ignore_index=True)
    for column in ("channel", "record_id", "oneid"):
        combined[column] = combined[column].astype("string")
    return combined
