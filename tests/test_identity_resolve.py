"""resolve_identities on hand-made records: linking, over-merge guards, stable OneIDs, the log, the CLI."""

from __future__ import annotations

import argparse
import json

import pandas as pd
import pytest

from tierlib.errors import ConfigError, ValidationFailed
from tierlib.identity import (
    IDENTITY_MAP_COLUMNS,
    MERGE_LOG_COLUMNS,
    REGISTRY_COLUMNS,
    IdentitySettings,
    resolve_identities,
)
from tierlib.schemas import RECORD_COLUMNS


def records(*rows: dict) -> pd.DataFrame:
    """Standardized records from short dicts; ``updated_at`` defaults to mid January 2026."""
    frame = pd.DataFrame([{"updated_at": "2026-01-15", **row} for row in rows])
    for column in RECORD_COLUMNS:
        if column not in frame.columns:
            frame[column] = None
    frame["updated_at"] = pd.to_datetime(frame["updated_at"])
    return frame[list(RECORD_COLUMNS)].astype(RECORD_COLUMNS)


def oneid_of(result, channel: str, record_id: str) -> str:
    table = result.identity_map
    return table.loc[(table["channel"] == channel) & (table["record_id"] == record_id), "oneid"].item()


def same_person(result, *keys: tuple[str, str]) -> bool:
    return len({oneid_of(result, *key) for key in keys}) == 1


def resolve(
    frame: pd.DataFrame, period: str = "2026-01", settings: IdentitySettings | None = None, previous=None
):
    previous_map, previous_registry = (previous.identity_map, previous.registry) if previous else (None, None)
    return resolve_identities(frame, settings or IdentitySettings(), period, previous_map, previous_registry)


PERSON_A = [
    {"channel": "app", "record_id": "100000001", "phone": "+86 138 1234 5678", "device_id": "D-AAAA-0001"},
    {
        "channel": "pos",
        "record_id": "V000000001",
        "member_id": "V000000001",
        "phone": "１３８１２３４５６７８",
    },
    {
        "channel": "member_center",
        "record_id": "MC1",
        "phone": "0086-138-1234-5678",
        "email": "Li.Wei@Example.com",
        "unionid": "oU7dUNION1",
    },
    {"channel": "wechat", "record_id": "oX3qOPEN1", "openid": "oX3qOPEN1", "unionid": "oU7dUNION1"},
    {
        "channel": "ecommerce",
        "record_id": "2000000001",
        "platform_user_id": "2000000001",
        "email": " li.wei@example.COM",
    },
]
PERSON_B = [
    {"channel": "app", "record_id": "100000002", "phone": "13912345678", "device_id": "D-AAAA-0001"},
    {"channel": "guide", "record_id": "c_b", "phone": "139-1234-5678"},
]


def test_records_of_one_person_across_channels_get_one_oneid_and_others_another():
    result = resolve(records(*PERSON_A, *PERSON_B))
    a_keys = [(row["channel"], row["record_id"]) for row in PERSON_A]
    assert same_person(result, *a_keys)
    assert same_person(result, ("app", "100000002"), ("guide", "c_b"))
    assert not same_person(result, a_keys[0], ("app", "100000002"))
    assert list(result.identity_map.columns) == list(IDENTITY_MAP_COLUMNS)
    assert result.figures["oneids"] == 2
    assert result.figures["record_nodes"] == 7


def test_weak_device_id_alone_never_merges_but_is_reported():
    result = resolve(records(*PERSON_A, *PERSON_B))
    # Both app records carry the household tablet's id; the phones say they are two people.
    assert result.figures["weak_values_shared_across_oneids"] == 1
    assert not (result.merge_log["identifier_type"] == "device_id").any()


def test_weak_id_links_only_when_the_required_columns_agree():
    frame = records(
        {"channel": "app", "record_id": "1", "device_id": "D-SHARED-01", "name": "王芳"},
        {"channel": "app", "record_id": "2", "device_id": "d-shared-01 ", "name": " 王芳"},
        {"channel": "app", "record_id": "3", "device_id": "D-SHARED-01", "name": "李娜"},
    )
    assert resolve(frame).figures["oneids"] == 3
    settings = IdentitySettings(weak_link_requires=("name",))
    result = resolve(frame, settings=settings)
    assert same_person(result, ("app", "1"), ("app", "2"))
    assert not same_person(result, ("app", "1"), ("app", "3"))


