"""The monthly report library: figures on small hand-made tables, every section, fonts, determinism."""

from __future__ import annotations

import dataclasses
import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tierlib.clv import calibration_holdout_split, compare_on_holdout, simulate_transactions
from tierlib.config import load_config, parse_config
from tierlib.errors import ConfigError
from tierlib.report import SECTION_IDS, DataDocsLink, ReportInputs, ReportSettings, TierInfo, build_report
from tierlib.report import _figures as figures
from tierlib.report import _fonts as fonts
from tierlib.report._figures import RFM_CELLS, headline, main_flows, tier_table, top_share_of_revenue

PERIOD, PREVIOUS = "2026-10", "2026-09"
TIERS = (
    TierInfo("high_value_loyal", "高价值忠诚 high-value loyal", 5, "专属权益 exclusive benefits"),
    TierInfo("potential_high_value", "潜力高价值 potential high-value", 4, "限时优惠 time-limited offers"),
    TierInfo("regular", "一般 regular", 3),
    TierInfo("dormant", "沉睡 dormant", 0, "唤醒 win-back"),
)
CODES = [code for code, _, _ in RFM_CELLS]


def _tiers(count: int = 40) -> pd.DataFrame:
    names = [info.tier for info in TIERS]
    tier = [names[i % 4] for i in range(count)]
    previous = [None if i % 10 == 0 else names[(i + (i % 3 == 0)) % 4] for i in range(count)]
    value = np.array([1000.0, 400.0, 100.0, 5.0])[[i % 4 for i in range(count)]] + np.arange(count)
    return pd.DataFrame(
        {
            "oneid": pd.array([f"P{i:04d}" for i in range(count)], dtype="string"),
            "tier": pd.array(tier, dtype="string"),
            "previous_tier": pd.array(previous, dtype="string"),
            "rfm_cell": pd.array(["重要价值"] * count, dtype="string"),
            "lifecycle_stage": pd.array(["active"] * count, dtype="string"),
            "reason": pd.array(["rule"] * count, dtype="string"),
            "vip": [i % 4 == 0 for i in range(count)],
            "predicted_value_90d": value,
            "churn_probability": np.linspace(0.05, 0.9, count),
        }
    )


def _features(count: int = 40) -> pd.DataFrame:
    frequency = np.array([0 if i % 8 == 7 else 1 + i % 5 for i in range(count)])
    codes = ["" if f == 0 else CODES[i % 8] for i, f in enumerate(frequency)]
    labels = {code: (zh, en) for code, zh, en in RFM_CELLS}
    return pd.DataFrame(
        {
            "oneid": pd.array([f"P{i:04d}" for i in range(count)], dtype="string"),
            "rfm_code": pd.array(codes, dtype="string"),
            "rfm_cell": pd.array([labels[c][0] if c else "无购买" for c in codes], dtype="string"),
            "rfm_cell_en": pd.array([labels[c][1] if c else "no purchase" for c in codes], dtype="string"),
            "frequency": frequency,
            "monetary": np.where(frequency > 0, 50.0 * (1 + np.arange(count)), 0.0),
            "lifecycle_stage": pd.array(
                [("new", "active", "reactivated", "silent", "churned")[i % 5] for i in range(count)],
                dtype="string",
            ),
            "clv": np.where(frequency > 0, 10.0 ** (1 + (np.arange(count) % 4)), np.nan),
            "probability_alive": np.where(frequency > 0, 0.05 + (np.arange(count) % 10) / 10, np.nan),
        }
    )


def _clv_fit() -> dict:
    """The features stage's CLV record for ``auto``: a real holdout check on simulated buyers."""
    tx = simulate_transactions(
        1500, start="2025-01-01", end="2026-11-01", r=0.6, alpha=12, a=0.9, b=4, seed=3
    )
    split = calibration_holdout_split(
        tx,
        customer_col="customer_id",
        date_col="date",
        calibration_end="2026-08-03",
        observation_end="2026-11-02",
        unit="week",
    )
    check = compare_on_holdout(split, ["bgnbd", "pareto_nbd", "mbgnbd"])
    return {
        "time_unit": "week",
        "penalizer": 0.0,
        "model": check["best"],
        "configured_model": "auto",
        "holdout_check": check,
    }


