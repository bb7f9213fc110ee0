"""The numbers each report section shows, computed from the month's tables (no drawing here)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from tierlib.report._inputs import ReportInputs, TierInfo

NEW = "(new)"
GONE = "(gone)"

RFM_CELLS: tuple[tuple[str, str, str], ...] = (
    ("HHH", "重要价值", "important value"),
    ("LHH", "重要保持", "important retain"),
    ("HLH", "重要发展", "important develop"),
    ("LLH", "重要挽留", "important win-back"),
    ("HHL", "一般价值", "general value"),
    ("LHL", "一般保持", "general retain"),
    ("HLL", "一般发展", "general develop"),
    ("LLL", "一般挽留", "general win-back"),
)
"""R, F, M high/low -> the 8-cell labels (docs/features.md); the feature table's own labels win."""

LIFECYCLE_ORDER = ("new", "active", "reactivated", "silent", "churned")
LIFECYCLE_LABELS = {
    "new": "新客 new",
    "active": "活跃 active",
    "reactivated": "回流 reactivated",
    "silent": "沉默 silent",
    "churned": "流失 churned",
}

MODEL_METRICS: tuple[tuple[str, str, bool], ...] = (
    ("top_share_capture", "top-{top_share} spend capture", True),
    ("normalized_gini", "normalized Gini", True),
    ("spearman", "Spearman ρ", True),
    ("churn_auc", "churn AUC", True),
    ("churn_brier", "churn Brier (lower is better)", False),
)
"""(card key, label, higher is better); ``{top_share}`` is the card's top share as a percentage."""

SCORERS = (("model", "tiering model"), ("rfm_baseline", "RFM baseline"), ("clv_baseline", "CLV baseline"))


def _paid(orders: pd.DataFrame) -> pd.Series:
    amount = orders["amount"].astype("float64").fillna(0.0)
    refund = orders["refund_amount"].astype("float64").fillna(0.0) if "refund_amount" in orders else 0.0
    return (amount > 0) & (refund < amount)


def _net(orders: pd.DataFrame) -> pd.Series:
    amount = orders["amount"].astype("float64").fillna(0.0)
    if "refund_amount" not in orders:
        return amount
    return amount - orders["refund_amount"].astype("float64").fillna(0.0)


def spend_by_member(orders: pd.DataFrame | None) -> pd.Series:
    """Net spend of the month per oneid (refunds subtracted), members without orders absent."""
    if orders is None or orders.empty:
        return pd.Series(dtype="float64")
    return _net(orders).groupby(orders["oneid"].astype("string")).sum()


def top_share_of_revenue(spend: pd.Series, share: float) -> float | None:
    """Share of revenue given by the top ``share`` of buyers ranked by their spend (ties by oneid)."""
    buyers = spend[spend > 0]
    total = float(spend.sum())
    if buyers.empty or total <= 0:
        return None
    count = max(1, math.ceil(share * len(buyers)))
    ranked = buyers.sort_index().sort_values(ascending=False, kind="stable")
    return float(ranked.iloc[:count].sum()) / total


def headline(inputs: ReportInputs, top_share: float) -> dict:
    """Members, active members, revenue, top-share concentration, VIPs and alerts of the month."""
    figures: dict = {"period": inputs.period}
    table = inputs.tiers if inputs.tiers is not None else inputs.features
    figures["members"] = None if table is None else len(table)
    orders, events = inputs.month_orders, inputs.month_events
    if orders is not None:
        spend = spend_by_member(orders)
        paid = orders.loc[_paid(orders), "oneid"].astype("string")
        engaged = paid
        if events is not None:
            engaged = pd.concat([paid, events["oneid"].astype("string")], ignore_index=True)
        figures["buyers"] = int(paid.nunique())
        figures["active_members"] = int(engaged.nunique())
        figures["revenue"] = round(float(spend.sum()), 2)
        figures["orders"] = int(_paid(orders).sum())
        figures["top_share"] = top_share
        figures["top_share_of_revenue"] = _round(top_share_of_revenue(spend, top_share))
        if inputs.tiers is not None and "vip" in inputs.tiers and figures["revenue"] > 0:
            vip = inputs.tiers.loc[inputs.tiers["vip"].fillna(False).astype(bool), "oneid"].astype("string")
            vip_spend = float(spend[spend.index.isin(vip)].sum())
            figures["vip_revenue_share"] = _round(vip_spend / figures["revenue"])
    if inputs.tiers is not None:
        figures["vip_members"] = int(inputs.tiers["vip"].fillna(False).astype(bool).sum())
        figures["predicted_value_90d"] = round(float(inputs.tiers["predicted_value_90d"].sum()), 2)
        figures["tier_counts"] = {
            str(k): int(v) for k, v in inputs.tiers["tier"].value_counts().sort_index().items()
        }
    levels = alert_levels(inputs)
    if levels is not None:
        figures["alerts"] = levels
        figures["alerts_total"] = sum(levels.values())
    if inputs.migration_summary and inputs.migration_summary.get("has_previous"):
        for key in ("tier_change_share", "upgrade_rate", "downgrade_rate", "potential_to_high_conversion"):
            figures[key] = inputs.migration_summary.get(key)
    return figures


