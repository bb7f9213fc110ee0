"""The program level: a global control group that receives nothing, and its incrementality.

Built on tierlib.publish with hand-made frames (tests/test_publish.py's helpers); the hash
draw is recomputed here with hashlib from its documented definition.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tests.test_publish import ALL_KINDS, identity, records, settings, tiers
from tierlib.errors import ConfigError
from tierlib.publish import Suppression, build_exports
from tierlib.publish._control import program_lift

N = 400


def _population():
    oneids = [f"P{n:04d}" for n in range(N)]
    rows = []
    for n, oneid in enumerate(oneids):
        rows.append(
            {
                "channel": "app",
                "record_id": oneid,
                "phone": f"138{n:08d}",
                "email": f"p{n}@example.com",
                "device_id": f"{n:08X}-0000-4000-8000-000000000001",
                "openid": f"o{n}",
                "consent_sms": True,
                "consent_email": True,
                "consent_push": True,
                "consent_wechat": True,
            }
        )
    ids = identity(*[("app", oneid, oneid) for oneid in oneids])
    return oneids, records(*rows), ids


def _control_settings(**control):
    channels = {
        **{name: kind for name, kind in ALL_KINDS.items() if name != "wechat"},
        "tx": {"kind": "tencent_ads", "columns": ["hash_mobile_phone"]},
    }
    return settings(
        channels=channels,
        segments={"everyone": {"priority": 1, "channels": list(channels)}},
        holdout_share=0.1,
        global_control={"share": 0.1, "salt": "test-control", "rotation": "quarter", **control},
    )


def _draw(oneid: str, salt: str) -> float:
    digest = hashlib.sha256(salt.encode() + b"\x1f" + oneid.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def _in_any_file(result, values: set[str]) -> set[str]:
    found = set()
    for roles in result.segments.values():
        for table in roles.values():
            for column in table.columns:
                found |= values & set(table[column].dropna())
    return found


def test_the_control_is_the_documented_hash_stable_in_a_quarter_and_redrawn_in_the_next():
    oneids, frame, ids = _population()
    options = _control_settings()
    members = {}
    for period in ("2026-01", "2026-03", "2026-04"):
        result = build_exports(tiers(*oneids), frame, ids, Suppression.empty(), options, period=period)
        contacted = set(result.assignments["oneid"])
        members[period] = set(oneids) - contacted
        quarter = "2026Q1" if period < "2026-04" else "2026Q2"
        expected = {oneid for oneid in oneids if _draw(oneid, f"test-control:{quarter}") < 0.1}
        assert members[period] == expected
        assert result.figures["members_in_global_control"] == len(expected)
    assert members["2026-01"] == members["2026-03"]
    assert members["2026-04"] != members["2026-01"]
    assert 20 <= len(members["2026-01"]) <= 60  # 10% of 400, loosely


def test_the_control_is_in_no_file_of_any_channel_not_even_a_holdout():
    oneids, frame, ids = _population()
    result = build_exports(
        tiers(*oneids), frame, ids, Suppression.empty(), _control_settings(), period="2026-02"
    )
    control = [oneid for oneid in oneids if _draw(oneid, "test-control:2026Q1") < 0.1]
    index = [oneids.index(oneid) for oneid in control]
    phones = {f"+86138{n:08d}" for n in index}
    md5_phones = {hashlib.md5(f"138{n:08d}".encode()).hexdigest() for n in index}
    emails = {f"p{n}@example.com" for n in index}
    sha_emails = {hashlib.sha256(email.encode()).hexdigest() for email in emails}
    devices = {f"{n:08X}-0000-4000-8000-000000000001" for n in index}
    assert not _in_any_file(result, set(control) | phones | md5_phones | emails | sha_emails | devices)
    assert not set(control) & set(result.assignments["oneid"])
    program = result.program
    # The control members the same rules would have contacted: those the segment did not hold out.
    would = {oneid for oneid in control if _draw(oneid, "tierflow-holdout-v1:everyone") >= 0.1}
    assert would and would != set(control)
    assert set(program.loc[program["group"] == "global_control", "oneid"]) == would
    # Everyone else was reachable: contacted means treated somewhere, so the holdout-only members are neither.
    contacted = set(program.loc[program["group"] == "contacted", "oneid"])
    treated = set(result.assignments.loc[result.assignments["group"] == "treated", "oneid"])
    assert contacted == treated


def test_rotation_and_share_are_checked():
    with pytest.raises(ConfigError, match="global_control"):
        _control_settings(share=0.7)
    with pytest.raises(ConfigError, match=r"global_control\.rotation"):
        _control_settings(rotation="fortnight")


def test_program_lift_per_tier_matches_welch_and_the_group_means():
    rng = np.random.default_rng(3)
    n = 300
    program = pd.DataFrame(
        {
            "oneid": [f"M{i:04d}" for i in range(n)],
            "tier": np.where(np.arange(n) % 2 == 0, "vip", "regular"),
            "group": np.where(np.arange(n) % 5 == 0, "global_control", "contacted"),
        }
    )
    spend = rng.gamma(2.0, 50.0, n) * (rng.random(n) < 0.4)
    outcomes = pd.DataFrame({"oneid": program["oneid"], "converted": spend > 0, "spend": spend})
    table = program_lift(program, outcomes, 0.95).set_index("tier")
    assert list(table.index) == ["all", "regular", "vip"]
    for tier in ("vip", "regular"):
        chosen = (program["tier"] == tier).to_numpy()
        treated = spend[chosen & (program["group"] == "contacted").to_numpy()]
        control = spend[chosen & (program["group"] == "global_control").to_numpy()]
        row = table.loc[tier]
        assert row["contacted_members"] == len(treated) and row["control_members"] == len(control)
        assert row["spend_lift"] == pytest.approx(treated.mean() - control.mean())
        welch = stats.ttest_ind(treated, control, equal_var=False)
        assert row["spend_p_value"] == pytest.approx(welch.pvalue)
        low, high = welch.confidence_interval(0.95)
        assert (row["spend_lift_low"], row["spend_lift_high"]) == pytest.approx((low, high))


# -- contact budget ----------------------------------------------------------------------------


def _budget_settings(**budget):
    channels = {name: kind for name, kind in ALL_KINDS.items() if name not in ("wechat", "crm")}
    return settings(
        channels=channels,
        max_segments_per_member=3,
        segments={
            "vip": {"priority": 1, "channels": ["sms", "email"]},
            "winback": {"priority": 2, "channels": list(channels)},
            "welcome": {"priority": 3, "channels": ["push", "gads", "meta"]},
        },
        contact_budget={
            "max_contacts": 3,
            "channel_order": ["push", "email", "sms", "gads", "meta"],
            **budget,
        },
    )


def test_the_budget_holds_for_every_member_across_channels_by_priority_then_channel_order():
    oneids, frame, ids = _population()
    result = build_exports(
        tiers(*oneids), frame, ids, Suppression.empty(), _budget_settings(), period="2026-02"
    )
    treated = result.assignments[result.assignments["group"] == "treated"]
    per_member = treated.groupby("oneid").size()
    assert len(per_member) == N and (per_member == 3).all()
    # Without the budget each member would have 2 + 6 + 3 = 11 contacts; the 3 kept are
    # the vip segment (priority 1) in email then sms, then winback in push (first in the order).
    kept = treated.groupby("oneid").apply(
        lambda rows: sorted(zip(rows["segment"], rows["channel"], strict=True))
    )
    expected = sorted([("vip", "email"), ("vip", "sms"), ("winback", "push")])
    assert all(rows == expected for rows in kept)
    assert result.contact_log["oneid"].value_counts().max() == 3
    assert result.figures["channels"]["meta"]["segments"]["winback"]["over_budget"] == N
    assert result.figures["channels"]["sms"]["segments"]["vip"]["over_budget"] == 0
    # Over-budget rows are neither sent nor held out.
    assert not len(result.segments[("meta", "winback")]["holdout"])


def test_the_budget_window_counts_last_months_contact_log():
    oneids, frame, ids = _population()
    history = pd.DataFrame(
        {"period": "2026-01", "oneid": oneids[:10] * 2, "channel": "sms", "segment": "vip"}
    ).astype("string")
    options = _budget_settings(window_months=2)
    result = build_exports(
        tiers(*oneids), frame, ids, Suppression.empty(), options, period="2026-02", contact_history=history
    )
    treated = result.assignments[result.assignments["group"] == "treated"]
    per_member = treated.groupby("oneid").size()
    assert (per_member[oneids[:10]] == 1).all()  # 2 last month, 1 left of 3
    assert (per_member.drop(oneids[:10]) <= 3).all()
    with pytest.raises(ConfigError, match="not export channels"):
        _budget_settings(channel_order=["fax"])
