"""The report's charts: each function takes the section's numbers and returns a matplotlib Figure.

Figures are built with ``matplotlib.figure.Figure`` (Agg canvas, no pyplot state),
so rendering is safe to run in a worker thread and leaves nothing behind.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # no display anywhere this runs; must precede any pyplot import elsewhere

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch, Rectangle
from matplotlib.ticker import MaxNLocator

from tierlib.report import _format as fmt
from tierlib.report._style import (
    ACCENT,
    BAD,
    DIRECTION_COLORS,
    GOOD,
    GRID,
    INK,
    LEVEL_COLORS,
    LIFECYCLE_COLORS,
    MUTED,
    NEUTRAL,
    PANEL,
    QUALITATIVE,
    SCORER_COLORS,
    two_lines,
)

HEAT = LinearSegmentedColormap.from_list("tierflow_heat", ["#f8fafc", "#bfdbfe", "#3b82f6", "#1e3a8a"])
CELL = LinearSegmentedColormap.from_list("tierflow_cell", ["#eef2ff", "#a5b4fc", "#4338ca"])


def png(figure: Figure, dpi: int) -> bytes:
    """The figure as PNG bytes (no timestamps in the metadata, so reruns give the same bytes)."""
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    return buffer.getvalue()


def _figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def _clean_x(ax) -> None:
    ax.xaxis.set_visible(False)
    ax.spines[["bottom", "left"]].set_visible(False)
    ax.tick_params(left=False)


# -- headline ---------------------------------------------------------------------------


def headline_card(tiles: list[dict], period: str, title: str) -> Figure:
    """The KPI tiles as one image (for e-mail): big number, label, change since last month."""
    columns = 3
    rows = (len(tiles) + columns - 1) // columns
    figure = Figure(figsize=(11, 0.55 + 1.45 * rows))
    ax = figure.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    ax.set_xlim(0, columns)
    ax.set_ylim(0, rows + 0.4)
    ax.text(0.06, rows + 0.2, title, fontsize=15, fontweight="bold", va="center", color=INK)
    ax.text(columns - 0.06, rows + 0.2, period, fontsize=13, va="center", ha="right", color=MUTED)
    for position, tile in enumerate(tiles):
        x, y = position % columns, rows - 1 - position // columns
        ax.add_patch(
            FancyBboxPatch(
                (x + 0.05, y + 0.07),
                0.9,
                0.86,
                boxstyle="round,pad=0,rounding_size=0.06",
                facecolor=PANEL,
                edgecolor=GRID,
            )
        )
        ax.add_patch(Rectangle((x + 0.05, y + 0.2), 0.014, 0.6, facecolor=tile.get("color", ACCENT)))
        ax.text(x + 0.1, y + 0.74, tile["label"], fontsize=9.5, color=MUTED, va="center")
        ax.text(x + 0.1, y + 0.47, tile["value"], fontsize=24, fontweight="bold", color=INK, va="center")
        if tile.get("note"):
            ax.text(
                x + 0.1, y + 0.2, tile["note"], fontsize=8.8, color=tile.get("note_color", MUTED), va="center"
            )
    return figure


# -- tiers ------------------------------------------------------------------------------


def tiers_chart(table: pd.DataFrame, colors: dict[str, str], horizon_days: int) -> Figure:
    """Left: members per tier; right: each tier's share of members beside its share of predicted value."""
    table = table.iloc[::-1].reset_index(drop=True)  # most valuable on top
    labels = [two_lines(label) for label in table["label"]]
    y = np.arange(len(table))
    figure = _figure(10, 0.9 + 0.62 * len(table))
    left, right = figure.subplots(1, 2, sharey=True, width_ratios=[1, 1.25])
    bar_colors = [colors.get(tier, NEUTRAL) for tier in table["tier"]]
    left.barh(y, table["members"], color=bar_colors, height=0.66)
    peak = max(1, int(table["members"].max()))
    for row, members, share in zip(y, table["members"], table["member_share"], strict=True):
        left.text(
            members + peak * 0.02,
            row,
            f"{fmt.count(members)}  ({fmt.percent(share, 0)})",
            va="center",
            fontsize=9.5,
        )
    left.set_xlim(0, peak * 1.45)
    left.set_yticks(y, labels)
    left.set_title("Members per tier")
    _clean_x(left)

    height = 0.36
    right.barh(
        y + height / 2,
        table["member_share"].fillna(0),
        height=height,
        color="#d1d5db",
        label="share of members",
    )
    right.barh(
        y - height / 2,
        table["value_share"].fillna(0),
        height=height,
        color=bar_colors,
        label=f"share of predicted {horizon_days}-day value",
    )
    for row, members, value in zip(y, table["member_share"], table["value_share"], strict=True):
        right.text(
            (members or 0) + 0.01,
            row + height / 2,
            fmt.percent(members, 0),
            va="center",
            fontsize=8.5,
            color=MUTED,
        )
        right.text(
            (value or 0) + 0.01,
            row - height / 2,
            fmt.percent(value, 0),
            va="center",
            fontsize=9,
            fontweight="bold",
        )
    top = float(np.nanmax([table["member_share"].max(), table["value_share"].max(), 0.1]))
    right.set_xlim(0, top * 1.25)
    right.set_title("Share of members vs share of value")
    right.legend(loc="upper center", bbox_to_anchor=(0.5, 0.0), ncols=2, handlelength=1.2)
    _clean_x(right)
    right.tick_params(left=False)
    return figure