def deltas(current: dict, previous: dict | None) -> dict:
    """Month-over-month change of every numeric headline figure present both months."""
    if not previous:
        return {}
    changes = {}
    for key, value in current.items():
        before = previous.get(key)
        if isinstance(value, int | float) and isinstance(before, int | float) and not isinstance(value, bool):
            changes[key] = value - before
    return changes


def tier_order(inputs: ReportInputs) -> list[TierInfo]:
    """Configured tiers, most valuable first; tiers in the data but not the config go last."""
    known = sorted(inputs.tiers_config, key=lambda info: -info.value_rank)
    names = {info.tier for info in known}
    extra = []
    if inputs.tiers is not None:
        extra = [
            TierInfo(name, name, -1)
            for name in sorted(map(str, inputs.tiers["tier"].dropna().unique()))
            if name not in names
        ]
    return [*known, *extra]


def tier_table(inputs: ReportInputs) -> pd.DataFrame:
    """One row per tier: members, predicted 90-day value, this month's revenue, and their shares."""
    tiers = inputs.tiers
    order = tier_order(inputs)
    frame = pd.DataFrame(
        {
            "tier": [info.tier for info in order],
            "label": [info.label or info.tier for info in order],
            "value_rank": [info.value_rank for info in order],
        }
    )
    grouped = tiers.groupby(tiers["tier"].astype("string"))
    frame["members"] = frame["tier"].map(grouped.size()).fillna(0).astype("int64")
    frame["vip"] = frame["tier"].map(grouped["vip"].sum()).fillna(0).astype("int64")
    frame["predicted_value"] = frame["tier"].map(grouped["predicted_value_90d"].sum()).fillna(0.0)
    spend = spend_by_member(inputs.month_orders)
    if len(spend):
        by_member = tiers.assign(
            spend=tiers["oneid"].astype("string").map(spend).astype("float64").fillna(0.0),
            tier=tiers["tier"].astype("string"),
        )
        frame["revenue"] = frame["tier"].map(by_member.groupby("tier")["spend"].sum()).fillna(0.0)
    else:
        frame["revenue"] = np.nan
    frame["member_share"] = _shares(frame["members"])
    frame["value_share"] = _shares(frame["predicted_value"])
    frame["revenue_share"] = _shares(frame["revenue"])
    return frame


def _shares(values: pd.Series) -> pd.Series:
    total = float(values.sum()) if values.notna().any() else 0.0
    if total <= 0:
        return pd.Series(np.nan, index=values.index)
    return values.astype("float64") / total


def migration_matrix(inputs: ReportInputs) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """(counts, row rates) with last month's tier as rows and this month's as columns; None without one."""
    matrix = inputs.migration
    if matrix is None or matrix.empty:
        return None
    order = [info.tier for info in tier_order(inputs)]
    rows = [t for t in order if t in set(matrix["from_tier"])] + sorted(
        set(matrix["from_tier"]) - set(order) - {NEW}
    )
    cols = [t for t in order if t in set(matrix["to_tier"])] + sorted(
        set(matrix["to_tier"]) - set(order) - {GONE}
    )
    if NEW in set(matrix["from_tier"]):
        rows.append(NEW)
    if GONE in set(matrix["to_tier"]):
        cols.append(GONE)
    counts = matrix.pivot_table(index="from_tier", columns="to_tier", values="members", aggfunc="sum")
    counts = counts.reindex(index=rows, columns=cols).fillna(0).astype("int64")
    totals = counts.sum(axis=1)
    rates = counts.div(totals.where(totals > 0, 1), axis=0)
    return counts, rates


