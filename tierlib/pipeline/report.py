"""Report stage: read what the month's stages wrote, draw the report, write it under ``reports/period=M/``.

Runs last.  Every input is optional: a stage that did not run (or a first
month without a predecessor) leaves its section with a note saying why, and
the report is still written.  Files: ``report.html`` (self-contained),
``charts/<name>.png`` (the same charts, for e-mail) and ``summary.json``
(headline figures and section status), written last.
"""

from __future__ import annotations

import re
import time

import pandas as pd

from tierlib.catalog import (
    alerts_key,
    alerts_summary_key,
    approved_model_key,
    clv_params_key,
    exports_prefix,
    exports_success_key,
    features_key,
    figures_key,
    identity_map_key,
    migration_key,
    migration_summary_key,
    model_card_key,
    model_versions_prefix,
    report_chart_key,
    report_key,
    report_summary_key,
    retrain_decision_key,
    tiers_key,
)
from tierlib.errors import StorageError
from tierlib.model import ModelSettings
from tierlib.period import previous_period
from tierlib.pipeline.context import RunContext, log
from tierlib.report import DataDocsLink, ReportInputs, ReportSettings, TierInfo
from tierlib.tiers import AlertSettings

SECTION = "report"
FEATURE_COLUMNS = (
    "oneid",
    "rfm_cell",
    "rfm_cell_en",
    "rfm_code",
    "frequency",
    "monetary",
    "lifecycle_stage",
    "clv",
    "probability_alive",
)
QUARANTINE_READ = ("stage", "channel", "kind", "reason")
LIFT_JSON = "lift/lift.json"
"""Where the publish stage puts the lift report inside a month's exports (tierlib.pipeline.publish)."""
_RETRAIN = re.compile(r"^models/retrains/period=(\d{4}-\d{2})/decision\.json$")
_DATA_DOCS = re.compile(r"data_docs/stage=([^/]+)/(?:channel=([^/]+)/)?index\.html$")


def run_report(ctx: RunContext) -> dict:
    from tierlib.report import build_report

    started = time.perf_counter()
    inputs = gather_inputs(ctx)
    seconds_reading = time.perf_counter() - started
    report = build_report(inputs, ReportSettings.of(ctx.config))
    keys = write_report(ctx.storage, report)
    missing = sorted(name for name, status in report.sections.items() if status != "ok")
    log.info(
        "report %s: %s (%d charts, %.1f s; sections without input: %s)",
        ctx.period,
        ctx.storage.uri(report_key(ctx.period)),
        len(report.charts),
        report.seconds,
        ", ".join(missing) or "none",
    )
    if report.font.family is None:
        log.warning("report %s: drawn without a CJK font; Chinese labels may show as boxes", ctx.period)
    return {
        "period": ctx.period,
        "report": ctx.storage.uri(report_key(ctx.period)),
        "html_key": report_key(ctx.period),
        "html_bytes": len(report.html.encode("utf-8")),
        "charts": len(report.charts),
        "chart_keys": keys,
        "sections": report.sections,
        "sections_missing": missing,
        "font": report.font.family or "none",
        "embedded_font_characters": len(report.webfont.characters) if report.webfont else 0,
        "embedded_font_bytes": report.webfont.size_bytes if report.webfont else 0,
        "seconds_reading": round(seconds_reading, 3),
        "seconds_rendering": report.seconds,
        "seconds": round(time.perf_counter() - started, 3),
    }


def write_report(storage, report) -> list[str]:
    """Charts, then the page, then the summary (last: its presence marks a complete report)."""
    period = report.period
    keys = []
    for name, data in sorted(report.charts.items()):
        key = report_chart_key(period, name)
        storage.write_bytes(key, data)
        keys.append(key)
    stale = set(storage.list(report_chart_key(period, "x").rsplit("/", 1)[0] + "/")) - set(keys)
    for key in sorted(stale):  # a chart an earlier run of this month drew and this one did not
        storage.delete(key)
    storage.write_bytes(report_key(period), report.html.encode("utf-8"))
    storage.write_json(
        report_summary_key(period),
        {
            "period": period,
            "headline": report.headline,
            "sections": report.sections,
            "charts": sorted(report.charts),
            "font": report.font.family,
        },
    )
    return keys


# -- reading the month's outputs --------------------------------------------------------


