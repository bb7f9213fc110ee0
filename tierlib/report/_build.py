"""Assemble the month's report: one function per section, each a note instead when its input is missing."""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass

import pandas as pd

from tierlib.report import _format as fmt
from tierlib.report._fonts import CjkFont, find_cjk_font
from tierlib.report._html import Chart, Section, missing_section, page, render, table
from tierlib.report._inputs import ReportInputs
from tierlib.report._settings import ReportSettings
from tierlib.report._webfont import WebFont, embedded_font, page_text

SECTION_IDS = (
    "glance",
    "tiers",
    "playbook",
    "migration",
    "rfm",
    "clv",
    "lifecycle",
    "alerts",
    "model",
    "quality",
    "lift",
)
"""Every section of the report, in page order; each is an element with that id."""


@dataclass(frozen=True)
class Report:
    period: str
    html: str
    charts: dict[str, bytes]
    """Chart name -> PNG bytes (the same images the HTML embeds)."""
    headline: dict
    """The headline figures (next month's report reads them for its deltas)."""
    sections: dict[str, str]
    """Section id -> ``ok`` or ``missing``."""
    font: CjkFont
    webfont: WebFont | None
    """The CJK face embedded in the page (None without a CJK font or Chinese text)."""
    seconds: float


class _Drawer:
    """Turns figures into Charts at the configured resolution."""

    def __init__(self, settings: ReportSettings):
        self.dpi = settings.dpi

    def __call__(self, name: str, figure, alt: str) -> Chart:
        from tierlib.report._charts import png

        width = round(figure.get_figwidth() * self.dpi / 1.1)
        return Chart(name, png(figure, self.dpi), alt, width)


def build_report(inputs: ReportInputs, settings: ReportSettings | None = None) -> Report:
    """The month's report from its inputs; a section whose input is missing says so."""
    import matplotlib

    from tierlib.period import as_of
    from tierlib.report._style import rc_params, tier_colors

    started = time.perf_counter()
    settings = settings or ReportSettings()
    font = find_cjk_font(settings.font_path)
    draw = _Drawer(settings)
    from tierlib.report._figures import headline, tier_order

    figures = headline(inputs, settings.top_share)
    order = tier_order(inputs)
    colors = tier_colors([info.tier for info in order])
    labels = {info.tier: info.label or info.tier for info in order}
    labels.update({"(new)": "新会员 (new)", "(gone)": "离开 (gone)"})
    with matplotlib.rc_context(rc_params(font.family)), _quiet_font_lookup():
        glance = _glance(inputs, settings, figures, colors, labels, draw)
        tiers = _tiers(inputs, colors, draw)
        playbook = _playbook(inputs, colors)
        migration = _migration(inputs, settings, labels, draw)
        rfm = _rfm(inputs, draw)
        clv = _clv(inputs, colors, draw)
        lifecycle = _lifecycle(inputs, draw)
        alerts = _alerts(inputs, settings, labels, draw)
        model = _model(inputs, draw)
        quality = _quality(inputs, draw)
        lift = _lift(inputs, draw)
    sections = [glance, tiers, playbook, migration, rfm, clv, lifecycle, alerts, model, quality, lift]
    charts = {chart.name: chart.png for section in sections for chart in section.charts}
    context = {
        "period": inputs.period,
        "previous_period": inputs.previous_period,
        "as_of": f"{as_of(inputs.period):%Y-%m-%d}",
        "model_in_use": _model_in_use(inputs),
        "timing": ", ".join(f"{name} {seconds:.0f} s" for name, seconds in inputs.stage_seconds.items()),
        "font": font,
    }
    title = f"Tierflow monthly member report · {inputs.period}"
    # Drawn twice: the first page's text says which characters the embedded font must hold.
    webfont = embedded_font(font, page_text(page(title, sections, webfont=None, **context)))
    html = page(title, sections, webfont=webfont, **context)
    return Report(
        period=inputs.period,
        html=html,
        charts=charts,
        headline=figures,
        sections={section.id: section.status for section in sections},
        font=font,
        webfont=webfont,
        seconds=round(time.perf_counter() - started, 3),
    )


@contextmanager
def _quiet_font_lookup():
    """The CJK collection has no bold face; its glyphs are drawn regular without a warning each time."""
    logger = logging.getLogger("matplotlib.font_manager")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _model_in_use(inputs: ReportInputs) -> str:
    if inputs.approved_model:
        return f"approved model {inputs.approved_model.get('version')}"
    if inputs.score_figures and not inputs.score_figures.get("fallback_to_clv_baseline", True):
        return f"model {inputs.score_figures.get('model_version')}"
    return "the CLV baseline (no approved model yet)"


