"""The monthly report: an HTML page with embedded charts, and the same charts as PNG files.

::

    from tierlib.report import ReportInputs, ReportSettings, build_report

    report = build_report(inputs, ReportSettings())
    report.html          # self-contained page (styles inline, charts as base64 PNG)
    report.charts        # {"tiers": b"\\x89PNG...", ...} for e-mail
    report.sections      # {"tiers": "ok", "lift": "missing", ...}

Importing this package is cheap: matplotlib is loaded only when a report is built.
See docs/report.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tierlib.report._inputs import DataDocsLink, ReportInputs, TierInfo
from tierlib.report._settings import ReportSettings

if TYPE_CHECKING:
    from tierlib.report._build import SECTION_IDS, Report, build_report
    from tierlib.report._fonts import CjkFont, find_cjk_font
    from tierlib.report._listing import list_model_cards, list_reports, servable

__all__ = [
    "SECTION_IDS",
    "CjkFont",
    "DataDocsLink",
    "Report",
    "ReportInputs",
    "ReportSettings",
    "TierInfo",
    "build_report",
    "find_cjk_font",
    "list_model_cards",
    "list_reports",
    "servable",
]

_LAZY = {
    "SECTION_IDS": "tierlib.report._build",
    "Report": "tierlib.report._build",
    "build_report": "tierlib.report._build",
    "CjkFont": "tierlib.report._fonts",
    "find_cjk_font": "tierlib.report._fonts",
    "list_model_cards": "tierlib.report._listing",
    "list_reports": "tierlib.report._listing",
    "servable": "tierlib.report._listing",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