# -- migration --------------------------------------------------------------------------


def migration_heatmap(counts: pd.DataFrame, rates: pd.DataFrame, labels: dict[str, str]) -> Figure:
    """Row-normalised transition rates, each cell annotated with its member count."""
    rows, cols = list(counts.index), list(counts.columns)
    figure = _figure(10, 1.6 + 0.62 * len(rows))
    ax = figure.add_subplot()
    ax.imshow(rates.to_numpy(dtype=float), cmap=HEAT, vmin=0, vmax=1, aspect="auto")
    for i, source in enumerate(rows):
        for j, target in enumerate(cols):
            members = int(counts.iat[i, j])
            rate = float(rates.iat[i, j])
            if members == 0:
                ax.text(j, i, "·", ha="center", va="center", color=NEUTRAL, fontsize=9)
                continue
            color = "white" if rate > 0.5 else INK
            weight = "bold" if source == target else "normal"
            ax.text(
                j,
                i - 0.12,
                fmt.count(members),
                ha="center",
                va="center",
                color=color,
                fontsize=9.5,
                fontweight=weight,
            )
            ax.text(j, i + 0.22, fmt.percent(rate, 0), ha="center", va="center", color=color, fontsize=7.5)
            if source == target:
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor=INK, linewidth=1.2))
    ax.set_xticks(range(len(cols)), [two_lines(labels.get(c, c)) for c in cols], fontsize=8.5)
    ax.set_yticks(range(len(rows)), [two_lines(labels.get(r, r)) for r in rows], fontsize=8.5)
    ax.xaxis.tick_top()
    ax.xaxis.set_label_position("top")
    ax.set_xlabel("this month's tier →", color=MUTED, labelpad=8)
    ax.set_ylabel("← last month's tier", color=MUTED)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_title("Where last month's members are now (count and share of the row)", pad=14, loc="left")
    return figure


def flows_chart(flows: pd.DataFrame, labels: dict[str, str]) -> Figure:
    """The largest moves between tiers, coloured up (value rank rises), down, new and gone."""
    flows = flows.iloc[::-1].reset_index(drop=True)
    figure = _figure(10, 0.9 + 0.42 * max(1, len(flows)))
    ax = figure.add_subplot()
    y = np.arange(len(flows))
    colors = [DIRECTION_COLORS.get(d, NEUTRAL) for d in flows["direction"]]
    ax.barh(y, flows["members"], color=colors, height=0.62)
    names = [
        f"{labels.get(a, a)}  →  {labels.get(b, b)}"
        for a, b in zip(flows["from_tier"], flows["to_tier"], strict=True)
    ]
    ax.set_yticks(y, names, fontsize=9)
    peak = max(1, int(flows["members"].max())) if len(flows) else 1
    for row, members, rate in zip(y, flows["members"], flows["rate"], strict=True):
        ax.text(
            members + peak * 0.015,
            row,
            f"{fmt.count(members)}  ({fmt.percent(rate, 0)} of row)",
            va="center",
            fontsize=9,
        )
    ax.set_xlim(0, peak * 1.3)
    _clean_x(ax)
    handles = [Rectangle((0, 0), 1, 1, color=DIRECTION_COLORS[key]) for key in ("up", "down", "new", "gone")]
    ax.legend(
        handles,
        ["upgrade", "downgrade", "new member", "left / merged"],
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncols=4,
    )
    ax.set_title("Main flows between tiers since last month")
    return figure