def _orders() -> pd.DataFrame:
    # Ten buyers spending 100..1000, one order refunded in full (not a purchase).
    return pd.DataFrame(
        {
            "oneid": pd.array([f"P{i:04d}" for i in range(10)] + ["P0011"], dtype="string"),
            "amount": [100.0 * (i + 1) for i in range(10)] + [80.0],
            "refund_amount": [0.0] * 10 + [80.0],
        }
    )


def _migration() -> pd.DataFrame:
    names = [info.tier for info in TIERS]
    rows = []
    for source in [*names, "(new)"]:
        for target in [*names, "(gone)"]:
            members = 20 if source == target else (3 if target != "(gone)" else 0)
            rows.append({"from_tier": source, "to_tier": target, "members": members})
    frame = pd.DataFrame(rows)
    frame["rate"] = frame["members"] / frame.groupby("from_tier")["members"].transform("sum")
    return frame


CARD = {
    "period": "2026-06",
    "trained_at": "2026-07-01T02:00:00Z",
    "training_seconds": 42.5,
    "data_window": {
        "training_cutoffs": ["2026-01-01", "2026-02-01", "2026-03-01"],
        "validation_cutoff": "2026-04-01",
        "validation_labels_before": "2026-06-30",
        "horizon_days": 90,
    },
    "rows": {"training": 6000, "validation": 2000, "training_members": 2000},
    "primary_metric": "top_share_capture",
    "metrics": {
        "model": {
            "top_share_capture": 0.71,
            "normalized_gini": 0.62,
            "spearman": 0.55,
            "churn_auc": 0.81,
            "churn_brier": 0.15,
        },
        "rfm_baseline": {
            "top_share_capture": 0.58,
            "normalized_gini": 0.44,
            "spearman": 0.41,
            "churn_auc": 0.7,
            "churn_brier": None,
        },
        "clv_baseline": {
            "top_share_capture": 0.63,
            "normalized_gini": 0.5,
            "spearman": 0.47,
            "churn_auc": 0.74,
            "churn_brier": 0.19,
        },
    },
    "feature_importances": {
        "method": "permutation",
        "value": [{"feature": "frequency", "importance": 0.05}, {"feature": "monetary", "importance": 0.12}],
        "churn": [],
    },
}

LIFT = {
    "segments_period": PREVIOUS,
    "outcome_period": PERIOD,
    "confidence": 0.95,
    "rows": [
        {
            "segment": segment,
            "channel": channel,
            "treated_members": 900,
            "holdout_members": 100,
            "treated_converted": 270,
            "holdout_converted": 20,
            "treated_conversion_rate": 0.3,
            "holdout_conversion_rate": 0.2,
            "conversion_lift": lift,
            "conversion_lift_low": None if lift is None else lift - 0.05,
            "conversion_lift_high": None if lift is None else lift + 0.05,
            "conversion_p_value": 0.01,
            "treated_spend_per_member": 120.0,
            "holdout_spend_per_member": 100.0,
            "spend_lift": 20.0,
            "spend_lift_low": -5.0,
            "spend_lift_high": 45.0,
            "spend_p_value": 0.2,
        }
        for segment, channel, lift in (("vip", "all", 0.1), ("vip", "sms", 0.08), ("winback", "all", None))
    ],
}


def _assignments() -> pd.DataFrame:
    """P0000..P0039 cycle through the four tiers: vip takes every high-value member (P0000, P0004, ...)
    by sms, the first two of them also by email; winback takes the dormant ones (P0003, P0007, ...).
    Every fifth member of a segment is held out."""
    rows = []
    for i in range(0, 40, 4):
        group = "holdout" if i % 20 == 0 else "treated"
        rows.append(("sms", "vip", f"P{i:04d}", 1, group))
        if i in (4, 8):
            rows.append(("email", "vip", f"P{i:04d}", 1, "treated"))
    for i in range(3, 40, 4):
        rows.append(("sms", "winback", f"P{i:04d}", 4, "holdout" if i == 3 else "treated"))
    return pd.DataFrame(rows, columns=["channel", "segment", "oneid", "priority", "group"])


