"""Tiers stage: assign tiers, compare with last month, and raise alerts.

Writes the month's tiers, the transition matrix from the month before (with
its headline rates) and the alerts.  Alerts and threshold warnings are
logged and written; they never fail the run.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tierlib.catalog import (
    alerts_key,
    alerts_summary_key,
    features_key,
    identity_key,
    migration_key,
    migration_summary_key,
    scores_key,
    tiers_key,
)
from tierlib.errors import InputError
from tierlib.period import previous_period
from tierlib.pipeline.context import RunContext, log
from tierlib.tiers import (
    assign_tiers,
    days_inactive,
    inactive_high_value,
    migration_summary,
    rule_frame,
    threshold_warnings,
    transition_matrix,
)

RFM_CELL_COLUMN = "rfm_cell"
LIFECYCLE_COLUMN = "lifecycle_stage"
DAYS_SINCE_PURCHASE_COLUMN = "recency_days"
TENURE_COLUMN = "tenure_days"


def _read(ctx: RunContext, key: str, stage: str):
    if not ctx.storage.exists(key):
        raise InputError(
            f"tiers {ctx.period}: {ctx.storage.uri(key)} is missing; run the {stage} stage first"
        )
    return ctx.storage.read_parquet(key)


def members_table(scores: pd.DataFrame, features: pd.DataFrame) -> pd.DataFrame:
    """Scores joined to features, one row per scored member (score columns win on a name clash)."""
    extra = features.drop(columns=[c for c in scores.columns if c in features.columns and c != "oneid"])
    extra = extra.assign(oneid=extra["oneid"].astype("string"))
    return scores.assign(oneid=scores["oneid"].astype("string")).merge(
        extra, on="oneid", how="left", validate="1:1"
    )


def days_since_engagement(ctx: RunContext) -> pd.Series:
    """Calendar days from each member's last event to the as-of date (yesterday is 1), by oneid.

    The feature table counts events over a window but keeps no last date, so
    this reads the history window's events (members without one are absent).
    """
    from tierlib.pipeline.features import OneIdLookup, read_with_oneid

    lookup = OneIdLookup(ctx.storage.read_parquet(identity_key(ctx.period, "identity_map")))
    events = read_with_oneid(ctx, "events", ctx.history_periods, lookup, ["ts"])
    events = events.loc[events["ts"] < pd.Timestamp(ctx.as_of)]
    last = events.groupby("oneid", observed=True)["ts"].max()
    last.index = pd.Index(last.index.astype("string"), name="oneid")
    return (pd.Timestamp(ctx.as_of).normalize() - last.dt.floor("D")).dt.days.astype("float64")


def run_tiers(ctx: RunContext) -> dict:
    from tierlib.validation import validate_output

    tier_settings = ctx.config.stage("tiers")
    alert_settings = ctx.config.stage("alerts")
    scores = _read(ctx, scores_key(ctx.period), "score")
    features = _read(ctx, features_key(ctx.period), "features")
    members = members_table(scores, features)

    last_month = previous_period(ctx.period)
    previous = (
        ctx.storage.read_parquet(tiers_key(last_month)) if ctx.storage.exists(tiers_key(last_month)) else None
    )
    if previous is None:
        log.info("tiers %s: no tiers for %s, so no migration figures this month", ctx.period, last_month)

    tiers = assign_tiers(
        members, tier_settings, previous, rfm_cell_column=RFM_CELL_COLUMN, lifecycle_column=LIFECYCLE_COLUMN
    )
    matrix = transition_matrix(tiers, previous, tier_settings)
    summary = migration_summary(tiers, previous, tier_settings)

    watched = rule_frame(members, tier_settings)
    watched = watched.merge(tiers[["oneid", "tier"]], on="oneid", how="left", validate="1:1")
    engaged = days_since_engagement(ctx)
    watched["days_inactive"] = days_inactive(
        watched[DAYS_SINCE_PURCHASE_COLUMN],
        watched["oneid"].map(engaged),
        watched[TENURE_COLUMN] if TENURE_COLUMN in watched.columns else None,
    ).to_numpy()
    alerts = inactive_high_value(watched, alert_settings)
    warnings = threshold_warnings(summary, alert_settings)
    levels = {level.level: int((alerts["level"] == level.level).sum()) for level in alert_settings.levels}
    alert_summary = {"period": ctx.period, "inactive_high_value": levels, "warnings": warnings}

    outcome = validate_output(
        ctx.storage,
        "tiers",
        tiers,
        period=ctx.period,
        settings=ctx.config.stage("validation"),
        allowed_tiers=[rule.tier for rule in tier_settings.rules],
    )
    tiers, validation = outcome.accepted, outcome.figures
    ctx.storage.write_parquet(tiers_key(ctx.period), tiers)
    ctx.storage.write_parquet(migration_key(ctx.period), matrix)
    ctx.storage.write_json(
        migration_summary_key(ctx.period), {"period": ctx.period, "previous": last_month, **summary}
    )
    ctx.storage.write_parquet(alerts_key(ctx.period), alerts)
    ctx.storage.write_json(alerts_summary_key(ctx.period), alert_summary)

    log.info(
        "tiers %s: %d members in, %d tiered: %s; %d vip",
        ctx.period,
        len(members),
        len(tiers),
        ", ".join(f"{tier} {count}" for tier, count in summary["tier_counts"].items()),
        int(tiers["vip"].sum()),
    )
    if previous is not None:
        log.info(
            "tiers %s: %s of members changed tier; potential-to-high conversion %s",
            ctx.period,
            _percent(summary.get("tier_change_share")),
            _percent(summary.get("potential_to_high_conversion")),
        )
    log.log(
        30 if len(alerts) else 20,
        "alerts %s: %d high-value members inactive %d+ days (%s)",
        ctx.period,
        len(alerts),
        alert_settings.inactive_days,
        ", ".join(f"{level} {count}" for level, count in levels.items()),
    )
    for warning in warnings:
        log.warning("alert %s: %s", ctx.period, warning["message"])
    return {
        "members": len(tiers),
        "tier_counts": summary["tier_counts"],
        "vip": int(tiers["vip"].sum()),
        "model_versions": sorted(map(str, scores["model_version"].dropna().unique())),
        "migration": {k: v for k, v in summary.items() if k not in ("tier_counts",)},
        "alerts": {"inactive_high_value": levels, "warnings": [w["code"] for w in warnings]},
        "validation": {
            k: validation.get(k)
            for k in ("rows_in", "accepted", "quarantined", "validation_seconds", "data_docs")
        },
        "outputs": [tiers_key(ctx.period), migration_key(ctx.period), alerts_key(ctx.period)],
    }


def _percent(value) -> str:
    return "n/a" if value is None or (isinstance(value, float) and np.isnan(value)) else f"{value:.1%}"
