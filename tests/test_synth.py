"""The synthetic data generator: layout, dialects, noise, bad rows and ground truth.

One small dataset is generated once per module and read back from the files the
way a connector would, so these tests check what is on disk, not internals.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import datetime as dt
import io
import json
import os
from collections import defaultdict
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tierlib.errors import ConfigError, StorageError
from tierlib.synth import BAD_ROW_REASONS, SynthSettings, generate, normalize_email, normalize_phone
from tierlib.synth import cli as synth_cli
from tierlib.synth._formats import Column, SourceTable, write_source_table

MONTHS = 6
START = "2024-01"
PERIODS = [f"2024-{m:02d}" for m in range(1, MONTHS + 1)]
SPAN_END = dt.datetime(2024, 7, 1)
PLACEHOLDER_PHONE = "13800000000"
PLACEHOLDER_EMAILS = {"test@test.com", "none@none.com"}
CST = dt.timezone(dt.timedelta(hours=8))

SOURCE_COLUMNS = {
    ("app", "members"): "user_id mobile email device_id nickname birthday city"
    " created_time modified_time allow_push allow_sms",
    ("app", "orders"): "order_no user_id channel_code pay_time pay_amount discount_amount refund_amount"
    " category store_code",
    ("app", "events"): "user_id action event_time",
    ("wechat", "members"): "openid unionid phone nick_name city register_time update_time subscribe",
    ("wechat", "orders"): "out_trade_no openid channel_code paid_at total_fee coupon_fee refund_fee"
    " category store_id",
    ("wechat", "events"): "openid event created_at",
    ("ecommerce", "members"): "buyer_id receiver_mobile buyer_email buyer_nick receiver_name city first_seen"
    " modified sms_opt_in email_opt_in",
    (
        "ecommerce",
        "orders",
    ): "tid buyer_id platform pay_time payment discount_fee refund_fee cat_name shop_id",
    ("ecommerce", "events"): "buyer_id behavior time",
    ("pos", "members"): "vip_no phone name store_code guide_code birthday open_date last_modified sms_ok",
    ("pos", "orders"): "receipt_no vip_no sales_channel sale_time sales_amt disc_amt return_amt"
    " category store_code",
    ("member_center", "members"): "member_id phone email unionid name birth_date city register_at updated_at"
    " consent_sms consent_email consent_push",
    ("member_center", "events"): "member_id event_type ts",
    ("guide", "members"): "customer_id guide_id store_id mobile wechat_unionid external_userid name added_at"
    " updated_at",
    ("guide", "events"): "customer_id action time",
}
EXT = {
    "app": "parquet",
    "wechat": "jsonl",
    "ecommerce": "csv",
    "pos": "csv",
    "member_center": "parquet",
    "guide": "jsonl",
}
# The column that places a row in its month, and (orders) amount, channel code and order id columns.
TIME_COLUMN = {
    ("app", "members"): "modified_time",
    ("wechat", "members"): "update_time",
    ("ecommerce", "members"): "modified",
    ("pos", "members"): "last_modified",
    ("member_center", "members"): "updated_at",
    ("guide", "members"): "updated_at",
    ("app", "orders"): "pay_time",
    ("wechat", "orders"): "paid_at",
    ("ecommerce", "orders"): "pay_time",
    ("pos", "orders"): "sale_time",
    ("app", "events"): "event_time",
    ("wechat", "events"): "created_at",
    ("ecommerce", "events"): "time",
    ("member_center", "events"): "ts",
    ("guide", "events"): "time",
}
ORDER_COLUMNS = {  # id, record, code, allowed codes, amount, discount, refund
    "app": ("order_no", "user_id", "channel_code", {"APP"}, "pay_amount", "discount_amount", "refund_amount"),
    "wechat": ("out_trade_no", "openid", "channel_code", {"MINIP"}, "total_fee", "coupon_fee", "refund_fee"),
    "ecommerce": (
        "tid",
        "buyer_id",
        "platform",
        {"TMALL", "JD", "DOUYIN"},
        "payment",
        "discount_fee",
        "refund_fee",
    ),
    "pos": ("receipt_no", "vip_no", "sales_channel", {"POS"}, "sales_amt", "disc_amt", "return_amt"),
}
PHONE_COLUMN = {"app": "mobile", "wechat": "phone", "ecommerce": "receiver_mobile", "pos": "phone"}
PHONE_COLUMN |= {"member_center": "phone", "guide": "mobile"}
EMAIL_COLUMN = {"app": "email", "ecommerce": "buyer_email", "member_center": "email"}
UNIONID_COLUMN = {"wechat": "unionid", "member_center": "unionid", "guide": "wechat_unionid"}
ID_COLUMN = {"app": "user_id", "wechat": "openid", "ecommerce": "buyer_id", "pos": "vip_no"}
ID_COLUMN |= {"member_center": "member_id", "guide": "customer_id"}
EVENT_TYPE_COLUMN = {
    "app": "action",
    "wechat": "event",
    "ecommerce": "behavior",
    "member_center": "event_type",
}
EVENT_TYPE_COLUMN |= {"guide": "action"}


def parse_time(channel: str, value) -> dt.datetime | None:
    """A channel's timestamp as naive local time; None when it cannot be parsed."""
    try:
        if isinstance(value, dt.datetime):
            return value
        if channel == "wechat":
            if not isinstance(value, int):
                return None
            return dt.datetime.fromtimestamp(value, CST).replace(tzinfo=None)
        if channel == "ecommerce":
            return dt.datetime.strptime(value, "%Y-%m-%d %H:%M:%S")
        if channel == "pos":
            return dt.datetime.strptime(value, "%Y/%m/%d %H:%M")
        if channel == "guide":
            parsed = dt.datetime.fromisoformat(value)
            assert parsed.utcoffset() == dt.timedelta(hours=8)
            return parsed.replace(tzinfo=None)
    except (TypeError, ValueError):
        return None
    raise AssertionError(f"unexpected time value {value!r} in {channel}")