# -- at a glance --------------------------------------------------------------------------


def _glance(inputs, settings, figures, colors, labels, draw) -> Section:
    from tierlib.report._charts import headline_card
    from tierlib.report._figures import deltas, tier_order

    tiles = _tiles(figures, deltas(figures, inputs.previous_headline), settings)
    card = draw(
        "headline",
        headline_card(
            [{**tile, "note_color": _tone_color(tile.get("tone", ""))} for tile in tiles],
            inputs.period,
            "Tierflow monthly member report",
        ),
        "Headline figures of the month",
    )
    counts = figures.get("tier_counts")
    chips = (
        [
            {"label": labels[info.tier], "color": colors[info.tier], "members": counts.get(info.tier, 0)}
            for info in tier_order(inputs)
        ]
        if counts
        else []
    )
    body = render(
        "glance.html",
        tiles=tiles,
        chips=chips,
        tiers_note=inputs.notes.get("tiers", "no tiers for this month"),
        movement=_movement(inputs),
        attention=_attention(inputs),
        warnings=_threshold_warnings(inputs),
    )
    return Section("glance", "At a glance", body, charts=(card,))


def _tone_color(tone: str) -> str:
    return {"good": "#15803d", "bad": "#b91c1c"}.get(tone, "#6b7280")


def _tiles(figures: dict, change: dict, settings: ReportSettings) -> list[dict]:
    def note(key: str, kind: str = "count", good_when_up: bool = True) -> tuple[str, str]:
        if key not in change:
            return "", ""
        value = change[key]
        tone = "" if value == 0 else ("good" if (value > 0) == good_when_up else "bad")
        return f"{fmt.signed(value, kind)} vs last month", tone

    tiles = []
    members_note, members_tone = note("members")
    tiles.append(
        {
            "label": "Members",
            "value": fmt.count(figures.get("members")),
            "note": members_note,
            "tone": members_tone,
            "color": "#0b3c5d",
        }
    )
    active = figures.get("active_members")
    share = active / figures["members"] if active is not None and figures.get("members") else None
    active_note, active_tone = note("active_members")
    tiles.append(
        {
            "label": "Active this month (bought or engaged)",
            "value": fmt.count(active),
            "note": " · ".join(
                filter(None, [f"{fmt.percent(share)} of members" if share is not None else "", active_note])
            ),
            "tone": active_tone,
            "color": "#15803d",
        }
    )
    revenue_note, revenue_tone = note("revenue", "compact")
    buyers = figures.get("buyers")
    tiles.append(
        {
            "label": "Revenue this month (net of refunds)",
            "value": fmt.compact(figures.get("revenue")),
            "note": " · ".join(
                filter(None, [f"{fmt.count(buyers)} buyers" if buyers is not None else "", revenue_note])
            ),
            "tone": revenue_tone,
            "color": "#1d7874",
        }
    )
    top_note, top_tone = note("top_share_of_revenue", "pp", good_when_up=False)
    tiles.append(
        {
            "label": f"Revenue from the top {fmt.percent(settings.top_share, 0)} of buyers",
            "value": fmt.percent(figures.get("top_share_of_revenue")),
            "note": top_note or "concentration of the month's revenue",
            "tone": top_tone,
            "color": "#8e7dbe",
        }
    )
    vip_share = figures.get("vip_revenue_share")
    tiles.append(
        {
            "label": "VIP members (top predicted value)",
            "value": fmt.count(figures.get("vip_members")),
            "note": f"gave {fmt.percent(vip_share)} of this month's revenue" if vip_share is not None else "",
            "color": "#f4a259",
        }
    )
    levels = figures.get("alerts") or {}
    alert_note, alert_tone = note("alerts_total", good_when_up=False)
    tiles.append(
        {
            "label": "High-value members gone quiet",
            "value": fmt.count(figures.get("alerts_total")),
            "note": " · ".join(filter(None, [" ".join(f"{k} {v}" for k, v in levels.items()), alert_note])),
            "tone": alert_tone,
            "color": "#b91c1c",
        }
    )
    return tiles