def test_every_version_of_a_record_links_with_every_phone_it_held():
    frame = records(
        {"channel": "member_center", "record_id": "MC9", "phone": "13700000001", "updated_at": "2025-11-02"},
        {"channel": "member_center", "record_id": "MC9", "phone": "13711112222", "updated_at": "2026-01-03"},
        {"channel": "pos", "record_id": "V9", "phone": "13700000001"},
        {"channel": "app", "record_id": "9", "phone": "+86 137 1111 2222"},
    )
    result = resolve(frame)
    assert result.figures["oneids"] == 1
    assert result.figures["record_nodes"] == 3
    assert len(result.identity_map) == 3


def test_channel_scoped_ids_link_only_inside_their_channel():
    frame = records(
        {"channel": "pos", "record_id": "V1", "member_id": "123456"},
        {"channel": "member_center", "record_id": "MC1", "member_id": "123456"},
        {"channel": "wechat", "record_id": "w1", "openid": "oSAME"},
        {"channel": "wechat_shop", "record_id": "w2", "openid": "oSAME"},
        {"channel": "pos", "record_id": "V2", "member_id": "123456"},
    )
    result = resolve(frame)
    assert not same_person(result, ("pos", "V1"), ("member_center", "MC1"))
    assert not same_person(result, ("wechat", "w1"), ("wechat_shop", "w2"))
    assert same_person(result, ("pos", "V1"), ("pos", "V2"))


def test_placeholders_and_junk_never_link_and_are_counted():
    frame = records(
        {"channel": "pos", "record_id": "V1", "phone": "13800000000"},
        {"channel": "pos", "record_id": "V2", "phone": "138 0000 0000"},
        {"channel": "pos", "record_id": "V3", "phone": "13966666666"},
        {"channel": "pos", "record_id": "V4", "phone": "13966666666"},
        {"channel": "app", "record_id": "1", "email": "TEST@test.com"},
        {"channel": "ecommerce", "record_id": "e1", "email": "test@test.com", "platform_user_id": "null"},
        {"channel": "ecommerce", "record_id": "e2", "platform_user_id": "NULL"},
    )
    result = resolve(frame)
    assert result.figures["oneids"] == 7
    assert result.figures["blocked_phone"] == 4
    assert result.figures["blocked_email"] == 2
    assert result.figures["blocked_platform_user_id"] == 2
    allowed = resolve(frame, settings=IdentitySettings(blocklist={}, block_repeated_phone_digits=False))
    assert allowed.figures["oneids"] == 4


def test_invalid_values_are_counted_and_dropped_without_crashing():
    frame = records(
        {"channel": "pos", "record_id": "V1", "phone": "138****5678", "email": "nobody"},
        {"channel": "pos", "record_id": "V2", "phone": "138****5678", "email": "nobody"},
        {"channel": "app", "record_id": "1", "phone": "☎️", "device_id": "x"},
        {"channel": None, "record_id": "orphan", "phone": "13812345678"},
        {"channel": "app", "record_id": None, "phone": "13812345678"},
    )
    result = resolve(frame)
    assert result.figures["invalid_phone"] == 3
    assert result.figures["invalid_email"] == 2
    assert result.figures["invalid_device_id"] == 1
    assert result.figures["records_without_key"] == 2
    assert result.figures["oneids"] == 3


def test_missing_columns_are_reported_all_at_once():
    frame = records(*PERSON_B).drop(columns=["email", "unionid"])
    with pytest.raises(ValidationFailed, match=r"'unionid', 'email'.*identity.link_types"):
        resolve(frame)