def full_inputs() -> ReportInputs:
    tiers = _tiers()
    alerts = (
        tiers.loc[tiers["tier"] == "high_value_loyal"]
        .head(5)
        .assign(
            level=["L1", "L2", "L3", "L3", "L3"],
            value_percentile=0.9,
            days_inactive=[70.0, 50.0, 35.0, 31.0, 30.0],
        )
    )
    return ReportInputs(
        period=PERIOD,
        previous_period=PREVIOUS,
        tiers_config=TIERS,
        tiers=tiers,
        features=_features(),
        clv_fit=_clv_fit(),
        month_orders=_orders(),
        month_events=pd.DataFrame({"oneid": pd.array(["P0020", "P0021", "P0001"], dtype="string")}),
        migration=_migration(),
        migration_summary={
            "has_previous": True,
            "tier_change_share": 0.12,
            "upgrade_rate": 0.05,
            "downgrade_rate": 0.07,
            "value_migration_rate": 0.12,
            "potential_to_high_conversion": 0.06,
            "potential_members_previous": 10,
            "members_new": 4,
            "members_gone": 0,
        },
        alerts=alerts,
        alerts_summary={
            "inactive_high_value": {"L1": 1, "L2": 1, "L3": 3},
            "warnings": [
                {
                    "code": "potential_conversion_low",
                    "message": "potential-to-high conversion 6.0% is under 8%",
                }
            ],
        },
        approved_model={"version": "m-2026-06-abc", "from_period": "2026-07"},
        model_card=CARD,
        model_versions=("m-2026-06-abc",),
        quarantine=pd.DataFrame(
            {
                "stage": ["extract"] * 3 + ["tiers"],
                "channel": ["pos", "pos", "app", "all"],
                "kind": ["orders", "orders", "events", "tiers"],
                "reason": ["negative_amount", "future_date", "future_date", "out_of_range"],
            }
        ),
        extract_figures={"pos": {"totals": {"rows_in": 100, "accepted": 98, "quarantined": 2}}},
        lift=LIFT,
        assignments=_assignments(),
        previous_headline={"members": 35, "revenue": 5000.0},
    )


@pytest.fixture(scope="module")
def full_report():
    return build_report(full_inputs(), ReportSettings(dpi=60))


# -- figures --------------------------------------------------------------------------------


def test_headline_counts_members_activity_revenue_and_concentration():
    figures_ = headline(full_inputs(), top_share=0.2)
    assert figures_["members"] == 40
    # ten paying buyers plus two members seen only through events; the refunded order counts for nothing
    assert figures_["buyers"] == 10
    assert figures_["active_members"] == 12
    assert figures_["revenue"] == pytest.approx(5500.0)
    assert figures_["top_share_of_revenue"] == pytest.approx((1000 + 900) / 5500, abs=1e-6)
    # VIPs are every fourth member: P0000, P0004, P0008 spent 100 + 500 + 900
    assert figures_["vip_revenue_share"] == pytest.approx(1500 / 5500, abs=1e-6)
    assert figures_["alerts"] == {"L1": 1, "L2": 1, "L3": 3}


def test_top_share_of_revenue_uses_at_least_one_buyer_and_none_without_revenue():
    spend = pd.Series([10.0, 0.0, -5.0], index=["a", "b", "c"])
    assert top_share_of_revenue(spend, 0.2) == pytest.approx(10.0 / 5.0)
    assert top_share_of_revenue(pd.Series([0.0, -1.0], index=["a", "b"]), 0.2) is None