def parse_amount(value) -> float | None:
    if isinstance(value, float | int) and not isinstance(value, bool):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def has_bad_bytes(row: dict) -> bool:
    """Invalid UTF-8 shows up as lone surrogates after decoding with surrogateescape."""
    return any(isinstance(v, str) and any("\udc80" <= ch <= "\udcff" for ch in v) for v in row.values())


def read_rows(path: str) -> list[dict]:
    """Rows of one source file as dicts (text decoded with surrogateescape to keep bad bytes visible)."""
    if path.endswith(".parquet"):
        return pq.read_table(path).to_pylist()
    with open(path, "rb") as handle:
        text = handle.read().decode("utf-8", errors="surrogateescape")
    if path.endswith(".jsonl"):
        return [json.loads(line) for line in text.splitlines()]
    return list(csv.DictReader(io.StringIO(text, newline="")))


class Dataset:
    def __init__(self, root: str) -> None:
        self.root = root
        self.rows = {}
        for (channel, table), _ in SOURCE_COLUMNS.items():
            for period in PERIODS:
                path = os.path.join(root, channel, f"period={period}", f"{table}.{EXT[channel]}")
                self.rows[(channel, table, period)] = read_rows(path)
        truth = os.path.join(root, "_truth")
        self.record_person = pq.read_table(os.path.join(truth, "record_person.parquet")).to_pylist()
        self.persons = pq.read_table(os.path.join(truth, "persons.parquet")).to_pylist()
        self.spend_after = pq.read_table(os.path.join(truth, "spend_after.parquet")).to_pylist()
        self.bad_rows = pq.read_table(os.path.join(truth, "bad_rows.parquet")).to_pylist()
        with open(os.path.join(truth, "manifest.json"), encoding="utf-8") as handle:
            self.manifest = json.load(handle)
        self.person_of = {(r["channel"], r["record_id"]): r["person_id"] for r in self.record_person}
        self.case_of = {(r["channel"], r["record_id"]): r["case"] for r in self.record_person if r["case"]}
        """The records that share no strong identifier with their person's others, by case."""
        self.bad = {
            (b["channel"], b["table"], b["period"], b["source_row"]): b["reason"] for b in self.bad_rows
        }

    def good_rows(self, channel: str, table: str):
        for period in PERIODS:
            for index, row in enumerate(self.rows[(channel, table, period)]):
                if (channel, table, period, index) not in self.bad:
                    yield period, row


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Dataset:
    root = str(tmp_path_factory.mktemp("synth") / "data")
    generate(SynthSettings(members=3_000, months=MONTHS, start=START, seed=5, unlinked_records=True), root)
    return Dataset(root)