def test_a_value_shared_by_too_many_records_is_a_hub_and_links_nothing():
    store_phone = "13512340000"
    frame = records(
        *[
            {"channel": "pos", "record_id": f"V{i}", "phone": store_phone, "email": f"p{i}@mail.cn"}
            for i in range(5)
        ],
        *[{"channel": "app", "record_id": f"A{i}", "email": f"p{i}@mail.cn"} for i in range(5)],
    )
    # No cap on e-mails here: the hub bound alone must keep the five people apart.
    result = resolve(frame, settings=IdentitySettings(hub_max_records_per_channel=4, max_values_per_oneid={}))
    assert result.figures["oneids"] == 5
    assert result.figures["hub_values_phone"] == 1
    hub = result.hub_values.iloc[0]
    assert (hub["identifier_type"], hub["records"], hub["max_records_per_channel"]) == ("phone", 5, 5)
    assert store_phone not in hub["value_hash"]
    assert (result.merge_log["event"] == "hub").sum() == 1
    # Under the bound the same phone links all ten records.
    relaxed = IdentitySettings(hub_max_records_per_channel=5, max_values_per_oneid={})
    assert resolve(frame, settings=relaxed).figures["oneids"] == 1


def test_total_hub_bound_counts_records_across_channels():
    channels = ["app", "pos", "guide", "wechat", "ecommerce", "member_center"]
    frame = records(
        *[{"channel": c, "record_id": f"{c}{i}", "phone": "13611112222"} for c in channels for i in (1, 2)]
    )
    assert resolve(frame, settings=IdentitySettings(hub_max_records=12)).figures["oneids"] == 1
    assert resolve(frame, settings=IdentitySettings(hub_max_records=11)).figures["oneids"] == 12


def test_cluster_over_the_phone_cap_is_split_along_its_weakest_links():
    family_email = "family@mail.cn"
    frame = records(
        {"channel": "member_center", "record_id": "M1", "phone": "13700000011", "email": family_email},
        {"channel": "app", "record_id": "1", "phone": "13700000011"},
        {"channel": "member_center", "record_id": "M2", "phone": "13700000022", "email": family_email},
        {"channel": "member_center", "record_id": "M3", "phone": "13700000033", "email": family_email},
        {"channel": "member_center", "record_id": "M4", "phone": "13700000044", "email": family_email},
    )
    result = resolve(frame)
    # Email is weaker than phone: its links go, the phone link of M1 and app 1 stays.
    assert result.figures["oneids"] == 4
    assert result.figures["cap_splits"] == 1
    assert same_person(result, ("member_center", "M1"), ("app", "1"))
    log = result.merge_log
    assert (log["event"] == "cut").sum() == 3
    assert set(log.loc[log["event"] == "cut", "identifier_type"]) == {"email"}
    splits = log[log["event"] == "cap_split"]
    assert len(splits) == 4
    assert splits["detail"].str.contains("4 distinct phone values over the cap of 3: cut email").all()
    # Within the cap nothing is split.
    relaxed = resolve(frame, settings=IdentitySettings(max_values_per_oneid={"phone": 4}))
    assert relaxed.figures["oneids"] == 1 and relaxed.figures["cap_splits"] == 0


def test_merge_log_names_values_only_by_keyed_hash():
    frame = records(*PERSON_A, *PERSON_B)
    first = resolve_identities(frame, IdentitySettings(), "2026-01", hash_key=b"secret-one")
    again = resolve_identities(frame, IdentitySettings(), "2026-01", hash_key=b"secret-one")
    other = resolve_identities(frame, IdentitySettings(), "2026-01", hash_key=b"secret-two")
    log = first.merge_log
    assert list(log.columns) == list(MERGE_LOG_COLUMNS)
    text = log.astype(str).to_string()
    for secret in ("13812345678", "li.wei", "oU7dUNION1", "13912345678"):
        assert secret not in text
    links = log[log["event"] == "link"]
    assert set(links["identifier_type"]) == {"phone", "email", "unionid"}
    assert links["value_hash"].str.fullmatch("[0-9a-f]{16}").all()
    assert links["value_hash"].tolist() == again.merge_log.loc[links.index, "value_hash"].tolist()
    assert not set(links["value_hash"]) & set(other.merge_log["value_hash"].dropna())


def test_link_rows_can_be_left_out_of_the_log():
    result = resolve(records(*PERSON_A), settings=IdentitySettings(log_links=False))
    assert result.figures["link_edges"] > 0
    assert not (result.merge_log["event"] == "link").any()