# -- RFM grid ---------------------------------------------------------------------------


def rfm_grid(cells: pd.DataFrame, no_purchase: int) -> Figure:
    """The 8 RFM cells as tiles: M high on top, M low below; R and F high/low across."""
    figure = _figure(10, 4.4)
    ax = figure.add_subplot()
    ax.set_axis_off()
    ax.set_xlim(-0.4, 4)
    ax.set_ylim(-0.22, 2.16)
    peak = float(cells["share"].max()) if cells["share"].notna().any() else 1.0
    headers = ["R high · F high", "R low · F high", "R high · F low", "R low · F low"]
    for column, header in enumerate(headers):
        ax.text(column + 0.5, 2.07, header, ha="center", va="center", fontsize=9.5, color=MUTED)
    for row, header in enumerate(["M high", "M low"]):
        ax.text(-0.2, 1.5 - row, header, ha="center", va="center", fontsize=9.5, color=MUTED, rotation=90)
    for position, cell in cells.reset_index(drop=True).iterrows():
        column, row = position % 4, 1 - position // 4
        share = 0.0 if pd.isna(cell["share"]) else float(cell["share"])
        share_text = fmt.percent(share, 0 if share >= 0.01 else 1)
        intensity = share / peak if peak > 0 else 0.0
        face = CELL(0.08 + 0.85 * intensity)
        text = "white" if intensity > 0.7 else INK
        ax.add_patch(
            FancyBboxPatch(
                (column + 0.04, row + 0.04),
                0.92,
                0.92,
                boxstyle="round,pad=0,rounding_size=0.05",
                facecolor=face,
                edgecolor="white",
            )
        )
        ax.text(
            column + 0.5,
            row + 0.82,
            cell["label_zh"],
            ha="center",
            va="center",
            fontsize=13,
            fontweight="bold",
            color=text,
        )
        ax.text(
            column + 0.5, row + 0.69, cell["label_en"], ha="center", va="center", fontsize=8.5, color=text
        )
        ax.text(
            column + 0.5,
            row + 0.5,
            fmt.count(cell["members"]),
            ha="center",
            va="center",
            fontsize=19,
            fontweight="bold",
            color=text,
        )
        ax.text(
            column + 0.5,
            row + 0.28,
            f"{share_text} of buyers · avg {fmt.compact(cell['mean_spend'])}",
            ha="center",
            va="center",
            fontsize=8.5,
            color=text,
        )
        ax.text(
            column + 0.5,
            row + 0.15,
            f"{fmt.percent(cell['spend_share'], 0)} of spend",
            ha="center",
            va="center",
            fontsize=8,
            color=text,
        )
    ax.text(
        3.96,
        -0.1,
        f"无购买 no purchase yet: {fmt.count(no_purchase)} members",
        ha="right",
        va="center",
        fontsize=9,
        color=MUTED,
    )
    ax.set_title("RFM 8-cell grid (buyers; R high = bought recently)")
    return figure


# -- CLV and lifecycle ------------------------------------------------------------------


