"""Everything one month's report is drawn from, already read from storage.

Each input may be absent (a stage that did not run, a month without a
predecessor); ``notes`` then says why, and the report shows that note in the
section instead of a chart.  The report never reads storage itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class TierInfo:
    """One tier as the config defines it."""

    tier: str
    label: str
    value_rank: int
    action: str = ""
    """What marketing does for the tier (``tiers.rules[].action``)."""


@dataclass(frozen=True)
class DataDocsLink:
    label: str
    """What the site validated, e.g. ``extract · pos`` or ``tiers``."""
    href: str
    """Relative to the report's own location (``../../quality/...``), so it works from a
    local folder and from the Airflow UI view alike."""


@dataclass(frozen=True)
class ReportInputs:
    period: str
    previous_period: str
    tiers_config: tuple[TierInfo, ...] = ()
    """Tiers in rule order, with labels and value ranks."""
    high_value_tiers: tuple[str, ...] = ()
    inactive_days: int = 30
    """``alerts.inactive_days``: how long a high-value member is quiet before an alert."""
    horizon_days: int = 90
    """``model.horizon_days``: the window predicted value looks ahead (``predicted_value_90d`` holds it)."""
    model_top_share: float = 0.2
    """``model.top_share``: the predicted top share whose spend capture is the model's first metric
    (a card that records its own ``top_share`` is labelled with that one)."""
    tiers: pd.DataFrame | None = None
    """``tiers/period=M/tiers.parquet`` (TIER_COLUMNS)."""
    features: pd.DataFrame | None = None
    """``features/period=M/features.parquet`` (at least oneid, rfm_cell, rfm_cell_en, rfm_code,
    frequency, monetary, lifecycle_stage, clv, probability_alive)."""
    clv_fit: dict | None = None
    """``features/period=M/clv_params.json``: the CLV fit (model, parameters, holdout check)."""
    month_orders: pd.DataFrame | None = None
    """The month's accepted orders with ``oneid`` (amount, refund_amount)."""
    month_events: pd.DataFrame | None = None
    """The month's accepted engagement events with ``oneid``."""
    migration: pd.DataFrame | None = None
    """Long transition matrix (from_tier, to_tier, members, rate); empty in a first month."""
    migration_summary: dict | None = None
    alerts: pd.DataFrame | None = None
    """Inactive high-value members (ALERT_COLUMNS)."""
    alerts_summary: dict | None = None
    score_figures: dict | None = None
    """What the score stage recorded: model_version, fallback_to_clv_baseline, note."""
    approved_model: dict | None = None
    """The approval in effect for the month (version, from_period, ...), None before any."""
    model_card: dict | None = None
    model_versions: tuple[str, ...] = ()
    """Every stored model version (approved or not)."""
    retrain_decision: dict | None = None
    """The latest quarterly retrain's decision up to the month (promote or keep, and why)."""
    candidate_card: dict | None = None
    """That retrain's candidate card, shown when no model is approved yet."""
    quarantine: pd.DataFrame | None = None
    """The month's quarantined rows of every stage (at least stage, channel, kind, reason)."""
    extract_figures: dict[str, dict] = field(default_factory=dict)
    """Per source channel: the extract stage's figures for the month (tables, totals)."""
    data_docs: tuple[DataDocsLink, ...] = ()
    assignments: pd.DataFrame | None = None
    """``exports/period=M/assignments.parquet`` (channel, segment, oneid, group), when published."""
    lift: dict | None = None
    """``exports/period=M/lift/lift.json``: last month's segments judged on this month's orders."""
    previous_headline: dict | None = None
    """Last month's report headline figures, for the month-over-month deltas."""
    stage_seconds: dict[str, float] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    """Input name -> why it is missing (``tiers``, ``features``, ``migration``, ``lift``, ...)."""