def test_tier_table_shares_add_up_and_keep_empty_tiers():
    inputs = full_inputs()
    extra = (*TIERS, TierInfo("vip_only", "VIP only", 6))
    table = tier_table(ReportInputs(**{**inputs.__dict__, "tiers_config": extra}))
    assert table["tier"].iloc[0] == "vip_only" and table["members"].iloc[0] == 0
    assert table["members"].sum() == 40
    for column in ("member_share", "value_share", "revenue_share"):
        assert table[column].sum() == pytest.approx(1.0)
    loyal = table.set_index("tier").loc["high_value_loyal"]
    assert loyal["value_share"] > loyal["member_share"]


def test_main_flows_are_the_largest_moves_with_their_direction():
    flows = main_flows(full_inputs(), top=50)
    assert not ((flows["from_tier"] == flows["to_tier"]).any())
    assert set(flows["direction"]) == {"up", "down", "new"}
    up = flows.loc[(flows["from_tier"] == "dormant") & (flows["to_tier"] == "regular"), "direction"]
    assert up.tolist() == ["up"]
    assert flows["members"].is_monotonic_decreasing


def test_rfm_cells_cover_the_eight_cells_and_count_non_buyers():
    cells, no_purchase = figures.rfm_cells(_features())
    assert cells["code"].tolist() == CODES
    assert no_purchase == 5
    assert cells["members"].sum() == 35
    assert cells["share"].sum() == pytest.approx(1.0)


# -- the page -------------------------------------------------------------------------------


def _section(html: str, section_id: str) -> str:
    match = re.search(
        rf'<section class="card" id="{section_id}" data-status="(\w+)">(.*?)</section>', html, re.S
    )
    assert match, f"section {section_id} is not in the page"
    return match.group(1) + "|" + match.group(2)


def test_full_report_has_every_section_with_its_chart(full_report):
    assert full_report.sections == {section: "ok" for section in SECTION_IDS}
    for section in SECTION_IDS:
        assert _section(full_report.html, section).startswith("ok|")
    assert set(full_report.charts) >= {
        "headline",
        "tiers",
        "migration_heatmap",
        "migration_flows",
        "rfm_grid",
        "clv",
        "clv_calibration",
        "clv_alive",
        "lifecycle",
        "alerts",
        "model",
        "quality",
        "lift",
    }
    for name, data in full_report.charts.items():
        assert data.startswith(b"\x89PNG"), name
        # the page shows the headline as HTML tiles; its PNG is the e-mail version
        assert (f'data-chart="{name}"' in full_report.html) == (name != "headline")
    # self-contained: nothing fetched from elsewhere
    assert not re.search(r'(src|href)="(https?:)?//', full_report.html)


def test_clv_section_shows_the_model_choice_calibration_and_probability_alive(full_report):
    fit = _clv_fit()
    section = _section(full_report.html, "clv")
    names = {"bgnbd": "BG/NBD", "pareto_nbd": "Pareto/NBD", "mbgnbd": "MBG/NBD"}
    assert f"<b>{names[fit['model']]}</b>" in section and "features.clv_model: auto" in section
    for name, recorded in fit["holdout_check"]["scores"].items():
        assert f"{names[name]} {recorded['score'] * 100:.1f}%" in section
    assert 'data-chart="clv_calibration"' in section and 'data-chart="clv_alive"' in section
    alive = _features()["probability_alive"].dropna()
    assert f"{(alive < 0.5).mean() * 100:.1f}% of buyers are more likely gone" in section
    table = figures.holdout_calibration(fit)
    assert set(table["model"]) == set(fit["holdout_check"]["scores"])
    assert table.groupby("model")["customers"].sum().eq(fit["holdout_check"]["customers"]).all()
    by_tier = figures.probability_alive_by_tier(full_inputs())
    assert by_tier["members"].sum() == alive.size