def test_row_order_does_not_change_any_output():
    frame = records(*PERSON_A, *PERSON_B, {"channel": "pos", "record_id": "V7", "phone": "13512345678"})
    first = resolve(frame)
    shuffled = resolve(frame.sample(frac=1, random_state=3))
    pd.testing.assert_frame_equal(first.identity_map, shuffled.identity_map)
    pd.testing.assert_frame_equal(first.registry, shuffled.registry)
    pd.testing.assert_frame_equal(first.merge_log, shuffled.merge_log)
    assert first.figures == shuffled.figures


def test_input_is_not_modified():
    frame = records(*PERSON_A)
    before = frame.copy()
    resolve(frame)
    pd.testing.assert_frame_equal(frame, before)


def test_empty_records_give_empty_outputs():
    result = resolve(records(*PERSON_B).iloc[0:0])
    assert result.identity_map.empty and result.registry.empty
    assert result.figures["oneids"] == 0


# --- stable OneIDs across months ---------------------------------------------------------


def test_oneids_are_opaque_sequential_and_registered():
    result = resolve(records(*PERSON_A, *PERSON_B))
    assert sorted(result.identity_map["oneid"].unique()) == ["P0000000001", "P0000000002"]
    registry = result.registry
    assert list(registry.columns) == list(REGISTRY_COLUMNS)
    assert registry["status"].tolist() == ["active", "active"]
    assert registry["first_seen"].tolist() == ["2026-01", "2026-01"]


def test_a_person_keeps_the_oneid_while_any_record_stays():
    january = resolve(records(*PERSON_A, *PERSON_B))
    person_a = oneid_of(january, "app", "100000001")
    # February: the app record is gone, a new e-commerce record appears with A's e-mail.
    february_records = records(
        *PERSON_A[1:],
        *PERSON_B,
        {"channel": "ecommerce", "record_id": "2000000099", "email": "li.wei@example.com"},
    )
    february = resolve(february_records, "2026-02", previous=january)
    assert oneid_of(february, "pos", "V000000001") == person_a
    assert oneid_of(february, "ecommerce", "2000000099") == person_a
    assert oneid_of(february, "app", "100000002") == oneid_of(january, "app", "100000002")
    assert february.figures["new_oneids"] == 0 and february.figures["kept_oneids"] == 2
    row = february.registry.set_index("oneid").loc[person_a]
    assert (row["first_seen"], row["last_seen"], row["status"]) == ("2026-01", "2026-02", "active")


def test_two_oneids_found_to_be_one_person_keep_the_older():
    january = resolve(records(*PERSON_B))
    early = oneid_of(january, "app", "100000002")
    february = resolve(
        records(*PERSON_B, {"channel": "pos", "record_id": "V5", "phone": "13500000005"}),
        "2026-02",
        previous=january,
    )
    late = oneid_of(february, "pos", "V5")
    assert late != early
    # March: a new version of the guide record adds the POS phone: one person after all.
    march_records = records(
        *PERSON_B,
        {"channel": "pos", "record_id": "V5", "phone": "13500000005"},
        {"channel": "guide", "record_id": "c_b", "phone": "13500000005", "updated_at": "2026-03-02"},
    )
    march = resolve(march_records, "2026-03", previous=february)
    assert set(march.identity_map["oneid"]) == {early}
    registry = march.registry.set_index("oneid")
    assert registry.loc[late, "status"] == "merged" and registry.loc[late, "merged_into"] == early
    merges = march.merge_log[march.merge_log["event"] == "merge"]
    assert merges[["oneid", "other_oneid"]].values.tolist() == [[early, late]]
    assert march.figures["merged_oneids"] == 1


def test_older_means_first_seen_before_smaller_id():
    january = resolve(records({"channel": "pos", "record_id": "V1", "phone": "13500000001"}))
    previous_registry = pd.DataFrame(
        {
            "oneid": ["P0000000001", "P0000000002"],
            "first_seen": ["2026-01", "2025-06"],
            "last_seen": ["2026-01", "2026-01"],
            "status": ["active", "active"],
            "merged_into": [None, None],
        }
    ).astype(REGISTRY_COLUMNS)
    previous_map = pd.concat(
        [
            january.identity_map,
            pd.DataFrame({"channel": ["app"], "record_id": ["1"], "oneid": ["P0000000002"]}),
        ]
    ).astype(IDENTITY_MAP_COLUMNS)
    joined = records(
        {"channel": "pos", "record_id": "V1", "phone": "13500000001"},
        {"channel": "app", "record_id": "1", "phone": "13500000001"},
    )
    february = resolve_identities(joined, IdentitySettings(), "2026-02", previous_map, previous_registry)
    assert set(february.identity_map["oneid"]) == {"P0000000002"}


