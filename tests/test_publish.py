"""tierlib.publish on small hand-made frames: consent, suppression, identifiers, caps, holdouts, deltas, lift.

Each test builds the few records it needs, so what counts as right is written
next to the assertion.  The storage side (atomic commit, failures) is in
tests/test_publish_commit.py; the whole stage on synthetic data with ground
truth is in tests/test_publish_stage.py.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from tierlib.config import parse_config
from tierlib.errors import ConfigError, InputError
from tierlib.publish import (
    ExportChannel,
    PublishSettings,
    Suppression,
    build_exports,
    decode,
    difference_of_proportions,
    encode,
    holdout_draws,
    lift_table,
    member_outcomes,
    row_deltas,
    suppression_from_frames,
    welch_difference,
    wilson_interval,
)
from tierlib.schemas import RECORD_COLUMNS, empty_frame
from tierlib.settings import settings_from_mapping

ALL_KINDS = {
    "sms": {"kind": "sms"},
    "email": {"kind": "email"},
    "wechat": {"kind": "wechat", "record_channels": ["wechat"]},
    "push": {"kind": "push", "record_channels": ["app"]},
    "gads": {"kind": "customer_match", "platform": "google"},
    "meta": {"kind": "customer_match", "platform": "meta"},
    "crm": {"kind": "crm"},
}


def settings(**overrides) -> PublishSettings:
    raw = {
        "suppression": [],
        "holdout_share": 0.0,
        "channels": ALL_KINDS,
        "segments": {"everyone": {"priority": 1, "channels": list(ALL_KINDS)}},
    }
    raw.update(overrides)
    return settings_from_mapping(PublishSettings, raw, "exports")


def records(*rows: dict) -> pd.DataFrame:
    """Standardized record versions; ``updated_at`` defaults to 2024-01-01."""
    frame = pd.concat([empty_frame(RECORD_COLUMNS), pd.DataFrame(list(rows))], ignore_index=True)
    frame["updated_at"] = pd.to_datetime(frame["updated_at"].fillna("2024-01-01"))
    return frame.astype(RECORD_COLUMNS)


def identity(*pairs: tuple[str, str, str]) -> pd.DataFrame:
    return pd.DataFrame(pairs, columns=["channel", "record_id", "oneid"])


def tiers(*oneids: str, vip=(), tier="regular") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "oneid": list(oneids),
            "tier": tier,
            "previous_tier": None,
            "rfm_cell": "x",
            "lifecycle_stage": "active",
            "vip": [oneid in vip for oneid in oneids],
            "predicted_value_90d": 1.0,
            "churn_probability": 0.1,
        }
    )


def sent(result, channel: str, segment: str = "everyone") -> pd.DataFrame:
    return result.segments[(channel, segment)]["members"]


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# -- settings -------------------------------------------------------------------------------


def test_config_section_reports_every_problem_with_its_key_path():
    raw = {
        "storage": {"root": "store"},
        "channels": {
            "shop": {
                "connector": "sql",
                "url": "sqlite://",
                "records": {"table": "m", "time_column": "t", "columns": {"record_id": "id"}},
            }
        },
        "exports": {
            "channels": {
                "sms": {"kind": "sms", "columns": ["phone", "email"]},
                "ads": {"kind": "customer_match"},
                "mail": {"kind": "email", "consent": "consent_fax"},
            },
            "segments": {"vip": {"priority": 1, "channels": ["sms", "fax"]}},
        },
    }
    with pytest.raises(ConfigError) as error:
        parse_config(raw)
    message = str(error.value)
    assert "exports.channels.sms" in message and "['email'] are not carried by a sms export" in message
    assert "exports.channels.ads" in message and "platform: google" in message
    assert "exports.channels.mail" in message and "consent_fax" in message


def test_segment_naming_an_unknown_channel_is_refused():
    with pytest.raises(ConfigError, match=r"segments.vip.channels: \['fax'\] are not export channels"):
        settings(segments={"vip": {"priority": 1, "channels": ["sms", "fax"]}})


def test_a_channel_carries_only_its_kinds_columns_in_a_fixed_order():
    assert ExportChannel(kind="crm", columns=("guide_id", "oneid")).export_columns == ("oneid", "guide_id")
    assert ExportChannel(kind="customer_match", platform="meta").export_columns == (
        "hashed_email",
        "hashed_phone",
    )


# -- consent ----------------------------------------------------------------------------------


def test_only_the_latest_version_of_a_record_speaks():
    frame = records(
        {"channel": "app", "record_id": "a", "phone": "13800000001", "consent_sms": True},
        {
            "channel": "app",
            "record_id": "a",
            "phone": "13800000001",
            "consent_sms": False,
            "updated_at": "2024-03-01",
        },
        {"channel": "app", "record_id": "b", "phone": "13800000002", "consent_sms": False},
        {
            "channel": "app",
            "record_id": "b",
            "phone": "13900000002",
            "consent_sms": True,
            "updated_at": "2024-03-01",
        },
    )
    result = build_exports(
        tiers("A", "B"),
        frame,
        identity(("app", "a", "A"), ("app", "b", "B")),
        Suppression.empty(),
        settings(),
    )
    # a withdrew consent in March; b's phone changed in March and the new version consents.
    assert sent(result, "sms")["phone"].tolist() == ["+8613900000002"]


def test_a_refusal_anywhere_wins_and_unknown_is_not_consent():
    frame = records(
        # A consents on the app but refuses SMS at the POS: no SMS for A at all.
        {"channel": "app", "record_id": "a1", "phone": "13800000001", "consent_sms": True},
        {"channel": "pos", "record_id": "a2", "phone": "13800000009", "consent_sms": False},
        # B's flag is unknown: no consent.
        {"channel": "app", "record_id": "b1", "phone": "13800000002"},
        # C consents, but another member's record refuses the same phone: the number is never used.
        {"channel": "app", "record_id": "c1", "phone": "13800000003", "consent_sms": True},
        {"channel": "ecommerce", "record_id": "d1", "phone": "138 0000 0003", "consent_sms": False},
        # E consents on one record and has no flag on the other: E's consenting phone is used.
        {"channel": "app", "record_id": "e1", "phone": "13800000005", "consent_sms": True},
        {"channel": "member_center", "record_id": "e2", "phone": "13800000006"},
    )
    ids = identity(
        ("app", "a1", "A"),
        ("pos", "a2", "A"),
        ("app", "b1", "B"),
        ("app", "c1", "C"),
        ("ecommerce", "d1", "D"),
        ("app", "e1", "E"),
        ("member_center", "e2", "E"),
    )
    result = build_exports(tiers(*"ABCDE"), frame, ids, Suppression.empty(), settings())
    assert sent(result, "sms")["phone"].tolist() == ["+8613800000005"]


def test_each_channel_uses_its_own_flag_and_its_own_source_channels():
    frame = records(
        {
            "channel": "app",
            "record_id": "a",
            "email": "A@Mail.com ",
            "device_id": "dev-A1",
            "openid": "o-not-wechat",
            "consent_email": True,
            "consent_push": True,
            "consent_wechat": True,
        },
        {
            "channel": "wechat",
            "record_id": "w",
            "openid": "oWX1",
            "consent_wechat": True,
            "device_id": "dev-from-wechat",
            "consent_push": True,
        },
        {
            "channel": "app",
            "record_id": "b",
            "email": "b@mail.com",
            "device_id": "dev-B1",
            "consent_email": False,
            "consent_push": None,
        },
    )
    ids = identity(("app", "a", "A"), ("wechat", "w", "A"), ("app", "b", "B"))
    result = build_exports(tiers("A", "B"), frame, ids, Suppression.empty(), settings())
    assert sent(result, "email")["email"].tolist() == ["a@mail.com"]
    # Push tokens come from the app only, openids from the WeChat app only.
    assert sent(result, "push")["device_token"].tolist() == ["dev-A1"]
    assert sent(result, "wechat")["openid"].tolist() == ["oWX1"]
    assert list(sent(result, "sms").columns) == ["phone"] and sent(result, "sms").empty


def test_customer_match_hashes_each_platforms_normal_form_under_each_identifiers_consent():
    frame = records(
        {
            "channel": "app",
            "record_id": "a",
            "phone": "0086 138-0000-0001",
            "email": "  Li.Na@Example.COM",
            "consent_sms": True,
            "consent_email": True,
        },
        {
            "channel": "app",
            "record_id": "b",
            "phone": "13800000002",
            "email": "b@example.com",
            "consent_sms": True,
            "consent_email": False,
        },
    )
    result = build_exports(
        tiers("A", "B"),
        frame,
        identity(("app", "a", "A"), ("app", "b", "B")),
        Suppression.empty(),
        settings(),
    )
    google, meta = sent(result, "gads"), sent(result, "meta")
    assert list(google.columns) == ["hashed_email", "hashed_phone"]
    expected_google = {(sha("li.na@example.com"), sha("+8613800000001")), (pd.NA, sha("+8613800000002"))}
    expected_meta = {(sha("li.na@example.com"), sha("8613800000001")), (pd.NA, sha("8613800000002"))}
    as_set = lambda frame: {tuple(row) for row in frame.astype(object).itertuples(index=False)}  # noqa: E731
    assert as_set(google) == expected_google
    assert as_set(meta) == expected_meta


def test_crm_carries_oneid_store_and_guide_of_the_latest_guide_record():
    frame = records(
        {"channel": "pos", "record_id": "p", "store_id": "S1", "guide_id": "G1", "consent_sms": True},
        {
            "channel": "guide",
            "record_id": "g",
            "store_id": "S2",
            "guide_id": "G7",
            "updated_at": "2024-02-01",
        },
        {"channel": "app", "record_id": "x", "store_id": "S9", "updated_at": "2024-05-01"},
        {"channel": "pos", "record_id": "q", "store_id": "S3", "guide_id": "G3", "consent_sms": False},
    )
    ids = identity(("pos", "p", "A"), ("guide", "g", "A"), ("app", "x", "A"), ("pos", "q", "B"))
    result = build_exports(tiers("A", "B"), frame, ids, Suppression.empty(), settings())
    assert sent(result, "crm").astype(object).values.tolist() == [["A", "S2", "G7"]]


# -- suppression --------------------------------------------------------------------------------


def test_suppression_matches_noisy_entries_and_removes_the_member_everywhere():
    optouts = pd.DataFrame(
        {
            "phone": ["+86 138 0000 0001", "１３８０００００００２", "not a phone", ""],
            "email": ["", "", "", "C@MAIL.COM "],
        },
        dtype="string",
    )
    suppression = suppression_from_frames([("optouts.csv", optouts)], "CN")
    assert suppression.phones == {"+8613800000001", "+8613800000002"}
    assert suppression.emails == {"c@mail.com"}
    assert suppression.unusable == 1
    everything = {"consent_sms": True, "consent_email": True, "consent_push": True, "consent_wechat": True}
    frame = records(
        {"channel": "app", "record_id": "a", "phone": "13800000001", "device_id": "dev-A", **everything},
        {"channel": "wechat", "record_id": "wa", "openid": "oA", **everything},
        {
            "channel": "pos",
            "record_id": "b",
            "phone": "13800000004",
            "store_id": "S",
            "guide_id": "G",
            **everything,
        },
        # B's other record carries a listed phone with no consent at all: B is still suppressed.
        {"channel": "ecommerce", "record_id": "b2", "phone": "13800000002"},
        {"channel": "app", "record_id": "c", "email": "c@mail.com", "phone": "13800000003", **everything},
        {"channel": "app", "record_id": "d", "phone": "13800000005", "email": "d@mail.com", **everything},
    )
    ids = identity(
        ("app", "a", "A"),
        ("wechat", "wa", "A"),
        ("pos", "b", "B"),
        ("ecommerce", "b2", "B"),
        ("app", "c", "C"),
        ("app", "d", "D"),
    )
    result = build_exports(tiers(*"ABCD"), frame, ids, suppression, settings())
    assert result.figures["members_suppressed"] == 3
    # Only D is left anywhere: A is listed by phone (so not even A's WeChat openid goes out),
    # B through a record without consent, C by e-mail (so not even C's phone goes out).
    assert set(result.assignments["oneid"]) == {"D"}
    assert sent(result, "sms")["phone"].tolist() == ["+8613800000005"]
    assert sent(result, "wechat").empty and sent(result, "crm").empty


def test_suppression_list_without_phone_or_email_column_is_refused():
    with pytest.raises(InputError, match="neither a 'phone' nor an 'email' column"):
        suppression_from_frames([("list.csv", pd.DataFrame({"mobile": ["1"]}))], "CN")


# -- segments, cap, holdout ---------------------------------------------------------------------


def _many(n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = records(
        *[
            {"channel": "app", "record_id": f"r{i}", "phone": f"1380000{i:04d}", "consent_sms": True}
            for i in range(n)
        ]
    )
    return frame, identity(*[("app", f"r{i}", f"M{i:04d}") for i in range(n)])


def test_a_member_gets_at_most_n_segments_per_channel_by_priority():
    frame, ids = _many(4)
    table = tiers(*ids["oneid"], vip={"M0000", "M0001"}, tier="churn_risk")
    table.loc[3, "tier"] = "regular"
    rules = {
        "vip": {"vip": True, "priority": 1, "channels": ["sms"]},
        "risk": {"tiers": ["churn_risk"], "priority": 2, "channels": ["sms"]},
        "all": {"priority": 3, "channels": ["sms"]},
    }
    one = build_exports(table, frame, ids, Suppression.empty(), settings(segments=rules))
    assignments = one.assignments.set_index("oneid")["segment"]
    assert assignments.to_dict() == {"M0000": "vip", "M0001": "vip", "M0002": "risk", "M0003": "all"}
    two = build_exports(
        table, frame, ids, Suppression.empty(), settings(segments=rules, max_segments_per_member=2)
    )
    by_member = two.assignments.groupby("oneid")["segment"].apply(sorted).to_dict()
    assert by_member == {
        "M0000": ["risk", "vip"],
        "M0001": ["risk", "vip"],
        "M0002": ["all", "risk"],
        "M0003": ["all"],
    }


def test_holdout_is_a_hash_of_salt_and_oneid_kept_back_and_written_apart():
    frame, ids = _many(2000)
    rules = {"all": {"priority": 1, "channels": ["sms"], "holdout_share": 0.2, "campaign_salt": "spring"}}
    result = build_exports(tiers(*ids["oneid"]), frame, ids, Suppression.empty(), settings(segments=rules))
    held = result.assignments[result.assignments["group"] == "holdout"]
    assert 0.17 < len(held) / 2000 < 0.23
    expected = {oneid for oneid in ids["oneid"] if int(sha("spring\x1f" + oneid)[:16], 16) / 2**64 < 0.2}
    assert set(held["oneid"]) == expected
    tables = result.segments[("sms", "all")]
    assert len(tables["members"]) + len(tables["holdout"]) == 2000
    assert not set(tables["members"]["phone"]) & set(tables["holdout"]["phone"])


def test_holdout_draw_depends_only_on_salt_and_oneid():
    oneids = pd.Series([f"M{i}" for i in range(50)])
    alone = holdout_draws(oneids.iloc[[7]], "s")
    assert holdout_draws(oneids, "s")[7] == alone[0]
    assert not np.array_equal(holdout_draws(oneids, "s"), holdout_draws(oneids, "t"))
    assert ((holdout_draws(oneids, "s") >= 0) & (holdout_draws(oneids, "s") < 1)).all()


def test_a_held_out_slot_is_not_given_to_a_lower_segment():
    frame, ids = _many(300)
    table = tiers(*ids["oneid"], vip=set(ids["oneid"]))
    rules = {
        "vip": {"vip": True, "priority": 1, "channels": ["sms"], "holdout_share": 0.5},
        "all": {"priority": 2, "channels": ["sms"], "holdout_share": 0.0},
    }
    result = build_exports(table, frame, ids, Suppression.empty(), settings(segments=rules))
    assert set(result.assignments["segment"]) == {"vip"}
    assert set(result.assignments["group"]) == {"treated", "holdout"}


# -- deltas and files -----------------------------------------------------------------------------


def test_deltas_compare_whole_rows_against_last_month():
    now = pd.DataFrame({"phone": ["+1", "+2", "+3"]}, dtype="string")
    before = pd.DataFrame({"phone": ["+2", "+3", "+4"]}, dtype="string")
    added, removed, basis = row_deltas(now, before)
    assert (added["phone"].tolist(), removed["phone"].tolist(), basis) == (["+1"], ["+4"], "previous")
    added, removed, basis = row_deltas(now, None)
    assert (len(added), len(removed), basis) == (3, 0, "none")
    added, removed, basis = row_deltas(now, before.rename(columns={"phone": "email"}))
    assert (len(added), len(removed), basis) == (3, 0, "columns_changed")
    with_null = pd.DataFrame({"a": ["x", None], "b": [None, "y"]}, dtype="string")
    assert row_deltas(with_null, with_null.iloc[::-1])[0].empty


def test_files_round_trip_and_equal_frames_give_equal_bytes():
    frame = pd.DataFrame({"hashed_email": ["ab", None], "hashed_phone": ["cd", "ef"]}, dtype="string")
    for file_format in ("csv", "parquet"):
        data = encode(frame, file_format)
        assert data == encode(frame.copy(), file_format)
        pd.testing.assert_frame_equal(decode(data, file_format, "x"), frame)
    assert encode(frame, "csv") == b"hashed_email,hashed_phone\nab,cd\n,ef\n"


# -- lift --------------------------------------------------------------------------------------------


def test_wilson_and_newcombe_intervals_match_the_published_examples():
    # Newcombe (1998), Statistics in Medicine 17: 857-872, tables I and II.
    assert wilson_interval(81, 263) == pytest.approx((0.2553, 0.3662), abs=5e-5)
    assert wilson_interval(0, 20) == pytest.approx((0.0, 0.1611), abs=5e-5)
    assert difference_of_proportions(56, 70, 48, 80)[1:3] == pytest.approx((0.0524, 0.3339), abs=5e-5)
    assert difference_of_proportions(9, 10, 3, 10)[1:3] == pytest.approx((0.1705, 0.8090), abs=5e-5)
    assert difference_of_proportions(5, 56, 0, 29)[1:3] == pytest.approx((-0.0381, 0.1926), abs=5e-5)


def test_welch_interval_agrees_with_scipy():
    from scipy import stats

    rng = np.random.default_rng(3)
    treated, holdout = rng.gamma(2.0, 50.0, 400), rng.gamma(2.0, 40.0, 60)
    difference, low, high, p_value = welch_difference(treated, holdout, 0.9)
    reference = stats.ttest_ind(treated, holdout, equal_var=False)
    assert difference == pytest.approx(treated.mean() - holdout.mean())
    assert (low, high) == pytest.approx(tuple(reference.confidence_interval(0.9)))
    assert p_value == pytest.approx(reference.pvalue)


def test_lift_table_joins_orders_through_the_identity_map():
    assignments = pd.DataFrame(
        {
            "channel": ["sms"] * 4 + ["email"] * 2,
            "segment": "vip",
            "oneid": ["A", "B", "C", "D", "A", "E"],
            "priority": 1,
            "group": ["treated", "treated", "holdout", "holdout", "treated", "treated"],
        }
    )
    orders = pd.DataFrame(
        {
            "channel": ["app", "app", "pos", "pos"],
            "record_id": ["a", "a", "c", "zz"],
            "amount": [100.0, 50.0, 30.0, 999.0],
            "refund_amount": [0.0, 20.0, None, 0.0],
        }
    )
    ids = identity(("app", "a", "A"), ("pos", "c", "C"), ("app", "e", "E"))
    table = lift_table(assignments, member_outcomes(orders, ids)).set_index("channel")
    sms, pooled = table.loc["sms"], table.loc["all"]
    assert (sms["treated_members"], sms["treated_converted"], sms["holdout_converted"]) == (2, 1, 1)
    assert sms["treated_spend_per_member"] == pytest.approx(65.0)  # (150 - 20) / 2
    assert sms["holdout_spend_per_member"] == pytest.approx(15.0)
    assert sms["conversion_lift"] == pytest.approx(0.0)
    assert pooled["treated_members"] == 3 and pooled["holdout_members"] == 2
    assert sms["conversion_lift_low"] < 0 < sms["conversion_lift_high"]


def test_missing_tier_columns_are_named():
    frame, ids = _many(1)
    with pytest.raises(InputError, match=r"tiers table lacks column\(s\) \['vip'\]"):
        build_exports(tiers("M0000").drop(columns="vip"), frame, ids, Suppression.empty(), settings())