def test_clv_section_says_which_models_were_skipped_and_why_as_text():
    fit = {
        "time_unit": "week",
        "penalizer": 0.001,
        "model": "nbd",
        "configured_model": "auto",
        "holdout_check": {
            "best": None,
            "scores": {},
            "skipped": {"pareto_nbd": "Pareto/NBD fit <b>failed</b>"},
        },
        "note": "the history shows no drop-out yet",
    }
    inputs = dataclasses.replace(full_inputs(), clv_fit=fit)
    report = build_report(inputs, ReportSettings(dpi=60))
    section = _section(report.html, "clv")
    assert "<b>NBD (no drop-out)</b>" in section and "penalizer 0.001" in section
    assert "Pareto/NBD was not checked: Pareto/NBD fit &lt;b&gt;failed&lt;/b&gt;" in section
    assert "the history shows no drop-out yet" in section
    assert "clv_calibration" not in report.charts and "clv_alive" in report.charts
    without = build_report(dataclasses.replace(full_inputs(), clv_fit=None), ReportSettings(dpi=60))
    assert without.sections["clv"] == "ok" and "clv_calibration" not in without.charts


def test_quality_section_shows_the_extract_warnings_and_cleared_fields():
    message = "channel pos: 35% of phone values of 2026-06 cannot identify anyone (scientific_notation 14)"
    extract = {
        "pos": {
            "totals": {"rows_in": 100, "accepted": 98, "quarantined": 2},
            "tables": {"orders": {"fields_cleared": {"discount": {"placeholder_value": 7}}}},
            "warnings": [{"kind": "identifier_damage_jump", "column": "phone", "message": message}],
        }
    }
    inputs = ReportInputs(**{**full_inputs().__dict__, "extract_figures": extract})
    quality = _section(build_report(inputs, ReportSettings(dpi=60)).html, "quality")
    assert f'<div class="warn">⚠ {message}</div>' in quality
    assert "7 optional fields" in quality


def test_full_report_answers_the_three_questions(full_report):
    html = full_report.html
    glance = _section(html, "glance")
    assert "高价值忠诚 high-value loyal: <b>10</b>" in glance
    assert "12.0%</b> of members changed tier" in glance
    assert "<b>5</b> high-value members" in glance
    assert "potential-to-high conversion 6.0% is under 8%" in glance
    assert "+5 vs last month" in glance  # 40 members against 35
    model = _section(html, "model")
    assert "m-2026-06-abc" in model and "0.710" in model and "0.580" in model and "0.630" in model
    assert 'href="../../models/versions/m-2026-06-abc/card.json"' in model
    assert "Top features for value (permutation importance): monetary 0.120, frequency 0.050" in model
    assert (
        "training cutoffs 2026-01-01 … 2026-03-01 (3); out-of-time validation 2026-04-01 to 2026-06-30"
        in model
    )
    assert "negative_amount" in _section(html, "quality") or "quality" in full_report.charts
    assert "+10.0 pp" in _section(html, "lift")


def test_the_playbook_gives_each_tier_its_action_what_was_sent_and_last_months_lift(full_report):
    playbook = _section(full_report.html, "playbook")
    rows = re.findall(r"<tr>(.*?)</tr>", playbook.split("<tbody>")[1], re.S)
    assert len(rows) == 4
    loyal, potential, regular, dormant = rows
    assert "高价值忠诚 high-value loyal" in loyal and "专属权益 exclusive benefits" in loyal
    # ten loyal members: eight sent by sms (two held out), two of them by email too
    assert "<b>vip</b> → sms 8, email 2" in loyal and "(holdout 2)" in loyal
    assert "vip <b>+10.0 pp</b>" in loyal and "(p 0.010)" in loyal
    assert "限时优惠 time-limited offers" in potential and "nothing sent" in potential
    assert "no action configured: add one to tiers.rules" in regular
    assert "<b>winback</b> → sms 9" in dormant and "(holdout 1)" in dormant
    assert "winback: not measured" in dormant  # its lift row has no conversion lift
    assert "reached <b>17</b> members through 2 channels; 3 qualifying members were kept back" in playbook