def _movement(inputs: ReportInputs) -> dict:
    """How value moved since last month: the migration summary's figures, or why there are none."""
    summary = inputs.migration_summary or {}
    keys = (
        "tier_change_share",
        "upgrade_rate",
        "downgrade_rate",
        "value_migration_rate",
        "potential_to_high_conversion",
        "potential_members_previous",
        "members_new",
        "members_gone",
    )
    return {
        **{key: summary.get(key) for key in keys},
        "has_previous": bool(summary.get("has_previous")),
        "previous_period": inputs.previous_period,
        "note": inputs.notes.get(
            "migration", f"No tiers for {inputs.previous_period}: movement shows from next month."
        ),
    }


def _attention(inputs: ReportInputs) -> dict:
    """Who needs attention: inactive high-value members per alert level, or why there are none."""
    from tierlib.report._figures import alert_levels

    levels = alert_levels(inputs)
    return {
        "levels": levels,
        "total": sum(levels.values()) if levels is not None else 0,
        "inactive_days": inputs.inactive_days,
        "warnings": len((inputs.alerts_summary or {}).get("warnings") or []),
        "note": inputs.notes.get("alerts", "no alerts were written for this month"),
    }


def _threshold_warnings(inputs: ReportInputs) -> list[str] | None:
    """The alert stage's threshold warnings; None when it wrote no summary."""
    if inputs.alerts_summary is None:
        return None
    return [str(w.get("message", w)) for w in inputs.alerts_summary.get("warnings") or []]


# -- tiers ------------------------------------------------------------------------------


def _tiers(inputs: ReportInputs, colors, draw) -> Section:
    title = "Tiers: size and value"
    if inputs.tiers is None:
        return missing_section("tiers", title, inputs.notes.get("tiers", "no tiers"))
    from tierlib.report._charts import tiers_chart
    from tierlib.report._figures import tier_table

    frame = tier_table(inputs)
    chart = draw("tiers", tiers_chart(frame, colors, inputs.horizon_days), "Members and value share per tier")
    rows = table(
        frame,
        [
            ("label", "tier", None),
            ("members", "members", fmt.count),
            ("member_share", "% members", fmt.percent),
            ("predicted_value", f"predicted {inputs.horizon_days}-day value", fmt.compact),
            ("value_share", "% value", fmt.percent),
            ("revenue", "revenue this month", fmt.compact),
            ("revenue_share", "% revenue", fmt.percent),
            ("vip", "VIP", fmt.count),
        ],
        numeric=(
            "members",
            "member_share",
            "predicted_value",
            "value_share",
            "revenue",
            "revenue_share",
            "vip",
        ),
    )
    body = render(
        "tiers.html", top=frame.iloc[0].to_dict(), horizon_days=inputs.horizon_days, chart=chart, rows=rows
    )
    return Section("tiers", title, body, charts=(chart,))


# -- playbook ---------------------------------------------------------------------------


def _playbook(inputs: ReportInputs, colors) -> Section:
    title = "Tier playbook: what each tier gets"
    if inputs.tiers is None:
        return missing_section("playbook", title, inputs.notes.get("tiers", "no tiers"))
    from tierlib.report._figures import playbook

    rows = playbook(inputs)
    published = inputs.assignments is not None
    sent = inputs.assignments.loc[inputs.assignments["group"] == "treated"] if published else None
    body = render(
        "playbook.html",
        rows=rows,
        colors=colors,
        published=published,
        not_published=inputs.notes.get("lift", f"The exports of {inputs.period} are not published."),
        sent_members=int(sent["oneid"].nunique()) if published else 0,
        channels=int(sent["channel"].nunique()) if published else 0,
        holdout=int(inputs.assignments.loc[inputs.assignments["group"] != "treated", "oneid"].nunique())
        if published
        else 0,
        lift_period=inputs.previous_period,
        measured=inputs.lift is not None,
    )
    return Section("playbook", title, body)


# -- migration --------------------------------------------------------------------------


def _migration(inputs: ReportInputs, settings, labels, draw) -> Section:
    title = f"Migration since {inputs.previous_period}"
    from tierlib.report._figures import main_flows, migration_matrix

    matrices = migration_matrix(inputs) if inputs.migration is not None else None
    if matrices is None:
        note = inputs.notes.get(
            "migration",
            f"No tiers for {inputs.previous_period}, so no migration this month; it shows from next month.",
        )
        return missing_section("migration", title, note)
    from tierlib.report._charts import flows_chart, migration_heatmap

    counts, rates = matrices
    charts = [draw("migration_heatmap", migration_heatmap(counts, rates, labels), "Tier migration matrix")]
    flows = main_flows(inputs, settings.main_flows)
    if len(flows):
        charts.append(draw("migration_flows", flows_chart(flows, labels), "Main flows between tiers"))
    body = render("migration.html", movement=_movement(inputs), charts=charts)
    return Section("migration", title, body, charts=tuple(charts))