def clv_chart(values: pd.Series, by_tier: pd.DataFrame, colors: dict[str, str]) -> Figure:
    """Left: the CLV distribution on a log scale with its quantiles; right: median CLV per tier."""
    figure = _figure(10, 3.9)
    left, right = figure.subplots(1, 2, width_ratios=[1.35, 1])
    shown_values = values[values >= 1.0]  # below 1 currency unit is noise on a log axis
    logs = np.log10(shown_values.to_numpy(dtype=float))
    bottom, top = 0.0, 1.0
    if len(logs) > 1 and logs.max() > logs.min():
        bottom, top = np.floor(logs.min()), np.ceil(logs.max())
        bins = np.linspace(bottom, logs.max(), 36)
        left.hist(logs, bins=bins, color="#93c5fd", edgecolor="white", linewidth=0.4)
    else:
        left.hist(logs, bins=10, color="#93c5fd")
    for quantile, label, color in ((0.5, "median", INK), (0.8, "p80", ACCENT), (0.95, "p95", BAD)):
        at = float(np.quantile(values, quantile))
        if at >= 1.0:
            left.axvline(
                np.log10(at), color=color, linewidth=1.4, linestyle="--", label=f"{label} {fmt.compact(at)}"
            )
    ticks = np.arange(bottom, top + 1)
    left.set_xticks(ticks, [fmt.compact(10**t) for t in ticks])
    left.set_xlabel("customer lifetime value (log scale)")
    left.set_ylabel("members")
    left.set_title(f"CLV distribution ({fmt.count(len(values))} members with a CLV)")
    left.grid(axis="y", color=GRID, linewidth=0.6)
    left.set_axisbelow(True)
    left.legend(loc="upper left")

    shown = by_tier.loc[by_tier["members"] > 0].iloc[::-1]
    y = np.arange(len(shown))
    right.barh(y, shown["median"], color=[colors.get(t, NEUTRAL) for t in shown["tier"]], height=0.6)
    right.set_yticks(y, [two_lines(label) for label in shown["label"]], fontsize=8.5)
    peak = float(np.nanmax([shown["median"].max(), 1.0])) if len(shown) else 1.0
    for row, median, p90 in zip(y, shown["median"], shown["p90"], strict=True):
        right.text(
            median + peak * 0.02,
            row,
            f"{fmt.compact(median)}  (p90 {fmt.compact(p90)})",
            va="center",
            fontsize=8.5,
        )
    right.set_xlim(0, peak * 1.6)
    right.set_title("Median CLV by tier")
    _clean_x(right)
    return figure


def calibration_chart(table: pd.DataFrame, chosen: str, names: dict[str, str], period_label: str) -> Figure:
    """Mean holdout purchases per member by past purchases: observed against each model's forecast."""
    figure = _figure(10, 3.6)
    ax = figure.subplots()
    groups = list(dict.fromkeys(table["frequency_cal"]))
    x = np.arange(len(groups))
    first = table.loc[table["model"] == table["model"].iloc[0]].set_index("frequency_cal").reindex(groups)
    ax.plot(x, first["actual_mean"], color=INK, marker="o", linewidth=2.2, label="observed", zorder=3)
    for index, (model, rows) in enumerate(table.groupby("model", sort=False)):
        rows = rows.set_index("frequency_cal").reindex(groups)
        is_chosen = model == chosen
        ax.plot(
            x,
            rows["predicted_mean"],
            color=ACCENT if is_chosen else QUALITATIVE[(index + 3) % len(QUALITATIVE)],
            linestyle="-" if is_chosen else "--",
            linewidth=2.0 if is_chosen else 1.3,
            marker="s" if is_chosen else None,
            label=f"{names.get(model, model)} forecast" + (" (in use)" if is_chosen else ""),
        )
    labels = [
        f"{group}\n({fmt.count(customers)})"
        for group, customers in zip(groups, first["customers"], strict=True)
    ]
    ax.set_xticks(x, labels, fontsize=8.5)
    ax.set_xlabel("purchases before the holdout window (members)")
    ax.set_ylabel(f"purchases per member in {period_label}")
    ax.set_title("Calibration: forecast against observed holdout purchases")
    ax.grid(axis="y", color=GRID, linewidth=0.6)
    ax.set_axisbelow(True)
    ax.legend(loc="upper left", fontsize=8.5)
    return figure


