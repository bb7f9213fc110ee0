"""Tencent Ads and Ocean Engine exports: identifier rules, invalid rows, upload archives.

Expected hashes are hex strings written out here, taken from the platforms' published
examples (Tencent's customer-file and DataNexus pages, cited in docs/publish.md) or computed
with coreutils ``md5sum`` / ``sha256sum`` outside the code under test.
"""

from __future__ import annotations

import io
import json
import zipfile

import pandas as pd
import pytest

from tests.test_publish import identity, records, sent, settings, tiers
from tierlib.errors import ConfigError
from tierlib.pipeline.publish import export_files
from tierlib.publish import (
    IDENTIFIER_RULES,
    ExportChannel,
    Suppression,
    build_exports,
    classify_device,
    identifier_values,
    lift_table,
    upload_archives,
)

# (rule column, record value, expected file text): the platform's published example where there is one.
IDENTIFIER_TABLE = [
    # Tencent customer-file page: HASH_IDFA example, upper case with hyphens before MD5.
    ("hash_idfa", "FF1999CD-7177-4937-A474-74937A102630", "2c010ed96aef2fc34983e1e7e9176b7e"),
    ("hash_idfa", "FF1999CD71774937A47474937A102630", "2c010ed96aef2fc34983e1e7e9176b7e"),
    # Tencent customer-file page: HASH_IMEI example (14 characters, lower case).
    ("hash_imei", "a000002c9060f7", "f2d5a650733ca8c27d502b1c08da14e5"),
    ("hash_imei", "A000002C9060F7", "f2d5a650733ca8c27d502b1c08da14e5"),
    # DataNexus user-id page: IMEI test case; separators removed first.
    ("hash_imei", "868049039501257", "8d3ebd3654fb46a2832296669cf1b536"),
    ("hash_imei", "86-804903-950125-7", "8d3ebd3654fb46a2832296669cf1b536"),
    # DataNexus user-id page: OAID test case, hashed as given.
    ("hash_oaid", "1fe9a970-efbb-29e0-0bdd-f5dbbf751ab5", "83e9158a4fb54c0e1ef0b238639a23ae"),
    # md5sum / sha256sum of the 11-digit national number.
    ("hash_mobile_phone", "+8613800138000", "7945bd83237335e5376ff44d62e4f0ae"),
    ("hash_mobile_phone", "+8613912345678", "535381ec9d5ab7a390db0a30860600f2"),
    ("mobile_sha256", "+8613800138000", "a6942f9771d67f34034d2f1926988ed3fad3bf1b4e7cedb9a31f31398dea43bc"),
    ("mobile_sha256", "+8613912345678", "ba6c167e885ea4be8252fb01c61fc55439089f389ee1b0592fc8c4f417196403"),
    ("idfa_md5", "ff1999cd-7177-4937-a474-74937a102630".upper(), "2c010ed96aef2fc34983e1e7e9176b7e"),
    ("imei_md5", "868049039501257", "8d3ebd3654fb46a2832296669cf1b536"),
    ("oaid_md5", "1fe9a970-efbb-29e0-0bdd-f5dbbf751ab5", "83e9158a4fb54c0e1ef0b238639a23ae"),
]

INVALID_TABLE = [
    ("hash_mobile_phone", "+85291234567", "phone_not_mainland"),
    ("mobile_sha256", "+14155550100", "phone_not_mainland"),
    ("hash_mobile_phone", None, "missing_identifier"),
    ("hash_idfa", "00000000-0000-0000-0000-000000000000", "device_id_zeroed"),
    ("hash_oaid", "00000000-0000-0000-0000-000000000000", "device_id_zeroed"),
    ("hash_idfa", "Ff1999cd-7177-4937-A474-74937A102630", "device_id_malformed"),
    ("hash_imei", "8680490395", "device_id_malformed"),
    ("hash_imei", "not a device!", "device_id_malformed"),
    ("hash_imei", "FF1999CD-7177-4937-A474-74937A102630", "other_device_type"),
    ("oaid_md5", "868049039501257", "other_device_type"),
]


