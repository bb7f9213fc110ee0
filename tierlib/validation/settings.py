"""Settings of validation: the ``validation`` section of the YAML config.

Light on purpose (no pandas, no Great Expectations): the config loader imports
it whenever a config is read.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from tierlib.schemas import EVENT_TYPES
from tierlib.settings import settings_from_mapping

DEFAULT_CRITICAL = (
    "*.column_present.*",
    "*.column_type.*",
    "*.volume",
    "*.row_count",
    "identity_map.*",
    "features.*",
    "scores.*",
    "tiers.*",
    "export.*",
)
"""Checks whose failure stops the run however few rows fail (fnmatch patterns over check names).

Raw row-level checks (``orders.amount.not_negative``, ...) are left out: their failing rows
go to quarantine, and the run stops only when a table's quarantined share passes the threshold.
Checks of the derived datasets are critical: a member without a OneID or with an unknown tier
is a defect of the pipeline, not of one source row.
"""


@dataclass(frozen=True)
class VolumeSettings:
    """How far a table's row count may move from last month's accepted rows."""

    min_ratio: float = 0.5
    """Fail when this month has fewer rows than ``min_ratio`` x last month's accepted rows."""
    max_ratio: float | None = None
    """Fail when this month has more than ``max_ratio`` x last month's (null: no upper bound;
    seasonal peaks such as 11.11 can triple a month)."""
    min_previous_rows: int = 100
    """Below this many rows last month the comparison is skipped: small tables swing by chance."""
    tables: tuple[str, ...] = ("orders", "events")
    """Tables compared.  Records are left out by default: a channel's first month holds its
    whole member base and later months only the records that changed."""

    def __post_init__(self) -> None:
        problems = []
        if not 0 <= self.min_ratio <= 1:
            problems.append(f"volume.min_ratio must be in [0, 1], got {self.min_ratio!r}")
        if self.max_ratio is not None and self.max_ratio < 1:
            problems.append(f"volume.max_ratio must be at least 1 (or null), got {self.max_ratio!r}")
        if self.min_previous_rows < 0:
            problems.append(f"volume.min_previous_rows must be >= 0, got {self.min_previous_rows!r}")
        unknown = sorted(set(self.tables) - {"records", "orders", "events"})
        if unknown:
            problems.append(f"volume.tables: {unknown} are not tables; use records, orders, events")
        if problems:
            raise ValueError("; ".join(problems))


@dataclass(frozen=True)
class IdentifierChecks:
    """How damaged a channel's identifiers may be (``tierlib.extract.identifiers``).

    The damaged share of an identifier column is the share of its present values that
    cannot link anyone for a reason other than masking (a phone in scientific notation,
    a number of the wrong length).
    """

    max_damaged_share: float = 0.5
    """Above this share of a column's values damaged, the month stops naming channel and column."""
    warn_jump: float = 0.1
    """A rise of the damaged share by this much against last month is a warning in the figures
    and the report (0.05 -> 0.20 is a jump of 0.15)."""
    min_present: int = 20
    """Columns with fewer values than this are measured but neither warn nor stop."""
    thresholds: dict[str, float] = field(default_factory=dict)
    """Per channel (``pos``) or column (``pos.phone``) overrides of ``max_damaged_share``."""

    def __post_init__(self) -> None:
        problems = []
        for name in ("max_damaged_share", "warn_jump"):
            if not 0 <= getattr(self, name) <= 1:
                problems.append(f"identifiers.{name} must be in [0, 1], got {getattr(self, name)!r}")
        for key, value in self.thresholds.items():
            if not 0 <= value <= 1:
                problems.append(f"identifiers.thresholds.{key} must be in [0, 1], got {value!r}")
        if self.min_present < 0:
            problems.append(f"identifiers.min_present must be >= 0, got {self.min_present!r}")
        if problems:
            raise ValueError("; ".join(problems))

    def threshold_for(self, channel: str, column: str) -> float:
        for key in (f"{channel}.{column}", channel):
            if key in self.thresholds:
                return float(self.thresholds[key])
        return self.max_damaged_share