def test_before_the_exports_are_published_the_playbook_says_so():
    inputs = ReportInputs(
        **{
            **full_inputs().__dict__,
            "assignments": None,
            "notes": {"lift": "The exports of 2026-10 are not published (the publish stage did not run)"},
        }
    )
    playbook = _section(build_report(inputs, ReportSettings(dpi=60)).html, "playbook")
    assert playbook.startswith("ok|")
    assert "The exports of 2026-10 are not published" in playbook
    assert "专属权益 exclusive benefits" in playbook
    # a first month: published, but the lift report has nothing to judge yet
    first = ReportInputs(**{**full_inputs().__dict__, "lift": {"rows": [], "note": "no segments last month"}})
    playbook = _section(build_report(first, ReportSettings(dpi=60)).html, "playbook")
    assert "vip: not measured" in playbook and "<b>vip</b> → sms 8, email 2" in playbook


def test_before_any_approval_the_latest_candidate_is_shown_beside_the_baselines():
    decision = {
        "period": "2026-09",
        "candidate": "2026-09-bb26",
        "promote": False,
        "reason": "2026-09-bb26 not approved: top_share_capture 0.7396 does not beat baseline:clv 0.7378",
    }
    inputs = ReportInputs(
        period=PERIOD,
        previous_period=PREVIOUS,
        model_versions=("2026-09-bb26",),
        retrain_decision=decision,
        candidate_card={**CARD, "version": "2026-09-bb26"},
    )
    report = build_report(inputs, ReportSettings(dpi=60))
    model = _section(report.html, "model")
    assert "CLV baseline in use: no approved model yet." in model
    assert "does not beat baseline:clv 0.7378" in model
    assert "model" in report.charts and 'href="../../models/versions/2026-09-bb26/card.json"' in model


def test_report_without_inputs_says_what_is_missing_and_does_not_fail():
    inputs = ReportInputs(
        period=PERIOD,
        previous_period=PREVIOUS,
        notes={
            "tiers": "tiers/period=2026-10/tiers.parquet is missing: run the tiers stage for this month first"
        },
    )
    report = build_report(inputs, ReportSettings(dpi=60))
    for section in SECTION_IDS:
        _section(report.html, section)
    assert report.sections["tiers"] == "missing" and report.sections["lift"] == "missing"
    assert "run the tiers stage" in _section(report.html, "tiers")
    assert "CLV baseline in use: no approved model yet" in _section(report.html, "model")
    assert set(report.charts) == {"headline"}


HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'
"""Markup where the report shows names it does not choose: tier labels, channels, segments, versions."""


def test_names_from_config_and_data_are_shown_as_text_never_as_markup():
    inputs = full_inputs()
    tiers = tuple(TierInfo(info.tier, f"{info.label} {HOSTILE}", info.value_rank) for info in TIERS)
    lift = {**LIFT, "rows": [{**row, "segment": f"vip{HOSTILE}", "channel": HOSTILE} for row in LIFT["rows"]]}
    alerts = inputs.alerts.assign(oneid=f"P{HOSTILE}")
    quarantine = inputs.quarantine.assign(channel=HOSTILE)
    hostile = ReportInputs(
        **{
            **inputs.__dict__,
            "tiers_config": tiers,
            "lift": lift,
            "alerts": alerts,
            "quarantine": quarantine,
            "extract_figures": {HOSTILE: {"totals": {"rows_in": 10, "accepted": 9, "quarantined": 1}}},
            "alerts_summary": {**inputs.alerts_summary, "warnings": [{"message": HOSTILE}]},
            "approved_model": {"version": f'm1"{HOSTILE}', "from_period": HOSTILE},
            "data_docs": (DataDocsLink(HOSTILE, '../../quality/x" onclick="alert(1)'),),
            "notes": {"tiers": HOSTILE},
        }
    )
    html = build_report(hostile, ReportSettings(dpi=60)).html

    from html.parser import HTMLParser

    class Elements(HTMLParser):
        def __init__(self):
            super().__init__()
            self.tags, self.attributes = set(), set()

        def handle_starttag(self, tag, attrs):
            self.tags.add(tag)
            self.attributes.update(name for name, _ in attrs)

    parsed = Elements()
    parsed.feed(html)
    assert "script" not in parsed.tags
    assert not {name for name in parsed.attributes if name.startswith("on")}
    escaped = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"
    for section in ("glance", "tiers", "alerts", "model", "quality", "lift"):
        assert escaped in _section(html, section), section
    assert 'href="../../quality/x&#34; onclick=&#34;alert(1)"' in _section(html, "quality")