def probability_alive_chart(values: pd.Series, by_tier: pd.DataFrame, colors: dict[str, str], bins) -> Figure:
    """Left: how many buyers have each probability of still being a customer; right: share likely
    gone per tier."""
    figure = _figure(10, 3.6)
    left, right = figure.subplots(1, 2, width_ratios=[1.35, 1])
    counts, edges = np.histogram(values.to_numpy(dtype=float), bins=bins)
    centers = (edges[:-1] + edges[1:]) / 2
    shades = [BAD if center < 0.5 else GOOD for center in centers]
    left.bar(centers, counts, width=np.diff(edges) * 0.9, color=shades, alpha=0.8)
    left.set_xticks(edges, [f"{edge:.0%}" for edge in edges], fontsize=8)
    left.set_xlabel("probability still a customer")
    left.set_ylabel("members")
    left.set_title(f"Probability alive ({fmt.count(len(values))} buyers)")
    left.grid(axis="y", color=GRID, linewidth=0.6)
    left.set_axisbelow(True)

    shown = by_tier.loc[by_tier["members"] > 0].iloc[::-1]
    y = np.arange(len(shown))
    right.barh(y, shown["likely_gone"], color=[colors.get(t, NEUTRAL) for t in shown["tier"]], height=0.6)
    right.set_yticks(y, [two_lines(label) for label in shown["label"]], fontsize=8.5)
    for row, gone, mean in zip(y, shown["likely_gone"], shown["mean"], strict=True):
        right.text(gone + 0.02, row, f"{gone:.0%}  (mean alive {mean:.0%})", va="center", fontsize=8.5)
    right.set_xlim(0, 1.45)
    right.set_title("Likely gone (< 50% alive)")
    _clean_x(right)
    return figure


def lifecycle_funnel(stages: pd.DataFrame) -> Figure:
    """Members per lifecycle stage as a centred funnel, in the order members move through them."""
    stages = stages.loc[stages["members"] > 0].reset_index(drop=True)
    figure = _figure(10, 0.7 + 0.55 * max(1, len(stages)))
    ax = figure.add_subplot()
    peak = max(1, int(stages["members"].max())) if len(stages) else 1
    for row, stage in stages.iterrows():
        width = stage["members"] / peak
        y = len(stages) - 1 - row
        ax.barh(y, width, left=-width / 2, height=0.72, color=LIFECYCLE_COLORS.get(stage["stage"], NEUTRAL))
        ax.text(-0.56, y, stage["label"], ha="right", va="center", fontsize=10.5)
        ax.text(
            0.56,
            y,
            f"{fmt.count(stage['members'])}  ({fmt.percent(stage['share'], 0)})",
            ha="left",
            va="center",
            fontsize=10,
        )
    ax.set_xlim(-1.05, 1.0)
    ax.set_ylim(-0.6, len(stages) - 0.4)
    ax.set_axis_off()
    ax.set_title("Lifecycle stages")
    return figure


# -- alerts -----------------------------------------------------------------------------


def alerts_chart(levels: dict[str, int]) -> Figure:
    """Inactive high-value members per alert level, most severe first."""
    names = list(levels)
    figure = _figure(5.2, 0.9 + 0.55 * max(1, len(names)))
    ax = figure.add_subplot()
    y = np.arange(len(names))[::-1]
    values = [levels[name] for name in names]
    ax.barh(y, values, color=[LEVEL_COLORS.get(name, NEUTRAL) for name in names], height=0.62)
    peak = max(1, max(values, default=1))
    for row, value in zip(y, values, strict=True):
        ax.text(value + peak * 0.03, row, fmt.count(value), va="center", fontsize=12, fontweight="bold")
    ax.set_yticks(y, names, fontsize=11)
    ax.set_xlim(0, peak * 1.25)
    _clean_x(ax)
    ax.set_title("Inactive high-value members by level")
    return figure


# -- model ------------------------------------------------------------------------------


def model_chart(metrics: pd.DataFrame, scorers: list[tuple[str, str]]) -> Figure:
    """Each metric for the tiering model beside the RFM and CLV baselines."""
    metrics = metrics.iloc[::-1].reset_index(drop=True)
    present = [(key, label) for key, label in scorers if key in metrics and metrics[key].notna().any()]
    figure = _figure(10, 0.9 + 0.75 * len(metrics))
    ax = figure.add_subplot()
    height = 0.8 / max(1, len(present))
    y = np.arange(len(metrics))
    for index, (key, label) in enumerate(present):
        offset = (len(present) - 1) / 2 - index
        values = metrics[key].to_numpy(dtype=float)
        ax.barh(
            y + offset * height,
            np.nan_to_num(values),
            height=height * 0.92,
            color=SCORER_COLORS[key],
            label=label,
        )
        for row, value in zip(y, values, strict=True):
            if np.isfinite(value):
                ax.text(
                    max(value, 0) + 0.01, row + offset * height, fmt.metric(value), va="center", fontsize=8.5
                )
    ax.set_yticks(y, metrics["label"])
    ax.set_xlim(0, 1.12)
    ax.axvline(0, color=GRID)
    _clean_x(ax)
    ax.legend(loc="lower right", ncols=len(present))
    ax.set_title("Out-of-time validation: model vs baselines")
    return figure