def gather_inputs(ctx: RunContext) -> ReportInputs:
    """Read whatever the month's stages left in storage; note what is missing and why."""
    storage, period = ctx.storage, ctx.period
    notes: dict[str, str] = {}
    tier_settings = ctx.config.stages.get("tiers")
    tiers_config = ()
    high_value: tuple[str, ...] = ()
    if tier_settings is not None:
        tiers_config = tuple(
            TierInfo(r.tier, r.label or r.tier, r.value_rank, r.action) for r in tier_settings.rules
        )
        high_value = tuple(tier_settings.high_value_tiers)
    alert_settings = ctx.config.stages.get("alerts") or AlertSettings()
    model_settings = ctx.config.stages.get("model") or ModelSettings()

    tiers = _parquet(storage, tiers_key(period), "tiers", notes, "the tiers stage")
    features = _parquet(
        storage, features_key(period), "features", notes, "the features stage", FEATURE_COLUMNS
    )
    clv_fit = _json(storage, clv_params_key(period), "clv_fit", notes, "the features stage")
    migration = _parquet(storage, migration_key(period), "migration", notes, "the tiers stage")
    migration_summary = _json(storage, migration_summary_key(period), "migration", notes, "the tiers stage")
    if migration_summary is not None and not migration_summary.get("has_previous"):
        notes["migration"] = (
            f"No tiers for {previous_period(period)}, so no migration this month; run "
            f"{previous_period(period)} first (or wait for next month)."
        )
    alerts = _parquet(storage, alerts_key(period), "alerts", notes, "the tiers stage")
    alerts_summary = _json(storage, alerts_summary_key(period), "alerts", notes, "the tiers stage")
    orders, events = _month_activity(ctx, notes)
    score = _figures(storage, period, "score")
    approved, card, versions = _model(storage, period, score, notes)
    decision, candidate = _latest_retrain(storage, period)
    quarantine = _quarantine(storage, period)
    extract = {}
    for channel in ctx.channels:
        recorded = _figures(storage, period, f"extract/channel={channel}")
        if recorded is not None:
            extract[channel] = recorded
    if quarantine is None and not extract:
        notes["quality"] = f"No extract figures or quarantine for {period}: run the extract stage first."
    lift = _lift(storage, period, notes)
    assignments = _assignments(storage, period)
    previous = _json(storage, report_summary_key(previous_period(period)), "previous", {}, "")
    return ReportInputs(
        period=period,
        previous_period=previous_period(period),
        tiers_config=tiers_config,
        high_value_tiers=high_value,
        inactive_days=alert_settings.inactive_days,
        horizon_days=model_settings.horizon_days,
        model_top_share=model_settings.top_share,
        tiers=tiers,
        features=features,
        clv_fit=clv_fit,
        month_orders=orders,
        month_events=events,
        migration=migration,
        migration_summary=migration_summary,
        alerts=alerts,
        alerts_summary=alerts_summary,
        score_figures=score,
        approved_model=approved,
        model_card=card,
        model_versions=versions,
        retrain_decision=decision,
        candidate_card=candidate,
        quarantine=quarantine,
        extract_figures=extract,
        data_docs=_data_docs(storage, period),
        assignments=assignments,
        lift=lift,
        previous_headline=None if previous is None else previous.get("headline"),
        stage_seconds=_stage_seconds(ctx),
        notes=notes,
    )


def _parquet(storage, key, name, notes, stage, columns=None) -> pd.DataFrame | None:
    if not storage.exists(key):
        notes.setdefault(name, f"{storage.uri(key)} is missing: run {stage} for this month first.")
        return None
    try:
        frame = storage.read_parquet(key)
    except StorageError as error:
        notes.setdefault(name, str(error))
        log.warning("report: %s", error)
        return None
    if columns is not None:
        frame = frame[[c for c in columns if c in frame.columns]]
    return frame


def _json(storage, key, name, notes, stage) -> dict | None:
    if not storage.exists(key):
        if stage:
            notes.setdefault(name, f"{storage.uri(key)} is missing: run {stage} for this month first.")
        return None
    try:
        return storage.read_json(key)
    except StorageError as error:
        notes.setdefault(name, str(error))
        log.warning("report: %s", error)
        return None


def _figures(storage, period: str, stage: str) -> dict | None:
    key = figures_key(period, stage)
    if not storage.exists(key):
        return None
    try:
        return storage.read_json(key).get("figures")
    except (StorageError, AttributeError):
        return None


def _month_activity(ctx: RunContext, notes) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """The month's orders and events, each row with its member's OneID."""
    from tierlib.pipeline.features import OneIdLookup, read_with_oneid

    key = identity_map_key(ctx.period)
    if not ctx.storage.exists(key):
        notes["activity"] = f"{ctx.storage.uri(key)} is missing: run the identity stage for this month first."
        return None, None
    lookup = OneIdLookup(ctx.storage.read_parquet(key, columns=["channel", "record_id", "oneid"]))
    orders = read_with_oneid(ctx, "orders", [ctx.period], lookup, ["amount", "refund_amount"])
    events = read_with_oneid(ctx, "events", [ctx.period], lookup, [])
    return orders, events