def _files(root: str) -> dict[str, bytes]:
    found = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            with open(path, "rb") as handle:
                found[os.path.relpath(path, root)] = handle.read()
    return found


def test_same_seed_gives_the_same_bytes_and_another_seed_does_not(tmp_path):
    settings = SynthSettings(members=800, months=3, start="2023-11", seed=42)
    generate(settings, str(tmp_path / "a"))
    generate(settings, str(tmp_path / "b"))
    generate(SynthSettings(members=800, months=3, start="2023-11", seed=43), str(tmp_path / "c"))
    first, second, other = (
        _files(str(tmp_path / "a")),
        _files(str(tmp_path / "b")),
        _files(str(tmp_path / "c")),
    )
    assert len(first) > 40
    assert first == second
    assert first.keys() == other.keys()
    assert first["app/period=2023-11/orders.parquet"] != other["app/period=2023-11/orders.parquet"]


def test_rerun_replaces_an_earlier_output_and_refuses_a_foreign_folder(tmp_path):
    target = tmp_path / "out"
    generate(SynthSettings(members=200, months=2, seed=1), str(target))
    generate(SynthSettings(members=300, months=1, seed=2), str(target))
    assert sorted(os.listdir(target / "app")) == ["period=2024-01"]
    assert not [p for p in os.listdir(tmp_path) if "partial" in p or ".old-" in p]
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(StorageError, match="not empty"):
        generate(SynthSettings(members=200, months=1), str(foreign))
    assert (foreign / "notes.txt").read_text() == "keep me"


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        (SynthSettings(start="2024-13"), "start="),
        (SynthSettings(members=3), "members="),
        (SynthSettings(months=0), "months="),
        (SynthSettings(bad_rate=0.5), "bad_rate="),
    ],
)
def test_invalid_settings_name_the_setting(settings, key, tmp_path):
    with pytest.raises(ConfigError, match=key):
        generate(settings, str(tmp_path / "x"))
    assert not (tmp_path / "x").exists()


def test_every_channel_month_and_table_has_its_file_with_the_source_columns(data):
    for (channel, table), names in SOURCE_COLUMNS.items():
        expected = names.split()
        for period in PERIODS:
            path = os.path.join(data.root, channel, f"period={period}", f"{table}.{EXT[channel]}")
            if path.endswith(".parquet"):
                assert pq.read_schema(path).names == expected, path
            elif path.endswith(".csv"):
                with open(path, "rb") as handle:
                    assert handle.readline().decode().rstrip("\n").split(",") == expected, path
            else:
                keys = set()
                for row in data.rows[(channel, table, period)]:
                    keys |= row.keys()
                assert keys == set(expected), path
    for channel, table in [("pos", "events"), ("member_center", "orders"), ("guide", "orders")]:
        assert not os.path.exists(
            os.path.join(data.root, channel, f"period={PERIODS[0]}", f"{table}.{EXT[channel]}")
        )
    assert sorted(os.listdir(data.root)) == sorted([*EXT, "_suppression", "_truth"])


