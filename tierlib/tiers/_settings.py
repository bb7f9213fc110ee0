"""Settings of the ``tiers`` and ``alerts`` config sections.

Rules are checked when the config loads: a rule that does not parse, a
repeated tier name or a missing catch-all is reported with its key path
before any month runs.  Whether a rule's columns exist is known only when the
scored table is at hand; that is checked at the start of assignment.
"""

from __future__ import annotations

from dataclasses import dataclass

from tierlib.tiers._expr import parse_rule


@dataclass(frozen=True)
class TierRule:
    """One tier: members for whom ``when`` holds (and no earlier rule did) get ``tier``."""

    tier: str
    when: str
    label: str = ""
    """How the report shows the tier (any language); the tier id when empty."""
    value_rank: int = 0
    """Higher is more valuable; orders tiers for upgrade/downgrade counts in the migration figures."""
    action: str = ""
    """What marketing does for the tier (the report's playbook shows it beside what was sent)."""

    def __post_init__(self) -> None:
        if not self.tier or not self.tier.replace("_", "").isalnum():
            raise ValueError(f"tier {self.tier!r}: use letters, digits and _ (e.g. high_value_loyal)")
        parse_rule(self.when)  # raises RuleSyntaxError (a ValueError) naming the problem


DEFAULT_TIER_RULES: tuple[TierRule, ...] = (
    TierRule(
        "high_value_loyal",
        "value_percentile >= 0.8 and churn_probability < 0.5",
        "高价值忠诚 high-value loyal",
        5,
        "专属权益与新品抢先 exclusive benefits and early access",
    ),
    TierRule(
        "potential_high_value",
        "value_percentile >= 0.6 and churn_probability < 0.5",
        "潜力高价值 potential high-value",
        4,
        "限时优惠促升级 time-limited offers to move up",
    ),
    TierRule(
        "new_or_unknown",
        "lifecycle_stage == 'new' or frequency == 0",
        "新客/价值未知 new or unknown value",
        2,
        "新客引导 onboarding: welcome series and first-purchase offer",
    ),
    TierRule(
        "dormant", "lifecycle_stage == 'churned'", "沉睡 dormant", 0, "低成本唤醒 low-cost reactivation"
    ),
    TierRule(
        "churn_risk",
        "churn_probability >= 0.5",
        "流失风险 churn risk",
        1,
        "挽回关怀 win-back before they lapse",
    ),
    TierRule("regular", "true", "一般 regular", 3, "日常会员运营 regular newsletters and points"),
)
"""Practice in member programmes: value first, then growth, newcomers, lapsed, at risk, the rest.

Order matters (the first rule that holds wins).  ``value_percentile`` is the
member's rank by predicted 90-day value (0..1] and ``vip`` the top-share flag,
both added before the rules run; every other name is a score or feature column.
"""


@dataclass(frozen=True)
class TierSettings:
    rules: tuple[TierRule, ...] = DEFAULT_TIER_RULES
    vip_top_share: float = 0.2
    """The top share of members by predicted 90-day value flagged ``vip``."""
    potential_tier: str = "potential_high_value"
    high_value_tiers: tuple[str, ...] = ("high_value_loyal",)
    """Where potential members should move: the potential-to-high conversion rate counts these."""

    def __post_init__(self) -> None:
        if not self.rules:
            raise ValueError("rules: give at least one rule, the last one a catch-all (when: 'true')")
        names = [rule.tier for rule in self.rules]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"rules: tier(s) {repeated} appear more than once; give each tier one rule")
        if self.rules[-1].when.strip() not in ("true", "True"):
            raise ValueError(
                f"rules: the last rule ({self.rules[-1].tier}) must be a catch-all with when: 'true', "
                "so that every member gets a tier"
            )
        if not 0.0 < self.vip_top_share <= 1.0:
            raise ValueError(f"vip_top_share: {self.vip_top_share} must be in (0, 1], e.g. 0.2")
        unknown = sorted({self.potential_tier, *self.high_value_tiers} - set(names))
        if unknown:
            raise ValueError(
                f"potential_tier/high_value_tiers name {unknown}, which no rule defines; tiers: {names}"
            )

    def label(self, tier: str) -> str:
        return next((rule.label or rule.tier for rule in self.rules if rule.tier == tier), tier)

    def value_rank(self, tier: str) -> int | None:
        return next((rule.value_rank for rule in self.rules if rule.tier == tier), None)


@dataclass(frozen=True)
class AlertLevel:
    """Members on the inactive list at or above both bounds get this level (first match wins)."""

    level: str
    min_value_percentile: float
    min_days_inactive: int


DEFAULT_ALERT_LEVELS: tuple[AlertLevel, ...] = (
    AlertLevel("L1", 0.95, 60),
    AlertLevel("L2", 0.90, 45),
    AlertLevel("L3", 0.0, 30),
)


@dataclass(frozen=True)
class AlertSettings:
    inactive_days: int = 30
    """High-value members with no purchase and no engagement for this many days go on the list."""
    high_value_when: str = "vip or tier == 'high_value_loyal'"
    """Who counts as high-value, in the tier rule language (tier, vip and value_percentile included)."""
    levels: tuple[AlertLevel, ...] = DEFAULT_ALERT_LEVELS
    """Most severe first; the last level must take everyone on the list."""
    min_potential_conversion: float = 0.08
    """Warn when fewer than this share of last month's potential tier reach a high-value tier."""
    max_tier_change_share: float = 0.15
    """Warn when more than this share of members present both months change tier."""
    max_value_variance_change: float = 0.30
    """Warn when the variance of predicted value moves by more than this relative amount."""

    def __post_init__(self) -> None:
        parse_rule(self.high_value_when)
        if self.inactive_days < 1:
            raise ValueError(f"inactive_days: {self.inactive_days} must be at least 1")
        if not self.levels:
            raise ValueError(
                "levels: give at least one level, e.g. {level: L3, min_value_percentile: 0, ...}"
            )
        last = self.levels[-1]
        if last.min_value_percentile > 0 or last.min_days_inactive > self.inactive_days:
            raise ValueError(
                f"levels: the last level ({last.level}) must take everyone on the list: "
                f"min_value_percentile 0 and min_days_inactive <= inactive_days ({self.inactive_days})"
            )
        for name in ("min_potential_conversion", "max_tier_change_share", "max_value_variance_change"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: {getattr(self, name)} must not be negative")
