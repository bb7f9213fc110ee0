"""Each channel's own dialect: file format, column names, value formats.

The builders turn the generator's internal arrays into :class:`SourceTable`s;
a connector config maps these names back onto ``tierlib.schemas`` later.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tierlib.schemas import EVENT_TYPES
from tierlib.synth import _vocab as vocab
from tierlib.synth._activity import Events, Orders
from tierlib.synth._calendar import DAY, period_of
from tierlib.synth._formats import Column, SourceTable, format_dates
from tierlib.synth._noise import format_emails, format_phones
from tierlib.synth._people import APP, CHANNELS, ECOMMERCE, GUIDE, MEMBER_CENTER, POS, WECHAT, People
from tierlib.synth._records import (
    EMAIL_PLACEHOLDER,
    EMAIL_PLACEHOLDER_VALUE,
    EMAIL_PRESENT,
    PHONE_MISSING,
    PHONE_PLACEHOLDER,
    Records,
    Versions,
)
from tierlib.synth._strings import (
    affine_permutation,
    digits_matrix,
    from_fixed_width,
    hstack_bytes,
    join,
    padded_ints,
    pick,
)

FORMATS = {
    "app": "parquet",
    "wechat": "jsonl",
    "ecommerce": "csv",
    "pos": "csv",
    "member_center": "parquet",
    "guide": "jsonl",
}
TABLES = {
    "app": ("members", "orders", "events"),
    "wechat": ("members", "orders", "events"),
    "ecommerce": ("members", "orders", "events"),
    "pos": ("members", "orders"),
    "member_center": ("members", "events"),
    "guide": ("members", "events"),
}
BIRTHDAY_KNOWN_SHARE = 0.8
SIR_MADAM_SHARE = 0.3
WECOM_ADDED_SHARE = 0.7
"""Share of guide-channel customers who added their guide on WeCom (and so have an external id)."""


@dataclass
class World:
    people: People
    records: Records
    versions: Versions
    orders: Orders  # only orders inside the span
    events: Events
    bounds: np.ndarray
    names: pa.Array  # per person
    rng: np.random.Generator | None = None  # set per table by build_table


def build_table(world: World, channel: str, table: str, rng: np.random.Generator) -> SourceTable:
    """The source table ``table`` of ``channel``; ``rng`` makes its few random choices."""
    builder = {"members": _members, "orders": _orders, "events": _events}[table]
    return builder(replace(world, rng=rng), CHANNELS.index(channel))


def _members(world: World, code: int) -> SourceTable:
    records, versions = world.records, world.versions
    rows = np.flatnonzero(records.channel[versions.record] == code)
    rows = rows[np.lexsort((versions.record[rows], versions.time[rows]))]
    rec = versions.record[rows]
    table = _member_table(world, code, rows, rec)
    if records.case is not None:
        # The cases of tierlib.synth._unlinked are never bad rows, so that adding them changes
        # nothing about the rows that were there before.
        table.corruptible = records.case[rec] == 0
    return table


def _member_table(world: World, code: int, rows: np.ndarray, rec: np.ndarray) -> SourceTable:
    people, records, versions = world.people, world.records, world.versions
    person = records.person[rec]
    updated = versions.time[rows]
    created = records.registered[rec]
    consent = versions.consent[rows]
    city = pick([c for c, _ in vocab.CITIES], versions.city[rows])
    record_id = records.record_id.take(pa.array(rec))
    phone = _phones(people, records, rec, versions.new_phone[rows])
    name = world.names.take(pa.array(person))
    if records.written_name is not None:
        name = pc.coalesce(records.written_name.take(pa.array(rec)), name)
    channel = CHANNELS[code]
    if code == APP:
        birthday = format_dates(people.birth_day[person], "-")
        known = _record_share(rec, BIRTHDAY_KNOWN_SHARE)
        columns = [
            Column("user_id", "str", record_id),
            Column("mobile", "str", phone),
            Column("email", "str", _emails(people, records, rec, code)),
            Column("device_id", "str", records.device_id.take(pa.array(rec))),
            Column("nickname", "text", records.nickname.take(pa.array(rec))),
            Column("birthday", "str", pc.if_else(pa.array(known), birthday, pa.scalar(None, pa.string()))),
            Column("city", "text", city),
            Column("created_time", "time", created),
            Column("modified_time", "time", updated),
            Column("allow_push", "bool", consent[:, 2]),
            Column("allow_sms", "bool", consent[:, 0]),
        ]
        return SourceTable(channel, "members", "parquet", columns, _period(world, updated), "modified_time")
    if code == WECHAT:
        unionid = _unionids(people, records, rec)
        columns = [
            Column("openid", "str", record_id),
            Column("unionid", "str", unionid, missing="omit"),
            Column("phone", "str", pc.fill_null(phone, "")),  # WeChat hands out "" before phone authorization
            Column("nick_name", "text", records.nickname.take(pa.array(rec))),
            Column("city", "text", city),
            Column("register_time", "time", created, "epoch"),
            Column("update_time", "time", updated, "epoch"),
            Column("subscribe", "bool", consent[:, 2], "bool"),
        ]
        return SourceTable(
            channel,
            "members",
            "jsonl",
            columns,
            _period(world, updated),
            "update_time",
            text_column="nick_name",
        )
    if code == ECOMMERCE:
        columns = [
            Column("buyer_id", "str", record_id),
            Column("receiver_mobile", "str", phone),
            Column("buyer_email", "str", _emails(people, records, rec, code)),
            Column("buyer_nick", "text", records.nickname.take(pa.array(rec))),
            Column("receiver_name", "text", name),
            Column("city", "text", city),
            Column("first_seen", "time", created, "ymdhms"),
            Column("modified", "time", updated, "ymdhms"),
            Column("sms_opt_in", "bool", consent[:, 0], "yn"),
            Column("email_opt_in", "bool", consent[:, 1], "yn"),
        ]
        # A receiver name typed on a GBK terminal: the column the pipeline reads as the name.
        period = _period(world, updated)
        return SourceTable(
            channel, "members", "csv", columns, period, "modified", text_column="receiver_name"
        )
    if code == POS:
        store = records.store[rec]
        minute = 60
        columns = [
            Column("vip_no", "str", record_id),
            Column("phone", "str", phone),
            Column("name", "text", name),
            Column("store_code", "str", store_codes(store)),
            Column("guide_code", "str", guide_codes(store, records.guide[rec])),
            Column("birthday", "str", format_dates(people.birth_day[person], "/")),
            Column("open_date", "time", created // minute * minute, "slash_hm"),
            Column("last_modified", "time", updated // minute * minute, "slash_hm"),
            Column("sms_ok", "bool", consent[:, 0], "10"),
        ]
        return SourceTable(
            channel, "members", "csv", columns, _period(world, updated), "last_modified", text_column="name"
        )
    if code == MEMBER_CENTER:
        birth = pa.array(people.birth_day[person] * DAY * 1_000_000, type=pa.timestamp("us"))
        columns = [
            Column("member_id", "str", record_id),
            Column("phone", "str", phone),
            Column("email", "str", _emails(people, records, rec, code)),
            Column("unionid", "str", _unionids(people, records, rec)),
            Column("name", "text", name),
            Column("birth_date", "arrow", birth),
            Column("city", "text", city),
            Column("register_at", "time", created),
            Column("updated_at", "time", updated),
            Column("consent_sms", "bool", consent[:, 0]),
            Column("consent_email", "bool", consent[:, 1]),
            Column("consent_push", "bool", consent[:, 2]),
        ]
        return SourceTable(channel, "members", "parquet", columns, _period(world, updated), "updated_at")
    store = records.store[rec]
    # Guides often save a customer as "Ms Wang" rather than the full name.
    title = pick(("女士", "先生"), (rec % 2).astype(np.int64))
    short = join(pick([s for s, _ in vocab.SURNAMES], people.surname[person]), title)
    guide_name = pc.if_else(pa.array(_record_share(rec, SIR_MADAM_SHARE)), short, name)
    columns = [
        Column("customer_id", "str", record_id),
        Column("guide_id", "str", guide_codes(store, records.guide[rec])),
        Column("store_id", "str", store_codes(store)),
        Column("mobile", "str", phone),
        Column("wechat_unionid", "str", _unionids(people, records, rec)),
        Column("external_userid", "str", _external_userids(rec)),
        Column("name", "text", guide_name),
        Column("added_at", "time", created, "iso"),
        Column("updated_at", "time", updated, "iso"),
    ]
    return SourceTable(
        channel, "members", "jsonl", columns, _period(world, updated), "updated_at", text_column="name"
    )


def _orders(world: World, code: int) -> SourceTable:
    orders, records = world.orders, world.records
    rows = np.flatnonzero(orders.channel == code)
    # Time order, then record: one sort on a packed key.
    record_bits = max(len(records).bit_length(), 1)
    key = ((orders.time[rows] - world.bounds[0]) << record_bits) | orders.record[rows]
    rows = rows[np.argsort(key, kind="stable")]
    time = orders.time[rows]
    record_id = records.record_id.take(pa.array(orders.record[rows]))
    category = pick(vocab.CATEGORIES, orders.category[rows])
    category_zh = (vocab.CATEGORIES_ZH, orders.category[rows])
    amount, discount, refund = orders.amount[rows].copy(), orders.discount[rows], orders.refund[rows]
    store = orders.store[rows]
    sequence = np.arange(len(rows), dtype=np.int64)
    day = _ymd(time)
    channel = CHANNELS[code]
    period = _period(world, time)
    if code == APP:
        columns = [
            Column(
                "order_no",
                "str",
                from_fixed_width(hstack_bytes([b"A", day, digits_matrix(sequence, 8)], len(rows))),
            ),
            Column("user_id", "str", record_id),
            Column("channel_code", "str", _constant("APP", len(rows))),
            Column("pay_time", "time", time),
            Column("pay_amount", "amount", amount),
            Column("discount_amount", "amount", discount),
            Column("refund_amount", "amount", refund),
            Column("category", "str", category),
            Column("store_code", "str", pa.nulls(len(rows), pa.string())),
        ]
        return SourceTable(
            channel, "orders", "parquet", columns, period, "pay_time", "pay_amount", "channel_code"
        )
    if code == WECHAT:
        pickup = store >= 0
        columns = [
            Column(
                "out_trade_no",
                "str",
                from_fixed_width(hstack_bytes([b"MP", day, digits_matrix(sequence, 9)], len(rows))),
            ),
            Column("openid", "str", record_id),
            Column("channel_code", "str", _constant("MINIP", len(rows))),
            Column("paid_at", "time", time, "epoch"),
            Column("total_fee", "amount", amount),
            Column("coupon_fee", "amount", discount),
            Column("refund_fee", "amount", refund),
            Column("category", "str", category),
            Column(
                "store_id",
                "str",
                pc.if_else(pa.array(pickup), store_codes(store), pa.scalar(None, pa.string())),
            ),
        ]
        return SourceTable(
            channel,
            "orders",
            "jsonl",
            columns,
            period,
            "paid_at",
            "total_fee",
            "channel_code",
            "category",
            category_zh,
        )
    if code == ECOMMERCE:
        platform = orders.platform[rows]
        tid = padded_ints(
            affine_permutation(sequence, 10**12, int(world.rng.integers(1, 2**31))), 12, prefix=b"20"
        )
        columns = [
            Column("tid", "str", tid),
            Column("buyer_id", "str", record_id),
            Column("platform", "str", pick(vocab.PLATFORMS, platform)),
            Column("pay_time", "time", time, "ymdhms"),
            Column("payment", "amount", amount),
            Column("discount_fee", "amount", discount),
            Column("refund_fee", "amount", refund),
            Column("cat_name", "str", category),
            Column("shop_id", "str", pick(vocab.PLATFORM_SHOPS, platform)),
        ]
        return SourceTable(
            channel,
            "orders",
            "csv",
            columns,
            period,
            "pay_time",
            "payment",
            "platform",
            "cat_name",
            category_zh,
        )
    minute_time = time // 60 * 60
    columns = [
        Column(
            "receipt_no",
            "str",
            join(
                store_codes(store),
                from_fixed_width(hstack_bytes([day, digits_matrix(sequence, 8)], len(rows))),
            ),
        ),
        Column("vip_no", "str", record_id),
        Column("sales_channel", "str", _constant("POS", len(rows))),
        Column("sale_time", "time", minute_time, "slash_hm"),
        Column("sales_amt", "amount", amount),
        Column("disc_amt", "amount", discount),
        Column("return_amt", "amount", refund),
        Column("category", "str", category),
        Column("store_code", "str", store_codes(store)),
    ]
    return SourceTable(
        channel,
        "orders",
        "csv",
        columns,
        period,
        "sale_time",
        "sales_amt",
        "sales_channel",
        "category",
        category_zh,
    )


def _events(world: World, code: int) -> SourceTable:
    events, records = world.events, world.records
    rows = np.flatnonzero(records.channel[events.record] == code)
    rows = rows[np.argsort(events.time[rows], kind="stable")]
    time = events.time[rows]
    record_id = records.record_id.take(pa.array(events.record[rows]))
    event_type = pick(EVENT_TYPES, events.event_type[rows])
    names, style = {
        APP: (("user_id", "action", "event_time"), ""),
        WECHAT: (("openid", "event", "created_at"), "epoch"),
        ECOMMERCE: (("buyer_id", "behavior", "time"), "ymdhms"),
        MEMBER_CENTER: (("member_id", "event_type", "ts"), ""),
        GUIDE: (("customer_id", "action", "time"), "iso"),
    }[code]
    columns = [
        Column(names[0], "str", record_id),
        Column(names[1], "str", event_type),
        Column(names[2], "time", time, style),
    ]
    channel = CHANNELS[code]
    return SourceTable(channel, "events", FORMATS[channel], columns, _period(world, time), names[2])


def _record_share(record: np.ndarray, share: float) -> np.ndarray:
    """A fixed pseudo-random subset of records, so that every version of a record agrees."""
    return (np.asarray(record, dtype=np.int64) * 2_654_435_761 % 1_000_003) < share * 1_000_003


def _period(world: World, time: np.ndarray) -> np.ndarray:
    period = period_of(time, world.bounds)
    if len(period) and (period[0] < 0 or period[-1] >= len(world.bounds) - 1 or np.any(np.diff(period) < 0)):
        raise AssertionError("source rows must be sorted and inside the span")
    return period


def _phones(people: People, records: Records, rec: np.ndarray, new_phone: np.ndarray) -> pa.Array:
    person = records.person[rec]
    old = people.phone_old[person]
    number = np.where(new_phone | (old < 0), people.phone[person], old)
    text = format_phones(number, records.phone_format[rec])
    state = records.phone_state[rec]
    text = pc.if_else(pa.array(state == PHONE_PLACEHOLDER), vocab.PLACEHOLDER_PHONES[0], text)
    return pc.if_else(pa.array(state == PHONE_MISSING), pa.scalar(None, pa.string()), text)


def _emails(people: People, records: Records, rec: np.ndarray, code: int) -> pa.Array:
    person = records.person[rec]
    clean = people.email.take(pa.array(person))
    if records.written_email is not None:
        clean = pc.coalesce(records.written_email.take(pa.array(rec)), clean)
    written = format_emails(clean, records.email_format[rec])
    state = records.email_state[rec]
    placeholder = EMAIL_PLACEHOLDER_VALUE[code]
    result = pc.if_else(pa.array(state == EMAIL_PLACEHOLDER), placeholder, pa.scalar(None, pa.string()))
    return pc.if_else(pa.array(state == EMAIL_PRESENT), written, result)


def _unionids(people: People, records: Records, rec: np.ndarray) -> pa.Array:
    values = people.unionid.take(pa.array(records.person[rec]))
    return pc.if_else(pa.array(records.has_unionid[rec]), values, pa.scalar(None, pa.string()))


def _external_userids(rec: np.ndarray) -> pa.Array:
    """WeCom external contact ids (``wm`` + 30 characters) of the customers who added their guide.

    Fixed per record, so every version agrees; the rest have not added the guide on WeCom yet.
    """
    added = _record_share(rec, WECOM_ADDED_SHARE)
    values = [
        "wm" + hashlib.blake2b(b"wecom-external:%d" % record, digest_size=15).hexdigest() if on else None
        for record, on in zip(np.asarray(rec, dtype=np.int64).tolist(), added.tolist(), strict=True)
    ]
    return pa.array(values, type=pa.string())


def store_codes(store: np.ndarray) -> pa.Array:
    return padded_ints(np.asarray(store) + 1, 4, prefix=b"S")


def guide_codes(store: np.ndarray, guide: np.ndarray) -> pa.Array:
    return padded_ints((np.asarray(store) + 1) * 100 + np.asarray(guide) + 1, 6, prefix=b"G")


def _ymd(time: np.ndarray) -> np.ndarray:
    """``YYYYMMDD`` digits of each local time, as an ``(n, 8)`` byte matrix (order ids carry the day)."""
    days = (np.asarray(time, dtype=np.int64) // DAY).astype("datetime64[D]")
    months = days.astype("datetime64[M]")
    year = months.astype("datetime64[Y]").astype(np.int64) + 1970
    month = months.astype(np.int64) % 12 + 1
    day = (days - months.astype("datetime64[D]")).astype(np.int64) + 1
    return digits_matrix(year * 10_000 + month * 100 + day, 8)


def _constant(value: str, n: int) -> pa.Array:
    return pick((value,), np.zeros(n, dtype=np.int64))
