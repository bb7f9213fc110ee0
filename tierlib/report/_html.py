"""The report page: one self-contained HTML file (styles inline, charts as base64 PNG)."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html import escape

import pandas as pd

from tierlib.report._style import ACCENT, BAD, CSS_FONT_STACK, GOOD, GRID, INK, MUTED, PANEL


@dataclass(frozen=True)
class Chart:
    name: str
    """File name stem under ``charts/`` (``tiers`` -> ``charts/tiers.png``)."""
    png: bytes
    alt: str
    width_px: int


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    body: str
    """HTML of the section's content (charts are placed with ``chart_tag``)."""
    status: str = "ok"
    """``ok``, or ``missing`` when the section's input was not there (the body says why)."""
    charts: tuple[Chart, ...] = field(default_factory=tuple)
    wide: bool = True


def chart_tag(chart: Chart) -> str:
    data = base64.b64encode(chart.png).decode("ascii")
    return (
        f'<img class="chart" src="data:image/png;base64,{data}" alt="{escape(chart.alt)}" '
        f'style="max-width:{chart.width_px}px" data-chart="{escape(chart.name)}">'
    )


def missing(message: str) -> str:
    return f'<p class="missing">{escape(message)}</p>'


def lead(text: str) -> str:
    """A sentence that answers the section's question; ``text`` is already HTML."""
    return f'<p class="lead">{text}</p>'


def table(
    frame: pd.DataFrame,
    columns: Sequence[tuple[str, str, Callable[[object], str] | None]],
    *,
    numeric: Sequence[str] = (),
    row_class: Callable[[pd.Series], str] | None = None,
) -> str:
    """An HTML table of ``frame``: (column, heading, formatter) per column; numbers right-aligned."""
    head = "".join(
        f'<th class="{"num" if name in numeric else ""}">{escape(heading)}</th>'
        for name, heading, _ in columns
    )
    body = []
    for _, row in frame.iterrows():
        cells = []
        for name, _, formatter in columns:
            value = row[name]
            text = formatter(value) if formatter else ("" if pd.isna(value) else str(value))
            cells.append(f'<td class="{"num" if name in numeric else ""}">{escape(text)}</td>')
        css = f' class="{row_class(row)}"' if row_class else ""
        body.append(f"<tr{css}>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def kpi(label: str, value: str, note: str = "", tone: str = "", accent: str = ACCENT) -> str:
    note_html = f'<div class="kpi-note {tone}">{escape(note)}</div>' if note else ""
    return (
        f'<div class="kpi" style="border-left-color:{accent}"><div class="kpi-label">{escape(label)}</div>'
        f'<div class="kpi-value">{escape(value)}</div>{note_html}</div>'
    )


CSS = f"""
*{{box-sizing:border-box}}
body{{margin:0;background:#eef1f5;color:{INK};font-family:{CSS_FONT_STACK};font-size:14px;line-height:1.45}}
header.top{{background:#0b3c5d;color:white;padding:22px 32px 18px}}
header.top h1{{margin:0;font-size:24px;font-weight:700;letter-spacing:.2px}}
header.top .sub{{margin-top:4px;color:#cfe3f1;font-size:13px}}
main{{max-width:1180px;margin:0 auto;padding:18px 20px 40px}}
section.card{{background:white;border:1px solid {GRID};border-radius:10px;padding:18px 22px;margin:0 0 16px}}
section.card h2{{margin:0 0 6px;font-size:18px}}
.grid2{{display:grid;grid-template-columns:1fr 1fr;gap:16px}}
.grid2 > section.card{{margin:0}}
.row{{display:flex;gap:16px;flex-wrap:wrap;align-items:flex-start}}
.row > *{{flex:1 1 300px;min-width:0}}
p.lead{{margin:2px 0 12px;color:#374151;font-size:14.5px}}
p.missing{{margin:8px 0;padding:12px 14px;background:#fff7ed;border:1px dashed #fdba74;border-radius:8px;
  color:#9a3412}}
p.note{{color:{MUTED};font-size:12.5px;margin:6px 0 0}}
img.chart{{width:100%;height:auto;display:block;margin:6px 0 4px}}
.kpis{{display:grid;grid-template-columns:repeat(3,1fr);gap:12px;margin:6px 0 14px}}
.kpi{{background:{PANEL};border:1px solid {GRID};border-left:5px solid {ACCENT};border-radius:8px;
  padding:10px 14px}}
.kpi-label{{color:{MUTED};font-size:12.5px}}
.kpi-value{{font-size:28px;font-weight:700;line-height:1.2}}
.kpi-note{{color:{MUTED};font-size:12.5px}}
.kpi-note.good{{color:{GOOD}}} .kpi-note.bad{{color:{BAD}}}
.answers{{display:grid;grid-template-columns:repeat(3,1fr);gap:12px}}
.answer{{border-radius:8px;padding:12px 14px;background:#f1f5f9}}
.answer h3{{margin:0 0 6px;font-size:13px;text-transform:uppercase;letter-spacing:.6px;color:{MUTED}}}
.answer p{{margin:0;font-size:14px}}
.chips{{display:flex;flex-wrap:wrap;gap:6px;margin-top:4px}}
.chip{{display:inline-block;border-radius:999px;padding:2px 10px;color:white;font-size:12.5px;
  white-space:nowrap}}
.warn,.ok{{margin:8px 0 0;padding:8px 12px;border-radius:8px}}
.warn{{background:#fef2f2;border:1px solid #fecaca;color:#991b1b}}
.ok{{background:#f0fdf4;border:1px solid #bbf7d0;color:#166534}}
table{{border-collapse:collapse;width:100%;font-size:12.5px;margin:8px 0}}
th{{text-align:left;color:{MUTED};font-weight:600;border-bottom:2px solid {GRID};padding:5px 8px}}
td{{border-bottom:1px solid {GRID};padding:5px 8px}}
th.num,td.num{{text-align:right;font-variant-numeric:tabular-nums}}
tr.L1 td:first-child{{border-left:4px solid #b91c1c}} tr.L2 td:first-child{{border-left:4px solid #ea580c}}
tr.L3 td:first-child{{border-left:4px solid #f59e0b}}
a{{color:{ACCENT}}}
footer{{color:{MUTED};font-size:12px;max-width:1180px;margin:0 auto;padding:0 20px 30px}}
@media (max-width:900px){{.grid2,.answers,.kpis{{grid-template-columns:1fr}}}}
"""


def page(
    title: str, subtitle: str, sections: Sequence[Section | tuple[Section, Section]], footer: str
) -> str:
    """The whole document; a pair of sections sits side by side."""
    parts = []
    for item in sections:
        if isinstance(item, tuple):
            parts.append('<div class="grid2">' + "".join(_section(each) for each in item) + "</div>")
            parts.append('<div style="height:16px"></div>')
        else:
            parts.append(_section(item))
    return (
        '<!DOCTYPE html>\n<html lang="zh-Hans"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
        f'<header class="top"><h1>{escape(title)}</h1><div class="sub">{subtitle}</div></header>'
        f"<main>{''.join(parts)}</main><footer>{footer}</footer></body></html>\n"
    )


def _section(section: Section) -> str:
    return (
        f'<section class="card" id="{escape(section.id)}" data-status="{escape(section.status)}">'
        f"<h2>{escape(section.title)}</h2>{section.body}</section>"
    )
