"""Tiers from scores: config rules in a safe expression language, migration, and alerts.

::

    tiers = assign_tiers(members, TierSettings())          # one tier and reason per member
    matrix = transition_matrix(tiers, previous, settings)  # month-over-month counts and rates
    summary = migration_summary(tiers, previous, settings)
    warnings = threshold_warnings(summary, AlertSettings())
"""

from tierlib.tiers._alerts import ALERT_COLUMNS, days_inactive, inactive_high_value, threshold_warnings
from tierlib.tiers._assign import TIER_COLUMNS, assign_tiers, rule_frame, value_percentile, vip_flags
from tierlib.tiers._expr import Expression, RuleSyntaxError, parse_rule
from tierlib.tiers._migration import GONE, MIGRATION_COLUMNS, NEW, migration_summary, transition_matrix
from tierlib.tiers._settings import (
    DEFAULT_ALERT_LEVELS,
    DEFAULT_TIER_RULES,
    AlertLevel,
    AlertSettings,
    TierRule,
    TierSettings,
)

__all__ = [
    "ALERT_COLUMNS",
    "DEFAULT_ALERT_LEVELS",
    "DEFAULT_TIER_RULES",
    "GONE",
    "MIGRATION_COLUMNS",
    "NEW",
    "TIER_COLUMNS",
    "AlertLevel",
    "AlertSettings",
    "Expression",
    "RuleSyntaxError",
    "TierRule",
    "TierSettings",
    "assign_tiers",
    "days_inactive",
    "inactive_high_value",
    "migration_summary",
    "parse_rule",
    "rule_frame",
    "threshold_warnings",
    "transition_matrix",
    "value_percentile",
    "vip_flags",
]