def test_split_cluster_larger_part_keeps_the_oneid():
    other_phone = "13622223333"
    january_records = records(
        {"channel": "pos", "record_id": "V1", "phone": "13611110001", "email": "x@mail.cn"},
        {"channel": "app", "record_id": "1", "phone": "13611110001"},
        {"channel": "guide", "record_id": "g1", "phone": "13611110001"},
        {"channel": "pos", "record_id": "V2", "phone": other_phone, "email": "x@mail.cn"},
    )
    january = resolve(january_records)
    assert january.figures["oneids"] == 1
    kept = oneid_of(january, "pos", "V1")
    # February: the source corrected V1's and V2's records; the e-mail that joined them is gone.
    february_records = records(
        {"channel": "pos", "record_id": "V1", "phone": "13611110001"},
        {"channel": "app", "record_id": "1", "phone": "13611110001"},
        {"channel": "guide", "record_id": "g1", "phone": "13611110001"},
        {"channel": "pos", "record_id": "V2", "phone": other_phone},
    )
    february = resolve(february_records, "2026-02", previous=january)
    assert oneid_of(february, "app", "1") == kept
    newcomer = oneid_of(february, "pos", "V2")
    assert newcomer != kept and newcomer == "P0000000002"
    split = february.merge_log[february.merge_log["event"] == "split"]
    assert split[["oneid", "other_oneid"]].values.tolist() == [[kept, newcomer]]
    assert february.figures["split_oneids"] == 1


def test_oneids_whose_records_are_gone_retire_and_numbers_are_never_reused():
    january = resolve(records(*PERSON_A, *PERSON_B))
    person_b = oneid_of(january, "app", "100000002")
    february = resolve(
        records(*PERSON_A, {"channel": "app", "record_id": "3", "phone": "13300000003"}),
        "2026-02",
        previous=january,
    )
    registry = february.registry.set_index("oneid")
    assert registry.loc[person_b, "status"] == "retired"
    assert registry.loc[person_b, "last_seen"] == "2026-01"
    assert oneid_of(february, "app", "3") == "P0000000003"
    assert (february.merge_log["event"] == "retire").sum() == 1


def test_merge_chains_are_flattened_to_the_surviving_oneid():
    def person(record_id, phone, **extra):
        return {"channel": "pos", "record_id": record_id, "phone": phone, **extra}

    january = resolve(
        records(person("R1", "13300000001"), person("R2", "13300000002"), person("R3", "13300000003"))
    )
    z, y, x = (oneid_of(january, "pos", key) for key in ("R1", "R2", "R3"))
    assert z < y < x
    february = resolve(
        records(
            person("R1", "13300000001"),
            person("R2", "13300000002", email="yx@mail.cn"),
            person("R3", "13300000003", email="yx@mail.cn"),
        ),
        "2026-02",
        previous=january,
    )
    assert oneid_of(february, "pos", "R3") == y
    assert february.registry.set_index("oneid").loc[x, "merged_into"] == y
    march = resolve(
        records(
            person("R1", "13300000001", email="zy@mail.cn"),
            person("R2", "13300000002", email="yx@mail.cn"),
            person("R3", "13300000003", email="yx@mail.cn"),
            person("R2", "13300000002", email="zy@mail.cn", updated_at="2026-03-01"),
        ),
        "2026-03",
        previous=february,
    )
    registry = march.registry.set_index("oneid")
    assert set(march.identity_map["oneid"]) == {z}
    assert registry.loc[y, "merged_into"] == z
    assert registry.loc[x, "merged_into"] == z