def test_texts_and_headings_follow_the_config_not_the_defaults():
    card = {**CARD, "data_window": {**CARD["data_window"], "horizon_days": 60}}  # trained on this config
    changed = {"inactive_days": 45, "horizon_days": 60, "model_top_share": 0.1, "model_card": card}
    inputs = ReportInputs(**{**full_inputs().__dict__, **changed})
    html = build_report(inputs, ReportSettings(dpi=60, top_share=0.25)).html
    assert "no purchase or engagement for 45+ days" in _section(html, "glance")
    assert "Revenue from the top 25% of buyers" in _section(html, "glance")
    assert "of predicted 60-day value." in _section(html, "tiers")
    assert '<th class="num">predicted 60-day value</th>' in _section(html, "tiers")
    assert '<th class="num">predicted 60-day value</th>' in _section(html, "alerts")
    assert "top-10% spend capture <b>0.710</b>" in _section(html, "model")
    assert "60-day labels" in _section(html, "model")
    text = re.sub(r"<[^>]+>", " ", html)
    for default in ("30+ days", "90-day", "top-20%", "top 20%"):
        assert default not in text, default
    # a card that records its own top share is labelled with it
    with_card = ReportInputs(**{**inputs.__dict__, "model_card": {**card, "top_share": 0.15}})
    assert "top-15% spend capture" in _section(build_report(with_card, ReportSettings(dpi=60)).html, "model")


def test_the_report_stage_reads_those_settings_from_the_config(tmp_path, monkeypatch):
    import yaml

    from tierlib.pipeline.context import RunContext
    from tierlib.pipeline.report import gather_inputs

    raw = yaml.safe_load(Path("config/tierflow.yaml").read_text(encoding="utf-8"))
    raw["alerts"]["inactive_days"] = 45
    raw["model"].update(horizon_days=60, top_share=0.1)
    config = tmp_path / "tierflow.yaml"
    config.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("TIERFLOW_STORAGE", str(tmp_path / "storage"))
    inputs = gather_inputs(RunContext.open(str(config), PERIOD))
    assert (inputs.inactive_days, inputs.horizon_days, inputs.model_top_share) == (45, 60, 0.1)


# -- fonts ----------------------------------------------------------------------------------


def test_cjk_font_has_every_chinese_label_the_report_draws():
    from matplotlib.ft2font import FT2Font

    font = fonts.find_cjk_font()
    assert font.family is not None, "no CJK font: install requirements.txt (noto-cjk-sans-otc)"
    config = load_config("config/tierflow.yaml")
    labels = [rule.label for rule in config.stage("tiers").rules]
    labels += (
        [zh for _, zh, _ in RFM_CELLS]
        + list(figures.LIFECYCLE_LABELS.values())
        + ["无购买", "新会员", "离开"]
    )
    from matplotlib import font_manager

    entry = next(
        e for e in font_manager.fontManager.ttflist if e.fname == font.path and e.name == font.family
    )
    face = FT2Font(font.path, face_index=entry.index)
    missing = sorted(
        {c for label in labels for c in label if ord(c) > 0x2E80 and not face.get_char_index(ord(c))}
    )
    assert missing == []