def main_flows(inputs: ReportInputs, top: int) -> pd.DataFrame:
    """The largest moves between different tiers (new and gone members included), largest first."""
    columns = ["from_tier", "to_tier", "members", "rate", "direction"]
    matrix = inputs.migration
    if matrix is None or matrix.empty:
        return pd.DataFrame(columns=columns)
    rank = {info.tier: info.value_rank for info in inputs.tiers_config}
    moves = matrix.loc[(matrix["from_tier"] != matrix["to_tier"]) & (matrix["members"] > 0)].copy()

    def direction(row) -> str:
        if row["from_tier"] == NEW:
            return "new"
        if row["to_tier"] == GONE:
            return "gone"
        before, after = rank.get(row["from_tier"]), rank.get(row["to_tier"])
        if before is None or after is None or before == after:
            return "sideways"
        return "up" if after > before else "down"

    moves["direction"] = moves.apply(direction, axis=1) if len(moves) else pd.Series(dtype="string")
    moves = moves.sort_values(
        ["members", "from_tier", "to_tier"], ascending=[False, True, True], kind="stable"
    )
    return moves[columns].head(top).reset_index(drop=True)


def rfm_cells(features: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The 8 cells (members, share of buyers, mean net spend, share of spend) and the no-purchase count."""
    buyers = features.loc[features["frequency"].fillna(0) > 0]
    codes = buyers["rfm_code"].astype("string") if "rfm_code" in buyers else pd.Series("", index=buyers.index)
    rows = []
    total_spend = float(buyers["monetary"].clip(lower=0).sum())
    for code, zh, en in RFM_CELLS:
        cell = buyers.loc[codes == code]
        if len(cell) and "rfm_cell" in cell:
            zh = str(cell["rfm_cell"].mode().iloc[0])
            if "rfm_cell_en" in cell:
                en = str(cell["rfm_cell_en"].mode().iloc[0])
        spend = float(cell["monetary"].clip(lower=0).sum())
        rows.append(
            {
                "code": code,
                "label_zh": zh,
                "label_en": en,
                "members": len(cell),
                "share": len(cell) / len(buyers) if len(buyers) else np.nan,
                "mean_spend": float(cell["monetary"].mean()) if len(cell) else np.nan,
                "spend_share": spend / total_spend if total_spend > 0 else np.nan,
            }
        )
    return pd.DataFrame(rows), int(len(features) - len(buyers))


def lifecycle_counts(features: pd.DataFrame) -> pd.DataFrame:
    """Members per lifecycle stage in path order (unknown stages last)."""
    counts = features["lifecycle_stage"].astype("string").value_counts()
    order = [s for s in LIFECYCLE_ORDER] + sorted(set(counts.index) - set(LIFECYCLE_ORDER))
    frame = pd.DataFrame({"stage": order})
    frame["label"] = frame["stage"].map(LIFECYCLE_LABELS).fillna(frame["stage"])
    frame["members"] = frame["stage"].map(counts).fillna(0).astype("int64")
    frame["share"] = frame["members"] / max(1, len(features))
    return frame


def clv_values(features: pd.DataFrame) -> pd.Series:
    """Positive, finite CLVs (members without a purchase have none)."""
    values = features["clv"].astype("float64")
    return values[np.isfinite(values) & (values > 0)]


def clv_by_tier(inputs: ReportInputs) -> pd.DataFrame:
    """Median and 90th percentile CLV per tier (members with a CLV), tiers most valuable first."""
    features, tiers = inputs.features, inputs.tiers
    if features is None or tiers is None or "clv" not in features:
        return pd.DataFrame(columns=["tier", "label", "median", "p90", "members"])
    clv = features.set_index(features["oneid"].astype("string"))["clv"].astype("float64")
    joined = tiers.assign(clv=tiers["oneid"].astype("string").map(clv).astype("float64"))
    joined = joined.loc[np.isfinite(joined["clv"]) & (joined["clv"] > 0)]
    rows = []
    for info in tier_order(inputs):
        values = joined.loc[joined["tier"] == info.tier, "clv"]
        rows.append(
            {
                "tier": info.tier,
                "label": info.label or info.tier,
                "median": float(values.median()) if len(values) else np.nan,
                "p90": float(values.quantile(0.9)) if len(values) else np.nan,
                "members": len(values),
            }
        )
    return pd.DataFrame(rows)


MODEL_NAMES = {"bgnbd": "BG/NBD", "pareto_nbd": "Pareto/NBD", "mbgnbd": "MBG/NBD", "nbd": "NBD (no drop-out)"}
ALIVE_BINS = np.linspace(0.0, 1.0, 11)
LIKELY_GONE = 0.5
"""Below this probability of being alive a member counts as likely gone."""


def holdout_calibration(clv_fit: dict | None) -> pd.DataFrame:
    """Long table of the holdout check: model, frequency_cal, customers, actual_mean, predicted_mean."""
    columns = ["model", "frequency_cal", "customers", "actual_mean", "predicted_mean"]
    scores = ((clv_fit or {}).get("holdout_check") or {}).get("scores") or {}
    rows = [
        {"model": name, **{key: group[key] for key in columns[1:]}}
        for name, figures in scores.items()
        for group in figures.get("by_frequency", [])
    ]
    return pd.DataFrame(rows, columns=columns)


def model_choice(clv_fit: dict | None) -> dict | None:
    """What the month's CLV used and why: the model, the holdout errors, skipped models, a note."""
    if not clv_fit or "model" not in clv_fit:
        return None
    check = clv_fit.get("holdout_check") or {}
    scores = check.get("scores") or {}
    return {
        "model": MODEL_NAMES.get(clv_fit["model"], clv_fit["model"]),
        "configured": clv_fit.get("configured_model", clv_fit["model"]),
        "penalizer": clv_fit.get("penalizer", 0.0),
        "holdout_periods": check.get("holdout_periods"),
        "time_unit": clv_fit.get("time_unit", "week"),
        "errors": [
            (MODEL_NAMES.get(name, name), figures["score"], name == clv_fit["model"])
            for name, figures in sorted(scores.items(), key=lambda item: item[1]["score"])
        ],
        "skipped": [
            (MODEL_NAMES.get(name, name), reason) for name, reason in (check.get("skipped") or {}).items()
        ],
        "note": clv_fit.get("note"),
    }


def probability_alive_values(features: pd.DataFrame) -> pd.Series:
    """Buyers' probability of still being a customer (finite values only)."""
    if "probability_alive" not in features:
        return pd.Series(dtype="float64")
    values = features["probability_alive"].astype("float64")
    return values[np.isfinite(values)]


def probability_alive_by_tier(inputs: ReportInputs) -> pd.DataFrame:
    """Per tier: buyers with a probability alive, their mean, and the share likely gone."""
    features, tiers = inputs.features, inputs.tiers
    empty = pd.DataFrame(columns=["tier", "label", "members", "mean", "likely_gone"])
    if features is None or tiers is None or "probability_alive" not in features:
        return empty
    alive = features.set_index(features["oneid"].astype("string"))["probability_alive"].astype("float64")
    joined = tiers.assign(alive=tiers["oneid"].astype("string").map(alive).astype("float64"))
    joined = joined.loc[np.isfinite(joined["alive"])]
    rows = []
    for info in tier_order(inputs):
        values = joined.loc[joined["tier"] == info.tier, "alive"]
        rows.append(
            {
                "tier": info.tier,
                "label": info.label or info.tier,
                "members": len(values),
                "mean": float(values.mean()) if len(values) else np.nan,
                "likely_gone": float((values < LIKELY_GONE).mean()) if len(values) else np.nan,
            }
        )
    return pd.DataFrame(rows)


def alert_levels(inputs: ReportInputs) -> dict[str, int] | None:
    """Inactive high-value members per level, in the config's level order."""
    summary = inputs.alerts_summary or {}
    levels = summary.get("inactive_high_value")
    if isinstance(levels, dict):
        return {str(k): int(v) for k, v in levels.items()}
    if inputs.alerts is not None:
        return {
            str(k): int(v) for k, v in inputs.alerts["level"].astype(str).value_counts().sort_index().items()
        }
    return None


def model_metrics(card: dict, top_share: float) -> pd.DataFrame:
    """Rows: metrics; columns: the scorers the card evaluated (model, RFM baseline, CLV baseline).

    ``top_share`` labels the top-share capture where the card does not record its own.
    """
    from tierlib.report._format import percent

    metrics = card.get("metrics") or {}
    share = percent(card.get("top_share", top_share), 0)
    rows = []
    for key, label, higher in MODEL_METRICS:
        row = {"metric": key, "label": label.format(top_share=share), "higher_is_better": higher}
        for scorer, _ in SCORERS:
            value = (metrics.get(scorer) or {}).get(key)
            row[scorer] = np.nan if value is None else float(value)
        rows.append(row)
    return pd.DataFrame(rows)


def top_importances(card: dict, target: str = "value", count: int = 8) -> list[tuple[str, float]]:
    """The card's largest permutation importances for ``value`` or ``churn``, largest first.

    Cards list them as ``[{"feature": ..., "importance": ...}]``; a plain mapping is read too.
    """
    importances = (card.get("feature_importances") or {}).get(target) or []
    pairs = (
        importances.items()
        if isinstance(importances, dict)
        else (
            (entry.get("feature"), entry.get("importance"))
            for entry in importances
            if isinstance(entry, dict)
        )
    )
    items = [(str(name), float(score)) for name, score in pairs if isinstance(score, int | float)]
    return sorted(items, key=lambda item: -item[1])[:count]


def quarantine_counts(quarantine: pd.DataFrame) -> pd.DataFrame:
    """Quarantined rows per channel (rows) and reason (columns), biggest channels and reasons first."""
    if quarantine is None or quarantine.empty:
        return pd.DataFrame()
    table = pd.crosstab(quarantine["channel"].astype(str), quarantine["reason"].astype(str))
    table = table.loc[table.sum(axis=1).sort_values(ascending=False, kind="stable").index]
    return table[table.sum(axis=0).sort_values(ascending=False, kind="stable").index]


def intake_table(inputs: ReportInputs) -> pd.DataFrame:
    """Per source channel: rows in, accepted, quarantined and the quarantined share for the month."""
    rows = []
    for channel, figures in sorted(inputs.extract_figures.items()):
        totals = figures.get("totals") or {}
        rows_in = int(totals.get("rows_in", 0))
        quarantined = int(totals.get("quarantined", 0))
        rows.append(
            {
                "channel": channel,
                "rows_in": rows_in,
                "accepted": int(totals.get("accepted", 0)),
                "quarantined": quarantined,
                "quarantined_share": quarantined / rows_in if rows_in else np.nan,
            }
        )
    return pd.DataFrame(rows, columns=["channel", "rows_in", "accepted", "quarantined", "quarantined_share"])


def source_warnings(inputs: ReportInputs) -> list[dict]:
    """Warnings the extract stage raised for the month (identifier damage jumping), by channel."""
    return [
        warning
        for _, figures in sorted(inputs.extract_figures.items())
        for warning in figures.get("warnings") or []
    ]


def cleared_fields(inputs: ReportInputs) -> int:
    """Optional fields the extract stage cleared this month (their rows kept)."""
    return sum(
        n
        for figures in inputs.extract_figures.values()
        for table in (figures.get("tables") or {}).values()
        for reasons in (table.get("fields_cleared") or {}).values()
        for n in reasons.values()
    )


def lift_rows(lift: dict) -> pd.DataFrame:
    """The lift report's rows, segments over all their channels first."""
    rows = pd.DataFrame(lift.get("rows") or [])
    if rows.empty:
        return rows
    rows["_all"] = rows["channel"] != "all"
    rows = rows.sort_values(["_all", "segment", "channel"], kind="stable").drop(columns="_all")
    return rows.reset_index(drop=True)


def _round(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else round(float(value), digits)


def playbook(inputs: ReportInputs) -> list[dict]:
    """Per tier, most valuable first: its action, its members, what its members were sent this month
    (per segment: treated members per channel, the holdout kept back) and that segment's lift last month.
    """
    tiers = inputs.tiers
    members = tiers["tier"].astype(str).value_counts()
    lift = {}
    rows = lift_rows(inputs.lift) if inputs.lift is not None else pd.DataFrame()
    if not rows.empty:
        for row in rows.loc[rows["channel"] == "all"].itertuples():
            lift[str(row.segment)] = {
                "conversion_lift": _number(row.conversion_lift),
                "p_value": _number(row.conversion_p_value),
                "treated_members": int(row.treated_members),
            }
    sent = pd.DataFrame(columns=["tier", "segment", "channel", "group", "oneid"])
    if inputs.assignments is not None and len(inputs.assignments):
        sent = inputs.assignments.merge(tiers[["oneid", "tier"]], on="oneid", how="left").astype(
            {"tier": "string", "segment": "string", "channel": "string", "group": "string"}
        )
    playbook = []
    for info in tier_order(inputs):
        of_tier = sent.loc[sent["tier"] == info.tier]
        segments = []
        for segment, part in of_tier.groupby("segment", sort=True):
            treated = part.loc[part["group"] == "treated"]
            channels = treated.groupby("channel").size().sort_values(ascending=False, kind="stable")
            segments.append(
                {
                    "segment": str(segment),
                    "channels": [(str(channel), int(count)) for channel, count in channels.items()],
                    "treated": int(treated["oneid"].nunique()),
                    "holdout": int(part.loc[part["group"] != "treated", "oneid"].nunique()),
                    "lift": lift.get(str(segment)),
                }
            )
        playbook.append(
            {
                "tier": info.tier,
                "label": info.label or info.tier,
                "action": info.action,
                "members": int(members.get(info.tier, 0)),
                "segments": segments,
            }
        )
    return playbook


def _number(value) -> float | None:
    return None if value is None or pd.isna(value) else float(value)