# -- data quality -----------------------------------------------------------------------


def quality_chart(counts: pd.DataFrame) -> Figure:
    """Quarantined rows per channel, stacked by reason."""
    counts = counts.iloc[::-1]
    figure = _figure(10, 1.1 + 0.5 * len(counts))
    ax = figure.add_subplot()
    y = np.arange(len(counts))
    left = np.zeros(len(counts))
    for index, reason in enumerate(counts.columns):
        values = counts[reason].to_numpy(dtype=float)
        ax.barh(y, values, left=left, height=0.62, color=QUALITATIVE[index % len(QUALITATIVE)], label=reason)
        left += values
    for row, total in zip(y, left, strict=True):
        ax.text(
            total + left.max() * 0.01, row, fmt.count(total), va="center", fontsize=9.5, fontweight="bold"
        )
    ax.set_yticks(y, list(counts.index))
    ax.set_xlim(0, max(1.0, left.max()) * 1.12)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(axis="x", color=GRID, linewidth=0.6)
    ax.set_axisbelow(True)
    ax.spines["left"].set_visible(False)
    ax.tick_params(left=False)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncols=min(5, len(counts.columns)))
    ax.set_title("Quarantined rows this month, by channel and reason")
    return figure


# -- lift -------------------------------------------------------------------------------


def lift_chart(rows: pd.DataFrame) -> Figure:
    """Per segment (all channels): conversion and spend lift of treated over holdout, with intervals."""
    rows = rows.iloc[::-1].reset_index(drop=True)
    figure = _figure(10, 1.1 + 0.62 * len(rows))
    left, right = figure.subplots(1, 2, sharey=True)
    y = np.arange(len(rows))
    for ax, prefix, scale, title, unit in (
        (left, "conversion_lift", 100.0, "Conversion lift (treated − holdout)", "pp"),
        (right, "spend_lift", 1.0, "Spend per member lift (treated − holdout)", ""),
    ):
        point = rows[prefix].astype("float64") * scale
        low = rows[f"{prefix}_low"].astype("float64") * scale
        high = rows[f"{prefix}_high"].astype("float64") * scale
        for row in y:
            if not np.isfinite(point[row]):
                ax.text(0, row, "too few members", ha="center", va="center", fontsize=8.5, color=MUTED)
                continue
            significant = np.isfinite(low[row]) and (low[row] > 0 or high[row] < 0)
            color = (GOOD if point[row] > 0 else BAD) if significant else NEUTRAL
            if np.isfinite(low[row]) and np.isfinite(high[row]):
                ax.plot([low[row], high[row]], [row, row], color=color, linewidth=2.2, solid_capstyle="round")
            ax.plot(point[row], row, "o", color=color, markersize=7)
            label = f"{point[row]:+.1f} {unit}" if unit else f"{point[row]:+,.1f}"
            right_end = high[row] if np.isfinite(high[row]) else point[row]
            ax.text(
                right_end,
                row,
                f"  {label}",
                ha="left",
                va="center",
                fontsize=8.5,
                color=color,
                fontweight="bold",
            )
        ax.axvline(0, color=INK, linewidth=0.8)
        ax.set_title(title, fontsize=11)
        ax.grid(axis="x", color=GRID, linewidth=0.6)
        ax.set_axisbelow(True)
        ax.tick_params(left=False)
        ax.spines["left"].set_visible(False)
        ax.set_ylim(-0.6, len(rows) - 0.3)
    left.set_yticks(
        y,
        [
            f"{segment}\n{fmt.count(treated)} treated · {fmt.count(holdout)} holdout"
            for segment, treated, holdout in zip(
                rows["segment"], rows["treated_members"], rows["holdout_members"], strict=True
            )
        ],
        fontsize=8.5,
    )
    figure.supxlabel(
        "dot: treated minus holdout; line: confidence interval; coloured when the interval excludes zero",
        fontsize=8.5,
        color=MUTED,
    )
    for ax in (left, right):
        low_end, high_end = ax.get_xlim()
        ax.set_xlim(low_end, high_end + (high_end - low_end) * 0.18)  # room for the labels
    return figure