# -- RFM --------------------------------------------------------------------------------


def _rfm(inputs: ReportInputs, draw) -> Section:
    title = "RFM 8-cell grid"
    features = inputs.features
    if features is None or "rfm_code" not in features:
        return missing_section("rfm", title, inputs.notes.get("features", "no features for this month"))
    from tierlib.report._charts import rfm_grid
    from tierlib.report._figures import rfm_cells

    cells, no_purchase = rfm_cells(features)
    chart = draw("rfm_grid", rfm_grid(cells, no_purchase), "RFM 8-cell grid")
    body = render(
        "rfm.html",
        biggest=cells.sort_values("members", ascending=False).iloc[0].to_dict(),
        richest=cells.sort_values("spend_share", ascending=False).iloc[0].to_dict(),
        chart=chart,
    )
    return Section("rfm", title, body, charts=(chart,))


# -- CLV and lifecycle ------------------------------------------------------------------


def _clv(inputs: ReportInputs, colors, draw) -> Section:
    title = "Customer lifetime value"
    features = inputs.features
    if features is None or "clv" not in features:
        return missing_section("clv", title, inputs.notes.get("features", "no features"))
    from tierlib.report._charts import calibration_chart, clv_chart, probability_alive_chart
    from tierlib.report._figures import (
        ALIVE_BINS,
        LIKELY_GONE,
        MODEL_NAMES,
        clv_by_tier,
        clv_values,
        holdout_calibration,
        model_choice,
        probability_alive_by_tier,
        probability_alive_values,
    )

    values = clv_values(features)
    if values.empty:
        return missing_section("clv", title, "No member has a CLV this month (CLV is off, or nobody bought).")
    chart = draw("clv", clv_chart(values, clv_by_tier(inputs), colors), "CLV distribution")
    charts = [chart]
    choice = model_choice(inputs.clv_fit)
    calibration = holdout_calibration(inputs.clv_fit)
    calibration_chart_ = None
    if len(calibration):
        unit = (choice or {}).get("time_unit", "week")
        periods = (choice or {}).get("holdout_periods") or 0
        window = f"the last {fmt.count(periods)} {unit}{'s' if periods != 1 else ''}"
        calibration_chart_ = draw(
            "clv_calibration",
            calibration_chart(calibration, inputs.clv_fit["model"], MODEL_NAMES, window),
            "CLV model calibration: forecast against observed holdout purchases",
        )
        charts.append(calibration_chart_)
    alive = probability_alive_values(features)
    alive_chart = None
    if len(alive):
        alive_chart = draw(
            "clv_alive",
            probability_alive_chart(alive, probability_alive_by_tier(inputs), colors, ALIVE_BINS),
            "Probability alive",
        )
        charts.append(alive_chart)
    body = render(
        "clv.html",
        median=values.median(),
        p95=values.quantile(0.95),
        chart=chart,
        choice=choice,
        missing_fit=inputs.notes.get("clv_fit"),
        calibration_chart=calibration_chart_,
        alive_chart=alive_chart,
        likely_gone=float((alive < LIKELY_GONE).mean()) if len(alive) else None,
    )
    return Section("clv", title, body, charts=tuple(charts))


def _lifecycle(inputs: ReportInputs, draw) -> Section:
    title = "Lifecycle funnel"
    features = inputs.features
    if features is None or "lifecycle_stage" not in features:
        return missing_section("lifecycle", title, inputs.notes.get("features", "no features"))
    from tierlib.report._charts import lifecycle_funnel
    from tierlib.report._figures import lifecycle_counts

    stages = lifecycle_counts(features)
    chart = draw("lifecycle", lifecycle_funnel(stages), "Lifecycle funnel")
    active = stages.loc[stages["stage"].isin(["new", "active", "reactivated"]), "share"].sum()
    body = render("lifecycle.html", active_share=active, chart=chart)
    return Section("lifecycle", title, body, charts=(chart,))


# -- alerts -----------------------------------------------------------------------------