def test_an_empty_table_is_still_written_with_its_header_or_schema(tmp_path):
    for ext in ("csv", "parquet", "jsonl"):
        columns = [Column("id", "str", pa.array([], type=pa.string())), Column("ts", "time", [], "ymdhms")]
        table = SourceTable("demo", "events", ext, columns, np.zeros(0, dtype=np.int32), "ts")
        counts, bad = write_source_table(
            table, str(tmp_path), ["2024-01"], 0, 0.005, np.random.default_rng(0)
        )
        path = tmp_path / "demo" / "period=2024-01" / f"events.{ext}"
        assert counts == {"2024-01": 0} and bad["reason"] == []
        if ext == "csv":
            assert path.read_bytes() == b"id,ts\n"
        elif ext == "parquet":
            assert pq.read_table(path).num_rows == 0 and pq.read_schema(path).names == ["id", "ts"]
        else:
            assert path.read_bytes() == b""


def test_good_rows_are_good_and_every_bad_row_is_recorded_with_its_reason(data):
    found = {}
    for (channel, table, period), rows in data.rows.items():
        seen_order_ids = set()
        for index, row in enumerate(rows):
            reasons = _symptoms(channel, table, period, row, seen_order_ids)
            if reasons:
                found[(channel, table, period, index)] = reasons
    assert found.keys() == data.bad.keys()
    for key, reasons in found.items():
        assert data.bad[key] in reasons, (key, reasons)


def _symptoms(channel, table, period, row, seen_order_ids) -> set[str]:
    symptoms = set()
    if has_bad_bytes(row):
        symptoms.add("bad_encoding")
    when = parse_time(channel, row[TIME_COLUMN[(channel, table)]])
    if when is None:
        symptoms.add("unparseable_date")
    elif when >= SPAN_END + dt.timedelta(days=365):
        symptoms.add("future_date")
    else:
        assert when.strftime("%Y-%m") == period, (channel, table, row)
    if table == "orders":
        order_id, _, code, allowed, amount, discount, refund = ORDER_COLUMNS[channel]
        if row[code] not in allowed:
            symptoms.add("unknown_channel_code")
        paid = parse_amount(row[amount])
        if paid is None:
            symptoms.add("non_numeric_amount")
        elif paid < 0:
            symptoms.add("negative_amount")
        else:
            assert 0 <= parse_amount(row[refund]) <= paid and parse_amount(row[discount]) >= 0
        if row[order_id] in seen_order_ids:
            symptoms.add("duplicate_order_id")
        seen_order_ids.add(row[order_id])
    return symptoms


def test_every_bad_row_class_appears_at_the_default_rate(data):
    reasons = {b["reason"] for b in data.bad_rows}
    assert reasons == set(BAD_ROW_REASONS)
    total_rows = sum(len(rows) for rows in data.rows.values())
    assert 0.003 < len(data.bad_rows) / total_rows < 0.008
    for bad in data.bad_rows:
        path = os.path.join(data.root, bad["source_file"])
        assert (
            bad["source_file"]
            == f"{bad['channel']}/period={bad['period']}/{bad['table']}.{EXT[bad['channel']]}"
        )
        assert os.path.exists(path)
        assert bad["source_row"] < len(data.rows[(bad["channel"], bad["table"], bad["period"])])


def test_duplicate_order_rows_copy_an_earlier_row_of_the_same_file(data):
    duplicates = [b for b in data.bad_rows if b["reason"] == "duplicate_order_id"]
    assert duplicates
    for bad in duplicates:
        rows = data.rows[(bad["channel"], "orders", bad["period"])]
        order_id = ORDER_COLUMNS[bad["channel"]][0]
        copy = rows[bad["source_row"]]
        assert copy in rows[: bad["source_row"]]
        assert [r[order_id] for r in rows].index(copy[order_id]) < bad["source_row"]


def test_truth_maps_every_record_of_every_file_to_a_person(data):
    assert len(data.person_of) == len(data.record_person)
    persons = {p["person_id"] for p in data.persons}
    assert set(data.person_of.values()) <= persons
    member_records = set()
    for (channel, table, _), rows in data.rows.items():
        key = ORDER_COLUMNS[channel][1] if table == "orders" else ID_COLUMN[channel]
        for row in rows:
            assert (channel, row[key]) in data.person_of
            if table == "members":
                member_records.add((channel, row[key]))
    assert member_records == set(data.person_of)


