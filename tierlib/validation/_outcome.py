"""What a validation hands back: accepted rows, quarantined rows, figures, and run-level failures."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tierlib.errors import ValidationFailed
from tierlib.schemas import QUARANTINE_COLUMNS, empty_frame
from tierlib.validation._engine import CheckOutcome, RowVerdicts


@dataclass(frozen=True)
class Failure:
    """One reason to stop the run, worded for the data engineer who reads the task log."""

    check: str
    """The check's name (``orders.order_id.unique``) or a run-level rule (``quarantine_share``,
    ``source_schema``, ``empty_channel``)."""
    message: str
    expectation: str | None = None
    observed: float | None = None
    """The observed fraction (or ratio, for volume) that broke the rule."""


@dataclass(frozen=True)
class ValidationOutcome:
    """The result of validating one dataset (for raw data: one channel's table for one month)."""

    dataset: str
    accepted: pd.DataFrame
    """The input rows that passed, in input order, with the input's columns."""
    quarantined: pd.DataFrame
    """``QUARANTINE_COLUMNS`` rows: for raw data, extract's rejects and validation's together."""
    failures: tuple[Failure, ...]
    figures: dict
    """JSON-able: rows_in, accepted, quarantined, quarantine_share, reasons, failed_checks, seconds."""
    checks: tuple[CheckOutcome, ...] = field(default=(), repr=False)
    fields: pd.DataFrame | None = field(default=None, repr=False)
    """Raw data: ``FIELD_QUARANTINE_COLUMNS`` rows, the optional fields of accepted rows that were
    cleared (by standardization or a field-level check), with the value as written."""

    @property
    def ok(self) -> bool:
        return not self.failures

    def raise_for_failures(self) -> None:
        """Raise ``ValidationFailed`` listing every failure; do nothing when there is none."""
        raise_for_failures([self])


def raise_for_failures(outcomes: Iterable[ValidationOutcome | Failure]) -> None:
    """One ``ValidationFailed`` naming every failure of these outcomes (nothing if all passed)."""
    failures: list[Failure] = []
    for item in outcomes:
        failures.extend([item] if isinstance(item, Failure) else item.failures)
    if not failures:
        return
    if len(failures) == 1:
        raise ValidationFailed(failures[0].message)
    raise ValidationFailed(
        f"{len(failures)} validation failures:\n" + "\n".join(f"  - {f.message}" for f in failures)
    )


def quarantine_frame(
    rows: pd.DataFrame,
    *,
    stage: str,
    channel,
    kind: str,
    source_file,
    source_row,
    reason,
    detail,
) -> pd.DataFrame:
    """Rejected rows in ``QUARANTINE_COLUMNS`` form; ``row_json`` holds each row's values as text."""
    if not len(rows):
        return empty_frame(QUARANTINE_COLUMNS)
    frame = pd.DataFrame(
        {
            "stage": stage,
            "channel": _values(channel, len(rows)),
            "kind": kind,
            "source_file": _values(source_file, len(rows)),
            "source_row": np.asarray(source_row, dtype=np.int64),
            "reason": np.asarray(reason, dtype=object),
            "detail": np.asarray(detail, dtype=object),
            "row_json": row_json(rows),
        }
    )
    return frame.astype(QUARANTINE_COLUMNS)


def row_json(rows: pd.DataFrame) -> list[str]:
    """Each row as a JSON object of text values (null where missing), built column by column.

    A file sent twice puts half its rows here, so nothing runs per row in Python
    except for the rare value holding a control character.
    """
    if not len(rows):
        return []
    text = None
    for index, column in enumerate(rows.columns):
        strings = _as_text(rows[column])
        escaped = strings.str.replace("\\", "\\\\", regex=False).str.replace('"', '\\"', regex=False)
        control = escaped.str.contains(_CONTROL, regex=True).fillna(False).astype(bool)
        if control.any():
            escaped = escaped.copy()
            escaped[control] = [json.dumps(value, ensure_ascii=False)[1:-1] for value in strings[control]]
        token = ('"' + escaped + '"').fillna("null")
        piece = ("{" if index == 0 else ", ") + json.dumps(str(column), ensure_ascii=False) + ": " + token
        text = piece if text is None else text + piece
    return (text + "}").tolist()


_CONTROL = r"[\x00-\x1f]"


def _as_text(values: pd.Series) -> pd.Series:
    """Values as ``str()`` writes them; missing stays missing."""
    if pd.api.types.is_string_dtype(values.dtype) and not pd.api.types.is_object_dtype(values.dtype):
        return values.astype("string")
    present = values.notna()
    text = pd.Series(pd.NA, index=values.index, dtype="string")
    if present.any():
        text[present] = values[present].astype(str).astype("string")
    return text


def _values(value, n: int):
    if isinstance(value, pd.Series | np.ndarray | list):
        return np.asarray(value, dtype=object)
    return [value] * n


def check_figures(outcomes: Sequence[CheckOutcome], verdicts: RowVerdicts | None) -> dict:
    """Every check that did not pass: GX's count of failing rows, the fraction, and what came of it."""
    figures = {}
    for outcome in outcomes:
        if outcome.success and not outcome.error:
            continue
        entry = {
            "expectation": outcome.check.described,
            "critical": outcome.critical,
            "unexpected": outcome.unexpected,
            "fraction": round(outcome.fraction, 6),
        }
        if outcome.check.reason:
            entry["reason"] = outcome.check.reason
        if verdicts is not None and outcome.check.name in verdicts.claimed:
            entry["quarantined"] = verdicts.claimed[outcome.check.name]
        if outcome.error:
            entry["error"] = outcome.error
        if outcome.observed is not None and not isinstance(outcome.observed, list | dict):
            entry["observed"] = (
                outcome.observed if isinstance(outcome.observed, int | float) else str(outcome.observed)
            )
        figures[outcome.check.name] = entry
    return figures


def check_failures(outcomes: Sequence[CheckOutcome], where: str, frame: pd.DataFrame) -> list[Failure]:
    """Failures of critical checks and of checks GX could not compute."""
    failures = []
    for outcome in outcomes:
        check = outcome.check
        if outcome.error:
            failures.append(
                Failure(
                    check.name,
                    f"{where}: check {check.name} ({check.described}) could not run: {outcome.error}. "
                    f"The table lacks a column the check needs or holds values of the wrong type.",
                    check.described,
                )
            )
        elif outcome.critical and not outcome.success:
            failures.append(
                Failure(
                    check.name,
                    f"{where}: critical check {check.name} failed: {check.described}"
                    f"{' ' + check.rule if check.rule else ''}; {_observed(outcome, frame)}.",
                    check.described,
                    round(outcome.fraction, 6) if outcome.check.columns else None,
                )
            )
    return failures


def _observed(outcome: CheckOutcome, frame: pd.DataFrame) -> str:
    if outcome.check.expectation == "ExpectColumnToExist":
        return f"the column is missing (columns: {', '.join(map(str, frame.columns))})"
    if outcome.check.expectation == "ExpectColumnValuesToBeOfType":
        return f"observed type {outcome.observed}"
    if outcome.check.expectation.startswith("ExpectTableRowCount"):
        return f"observed {outcome.observed} rows"
    text = f"{outcome.unexpected} of {outcome.rows} rows ({outcome.fraction:.2%}) fail"
    sample = example_rows(frame, outcome.positions)
    return f"{text}{sample}"


def example_rows(frame: pd.DataFrame, positions: np.ndarray, limit: int = 3) -> str:
    """', e.g. source rows 12, 40, 77' (or row positions when the frame has no source_row)."""
    if not len(positions):
        return ""
    picked = np.sort(positions)[:limit]
    if "source_row" in frame.columns:
        values = frame["source_row"].iloc[picked].tolist()
        return ", e.g. source rows " + ", ".join(map(str, values))
    return ", e.g. rows " + ", ".join(map(str, picked.tolist()))
