"""Ground truth: who is who, latent behaviour, future spend, and how linkable the records are."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tierlib.synth._calendar import DAY, YEAR
from tierlib.synth._noise import EMAIL_FORMATS, PHONE_FORMATS, format_emails, format_phones
from tierlib.synth._people import CHANNELS, NOT_REGISTERED, People
from tierlib.synth._people import phone_strings as phone_text
from tierlib.synth._records import EMAIL_PRESENT, PHONE_PRESENT, Records, Versions
from tierlib.synth._strings import join, padded_ints, pick
from tierlib.synth._unlinked import CASES

SPEND_WINDOW_DAYS = 90
OLD_PHONE, NEW_PHONE, EMAIL, UNIONID = 1, 2, 4, 8


def person_ids(index: np.ndarray, n_people: int | None = None) -> pa.Array:
    """``P00000001``-style ids; with ``n_people``, built once and looked up (fast for long columns)."""
    index = np.asarray(index, dtype=np.int64)
    if n_people is None:
        return padded_ints(index + 1, 8, prefix=b"P")
    return person_ids(np.arange(n_people)).take(pa.array(index))


def _timestamps(seconds: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    values = np.asarray(seconds, dtype=np.int64) * 1_000_000
    mask = None if valid is None else ~np.asarray(valid)
    return pa.array(values, type=pa.timestamp("us"), mask=mask)


def record_person_table(records: Records) -> pa.Table:
    return pa.table(
        {
            "channel": pa.array(list(CHANNELS)).take(pa.array(records.channel.astype(np.int64))),
            "record_id": records.record_id,
            "person_id": person_ids(records.person, int(records.person.max()) + 1 if len(records) else 0),
            "case": pick(CASES, np.zeros(len(records), np.int8) if records.case is None else records.case),
        }
    )


def persons_table(people: People, churned_at: np.ndarray) -> pa.Table:
    member = people.registered != NOT_REGISTERED
    unique_rows, inverse = _unique_rows(member)
    channel_lists = [",".join(CHANNELS[c] for c in np.flatnonzero(row)) for row in unique_rows]
    changed = people.phone_old >= 0
    return pa.table(
        {
            "person_id": person_ids(np.arange(people.n)),
            "is_base": pa.array(people.is_base),
            "acquired_at": _timestamps(people.acquired_at),
            "churned_at": _timestamps(churned_at, churned_at >= 0),
            "purchase_rate_per_year": pa.array(people.purchase_rate * YEAR / DAY),
            "dropout_prob": pa.array(people.dropout_prob),
            "spend_level": pa.array(people.spend_level),
            "engagement_rate_per_year": pa.array(people.engagement_rate * YEAR / DAY),
            "price_sensitivity": pa.array(people.price_sensitivity),
            "consent_propensity": pa.array(people.receptiveness),
            "channels": pa.array(channel_lists, type=pa.string()).take(pa.array(inverse)),
            "n_channels": pa.array(member.sum(axis=1).astype(np.int8)),
            "opted_out": pa.array(people.opted_out),
            "phone": phone_text(people.phone),
            "phone_old": pc.if_else(
                pa.array(changed), phone_text(np.maximum(people.phone_old, 0)), pa.scalar(None, pa.string())
            ),
            "phone_changed_at": _timestamps(people.phone_changed_at, changed),
            "email": people.email,
        }
    )


def _unique_rows(matrix: np.ndarray):
    codes = (matrix.astype(np.int64) << np.arange(matrix.shape[1])).sum(axis=1)
    unique, inverse = np.unique(codes, return_inverse=True)
    rows = ((unique[:, None] >> np.arange(matrix.shape[1])) & 1).astype(bool)
    return rows, inverse


def spend_after_table(
    people: People, person: np.ndarray, time: np.ndarray, net: np.ndarray, bounds: np.ndarray
) -> pa.Table:
    """Net spend and order count in the 90 days from each month's end, per person known by then.

    Takes every order (person, time, paid minus refunded); zero rows (no order in
    the window) are left out.
    """
    order = np.argsort(time, kind="stable")
    time = time[order]
    person = person[order]
    net = net[order]
    pieces = {"person": [], "as_of": [], "spend": [], "orders": []}
    for as_of in bounds[1:]:
        start, end = np.searchsorted(time, [as_of, as_of + SPEND_WINDOW_DAYS * DAY])
        who = person[start:end]
        count = np.bincount(who, minlength=people.n)
        spend = np.bincount(who, weights=net[start:end], minlength=people.n)
        keep = np.flatnonzero((count > 0) & (people.acquired_at < as_of))
        pieces["person"].append(keep)
        pieces["as_of"].append(np.full(len(keep), as_of, dtype=np.int64))
        pieces["spend"].append(np.round(spend[keep], 2))
        pieces["orders"].append(count[keep].astype(np.int32))
    joined = {k: np.concatenate(v) if v else np.zeros(0) for k, v in pieces.items()}
    return pa.table(
        {
            "person_id": person_ids(joined["person"], people.n),
            "as_of": _timestamps(joined["as_of"]),
            "spend_90d": pa.array(joined["spend"].astype(np.float64)),
            "orders_90d": pa.array(joined["orders"].astype(np.int32)),
        }
    )


def linkability(people: People, records: Records, versions: Versions) -> dict:
    """Share of same-person record pairs joined by chains of equal strong identifiers.

    Strong identifiers are phone, e-mail and WeChat unionid as written in the
    files (all formats normalize back to the clean value); placeholders, masked
    phones and device ids never count.  Exact, not sampled: identifiers are
    unique per person, so components never cross people.  ``all_versions`` lets
    a record carry every phone it ever showed; ``latest_version`` only its last.
    """
    usable_phone = records.phone_state[versions.record] == PHONE_PRESENT
    changed = people.phone_old[records.person[versions.record]] >= 0
    phone_bit = np.where(changed & ~versions.new_phone, OLD_PHONE, NEW_PHONE) * usable_phone
    base = np.where(records.email_state == EMAIL_PRESENT, EMAIL, 0) | np.where(
        records.has_unionid, UNIONID, 0
    )
    all_versions = base.copy()
    np.bitwise_or.at(all_versions, versions.record, phone_bit.astype(base.dtype))
    last = np.flatnonzero(np.concatenate([versions.record[1:] != versions.record[:-1], [True]]))
    latest = base.copy()
    latest[versions.record[last]] |= phone_bit[last].astype(base.dtype)
    matrix = records.by_person(people.n)
    result = {}
    for name, mask in (("all_versions", all_versions), ("latest_version", latest)):
        connected, pairs = _connected_pairs(matrix, mask)
        result[name] = round(connected / pairs, 6) if pairs else 1.0
    result["same_person_pairs"] = int(pairs)
    result["records_without_strong_identifier"] = int((all_versions == 0).sum())
    return result


def _connected_pairs(matrix: np.ndarray, mask: np.ndarray) -> tuple[int, int]:
    present = matrix >= 0
    keys = np.where(present, mask[np.where(present, matrix, 0)], 0).astype(np.uint8)
    width = matrix.shape[1]
    reach = keys.copy()
    # After k rounds, reach[i] holds the keys of every record within k links of record i.
    for _ in range(max(width - 1, 1)):
        touches = (reach[:, :, None] & keys[:, None, :]) != 0
        reach = np.bitwise_or.reduce(np.where(touches, keys[:, None, :], 0), axis=2).astype(np.uint8) | reach
    upper = np.triu(np.ones((width, width), dtype=bool), k=1)
    both = present[:, :, None] & present[:, None, :] & upper[None, :, :]
    linked = ((reach[:, :, None] & keys[:, None, :]) != 0) & both
    return int(linked.sum()), int(both.sum())


def optouts_csv(people: People, rng: np.random.Generator) -> bytes:
    """People who opted out of all marketing, by phone and/or e-mail, written as they gave them."""
    who = np.flatnonzero(people.opted_out)
    who = who[rng.permutation(len(who))]
    has_email = people.email.is_valid().to_numpy(zero_copy_only=False)[who]
    form = rng.random(len(who))
    give_phone = ~has_email | (form < 0.75)
    give_email = has_email & (form >= 0.45)
    phone = format_phones(people.phone[who], rng.integers(0, len(PHONE_FORMATS), len(who)).astype(np.int8))
    email = format_emails(
        people.email.take(pa.array(who)), rng.integers(0, len(EMAIL_FORMATS), len(who)).astype(np.int8)
    )
    phone = pc.if_else(pa.array(give_phone), phone, "")
    email = pc.if_else(pa.array(give_email), email, "")
    lines = join(phone, ",", email, "\n")
    return b"phone,email\n" + _join_lines(lines)


def _join_lines(lines: pa.Array) -> bytes:
    if not len(lines):
        return b""
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)[lines.offset : lines.offset + len(lines) + 1]
    return bytes(memoryview(lines.buffers()[2])[int(offsets[0]) : int(offsets[-1])])