def _alerts(inputs: ReportInputs, settings, labels, draw) -> Section:
    title = "Alerts: who needs attention"
    attention = _attention(inputs)
    if attention["levels"] is None:
        return missing_section("alerts", title, inputs.notes.get("alerts", "no alerts for this month"))
    from tierlib.report._charts import alerts_chart

    chart = draw("alerts", alerts_chart(attention["levels"]), "Alert counts by level")
    listed = None
    alerts = inputs.alerts
    if alerts is not None and len(alerts) and settings.alerts_listed:
        shown = alerts.head(settings.alerts_listed).assign(
            tier_label=lambda f: f["tier"].astype(str).map(lambda t: labels.get(t, t))
        )
        listed = {
            "limit": settings.alerts_listed,
            "total": len(alerts),
            "table": table(
                shown,
                [
                    ("level", "level", None),
                    ("oneid", "member (OneID)", None),
                    ("tier_label", "tier", None),
                    ("days_inactive", "days inactive", fmt.count),
                    ("value_percentile", "value percentile", lambda v: fmt.percent(v, 1)),
                    ("predicted_value_90d", f"predicted {inputs.horizon_days}-day value", fmt.compact),
                    ("churn_probability", "churn probability", fmt.percent),
                ],
                numeric=("days_inactive", "value_percentile", "predicted_value_90d", "churn_probability"),
                row_class=lambda row: str(row["level"]),
            ),
        }
    body = render(
        "alerts.html",
        attention=attention,
        chart=chart,
        warnings=_threshold_warnings(inputs),
        listed=listed,
    )
    return Section("alerts", title, body, charts=(chart,))


# -- model ------------------------------------------------------------------------------


def _model(inputs: ReportInputs, draw) -> Section:
    title = "Tiering model vs baselines"
    card = inputs.model_card
    if inputs.approved_model is not None and card is not None:
        from tierlib.report._figures import model_metrics

        metrics = model_metrics(card, inputs.model_top_share)
        primary = metrics.loc[metrics["metric"] == card.get("primary_metric", "top_share_capture")]
        return _card_section(
            title,
            {**card, "version": inputs.approved_model.get("version")},
            inputs,
            draw,
            approved=inputs.approved_model,
            primary=primary.iloc[0].to_dict() if len(primary) else None,
        )
    note = "CLV baseline in use: no approved model yet."
    candidate = inputs.candidate_card
    if candidate is None:
        trained = len(inputs.model_versions)
        if trained:
            plural = "s" if trained > 1 else ""
            note += f" {trained} candidate model{plural} trained, none approved for this month."
        if inputs.score_figures and inputs.score_figures.get("note"):
            note += f" Score stage: {inputs.score_figures['note']}."
        return Section("model", title, render("model.html", card=None, note=note))
    decision = inputs.retrain_decision or {}
    return _card_section(
        title,
        candidate,
        inputs,
        draw,
        note=note,
        reason=decision.get("reason"),
        decision_period=decision.get("period"),
    )


def _card_section(title: str, card: dict, inputs: ReportInputs, draw, **sentence) -> Section:
    """A model card's out-of-time metrics beside both baselines, its window, rows and top features."""
    from tierlib.report._charts import model_chart
    from tierlib.report._figures import SCORERS, model_metrics, top_importances

    metrics = model_metrics(card, inputs.model_top_share)
    chart = draw("model", model_chart(metrics, list(SCORERS)), "Model metrics against baselines")
    rows = card.get("rows") or {}
    seconds = card.get("training_seconds")
    facts = [
        ("trained", card.get("trained_at")),
        ("data month", card.get("period")),
        ("training rows", fmt.count(rows["training"]) if rows.get("training") is not None else None),
        ("validation rows", fmt.count(rows["validation"]) if rows.get("validation") is not None else None),
        ("training time", f"{seconds:.0f} s" if isinstance(seconds, int | float) else None),
        ("window", _window_text(card.get("data_window") or {})),
    ]
    body = render(
        "model.html",
        card=card,
        chart=chart,
        facts=[(name, value) for name, value in facts if value],
        importances=top_importances(card),
        **{
            "approved": None,
            "primary": None,
            "note": "",
            "reason": None,
            "decision_period": None,
            **sentence,
        },
    )
    return Section("model", title, body, charts=(chart,))


def _window_text(window: dict) -> str | None:
    """The card's data window in words: training cutoffs, the out-of-time window, the label horizon."""
    parts = []
    cutoffs = window.get("training_cutoffs") or []
    if len(cutoffs) > 1:
        parts.append(f"training cutoffs {cutoffs[0]} … {cutoffs[-1]} ({len(cutoffs)})")
    elif cutoffs:
        parts.append(f"training cutoff {cutoffs[0]}")
    if window.get("validation_cutoff"):
        until = window.get("validation_labels_before")
        parts.append(
            f"out-of-time validation {window['validation_cutoff']}" + (f" to {until}" if until else "")
        )
    if window.get("horizon_days"):
        parts.append(f"{window['horizon_days']}-day labels")
    return "; ".join(parts) or None