def _model(
    storage, period: str, score: dict | None, notes
) -> tuple[dict | None, dict | None, tuple[str, ...]]:
    """The approval the month was scored with, its card, and every stored version.

    The score stage's figures say which model scored the month; the report shows
    that one (a model approved after the month was scored does not count until
    the month is rerun).  Without those figures, the approved pointer decides by
    the rule of ``ModelRegistry.approved_for`` (read here so the report does not
    load scikit-learn).
    """
    versions = tuple(
        sorted(
            {
                key[len(model_versions_prefix()) :].split("/", 1)[0]
                for key in storage.list(model_versions_prefix())
            }
        )
    )
    pointer = _json(storage, approved_model_key(), "model", {}, "") or {}
    history = pointer.get("history", [])
    if score is not None and score.get("fallback_to_clv_baseline"):
        notes["model"] = "the month was scored with the CLV baseline"
        return None, None, versions
    if score is not None and score.get("model_version"):
        version = str(score["model_version"])
        entry = next((e for e in reversed(history) if e.get("version") == version), {"version": version})
    else:
        in_effect = [e for e in history if e.get("from_period", "") <= period]
        if not in_effect:
            notes["model"] = f"no model was approved for {period} or earlier"
            return None, None, versions
        entry = in_effect[-1]
    card = _json(storage, model_card_key(entry["version"]), "model", notes, "the quarterly retrain")
    return entry, card, versions


def _latest_retrain(storage, period: str) -> tuple[dict | None, dict | None]:
    """The decision of the latest retrain on data up to ``period``, and its candidate's card."""
    months = sorted(
        {
            match.group(1)
            for key in storage.list("models/retrains/")
            if (match := _RETRAIN.match(key)) and match.group(1) <= period
        }
    )
    if not months:
        return None, None
    decision = _json(storage, retrain_decision_key(months[-1]), "retrain", {}, "")
    if not decision or not decision.get("candidate"):
        return decision, None
    card = _json(storage, model_card_key(decision["candidate"]), "retrain", {}, "")
    return decision, None if card is None else {**card, "version": decision["candidate"]}


def _quarantine(storage, period: str) -> pd.DataFrame | None:
    keys = [key for key in storage.list(f"quarantine/period={period}/") if key.endswith(".parquet")]
    if not keys:
        return None
    frames = []
    for key in keys:
        frame = storage.read_parquet(key)
        if len(frame):
            frames.append(frame[[c for c in QUARANTINE_READ if c in frame.columns]])
    if not frames:
        return pd.DataFrame({name: pd.Series(dtype="string") for name in QUARANTINE_READ})
    return pd.concat(frames, ignore_index=True)


def _data_docs(storage, period: str) -> tuple[DataDocsLink, ...]:
    """Every Data Docs site of the month, linked relative to ``reports/period=M/report.html``."""
    links = []
    for key in storage.list(f"quality/period={period}/data_docs/"):
        match = _DATA_DOCS.search(key)
        if match:
            stage, channel = match.groups()
            label = f"{stage} · {channel}" if channel else stage
            links.append(DataDocsLink(label, f"../../{key}"))
    return tuple(links)


def _lift(storage, period: str, notes) -> dict | None:
    if not storage.exists(exports_success_key(period)):
        notes["lift"] = (
            f"The exports of {period} are not published (the publish stage did not run, or ran dry), "
            "so there is no lift report."
        )
        return None
    return _json(storage, exports_prefix(period) + LIFT_JSON, "lift", notes, "the publish stage")


def _assignments(storage, period: str) -> pd.DataFrame | None:
    """Who the month's published exports reached (the note on missing exports is the lift's)."""
    from tierlib.pipeline.publish import ASSIGNMENTS_PATH

    key = exports_prefix(period) + ASSIGNMENTS_PATH
    if not storage.exists(exports_success_key(period)) or not storage.exists(key):
        return None
    return storage.read_parquet(key, columns=["channel", "segment", "oneid", "group"])


def _stage_seconds(ctx: RunContext) -> dict[str, float]:
    from tierlib.pipeline.summary import run_summary

    stages = run_summary(ctx).get("stages", {})
    return {name: float(figures.get("seconds", 0.0)) for name, figures in stages.items() if name != SECTION}