def test_rerunning_a_month_gives_identical_outputs():
    january = resolve(records(*PERSON_A, *PERSON_B))
    frame = records(*PERSON_A, *PERSON_B, {"channel": "app", "record_id": "3", "phone": "13300000003"})
    first = resolve(frame, "2026-02", previous=january)
    second = resolve(frame, "2026-02", previous=january)
    for name in ("identity_map", "registry", "merge_log", "hub_values"):
        pd.testing.assert_frame_equal(getattr(first, name), getattr(second, name))


def test_previous_map_without_registry_is_refused():
    january = resolve(records(*PERSON_B))
    with pytest.raises(ValidationFailed, match="previous identity map without the previous registry"):
        resolve_identities(records(*PERSON_B), IdentitySettings(), "2026-02", january.identity_map, None)


def test_previous_map_naming_unknown_oneids_is_refused():
    january = resolve(records(*PERSON_B))
    stray = january.identity_map.assign(oneid="P0000000099")
    with pytest.raises(ValidationFailed, match=r"1 OneIDs the registry does not know.*P0000000099"):
        resolve_identities(
            records(*PERSON_B), IdentitySettings(), "2026-02", stray.iloc[:1], january.registry
        )


def test_bad_period_is_refused():
    with pytest.raises(Exception, match="YYYY-MM"):
        resolve(records(*PERSON_B), "January")


# --- settings ----------------------------------------------------------------------------


def test_settings_from_yaml_mapping_round_trip():
    settings = IdentitySettings.from_dict(
        {
            "link_types": ["phone", "email"],
            "max_values_per_oneid": {"phone": 2},
            "blocklist": {"phone": ["13512345678"]},
            "hub_max_records": 50,
        }
    )
    assert settings.link_types == ("phone", "email")
    assert settings.blocklist == {"phone": ("13512345678",)}
    assert IdentitySettings.from_dict(settings.to_dict()) == settings
    assert IdentitySettings.from_dict(None) == IdentitySettings()


def test_settings_errors_name_the_key_and_what_is_allowed():
    with pytest.raises(ConfigError) as caught:
        IdentitySettings.from_dict({"link_typez": ["phone"], "hub_max_records": "many"})
    message = str(caught.value)
    assert "identity.link_typez: unknown key; allowed keys are" in message
    assert "hub_max_records" in message and "expected a whole number" in message
    with pytest.raises(ConfigError, match=r"link_types: 'fax' is not an identifier type; use one of unionid"):
        IdentitySettings.from_dict({"link_types": ["phone", "fax"]})
    with pytest.raises(ConfigError, match="default_region 'ZZ' is not supported; use one of CN"):
        IdentitySettings.from_dict({"default_region": "ZZ"})
    with pytest.raises(ConfigError, match="'device_id' is in both link_types and weak_types"):
        IdentitySettings.from_dict({"link_types": ["phone", "device_id"]})
    with pytest.raises(ConfigError, match=r"max_values_per_oneid: 'device_id' is not one of the link_types"):
        IdentitySettings.from_dict({"max_values_per_oneid": {"device_id": 2}})


# --- CLI ---------------------------------------------------------------------------------


def run_cli(*argv: str) -> int:
    from tierlib.identity import cli

    parser = argparse.ArgumentParser()
    cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["oneid", *argv])
    return args.func(args)


def test_cli_writes_outputs_and_continues_from_a_registry(tmp_path, capsys):
    january_file = tmp_path / "january.parquet"
    records(*PERSON_A, *PERSON_B).to_parquet(january_file)
    assert run_cli("--records", str(january_file), "--out", str(tmp_path / "jan")) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["period"] == "2026-01" and figures["oneids"] == 2
    january_map = pd.read_parquet(tmp_path / "jan" / "identity_map.parquet")
    assert {p.name for p in (tmp_path / "jan").iterdir()} == {
        "identity_map.parquet",
        "registry.parquet",
        "merge_log.parquet",
        "hub_values.parquet",
    }

    february_file = tmp_path / "february.csv"
    february = records(*PERSON_A[1:], *PERSON_B, {"channel": "app", "record_id": "3", "phone": "13300000003"})
    february.assign(updated_at=pd.Timestamp("2026-02-03")).to_csv(february_file, index=False)
    registry = str(tmp_path / "jan" / "registry.parquet")
    assert (
        run_cli("--records", str(february_file), "--out", str(tmp_path / "feb"), "--registry", registry) == 0
    )
    figures = json.loads(capsys.readouterr().out)
    assert figures["period"] == "2026-02" and figures["kept_oneids"] == 2 and figures["new_oneids"] == 1
    february_map = pd.read_parquet(tmp_path / "feb" / "identity_map.parquet")
    both = january_map.merge(february_map, on=["channel", "record_id"], suffixes=("_jan", "_feb"))
    assert len(both) == 6 and (both["oneid_jan"] == both["oneid_feb"]).all()