# -- data quality -----------------------------------------------------------------------


def _quality(inputs: ReportInputs, draw) -> Section:
    title = "Data quality"
    from tierlib.report._figures import cleared_fields, intake_table, quarantine_counts, source_warnings

    intake = intake_table(inputs)
    quarantine = inputs.quarantine
    if quarantine is None and intake.empty:
        note = inputs.notes.get("quality", "no extract figures")
        body = render("quality.html", missing_note=note, data_docs=inputs.data_docs)
        return Section("quality", title, body, "missing")
    counts = quarantine_counts(quarantine) if quarantine is not None else pd.DataFrame()
    chart = None
    if not counts.empty:
        from tierlib.report._charts import quality_chart

        chart = draw("quality", quality_chart(counts), "Quarantined rows by channel and reason")
    intake_rows = None
    if len(intake):
        intake_rows = table(
            intake,
            [
                ("channel", "source channel", None),
                ("rows_in", "rows in", fmt.count),
                ("accepted", "accepted", fmt.count),
                ("quarantined", "quarantined", fmt.count),
                ("quarantined_share", "% quarantined", lambda v: fmt.percent(v, 2)),
            ],
            numeric=("rows_in", "accepted", "quarantined", "quarantined_share"),
        )
    body = render(
        "quality.html",
        missing_note=None,
        quarantined=len(quarantine) if quarantine is not None else int(intake["quarantined"].sum()),
        rows_in=int(intake["rows_in"].sum()) if len(intake) else 0,
        cleared=cleared_fields(inputs),
        source_warnings=[str(w.get("message", w)) for w in source_warnings(inputs)],
        chart=chart,
        intake=intake_rows,
        data_docs=inputs.data_docs,
    )
    return Section("quality", title, body, charts=(chart,) if chart else ())


# -- lift -------------------------------------------------------------------------------


def _lift(inputs: ReportInputs, draw) -> Section:
    title = f"Lift of {inputs.previous_period}'s campaigns (treated vs holdout)"
    lift = inputs.lift
    if lift is None:
        return missing_section("lift", title, inputs.notes.get("lift", "no lift report for this month"))
    from tierlib.report._figures import lift_rows

    rows = lift_rows(lift)
    if rows.empty:
        note = lift.get("note") or "the lift report has no rows"
        return missing_section("lift", title, f"No lift to show: {note}.")
    from tierlib.report._charts import lift_chart

    overall = rows.loc[rows["channel"] == "all"]
    shown = overall if len(overall) else rows
    chart = draw("lift", lift_chart(shown), "Lift per segment with confidence intervals")
    best = shown.sort_values("conversion_lift", ascending=False, na_position="last").iloc[0]
    detail = table(
        rows,
        [
            ("segment", "segment", None),
            ("channel", "channel", None),
            ("treated_members", "treated", fmt.count),
            ("holdout_members", "holdout", fmt.count),
            ("treated_conversion_rate", "conv. treated", fmt.percent),
            ("holdout_conversion_rate", "conv. holdout", fmt.percent),
            ("conversion_lift", "lift (pp)", lambda v: "–" if pd.isna(v) else f"{v * 100:+.1f}"),
            ("conversion_p_value", "p", lambda v: fmt.metric(v, 3)),
            ("spend_lift", "spend lift / member", lambda v: "–" if pd.isna(v) else f"{v:+,.1f}"),
            ("spend_p_value", "p (spend)", lambda v: fmt.metric(v, 3)),
        ],
        numeric=(
            "treated_members",
            "holdout_members",
            "treated_conversion_rate",
            "holdout_conversion_rate",
            "conversion_lift",
            "conversion_p_value",
            "spend_lift",
            "spend_p_value",
        ),
    )
    body = render(
        "lift.html",
        segments_period=lift.get("segments_period", inputs.previous_period),
        outcome_period=lift.get("outcome_period", inputs.period),
        confidence=lift.get("confidence", 0.95),
        best_segment=best["segment"],
        best_lift="n/a" if pd.isna(best["conversion_lift"]) else f"{best['conversion_lift'] * 100:+.1f} pp",
        chart=chart,
        detail=detail,
    )
    return Section("lift", title, body, charts=(chart,))