def test_people_use_one_to_four_channels_as_the_truth_says(data):
    channels = defaultdict(set)
    for (channel, record_id), person in data.person_of.items():
        if (channel, record_id) not in data.case_of:  # an extra record, in a channel the person uses
            channels[person].add(channel)
    counts = np.bincount([len(c) for c in channels.values()])
    assert counts[0] == 0 and len(counts) == 5 and min(counts[1:]) > 100
    for person in data.persons:
        assert set(person["channels"].split(",")) == channels[person["person_id"]]
        assert person["n_channels"] == len(channels[person["person_id"]])


def test_new_members_join_every_month_and_the_base_arrives_in_the_first(data):
    created_by_month = defaultdict(int)
    for period, row in data.good_rows("app", "members"):
        created = row["created_time"].strftime("%Y-%m")
        if created == period:
            created_by_month[period] += 1
        else:
            assert created < period or period != PERIODS[0]
    assert all(created_by_month[p] > 10 for p in PERIODS)
    first = data.rows[("app", "members", PERIODS[0])]
    assert sum(r["created_time"] < dt.datetime(2024, 1, 1) for r in first) > len(first) / 3
    acquired = {p["acquired_at"].strftime("%Y-%m") for p in data.persons if not p["is_base"]}
    assert acquired == set(PERIODS)


def test_identifier_noise_is_present_and_normalizes_back_to_the_truth(data):
    persons = {p["person_id"]: p for p in data.persons}
    raw_phones, placeholder_people, devices = [], set(), defaultdict(set)
    upper_or_padded_emails = 0
    for (channel, table, _), rows in data.rows.items():
        if table != "members":
            continue
        for row in rows:
            person = persons[data.person_of[(channel, row[ID_COLUMN[channel]])]]
            phone = row[PHONE_COLUMN[channel]]
            if phone == PLACEHOLDER_PHONE:
                placeholder_people.add(person["person_id"])
            elif phone and "*" not in phone and not has_bad_bytes({"p": phone}):
                raw_phones.append(phone)
                assert normalize_phone(phone) in {person["phone"], person["phone_old"]}, (phone, person)
            email = row.get(EMAIL_COLUMN.get(channel, ""), None)
            if (channel, row[ID_COLUMN[channel]]) in data.case_of:
                continue  # mistyped on purpose: test_records_without_shared_strong_identifiers_...
            if email and normalize_email(email) not in PLACEHOLDER_EMAILS:
                assert normalize_email(email) == person["email"]
                upper_or_padded_emails += email != person["email"]
            if channel == "app":
                devices[row["device_id"]].add(person["person_id"])
    assert any(p.startswith("+86 ") for p in raw_phones)
    assert any(p.startswith("0086-") for p in raw_phones)
    assert any(p.startswith("86 ") for p in raw_phones)
    assert any("１" <= p[0] <= "９" for p in raw_phones)  # full-width digits
    assert any("-" in p and not p.startswith("0086") for p in raw_phones)
    assert any(len(p) == 11 and p.isascii() and p.isdigit() for p in raw_phones)
    assert len(placeholder_people) >= 3  # one store's walk-in phone, many people
    assert upper_or_padded_emails > 0
    shared = [people for people in devices.values() if len(people) > 1]
    assert shared and all(len(people) == 2 for people in shared)


def test_a_phone_change_shows_as_a_new_version_of_the_same_record(data):
    persons = {p["person_id"]: p for p in data.persons}
    versions = defaultdict(list)
    for _, row in data.good_rows("pos", "members"):
        versions[row["vip_no"]].append(row)
    for channel in ("app", "member_center"):
        for _, row in data.good_rows(channel, "members"):
            versions[row[ID_COLUMN[channel]]].append(row)
    changed = 0
    for record_id, rows in versions.items():
        phones = [normalize_phone(r.get("phone") or r.get("mobile")) for r in rows]
        if len(set(phones) - {None}) > 1:
            person = persons[next(p for (c, r), p in data.person_of.items() if r == record_id)]
            assert phones[0] == person["phone_old"] and phones[-1] == person["phone"]
            changed += 1
    assert changed > 0
    wechat_without_unionid = [
        r for rows in [data.rows[("wechat", "members", p)] for p in PERIODS] for r in rows
    ]
    assert any("unionid" not in r for r in wechat_without_unionid)