@dataclass(frozen=True)
class FeatureChecks:
    """What the features suite holds the features table to (columns as in docs/features.md)."""

    not_null: tuple[str, ...] = ("frequency", "monetary", "rfm_score", "channel_count")
    """Numeric features every member must have (never NaN, even without a purchase)."""
    score_columns: tuple[str, ...] = ("r_score", "f_score", "m_score")
    """Quintile scores; each must lie in ``score_range``."""
    score_range: tuple[float, ...] = (0.0, 5.0)
    """1..5 among buyers, 0 for members without a purchase."""
    non_negative: tuple[str, ...] = ("frequency", "tenure_days", "channel_count")
    """Features that can never be below zero (NaN is left to ``not_null``)."""
    probability_columns: tuple[str, ...] = ("probability_alive",)
    """Features that must lie in [0, 1] where present."""
    lifecycle_stages: tuple[str, ...] = ("new", "active", "silent", "churned", "reactivated")
    """Allowed values of ``lifecycle_stage`` (empty: not checked)."""

    def __post_init__(self) -> None:
        if len(self.score_range) != 2 or self.score_range[0] > self.score_range[1]:
            raise ValueError(f"features.score_range must be [low, high], got {list(self.score_range)!r}")


@dataclass(frozen=True)
class ScoreChecks:
    probability_columns: tuple[str, ...] = ("churn_probability",)
    """Columns that must lie in [0, 1] (scores and tiers tables)."""
    non_negative: tuple[str, ...] = ("predicted_value_90d",)
    not_null: tuple[str, ...] = ("predicted_value_90d", "churn_probability", "model_version")


@dataclass(frozen=True)
class ValidationSettings:
    """Which checks stop the run, and how much quarantine a table may carry.

    Build it from the YAML ``validation`` section (``ctx.config.stage("validation")``);
    every key has a default, so an empty section gives the documented behaviour.
    """

    quarantine_threshold: float = 0.01
    """A table (one channel's records, orders or events) whose quarantined share of rows in
    passes this fails the run."""
    quarantine_min_rows: int = 20
    """...provided at least this many rows were quarantined: one bad row in a 30-row table is
    3% of it, and not a reason to stop a month."""
    thresholds: dict[str, float] = field(default_factory=dict)
    """Per-channel or per-table overrides of ``quarantine_threshold``: ``{pos: 0.02,
    pos.orders: 0.05}`` (the more specific key wins)."""
    critical: tuple[str, ...] = DEFAULT_CRITICAL
    """Checks that fail the run on any failing row (fnmatch patterns over check names such as
    ``orders.amount.not_negative``; see docs/validation.md for every name)."""
    volume: VolumeSettings = field(default_factory=VolumeSettings)
    schema_parse_failure_share: float = 0.5
    """A text column whose values fail to parse this often (and at least 5 times) is taken as a
    changed source format: the run fails naming the column instead of quarantining every row."""
    allow_empty_channel: bool = False
    """A channel whose every table is empty for the month fails the run unless this is true."""
    event_types: tuple[str, ...] = EVENT_TYPES
    """Event types the events suite accepts; others are quarantined as ``unknown_event_type``."""
    data_docs: Literal["run_month", "all", "off"] = "run_month"
    """Which validations get Data Docs pages: the run's own month only (history months filled
    on a first run are validated all the same, without pages: a page costs about a second),
    every month, or none."""
    identifiers: IdentifierChecks = field(default_factory=IdentifierChecks)
    features: FeatureChecks = field(default_factory=FeatureChecks)
    scores: ScoreChecks = field(default_factory=ScoreChecks)

    def __post_init__(self) -> None:
        problems = []
        if not 0 <= self.quarantine_threshold <= 1:
            problems.append(f"quarantine_threshold must be in [0, 1], got {self.quarantine_threshold!r}")
        if self.quarantine_min_rows < 0:
            problems.append(f"quarantine_min_rows must be >= 0, got {self.quarantine_min_rows!r}")
        for key, value in self.thresholds.items():
            if not isinstance(value, int | float) or not 0 <= value <= 1:
                problems.append(f"thresholds.{key} must be in [0, 1], got {value!r}")
        if not 0 < self.schema_parse_failure_share <= 1:
            problems.append(
                f"schema_parse_failure_share must be in (0, 1], got {self.schema_parse_failure_share!r}"
            )
        if problems:
            raise ValueError("; ".join(problems))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, path: str = "validation") -> ValidationSettings:
        """Settings from the config section; a ConfigError lists every unknown key and bad value."""
        return settings_from_mapping(cls, data, path)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def threshold_for(self, channel: str | None, kind: str) -> float:
        """The quarantine threshold of one table: ``channel.kind``, then ``channel``, then the default."""
        for key in (f"{channel}.{kind}", str(channel)):
            if key in self.thresholds:
                return float(self.thresholds[key])
        return self.quarantine_threshold

    def is_critical(self, check: str) -> bool:
        from fnmatch import fnmatchcase

        return any(fnmatchcase(check, pattern) for pattern in self.critical)