@pytest.mark.parametrize(("column", "value", "expected"), IDENTIFIER_TABLE)
def test_identifier_rules_give_the_platforms_published_hashes(column, value, expected):
    hashed, reason = identifier_values(IDENTIFIER_RULES[column], pd.Series([value], dtype="string"))
    assert hashed.iloc[0] == expected
    assert pd.isna(reason.iloc[0])


@pytest.mark.parametrize(("column", "value", "reason"), INVALID_TABLE)
def test_values_the_platform_would_reject_get_a_reason_and_no_hash(column, value, reason):
    hashed, why = identifier_values(IDENTIFIER_RULES[column], pd.Series([value], dtype="string"))
    assert pd.isna(hashed.iloc[0])
    assert why.iloc[0] == reason


def test_device_ids_are_told_apart_by_shape_and_case():
    assert classify_device("ff1999cd71774937a47474937a102630") == ("oaid", "ff1999cd71774937a47474937a102630")
    assert classify_device(" 868049039501257 ")[0] == "imei"
    assert classify_device("0123456789abcdef")[0] == "oaid"  # a 16-hex vendor OAID


PLATFORM_CHANNELS = {
    "tx_phone": {"kind": "tencent_ads", "columns": ["hash_mobile_phone"]},
    "tx_idfa": {"kind": "tencent_ads", "columns": ["hash_idfa"], "record_channels": ["app"]},
    "oe_phone": {"kind": "ocean_engine", "columns": ["mobile_sha256"]},
    "oe_imei": {"kind": "ocean_engine", "columns": ["imei_md5"], "record_channels": ["app"]},
}


def platform_settings(**overrides):
    raw = {
        "channels": PLATFORM_CHANNELS,
        "segments": {"everyone": {"priority": 1, "channels": list(PLATFORM_CHANNELS)}},
    }
    raw.update(overrides)
    return settings(**raw)


def test_one_identifier_type_per_file_is_required():
    with pytest.raises(ValueError, match="one identifier type"):
        ExportChannel(kind="tencent_ads")
    with pytest.raises(ValueError, match="one identifier type"):
        ExportChannel(kind="ocean_engine", columns=("mobile_sha256", "imei_md5"))
    with pytest.raises(ConfigError, match=r"exports\.channels\.tx"):
        settings(channels={"tx": {"kind": "tencent_ads", "columns": ["hash_email"]}}, segments={})


def _people():
    frame = records(
        # A: mainland phone and an iPhone.
        {
            "channel": "app",
            "record_id": "a",
            "phone": "13800138000",
            "device_id": "FF1999CD-7177-4937-A474-74937A102630",
            "consent_sms": True,
            "consent_push": True,
        },
        # B: a Hong Kong phone, an Android IMEI.
        {
            "channel": "app",
            "record_id": "b",
            "phone": "+852 9123 4567",
            "device_id": "868049039501257",
            "consent_sms": True,
            "consent_push": True,
        },
        # C: consents to SMS and push but has neither a phone nor a device.
        {"channel": "app", "record_id": "c", "consent_sms": True, "consent_push": True},
        # D: a zeroed device and a newer record with a foreign phone, an older one with a mainland phone.
        {
            "channel": "app",
            "record_id": "d",
            "device_id": "00000000-0000-0000-0000-000000000000",
            "phone": "+14155550100",
            "consent_sms": True,
            "consent_push": True,
            "updated_at": "2024-03-01",
        },
        {
            "channel": "pos",
            "record_id": "d",
            "phone": "13912345678",
            "consent_sms": True,
            "updated_at": "2024-01-01",
        },
        # E: refuses SMS: not reachable, and not an invalid row either.
        {"channel": "app", "record_id": "e", "phone": "13700000000", "consent_sms": False},
    )
    ids = identity(
        ("app", "a", "A"),
        ("app", "b", "B"),
        ("app", "c", "C"),
        ("app", "d", "D"),
        ("pos", "d", "D"),
        ("app", "e", "E"),
    )
    return frame, ids