def test_same_person_records_are_linkable_through_strong_identifiers(data):
    parent = {}

    def find(node):
        while parent.setdefault(node, node) != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    owners = defaultdict(set)
    for (channel, table, _), rows in data.rows.items():
        if table != "members":
            continue
        for row in rows:
            node = (channel, row[ID_COLUMN[channel]])
            find(node)
            keys = [("phone", normalize_phone(row.get(PHONE_COLUMN[channel])))]
            if channel in EMAIL_COLUMN:
                keys.append(("email", normalize_email(row.get(EMAIL_COLUMN[channel]))))
            if channel in UNIONID_COLUMN:
                keys.append(("unionid", row.get(UNIONID_COLUMN[channel])))
            for key in keys:
                if key[1] and key[1] != PLACEHOLDER_PHONE and key[1] not in PLACEHOLDER_EMAILS:
                    owners[key].add(data.person_of[node])
                    parent[find(node)] = find(key)
    assert all(len(people) == 1 for people in owners.values())  # no identifier joins two people
    by_person = defaultdict(list)
    for node, person in data.person_of.items():
        if node not in data.case_of:  # made to share no strong identifier (see the test below)
            by_person[person].append(find(node))
    pairs = linked = 0
    for roots in by_person.values():
        for i in range(len(roots)):
            for j in range(i + 1, len(roots)):
                pairs += 1
                linked += roots[i] == roots[j]
    assert linked / pairs >= 0.99
    assert abs(linked / pairs - data.manifest["linkability"]["all_versions"]) < 0.002


def test_orders_follow_a_heterogeneous_repeat_buying_process(data):
    persons = {p["person_id"]: p for p in data.persons}
    orders, spend, discounted = defaultdict(int), defaultdict(float), defaultdict(int)
    for channel, (_, record, _, _, amount, discount, _) in ORDER_COLUMNS.items():
        for _, row in data.good_rows(channel, "orders"):
            person = data.person_of[(channel, row[record])]
            orders[person] += 1
            spend[person] += parse_amount(row[amount])
            discounted[person] += parse_amount(row[discount]) > 0
    counts = np.array([orders[p] for p in persons])
    assert (counts == 0).mean() > 0.1 and counts.var() > 3 * counts.mean()  # many idle, some heavy buyers
    buyers = [p for p in persons if orders[p] >= 3]
    mean_order = np.array([spend[p] / orders[p] for p in buyers])
    level = np.array([persons[p]["spend_level"] for p in buyers])
    assert np.corrcoef(np.log(mean_order), np.log(level))[0, 1] > 0.5
    share = np.array([discounted[p] / orders[p] for p in buyers])
    sensitivity = np.array([persons[p]["price_sensitivity"] for p in buyers])
    assert np.corrcoef(share, sensitivity)[0, 1] > 0.4
    rate = np.array([persons[p]["purchase_rate_per_year"] for p in buyers])
    assert np.corrcoef(np.log(rate), np.log([orders[p] for p in buyers]))[0, 1] > 0.3


