"""Tier assignment, month-over-month migration, and alerts on small hand-made tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tierlib.errors import InputError
from tierlib.tiers import (
    GONE,
    NEW,
    TIER_COLUMNS,
    AlertLevel,
    AlertSettings,
    TierRule,
    TierSettings,
    assign_tiers,
    inactive_high_value,
    migration_summary,
    rule_frame,
    threshold_warnings,
    transition_matrix,
)


def members(n: int = 200, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "oneid": [f"O{i:05d}" for i in rng.permutation(n)],
            "predicted_value_90d": np.round(rng.gamma(0.8, 300.0, n), 2),
            "churn_probability": rng.uniform(0, 1, n),
            "lifecycle_stage": pd.array(
                rng.choice(["new", "active", "silent", "churned"], n), dtype="string"
            ),
            "frequency": rng.integers(0, 6, n).astype("float64"),
            "rfm_cell": pd.array(rng.choice(["重要价值", "一般挽留"], n), dtype="string"),
        }
    )


def test_every_member_gets_exactly_one_tier_by_the_first_rule_that_holds():
    table = members()
    settings = TierSettings()
    tiers = assign_tiers(table, settings)
    assert list(tiers.columns) == list(TIER_COLUMNS)
    assert len(tiers) == len(table) and tiers["oneid"].is_unique and tiers["tier"].notna().all()
    assert tiers["oneid"].is_monotonic_increasing
    # Re-derive the first matching rule independently, row by row.
    frame = rule_frame(table, settings).set_index("oneid")
    for row in tiers.itertuples():
        m = frame.loc[row.oneid]
        if m.value_percentile >= 0.8 and m.churn_probability < 0.5:
            expected = "high_value_loyal"
        elif m.value_percentile >= 0.6 and m.churn_probability < 0.5:
            expected = "potential_high_value"
        elif m.lifecycle_stage == "new" or m.frequency == 0:
            expected = "new_or_unknown"
        elif m.lifecycle_stage == "churned":
            expected = "dormant"
        elif m.churn_probability >= 0.5:
            expected = "churn_risk"
        else:
            expected = "regular"
        assert row.tier == expected, row
    assert set(tiers["tier"]) == {rule.tier for rule in settings.rules}


def test_reason_names_the_rule_and_the_values_it_saw():
    table = pd.DataFrame(
        {
            "oneid": ["a", "b"],
            "predicted_value_90d": [900.0, 10.0],
            "churn_probability": [0.125, 0.75],
            "lifecycle_stage": ["active", "silent"],
            "frequency": [4.0, 2.0],
        }
    )
    tiers = assign_tiers(table, TierSettings()).set_index("oneid")
    assert tiers.loc["a", "reason"] == (
        "rule 1 high_value_loyal: value_percentile >= 0.8 and churn_probability < 0.5 "
        "[value_percentile=1.0, churn_probability=0.125]"
    )
    assert tiers.loc["b", "tier"] == "churn_risk"
    assert tiers.loc["b", "reason"].startswith(
        "rule 5 churn_risk: churn_probability >= 0.5 [churn_probability=0.75]"
    )


def test_vip_flags_exactly_the_top_share_by_predicted_value_ties_broken_by_oneid():
    table = members(101)
    table.loc[table.index[:10], "predicted_value_90d"] = 5_000.0  # a tie straddling nothing: all ten are in
    tiers = assign_tiers(table, TierSettings(vip_top_share=0.2))
    assert tiers["vip"].sum() == 21  # ceil(0.2 * 101)
    cut = tiers.loc[tiers["vip"], "predicted_value_90d"].min()
    assert (tiers.loc[~tiers["vip"], "predicted_value_90d"] <= cut).all()
    equal = pd.DataFrame({"oneid": list("edcba"), "predicted_value_90d": 1.0, "churn_probability": 0.1})
    flagged = assign_tiers(
        equal, TierSettings(rules=(TierRule("all", "true"),), potential_tier="all", high_value_tiers=("all",))
    )
    assert flagged.loc[flagged["vip"], "oneid"].tolist() == ["a"]


def test_previous_tier_comes_from_last_month_and_is_null_for_newcomers():
    table = members(50)
    last = assign_tiers(table.iloc[10:], TierSettings())
    now = assign_tiers(table, TierSettings(), previous=last).set_index("oneid")
    newcomers = set(table["oneid"].iloc[:10])
    assert now.loc[sorted(newcomers), "previous_tier"].isna().all()
    stayers = last.set_index("oneid")["tier"]
    assert (now.loc[stayers.index, "previous_tier"] == stayers).all()


def test_rules_naming_unknown_columns_fail_with_the_rule_and_the_config_section():
    settings = TierSettings(
        rules=(TierRule("x", "spend_last_year > 5"), TierRule("rest", "true")),
        potential_tier="x",
        high_value_tiers=("x",),
    )
    with pytest.raises(InputError, match=r"rule x .*spend_last_year.*'tiers'"):
        assign_tiers(members(5), settings)


def test_duplicate_members_are_refused():
    table = members(5)
    with pytest.raises(InputError, match="one row per oneid"):
        assign_tiers(pd.concat([table, table.iloc[:1]]), TierSettings())


def _tiers(rows: list[tuple[str, str, str | None, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "oneid": [r[0] for r in rows],
            "tier": [r[1] for r in rows],
            "previous_tier": pd.array([r[2] for r in rows], dtype="string"),
            "predicted_value_90d": [r[3] for r in rows],
        }
    )


def test_transition_matrix_counts_and_row_rates_with_new_and_gone():
    settings = TierSettings()
    previous = _tiers(
        [
            ("a", "potential_high_value", None, 10.0),
            ("b", "potential_high_value", None, 10.0),
            ("c", "potential_high_value", None, 10.0),
            ("d", "potential_high_value", None, 10.0),
            ("e", "regular", None, 10.0),
            ("f", "dormant", None, 40.0),
        ]
    )
    now = _tiers(
        [
            ("a", "high_value_loyal", "potential_high_value", 30.0),
            ("b", "potential_high_value", "potential_high_value", 10.0),
            ("c", "churn_risk", "potential_high_value", 1.0),
            ("e", "regular", "regular", 10.0),
            ("g", "new_or_unknown", None, 5.0),
        ]
    )
    matrix = transition_matrix(now, previous, settings).set_index(["from_tier", "to_tier"])
    assert matrix.loc[("potential_high_value", "high_value_loyal"), "members"] == 1
    assert matrix.loc[("potential_high_value", GONE), "members"] == 1  # d left
    assert matrix.loc[("potential_high_value", "high_value_loyal"), "rate"] == pytest.approx(0.25)
    assert matrix.loc[(NEW, "new_or_unknown"), "members"] == 1
    assert matrix.loc[("dormant", GONE), "rate"] == pytest.approx(1.0)
    assert matrix["members"].sum() == len(now) + 2  # every member now, plus the two gone
    rows = matrix.groupby(level="from_tier")["rate"].sum()
    assert np.allclose(rows[rows > 0], 1.0)
    assert len(matrix) == (6 + 1) * (6 + 1)  # every tier pair, zeros included

    summary = migration_summary(now, previous, settings)
    assert (
        summary["members_both_months"] == 4 and summary["members_new"] == 1 and summary["members_gone"] == 2
    )
    assert summary["tier_change_share"] == pytest.approx(2 / 4)
    assert summary["upgrade_rate"] == pytest.approx(1 / 4)  # potential (4) -> high-value loyal (5)
    assert summary["downgrade_rate"] == pytest.approx(1 / 4)  # potential (4) -> churn risk (1)
    assert summary["value_migration_rate"] == pytest.approx(2 / 4)
    assert summary["potential_to_high_conversion"] == pytest.approx(1 / 3)  # of a, b, c still here
    variance_now = np.var([30.0, 10.0, 1.0, 10.0, 5.0])
    assert summary["value_variance"] == pytest.approx(variance_now)
    assert summary["value_variance_previous"] == pytest.approx(125.0)  # var of 10, 10, 10, 10, 10, 40
    assert summary["value_variance_change"] == pytest.approx(variance_now / 125.0 - 1, abs=1e-6)


def test_first_month_has_no_matrix_and_no_warnings():
    now = _tiers([("a", "regular", None, 1.0), ("b", "dormant", None, 2.0)])
    assert transition_matrix(now, None, TierSettings()).empty
    summary = migration_summary(now, None, TierSettings())
    assert summary["has_previous"] is False and "tier_change_share" not in summary
    assert threshold_warnings(summary, AlertSettings()) == []


def test_threshold_warnings_fire_only_past_their_bounds():
    settings = AlertSettings()
    calm = {
        "has_previous": True,
        "potential_to_high_conversion": 0.10,
        "tier_change_share": 0.10,
        "value_variance_change": -0.2,
    }
    assert threshold_warnings(calm, settings) == []
    stormy = {
        "has_previous": True,
        "potential_to_high_conversion": 0.05,
        "tier_change_share": 0.2,
        "value_variance_change": -0.35,
    }
    warnings = threshold_warnings(stormy, settings)
    assert [w["code"] for w in warnings] == [
        "potential_conversion_low",
        "tier_change_high",
        "value_variance_moved",
    ]
    assert "5.0%" in warnings[0]["message"] and "8%" in warnings[0]["message"]
    unknown = {
        "has_previous": True,
        "potential_to_high_conversion": None,
        "tier_change_share": None,
        "value_variance_change": None,
    }
    assert threshold_warnings(unknown, settings) == []


def test_inactive_high_value_members_are_listed_with_levels_by_value_and_days():
    frame = pd.DataFrame(
        {
            "oneid": ["a", "b", "c", "d", "e", "f"],
            "tier": [
                "high_value_loyal",
                "high_value_loyal",
                "regular",
                "high_value_loyal",
                "churn_risk",
                "regular",
            ],
            "vip": [True, True, False, False, True, False],
            "value_percentile": [0.99, 0.92, 0.5, 0.85, 0.97, 0.99],
            "predicted_value_90d": [900.0, 500.0, 50.0, 300.0, 800.0, 950.0],
            "churn_probability": [0.2, 0.3, 0.5, 0.1, 0.6, 0.1],
            "days_inactive": [75.0, 50.0, 90.0, 31.0, 12.0, 100.0],
        }
    )
    settings = AlertSettings(
        levels=(AlertLevel("L1", 0.95, 60), AlertLevel("L2", 0.9, 45), AlertLevel("L3", 0.0, 30)),
        high_value_when="vip or tier == 'high_value_loyal'",
    )
    alerts = inactive_high_value(frame, settings)
    # c and f are not high-value (f has a high percentile but is neither vip nor in the tier); e is active.
    assert alerts["oneid"].tolist() == ["a", "b", "d"]
    assert alerts["level"].tolist() == ["L1", "L2", "L3"]
    assert alerts.loc[0, "reason"].startswith("no purchase or engagement for 75 days")


def test_alert_levels_must_cover_everyone_listed():
    with pytest.raises(ValueError, match="last level"):
        AlertSettings(levels=(AlertLevel("L1", 0.9, 30),))