def test_platform_files_hold_only_valid_hashes_and_invalid_rows_are_counted_by_reason():
    frame, ids = _people()
    result = build_exports(
        tiers("A", "B", "C", "D", "E"), frame, ids, Suppression.empty(), platform_settings()
    )
    tx_phone = sent(result, "tx_phone")
    assert list(tx_phone.columns) == ["hash_mobile_phone"]
    # D's newest phone is foreign; the older consenting mainland one is sent.
    assert set(tx_phone["hash_mobile_phone"]) == {
        "7945bd83237335e5376ff44d62e4f0ae",
        "535381ec9d5ab7a390db0a30860600f2",
    }
    assert result.invalid[("tx_phone", "everyone")] == {"missing_identifier": 1, "phone_not_mainland": 1}
    assert set(sent(result, "oe_phone")["mobile_sha256"]) == {
        "a6942f9771d67f34034d2f1926988ed3fad3bf1b4e7cedb9a31f31398dea43bc",
        "ba6c167e885ea4be8252fb01c61fc55439089f389ee1b0592fc8c4f417196403",
    }
    assert set(sent(result, "tx_idfa")["hash_idfa"]) == {"2c010ed96aef2fc34983e1e7e9176b7e"}
    assert result.invalid[("tx_idfa", "everyone")] == {
        "missing_identifier": 1,
        "device_id_zeroed": 1,
        "other_device_type": 1,
    }
    assert set(sent(result, "oe_imei")["imei_md5"]) == {"8d3ebd3654fb46a2832296669cf1b536"}
    figures = result.figures["channels"]["tx_phone"]
    assert figures["segments"]["everyone"]["members"] == 2
    assert figures["segments"]["everyone"]["invalid"] == {"missing_identifier": 1, "phone_not_mainland": 1}
    # Invalid rows are in no file of the segment and not among the treated of the lift.
    for (channel, _), roles in result.segments.items():
        for table in roles.values():
            assert table.notna().all().all(), channel
    treated = result.assignments[result.assignments["channel"] == "tx_phone"]
    assert set(treated["oneid"]) == {"A", "D"}


def test_upload_archives_split_under_the_limit_and_are_byte_identical():
    values = pd.Series([f"{n:032x}" for n in range(200)], dtype="string")
    archives = upload_archives(values, "members", limit=2048)
    assert len(archives) > 1
    lines = []
    for data, rows in archives:
        assert len(data) <= 2048
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            (name,) = archive.namelist()
            text = archive.read(name).decode()
        assert not text.startswith("hash") and text.endswith("\n")
        assert text.count("\n") == rows
        lines += text.splitlines()
    assert lines == list(values)
    assert upload_archives(values, "members", limit=2048) == archives


def test_publish_files_include_upload_archives_for_platform_channels():
    frame, ids = _people()
    options = platform_settings(
        channels={
            **PLATFORM_CHANNELS,
            "tx_phone": {**PLATFORM_CHANNELS["tx_phone"], "max_upload_bytes": 1050},
        }
    )
    result = build_exports(tiers("A", "B", "C", "D", "E"), frame, ids, Suppression.empty(), options)
    no_orders = pd.DataFrame({"oneid": [], "converted": [], "spend": []})
    lift = lift_table(result.assignments.iloc[0:0], no_orders)
    files = export_files(result, options, lift, {})
    uploads = {file.path: file for file in files if file.role.startswith("upload_")}
    assert "channel=tx_phone/segment=everyone/upload/members-001.zip" in uploads
    assert "channel=tx_phone/segment=everyone/upload/members-002.zip" in uploads  # 33 B a line, 26 B room
    assert "channel=oe_phone/segment=everyone/upload/added-001.zip" in uploads
    assert not any("/upload/holdout" in path for path in uploads)
    total = sum(file.rows for path, file in uploads.items() if "tx_phone" in path and "/members-" in path)
    assert total == 2