def test_spend_after_matches_the_orders_in_the_files(data):
    """For the first month end the whole 90-day window lies inside the files."""
    as_of = dt.datetime(2024, 2, 1)
    window_end = as_of + dt.timedelta(days=90)
    from_files = defaultdict(float)
    for channel, (_, record, _, _, amount, _, refund) in ORDER_COLUMNS.items():
        for _, row in data.good_rows(channel, "orders"):
            when = parse_time(channel, row[TIME_COLUMN[(channel, "orders")]])
            if as_of <= when < window_end:
                from_files[data.person_of[(channel, row[record])]] += parse_amount(
                    row[amount]
                ) - parse_amount(row[refund])
    known = {p["person_id"] for p in data.persons if p["acquired_at"] < as_of}  # members by the as-of date
    from_files = {p: spend for p, spend in from_files.items() if p in known}
    truth = {r["person_id"]: r["spend_90d"] for r in data.spend_after if r["as_of"] == as_of}
    assert set(truth) <= known
    assert {r["as_of"] for r in data.spend_after} == {dt.datetime(2024, m, 1) for m in range(2, 8)}
    matching = [p for p in truth if abs(truth[p] - round(from_files.get(p, 0.0), 2)) < 0.011]
    assert len(matching) > 0.97 * len(truth)  # the rest lost an order to a bad row
    assert abs(sum(truth.values()) - sum(from_files.values())) < 0.03 * sum(truth.values())


def test_events_cover_every_type_and_consent_flags_vary(data):
    types = set()
    for channel, column in EVENT_TYPE_COLUMN.items():
        for _, row in data.good_rows(channel, "events"):
            types.add(row[column])
    assert types == {"view", "share", "review", "invite", "post"}
    flags = [row["sms_opt_in"] for _, row in data.good_rows("ecommerce", "members")]
    assert set(flags) == {"Y", "N"}
    assert {row["subscribe"] for _, row in data.good_rows("wechat", "members")} == {True, False}


