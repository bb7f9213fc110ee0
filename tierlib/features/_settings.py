"""Settings of the feature stage: the ``features`` section of the YAML config."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from tierlib.settings import settings_from_mapping


@dataclass(frozen=True)
class FeatureSettings:
    """How RFM cells, lifecycle stages, engagement windows and CLV are computed.

    Every day bound counts calendar days back from the as-of date: a purchase on the
    last day before the as-of date is 1 day ago.
    """

    rfm_split: Literal["mean", "median"] = "mean"
    """Centre that splits each of R, F and M into high and low for the 8-cell model."""
    new_days: int = 30
    """A member is ``new`` while the first purchase (or, without one, the registration) is at
    most this many days ago."""
    active_days: int = 90
    """``active`` while the last purchase is at most this many days ago."""
    churn_days: int = 180
    """``silent`` between ``active_days`` and this many days since the last purchase,
    ``churned`` beyond; a gap longer than this before a recent purchase is a reactivation."""
    engagement_days: int = 90
    """Events (views, shares, invites, reviews, posts) are counted over this many days."""
    clv_enabled: bool = True
    """Fit the purchase model + Gamma-Gamma and add the CLV columns (NaN-filled when false)."""
    clv_time_unit: Literal["week", "day"] = "week"
    """Period in which repeat purchases are counted for the CLV models."""
    clv_horizon_months: int = 12
    """CLV sums expected value over this many months."""
    clv_monthly_discount_rate: float = 0.01
    """Monthly discount rate of the CLV sum."""
    clv_penalizer: float = 0.0
    """L2 penalizer of both CLV models (as lifetimes' penalizer_coef); raise it if fits fail."""
    clv_model: Literal["bgnbd", "pareto_nbd", "mbgnbd", "auto"] = "bgnbd"
    """Purchase model: BG/NBD, Pareto/NBD, MBG/NBD, or ``auto``: the one whose forecast of the
    holdout window comes closest to what members did (fitted on the history before it)."""
    clv_holdout_days: int = 91
    """Length of the holdout window at the end of the history that checks (and, with ``auto``,
    chooses) the purchase model; rounded to whole CLV periods."""

    def __post_init__(self) -> None:
        problems = []
        for name in (
            "new_days",
            "active_days",
            "churn_days",
            "engagement_days",
            "clv_horizon_months",
            "clv_holdout_days",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                problems.append(f"{name} must be a whole number >= 1, got {value!r}")
        if not problems and self.churn_days <= self.active_days:
            problems.append(
                f"churn_days ({self.churn_days}) must be larger than active_days ({self.active_days})"
            )
        if self.rfm_split not in ("mean", "median"):
            problems.append(f"rfm_split must be 'mean' or 'median', got {self.rfm_split!r}")
        if self.clv_time_unit not in ("week", "day"):
            problems.append(f"clv_time_unit must be 'week' or 'day', got {self.clv_time_unit!r}")
        if not isinstance(self.clv_monthly_discount_rate, int | float) or not (
            0 <= self.clv_monthly_discount_rate < 1
        ):
            problems.append(
                f"clv_monthly_discount_rate must be in [0, 1), got {self.clv_monthly_discount_rate!r}"
            )
        if self.clv_model not in ("bgnbd", "pareto_nbd", "mbgnbd", "auto"):
            problems.append(f"clv_model must be bgnbd, pareto_nbd, mbgnbd or auto, got {self.clv_model!r}")
        if not isinstance(self.clv_penalizer, int | float) or self.clv_penalizer < 0:
            problems.append(f"clv_penalizer must be >= 0, got {self.clv_penalizer!r}")
        if problems:
            raise ValueError("; ".join(problems))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, path: str = "features") -> FeatureSettings:
        """Settings from the config section; a ConfigError lists every unknown key and bad value."""
        return settings_from_mapping(cls, data, path)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