# -- wecom ------------------------------------------------------------------------------------

WECOM = {"guides": {"kind": "wecom", "record_channels": ["guide"]}}


def test_wecom_lists_each_customer_under_their_guide_by_external_id_else_phone():
    frame = records(
        # A added guide G1 on WeCom: reached by external id, no phone in the row.
        {
            "channel": "guide",
            "record_id": "a",
            "guide_id": "G1",
            "external_userid": "wmA",
            "phone": "13800000001",
        },
        {"channel": "app", "record_id": "a", "phone": "13800000001", "consent_sms": True},
        # B has guide G2 but has not added them: the consenting phone is given to add.
        {"channel": "guide", "record_id": "b", "guide_id": "G2", "phone": "13800000002"},
        {"channel": "app", "record_id": "b", "phone": "13800000002", "consent_sms": True},
        # C has a guide but no external id and no consenting phone.
        {"channel": "guide", "record_id": "c", "guide_id": "G1", "phone": "13800000003"},
        # D has no guide at all.
        {"channel": "app", "record_id": "d", "phone": "13800000004", "consent_sms": True},
        # E added G2 but refuses SMS anywhere: a refusal wins.
        {"channel": "guide", "record_id": "e", "guide_id": "G2", "external_userid": "wmE"},
        {"channel": "app", "record_id": "e", "consent_sms": False},
    )
    ids = identity(*[(ch, r, r.upper()) for ch in ("guide", "app") for r in "abcde"])
    options = settings(channels=WECOM, segments={"everyone": {"priority": 1, "channels": ["guides"]}})
    result = build_exports(tiers(*"ABCDE"), frame, ids, Suppression.empty(), options)
    rows = sent(result, "guides").astype(object).where(lambda f: f.notna(), None)
    assert list(rows.columns) == ["guide_id", "external_userid", "phone"]
    assert [tuple(row) for row in rows.itertuples(index=False)] == [
        ("G1", "wmA", None),
        ("G2", None, "+8613800000002"),
    ]
    assert result.invalid[("guides", "everyone")] == {"missing_identifier": 1, "no_guide": 1}
    tasks = export_files(result, options, lift_table(result.assignments.iloc[0:0], _no_orders()), {})
    (task_file,) = [file for file in tasks if file.role == "tasks"]
    assert json.loads(task_file.data) == [
        {"sender": "G1", "chat_type": "single", "external_userid": ["wmA"], "phones_to_add": []},
        {"sender": "G2", "chat_type": "single", "external_userid": [], "phones_to_add": ["+8613800000002"]},
    ]


def test_wecom_sends_a_customer_one_group_message_a_day_however_many_segments_they_are_in():
    frame = records(
        {"channel": "guide", "record_id": "a", "guide_id": "G1", "external_userid": "wmA"},
        {"channel": "app", "record_id": "a", "consent_sms": True, "phone": "13800000001"},
    )
    ids = identity(("guide", "a", "A"), ("app", "a", "A"))
    options = settings(
        channels={"guides": {"kind": "wecom", "max_segments_per_member": 3}, "sms": {"kind": "sms"}},
        max_segments_per_member=3,
        segments={
            "vip": {"priority": 1, "channels": ["guides", "sms"]},
            "churn": {"priority": 2, "channels": ["guides", "sms"]},
        },
    )
    result = build_exports(tiers("A", vip=("A",)), frame, ids, Suppression.empty(), options)
    assert len(sent(result, "guides", "vip")) == 1
    assert len(sent(result, "guides", "churn")) == 0  # the day's one message went to the higher priority
    assert len(sent(result, "sms", "churn")) == 1  # other channels keep their own cap


def _no_orders() -> pd.DataFrame:
    return pd.DataFrame({"oneid": [], "converted": [], "spend": []})
