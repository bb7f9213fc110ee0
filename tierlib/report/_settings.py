"""Settings of the ``report`` config section."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReportSettings:
    """How the monthly report is drawn; every key has a default, so the section is optional."""

    top_share: float = 0.2
    """Headline: the share of the month's revenue given by this top share of the month's buyers."""
    main_flows: int = 8
    """Migration: how many of the largest moves between tiers are listed."""
    alerts_listed: int = 12
    """Alerts: how many of the most severe inactive high-value members are named."""
    dpi: int = 110
    """Resolution of the PNG charts (the HTML shows them at their natural size / 1.1)."""
    font_path: str | None = None
    """A CJK font file (TTF, OTF or TTC) to draw Chinese labels with, instead of the bundled Noto Sans CJK."""

    @classmethod
    def of(cls, config) -> ReportSettings:
        """The ``report`` section of a loaded config, or the defaults where it has none."""
        return config.stages.get("report") or cls()

    def __post_init__(self) -> None:
        if not 0.0 < self.top_share < 1.0:
            raise ValueError(f"report.top_share must be between 0 and 1 (exclusive), got {self.top_share}")
        if self.main_flows < 1 or self.alerts_listed < 0:
            raise ValueError("report.main_flows must be at least 1 and report.alerts_listed at least 0")
        if not 50 <= self.dpi <= 300:
            raise ValueError(f"report.dpi must be between 50 and 300, got {self.dpi}")
