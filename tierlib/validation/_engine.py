"""Run a list of checks on a DataFrame through GX and turn the results into row reasons.

A :class:`Check` is one GX expectation with a stable name and, for a row-level
check, the reason code its failing rows are quarantined with.  Checks are
listed in priority order: a row failing several is quarantined with the first
one's reason (a future timestamp is ``future_date``, not also ``outside_period``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from tierlib.validation.settings import ValidationSettings


@dataclass(frozen=True)
class Check:
    name: str
    """Stable dotted name, ``<dataset>.<column>.<rule>`` (``orders.amount.not_negative``);
    ``ValidationSettings.critical`` patterns match it."""
    expectation: str
    """GX expectation class, e.g. ``ExpectColumnValuesToBeBetween``."""
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    reason: str | None = None
    """Row-level check: failing rows are quarantined with this reason.  None: table-level."""
    rule: str = ""
    """The rule in plain words, for messages and quarantine details."""
    keep_first: tuple[str, ...] = ()
    """A uniqueness check over these columns: the first copy of a key is good, later ones fail."""
    field_level: bool = False
    """A check of an optional column: a failing value is cleared and counted, the row is kept."""

    @property
    def columns(self) -> tuple[str, ...]:
        if "column" in self.kwargs:
            return (self.kwargs["column"],)
        return tuple(self.kwargs.get("column_list", ()))

    @property
    def described(self) -> str:
        """``expect_column_values_to_be_between(amount)``: the expectation as GX names it."""
        snake = re.sub(r"(?<!^)(?=[A-Z])", "_", self.expectation).lower()
        return f"{snake}({', '.join(self.columns)})" if self.columns else snake


@dataclass(frozen=True)
class CheckOutcome:
    check: Check
    critical: bool
    success: bool
    rows: int
    unexpected: int
    positions: np.ndarray
    """Row positions (in the validated frame) the expectation flagged."""
    observed: Any = None
    error: str | None = None

    @property
    def fraction(self) -> float:
        return self.unexpected / self.rows if self.rows else 0.0


@dataclass(frozen=True)
class RowVerdicts:
    """Which rows of the validated frame fail, why, and how many each check claimed."""

    reason: np.ndarray
    """Reason code per row, None where the row passes."""
    detail: np.ndarray
    check: np.ndarray
    """Name of the check that claimed each failing row, None where the row passes."""
    claimed: dict[str, int]
    """Check name -> rows quarantined under it (after priority)."""

    @property
    def failing(self) -> np.ndarray:
        return pd.notna(self.reason)


def run_checks(
    frame: pd.DataFrame,
    checks: Sequence[Check],
    *,
    suite: str,
    settings: ValidationSettings,
    run_name: str,
    run_time: datetime,
    build_docs: bool,
    docs_folder=None,
) -> tuple[list[CheckOutcome], float]:
    """Run ``checks`` on ``frame`` as one GX checkpoint; return their outcomes and the seconds spent.

    Only the columns the checks read go to GX (it fingerprints the whole batch,
    and that costs as much as the checks themselves); a check on a column the
    frame lacks is not run and reported as an error.
    """
    from tierlib.validation._gx import ExpectationSpec, runtime

    started = time.perf_counter()
    present = set(frame.columns)
    runnable = [c for c in checks if c.expectation == "ExpectColumnToExist" or set(c.columns) <= present]
    needed = sorted({column for check in runnable for column in check.columns} & present)
    gx = runtime()
    if build_docs:
        gx.use_docs_folder(docs_folder)
    specs = [ExpectationSpec(check.name, check.expectation, check.kwargs) for check in runnable]
    results = {
        result.key: result
        for result in gx.run(
            suite,
            gx_frame(frame, needed),
            specs,
            run_name=run_name,
            run_time=run_time,
            build_docs=build_docs,
        )
    }
    outcomes = []
    for check in checks:
        critical = settings.is_critical(check.name)
        result = results.get(check.name)
        if result is None:
            missing = [column for column in check.columns if column not in present]
            outcomes.append(
                CheckOutcome(check, critical, False, len(frame), 0, _NO_ROWS, error=f"no column {missing}")
            )
            continue
        outcomes.append(
            CheckOutcome(
                check=check,
                critical=critical,
                success=result.success,
                rows=int(result.element_count if result.element_count is not None else len(frame)),
                unexpected=result.unexpected_count,
                positions=np.asarray(result.unexpected_index, dtype=np.int64),
                observed=result.observed,
                error=result.error,
            )
        )
    return outcomes, time.perf_counter() - started


_NO_ROWS = np.zeros(0, dtype=np.int64)
_NS_MIN = pd.Timestamp.min.as_unit("us")
_NS_MAX = pd.Timestamp.max.as_unit("us")


def gx_frame(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """The columns GX needs, indexed by row position.

    GX compares datetime columns with bounds in a vectorized way only for
    nanosecond datetimes (and numbers only as int64 or float64); microsecond ones
    fall back to a Python call per row (about 15 s per million rows).  Values beyond the nanosecond range
    (years before 1677 or after 2262) are clipped to it first: they stay
    outside any month and after any as-of date.
    """
    out = {}
    for column in columns:
        values = frame[column]
        if pd.api.types.is_datetime64_any_dtype(values.dtype) and str(values.dtype) != "datetime64[ns]":
            values = values.astype("datetime64[us]").clip(_NS_MIN, _NS_MAX).astype("datetime64[ns]")
        elif isinstance(values.dtype, np.dtype) and values.dtype.kind in "iuf" and values.dtype.itemsize < 8:
            # Likewise GX compares bounds vectorized only for int64 and float64: an int8 score
            # column took a Python call per row (3 s per million).  Widening loses nothing.
            values = values.astype(np.float64 if values.dtype.kind == "f" else np.int64)
        out[column] = values.to_numpy() if isinstance(values.dtype, np.dtype) else values.array
    return pd.DataFrame(out, index=pd.RangeIndex(len(frame)))


def row_verdicts(frame: pd.DataFrame, outcomes: Sequence[CheckOutcome]) -> RowVerdicts:
    """Quarantine reasons per row from the failing, non-critical row-level checks, in priority order."""
    n = len(frame)
    reason = np.full(n, None, dtype=object)
    detail = np.full(n, None, dtype=object)
    claimed_by = np.full(n, None, dtype=object)
    claimed: dict[str, int] = {}
    for outcome in outcomes:
        check = outcome.check
        if check.reason is None or check.field_level or outcome.critical or outcome.error or outcome.success:
            continue
        rows = np.unique(outcome.positions)
        if check.keep_first and len(rows):
            rows = later_copies(frame, rows, check.keep_first)
        rows = rows[pd.isna(reason[rows])]
        if not len(rows):
            continue
        reason[rows] = check.reason
        detail[rows] = _details(frame, rows, check)
        claimed_by[rows] = check.name
        claimed[check.name] = len(rows)
    return RowVerdicts(reason, detail, claimed_by, claimed)


def later_copies(frame: pd.DataFrame, rows: np.ndarray, columns: Sequence[str]) -> np.ndarray:
    """Of rows sharing a key, all but the first (by position): the copies a re-send added."""
    keys = frame.iloc[rows][list(columns)]
    return rows[keys.duplicated(keep="first").to_numpy()]


def _details(frame: pd.DataFrame, rows: np.ndarray, check: Check) -> np.ndarray:
    prefix = f"{check.name}: "
    suffix = f" ({check.rule})" if check.rule else ""
    parts = []
    for column in check.columns:
        values = frame[column].iloc[rows].astype("string").fillna("<empty>")
        parts.append(f"{column}=" + values)
    if not parts:
        return np.full(len(rows), prefix + check.rule, dtype=object)
    text = parts[0]
    for more in parts[1:]:
        text = text + ", " + more
    return (prefix + text + suffix).to_numpy(dtype=object)