def test_cli_registry_without_its_map_is_a_clear_error(tmp_path):
    from tierlib.errors import StorageError

    records_file = tmp_path / "records.parquet"
    records(*PERSON_B).to_parquet(records_file)
    run_cli("--records", str(records_file), "--out", str(tmp_path / "jan"))
    alone = tmp_path / "elsewhere"
    alone.mkdir()
    (tmp_path / "jan" / "registry.parquet").rename(alone / "registry.parquet")
    with pytest.raises(StorageError, match="--previous-map"):
        run_cli(
            "--records",
            str(records_file),
            "--out",
            str(tmp_path / "x"),
            "--registry",
            str(alone / "registry.parquet"),
        )


def test_previous_map_listing_a_record_twice_is_refused():
    january = resolve(records(*PERSON_B))
    doubled = pd.concat([january.identity_map, january.identity_map.iloc[:1]], ignore_index=True)
    with pytest.raises(ValidationFailed, match="lists record app/100000002 twice"):
        resolve_identities(records(*PERSON_B), IdentitySettings(), "2026-02", doubled, january.registry)


def test_cli_takes_the_identity_section_of_a_config(tmp_path, capsys):
    from pathlib import Path

    config = tmp_path / "tierflow.yaml"
    project_config = Path(__file__).resolve().parent.parent / "config" / "tierflow.yaml"
    config.write_text(project_config.read_text() + "\nidentity:\n  hub_max_records_per_channel: 2\n")
    records_file = tmp_path / "records.parquet"
    shared = "13511112222"
    records(*[{"channel": "pos", "record_id": f"V{i}", "phone": shared} for i in range(3)]).to_parquet(
        records_file
    )
    run_cli("--records", str(records_file), "--out", str(tmp_path / "default"))
    assert json.loads(capsys.readouterr().out)["oneids"] == 1
    run_cli("--records", str(records_file), "--out", str(tmp_path / "strict"), "--config", str(config))
    figures = json.loads(capsys.readouterr().out)
    assert (figures["oneids"], figures["hub_values_phone"]) == (3, 1)


def test_a_single_record_over_a_cap_is_left_whole_and_counted():
    versions = [
        {
            "channel": "member_center",
            "record_id": "MC7",
            "phone": f"1370000000{i}",
            "updated_at": f"2026-01-0{i}",
        }
        for i in range(1, 5)
    ]
    result = resolve(records(*versions, {"channel": "app", "record_id": "8", "phone": "13700000008"}))
    assert result.figures["oneids"] == 2
    assert (result.figures["cap_splits"], result.figures["over_cap_unsplittable"]) == (0, 1)
    assert not (result.merge_log["event"] == "cap_split").any()


def test_cli_period_defaults_to_the_latest_month_not_in_the_future(tmp_path, capsys):
    records_file = tmp_path / "records.parquet"
    typo = {"channel": "pos", "record_id": "V9", "phone": "13512345678", "updated_at": "2049-05-01"}
    records(*PERSON_B, typo).to_parquet(records_file)
    run_cli("--records", str(records_file), "--out", str(tmp_path / "out"))
    assert json.loads(capsys.readouterr().out)["period"] == "2026-01"


def test_value_hash_is_keyed_blake2b_of_type_and_normalized_value():
    import hashlib

    result = resolve_identities(records(*PERSON_B), IdentitySettings(), "2026-01", hash_key=b"k3y")
    expected = hashlib.blake2b(b"phone:+8613912345678", key=b"k3y", digest_size=8).hexdigest()
    assert result.merge_log.loc[result.merge_log["event"] == "link", "value_hash"].tolist() == [expected]
