"""One palette and one typographic scale for every chart and the HTML page."""

from __future__ import annotations

INK = "#1f2937"
MUTED = "#6b7280"
GRID = "#e5e7eb"
PANEL = "#f8fafc"
ACCENT = "#2563eb"
GOOD = "#15803d"
BAD = "#b91c1c"
NEUTRAL = "#9ca3af"

TIER_COLORS = ("#0b3c5d", "#1d7874", "#5fa8d3", "#8e7dbe", "#f4a259", "#c8553d", "#d4a5a5", "#6d597a")
"""Most valuable tier first; the least valuable tier is always drawn grey."""
LOWEST_TIER_COLOR = "#9aa5b1"

LEVEL_COLORS = {"L1": "#b91c1c", "L2": "#ea580c", "L3": "#f59e0b"}
DIRECTION_COLORS = {"up": GOOD, "down": BAD, "new": ACCENT, "gone": MUTED, "sideways": NEUTRAL}
SCORER_COLORS = {"model": ACCENT, "rfm_baseline": NEUTRAL, "clv_baseline": "#f59e0b"}
LIFECYCLE_COLORS = {
    "new": "#2563eb",
    "active": "#15803d",
    "reactivated": "#0d9488",
    "silent": "#f59e0b",
    "churned": "#9ca3af",
}
QUALITATIVE = (
    "#2563eb",
    "#f59e0b",
    "#10b981",
    "#ef4444",
    "#8b5cf6",
    "#0ea5e9",
    "#f97316",
    "#84cc16",
    "#ec4899",
    "#64748b",
)

CSS_FONT_STACK = (
    '"Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", '
    '"WenQuanYi Micro Hei", "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif'
)


def tier_colors(tiers: list[str]) -> dict[str, str]:
    """Colours for tiers listed most valuable first."""
    colors = {}
    for position, tier in enumerate(tiers):
        last = position == len(tiers) - 1 and len(tiers) > 1
        colors[tier] = LOWEST_TIER_COLOR if last else TIER_COLORS[position % len(TIER_COLORS)]
    return colors


def rc_params(font_family: str | None) -> dict:
    """matplotlib settings for every chart: DejaVu Sans (it has a bold face), the CJK font for Chinese.

    matplotlib falls back glyph by glyph along ``font.family``, so Latin text and
    numbers come from DejaVu Sans and Chinese from the CJK font.
    """
    families = ["DejaVu Sans", font_family] if font_family else ["DejaVu Sans"]
    return {
        "font.family": families,
        "font.size": 10,
        "axes.titlesize": 13,
        "axes.titleweight": "bold",
        "axes.titlelocation": "left",
        "axes.titlepad": 10,
        "axes.labelsize": 10,
        "axes.labelcolor": INK,
        "axes.edgecolor": GRID,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": False,
        "axes.unicode_minus": False,
        "text.color": INK,
        "xtick.color": MUTED,
        "ytick.color": INK,
        "xtick.labelsize": 9,
        "ytick.labelsize": 9.5,
        "legend.frameon": False,
        "legend.fontsize": 9,
        "figure.facecolor": "white",
        "savefig.facecolor": "white",
        "svg.fonttype": "none",
    }


def two_lines(label: str) -> str:
    """``高价值忠诚 high-value loyal`` -> Chinese above English, so long tier labels stay narrow."""
    head, _, tail = label.partition(" ")
    if tail and any(ord(char) > 0x2E80 for char in head):
        return f"{head}\n{tail}"
    return label