def test_the_page_embeds_the_cjk_font_for_every_chinese_character_it_shows(full_report):
    import base64
    import io

    from fontTools.ttLib import TTFont

    from tierlib.report._webfont import EMBEDDED_FAMILY, page_text

    html = full_report.html
    face = re.search(
        r'@font-face\{font-family:"([^"]+)";src:url\(data:font/woff2;base64,([A-Za-z0-9+/=]+)\) '
        r'format\("woff2"\)',
        html,
    )
    assert face and face.group(1) == EMBEDDED_FAMILY
    assert f'font-family:"{EMBEDDED_FAMILY}", "Noto Sans CJK SC"' in html
    data = base64.b64decode(face.group(2))
    assert data[:4] == b"wOF2" and len(data) < 60_000
    font = TTFont(io.BytesIO(data))
    held = set(font.getBestCmap())
    shown = {char for char in page_text(html) if ord(char) >= 0x2E80}
    assert len(shown) >= 15  # tier labels and RFM cells
    assert sorted(char for char in shown if ord(char) not in held) == []
    assert held == {ord(char) for char in full_report.webfont.characters}
    # the same page twice: the font holds no timestamp
    assert build_report(full_inputs(), ReportSettings(dpi=60)).html == html


def test_without_a_cjk_font_the_report_warns_and_still_renders(monkeypatch, caplog):
    from matplotlib import font_manager

    monkeypatch.setattr(fonts, "_CHOSEN", {})
    monkeypatch.setattr(fonts, "_package_font", lambda: None)
    latin_only = [e for e in font_manager.fontManager.ttflist if e.name not in fonts.CJK_FAMILIES]
    monkeypatch.setattr(font_manager.fontManager, "ttflist", latin_only)
    with caplog.at_level(logging.WARNING, logger="tierlib"):
        report = build_report(ReportInputs(period=PERIOD, previous_period=PREVIOUS), ReportSettings(dpi=60))
    assert report.font.family is None
    assert "no CJK font found" in caplog.text
    assert "Chinese labels may show as boxes" in report.html
    assert report.webfont is None and "@font-face" not in report.html


def test_font_path_that_does_not_exist_falls_back_with_a_warning(monkeypatch, caplog):
    monkeypatch.setattr(fonts, "_CHOSEN", {})
    with caplog.at_level(logging.WARNING, logger="tierlib"):
        font = fonts.find_cjk_font("/nonexistent/font.ttf")
    assert "report.font_path /nonexistent/font.ttf does not exist" in caplog.text
    assert font.family is not None and font.source in ("package", "system")


# -- settings -------------------------------------------------------------------------------


def test_report_section_is_checked_when_the_config_loads():
    raw = load_config("config/tierflow.yaml").raw
    assert (
        parse_config({**raw, "report": {"top_share": 0.1}}, "tierflow.yaml").stage("report").top_share == 0.1
    )
    with pytest.raises(ConfigError, match=r"report: report.top_share must be between 0 and 1"):
        parse_config({**raw, "report": {"top_share": 1.5}}, "tierflow.yaml")
    with pytest.raises(ConfigError, match=r"report.colour: unknown key"):
        parse_config({**raw, "report": {"colour": "blue"}}, "tierflow.yaml")


# -- the stage on an empty storage ----------------------------------------------------------


def test_report_stage_on_a_month_without_outputs_writes_a_report_that_says_so(tmp_path, monkeypatch):
    from tierlib.catalog import report_key, report_summary_key
    from tierlib.pipeline.context import RunContext
    from tierlib.pipeline.report import run_report

    monkeypatch.setenv("TIERFLOW_STORAGE", str(tmp_path / "storage"))
    ctx = RunContext.open("config/tierflow.yaml", PERIOD)
    figures_ = run_report(ctx)
    assert figures_["sections_missing"] == [
        "alerts",
        "clv",
        "lifecycle",
        "lift",
        "migration",
        "playbook",
        "quality",
        "rfm",
        "tiers",
    ]
    html = ctx.storage.read_bytes(report_key(PERIOD)).decode("utf-8")
    assert "tiers/period=2026-10/tiers.parquet is missing: run the tiers stage for this month first" in html
    assert "features/period=2026-10/features.parquet is missing: run the features stage" in html
    assert "The exports of 2026-10 are not published" in html
    assert "No extract figures or quarantine for 2026-10: run the extract stage first" in html
    assert ctx.storage.read_json(report_summary_key(PERIOD))["sections"]["glance"] == "ok"