def test_optouts_name_real_people_in_source_formats(data):
    with open(os.path.join(data.root, "_suppression", "optouts.csv"), encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    opted_out = [p for p in data.persons if p["opted_out"]]
    assert len(rows) == len(opted_out) > 10
    phones = {p["phone"] for p in opted_out}
    emails = {p["email"] for p in opted_out}
    for row in rows:
        assert row["phone"] or row["email"]
        assert not row["phone"] or normalize_phone(row["phone"]) in phones
        assert not row["email"] or normalize_email(row["email"]) in emails


def test_manifest_counts_match_the_files(data):
    for (channel, table, period), rows in data.rows.items():
        assert data.manifest["rows_by_period"][channel][table][period] == len(rows)
    assert data.manifest["seed"] == 5 and data.manifest["settings"]["members"] == 3_000
    assert sum(data.manifest["bad_rows"].values()) == len(data.bad_rows)
    assert data.manifest["linkability"]["all_versions"] >= 0.99


def test_cli_writes_a_dataset(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    synth_cli.add_parser(parser.add_subparsers(dest="command"))
    out = tmp_path / "cli"
    args = parser.parse_args(
        [
            "synth",
            "--members",
            "300",
            "--months",
            "2",
            "--start",
            "2024-05",
            "--seed",
            "3",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert args.func(args) == 0
    assert "300 people" in capsys.readouterr().out
    manifest = json.loads((out / "_truth" / "manifest.json").read_text())
    assert manifest["periods"] == ["2024-05", "2024-06"] and manifest["settings"]["bad_rate"] == 0.005


def test_free_text_with_commas_and_quotes_survives_csv_and_json(data):
    nicks = [row["buyer_nick"] for _, row in data.good_rows("ecommerce", "members")]
    assert any("Amy, " in nick for nick in nicks) and any('"K"' in nick for nick in nicks)
    assert any('"K"' in row["nick_name"] for _, row in data.good_rows("wechat", "members"))
    paths = [os.path.join(data.root, "ecommerce", f"period={p}", "members.csv") for p in PERIODS]
    raw = b"".join(Path(path).read_bytes() for path in paths)
    assert b'""K""' in raw  # quotes doubled inside a quoted field


def test_every_version_of_a_record_agrees_on_what_did_not_change(data):
    birthdays = defaultdict(set)
    for _, row in data.good_rows("app", "members"):
        birthdays[row["user_id"]].add(row["birthday"])
    assert all(len(values) == 1 for values in birthdays.values())
    assert any(None in values for values in birthdays.values())


def _one_edit_apart(a: str, b: str) -> bool:
    """True when ``b`` is ``a`` with one character dropped, doubled, changed or two swapped."""
    if a == b:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        swapped = len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]]
        return len(diff) == 1 or (swapped and a[diff[1]] == b[diff[0]])
    short, long = sorted((a, b), key=len)
    return len(long) == len(short) + 1 and any(long[:i] + long[i + 1 :] == short for i in range(len(long)))


def test_records_without_shared_strong_identifiers_carry_the_evidence_to_link_them(data):
    """Marketplace profiles, walk-ins and second accounts: no strong identifier is shared, but the
    visible phone digits, the name, the birthday and the city are the person's (up to a typo)."""
    persons = {p["person_id"]: p for p in data.persons}
    names, birthdays, strong = defaultdict(set), defaultdict(set), defaultdict(set)
    case_rows = defaultdict(list)
    for (channel, table, _), rows in data.rows.items():
        if table != "members":
            continue
        for row in rows:
            node = (channel, row[ID_COLUMN[channel]])
            person = data.person_of[node]
            if node in data.case_of:
                case_rows[data.case_of[node]].append((person, row))
                continue
            if channel in ("pos", "member_center") and row.get("name") and not has_bad_bytes(row):
                names[person].add(row["name"])
                birthday = row.get("birthday") or row.get("birth_date")
                birthdays[person].add(str(birthday)[:10].replace("/", "-"))
            strong[person].add(normalize_phone(row.get(PHONE_COLUMN.get(channel, ""))))
            strong[person].add(normalize_email(row.get(EMAIL_COLUMN.get(channel, ""))))
    counts = {case: len(rows) for case, rows in case_rows.items()}
    assert set(counts) == {"platform_masked_phone", "walk_in", "second_account"}
    assert all(count >= 5 for count in counts.values()), counts
    assert {f"records_{case}": count for case, count in counts.items()}.items() <= data.manifest[
        "linkability"
    ].items()
    typos = 0
    for person, row in case_rows["platform_masked_phone"]:
        phone = persons[person]["phone"]
        assert row["receiver_mobile"] == f"{phone[:3]}****{phone[-4:]}" and not row["buyer_email"]
        assert row["city"] and row["receiver_name"]
    for person, row in case_rows["walk_in"]:
        assert not row["phone"]
        assert row["birthday"].replace("/", "-") in birthdays[person]
        typos += row["name"] not in names[person]
        assert row["name"] in names[person] or any(_one_edit_apart(n, row["name"]) for n in names[person])
    for person, row in case_rows["second_account"]:
        email = persons[person]["email"]
        assert row["phone"] is None and normalize_email(row["email"]) not in strong[person]
        assert email.split("@")[1] == row["email"].split("@")[1]
        assert _one_edit_apart(email.split("@")[0], row["email"].split("@")[0])
        assert row["name"] and row["city"] and row["birth_date"] is not None
    assert typos < len(case_rows["walk_in"]) / 3


def test_unlinked_records_leave_every_other_row_as_it_was(tmp_path):
    settings = SynthSettings(members=600, months=2, start="2024-05", seed=3)
    plain, extended = tmp_path / "plain", tmp_path / "extended"
    generate(settings, str(plain))
    generate(dataclasses.replace(settings, unlinked_records=True), str(extended))
    before, after = _files(str(plain)), _files(str(extended))
    assert set(before) == set(after)
    cases = pq.read_table(extended / "_truth" / "record_person.parquet").to_pylist()
    added = {r["record_id"] for r in cases if r["case"]}
    assert added and all(
        not r["case"] for r in pq.read_table(plain / "_truth" / "record_person.parquet").to_pylist()
    )
    changed = {name for name in before if before[name] != after[name]}
    assert changed and all(name.startswith("_truth/") or "/members." in name for name in changed), changed
    for name in sorted(changed - {n for n in changed if n.startswith("_truth/")}):
        old_rows = read_rows(str(plain / name))
        new_rows = read_rows(str(extended / name))
        key = next(iter(new_rows[0]))
        assert [r for r in new_rows if r[key] not in added] == old_rows, name
        assert len(new_rows) > len(old_rows)
