"""Channel records of people and their versions over time (sign-up, phone change, profile edits)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from tierlib.synth import _vocab as vocab
from tierlib.synth._calendar import DAY, YEAR
from tierlib.synth._noise import EMAIL_FORMATS, PHONE_FORMATS, PHONE_MASKED
from tierlib.synth._people import (
    APP,
    CHANNELS,
    ECOMMERCE,
    MEMBER_CENTER,
    NOT_REGISTERED,
    POS,
    WECHAT,
    People,
)
from tierlib.synth._strings import (
    BASE64URL,
    HEX_LOWER,
    HEX_UPPER,
    affine_permutation,
    from_fixed_width,
    hstack_bytes,
    join,
    padded_ints,
    pick,
    random_tokens,
)

PHONE_PRESENT, PHONE_MISSING, PHONE_PLACEHOLDER, PHONE_MASKED_STATE = range(4)
EMAIL_PRESENT, EMAIL_MISSING, EMAIL_PLACEHOLDER = range(3)
KIND_SIGNUP, KIND_PHONE_CHANGE, KIND_PROFILE = range(3)

# Per channel: share of records without a phone, with a store's placeholder phone, with a masked phone.
PHONE_MISSING_SHARE = np.array([0.001, 0.005, 0.001, 0.001, 0.002, 0.005])
PHONE_PLACEHOLDER_SHARE = np.array([0.0, 0.0, 0.0, 0.003, 0.0, 0.0])
PHONE_MASKED_SHARE = np.array([0.0, 0.0, 0.002, 0.0, 0.0, 0.0])
# Share of people with an e-mail address who give it to the channel (0: the channel has no e-mail).
EMAIL_GIVEN_SHARE = np.array([0.6, 0.0, 0.5, 0.0, 0.85, 0.0])
# Of records with no e-mail, the share that typed a placeholder instead.
EMAIL_PLACEHOLDER_SHARE = np.array([0.03, 0.0, 0.06, 0.0, 0.0, 0.0])
EMAIL_PLACEHOLDER_VALUE = ("none@none.com", "", "test@test.com", "", "", "")
UNIONID_SHARE = np.array([0.0, 0.85, 0.0, 0.0, 0.6, 0.75])
PHONE_FORMAT_WEIGHTS = np.array(
    [
        [0.86, 0.03, 0.0, 0.02, 0.01, 0.02, 0.02, 0.03, 0.01],
        [0.7, 0.0, 0.0, 0.05, 0.0, 0.0, 0.0, 0.25, 0.0],
        [0.8, 0.02, 0.02, 0.03, 0.03, 0.04, 0.03, 0.02, 0.01],
        [0.75, 0.02, 0.03, 0.03, 0.06, 0.04, 0.04, 0.0, 0.03],
        [0.6, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.4, 0.0],
        [0.6, 0.04, 0.04, 0.08, 0.04, 0.1, 0.08, 0.0, 0.02],
    ]
)
EMAIL_FORMAT_WEIGHTS = np.array([0.88, 0.03, 0.05, 0.04])
POS_DUPLICATE_SHARE = 0.015
SHARED_DEVICE_SHARE = 0.02
OTHER_CHANNELS_UPDATE_SHARE = 0.5
PROFILE_EDITS_PER_YEAR = 0.15
CONSENT_FLAGS = ("sms", "email", "push")
# The consent flags each channel shows (indices into CONSENT_FLAGS, repeated to a common width; -1: none).
FLAG_CHOICES = np.array(
    [[0, 2, 0, 2, 0, 2], [2] * 6, [0, 1, 0, 1, 0, 1], [0] * 6, [0, 1, 2, 0, 1, 2], [-1] * 6], dtype=np.int64
)
CITY_MOVE_SHARE = 0.25
GUIDES_PER_STORE = 8

assert PHONE_FORMAT_WEIGHTS.shape[1] == len(PHONE_FORMATS)
assert len(EMAIL_FORMAT_WEIGHTS) == len(EMAIL_FORMATS)


@dataclass
class Records:
    """One row per channel record, sorted by channel, then sign-up time; the records of
    ``tierlib.synth._unlinked`` follow after all others."""

    person: np.ndarray
    channel: np.ndarray
    registered: np.ndarray
    is_duplicate: np.ndarray
    store: np.ndarray
    guide: np.ndarray
    record_id: pa.Array
    phone_state: np.ndarray
    phone_format: np.ndarray
    starts_with_new_phone: np.ndarray
    email_state: np.ndarray
    email_format: np.ndarray
    has_unionid: np.ndarray
    device_id: pa.Array  # app records only meaningful
    consent: np.ndarray  # (n, 3) initial sms/email/push
    nickname: pa.Array
    channel_start: np.ndarray  # record index where each channel begins (7 bounds)
    written_name: pa.Array | None = None
    """Per record: the name as this record has it, where it differs from the person's (a typo); else null."""
    written_email: pa.Array | None = None
    """Per record: the e-mail as this record has it, where it differs from the person's; else null."""
    case: np.ndarray | None = None
    """Per record: index into ``tierlib.synth._unlinked.CASES`` (0: an ordinary record)."""

    def __len__(self) -> int:
        return len(self.person)

    def by_person(self, n_people: int) -> np.ndarray:
        """``(n_people, most records of one person)`` matrix of record indices, earliest first, -1 padded."""
        order = np.lexsort((self.registered, self.person))
        person = self.person[order]
        first = np.searchsorted(person, np.arange(n_people))
        slot = np.arange(len(person)) - first[person]
        width = int(slot.max()) + 1 if len(slot) else 1
        matrix = np.full((n_people, width), -1, dtype=np.int64)
        matrix[person, slot] = order
        return matrix


@dataclass
class Versions:
    """Rows of the members files: one per record version, sorted by record, then time."""

    record: np.ndarray
    time: np.ndarray
    kind: np.ndarray
    new_phone: np.ndarray
    consent: np.ndarray  # (n, 3)
    city: np.ndarray


def make_records(people: People, bounds: np.ndarray, rng: np.random.Generator) -> Records:
    span_end = int(bounds[-1])
    person_idx, channel_idx = np.nonzero(people.registered != NOT_REGISTERED)
    registered = people.registered[person_idx, channel_idx]
    store = people.home_store[person_idx].astype(np.int64)
    is_duplicate = np.zeros(len(person_idx), dtype=bool)

    # Some store customers sign up twice at the POS (another store, a new card): a second record.
    pos_rows = np.flatnonzero((channel_idx == POS) & (rng.random(len(channel_idx)) < POS_DUPLICATE_SHARE))
    dup_registered = registered[pos_rows] + (
        rng.random(len(pos_rows)) * (span_end - registered[pos_rows])
    ).astype(np.int64)
    person_idx = np.concatenate([person_idx, person_idx[pos_rows]])
    channel_idx = np.concatenate([channel_idx, channel_idx[pos_rows]])
    registered = np.concatenate([registered, dup_registered])
    store = np.concatenate([store, rng.integers(0, people.n_stores, len(pos_rows))])
    is_duplicate = np.concatenate([is_duplicate, np.ones(len(pos_rows), dtype=bool)])

    order = np.lexsort((person_idx, registered, channel_idx))
    person_idx, channel_idx, registered = person_idx[order], channel_idx[order], registered[order]
    store, is_duplicate = store[order], is_duplicate[order]
    n = len(order)
    channel_start = np.searchsorted(channel_idx, np.arange(len(CHANNELS) + 1))

    missing = rng.random(n)
    share_missing = PHONE_MISSING_SHARE[channel_idx]
    share_placeholder = PHONE_PLACEHOLDER_SHARE[channel_idx]
    share_masked = PHONE_MASKED_SHARE[channel_idx]
    phone_state = np.full(n, PHONE_PRESENT, dtype=np.int8)
    phone_state[missing < share_missing] = PHONE_MISSING
    band = share_missing + share_placeholder
    phone_state[(missing >= share_missing) & (missing < band)] = PHONE_PLACEHOLDER
    phone_state[(missing >= band) & (missing < band + share_masked)] = PHONE_MASKED_STATE
    phone_format = _categorical(rng, PHONE_FORMAT_WEIGHTS[channel_idx])
    phone_format[phone_state == PHONE_MASKED_STATE] = PHONE_MASKED
    changed_at = people.phone_changed_at[person_idx]
    starts_new = (changed_at >= 0) & (registered >= changed_at)

    has_email = people.email.is_valid().to_numpy(zero_copy_only=False)[person_idx]
    gives_email = has_email & (rng.random(n) < EMAIL_GIVEN_SHARE[channel_idx])
    email_state = np.where(gives_email, EMAIL_PRESENT, EMAIL_MISSING).astype(np.int8)
    email_state[~gives_email & (rng.random(n) < EMAIL_PLACEHOLDER_SHARE[channel_idx])] = EMAIL_PLACEHOLDER
    email_format = _categorical(rng, np.broadcast_to(EMAIL_FORMAT_WEIGHTS, (n, len(EMAIL_FORMATS))))
    has_unionid = rng.random(n) < UNIONID_SHARE[channel_idx]

    receptive = people.receptiveness[person_idx][:, None]
    consent = rng.random((n, 3)) < receptive * np.array([0.8, 0.6, 0.7])[None, :]

    return Records(
        person=person_idx.astype(np.int64),
        channel=channel_idx.astype(np.int8),
        registered=registered,
        is_duplicate=is_duplicate,
        store=store,
        guide=rng.integers(0, GUIDES_PER_STORE, n),
        record_id=_record_ids(channel_idx, channel_start, rng),
        phone_state=phone_state,
        phone_format=phone_format.astype(np.int8),
        starts_with_new_phone=starts_new,
        email_state=email_state,
        email_format=email_format.astype(np.int8),
        has_unionid=has_unionid,
        device_id=_device_ids(channel_start, rng),
        consent=consent,
        nickname=nicknames(people, person_idx, rng),
        channel_start=channel_start,
    )


def make_versions(people: People, records: Records, bounds: np.ndarray, rng: np.random.Generator) -> Versions:
    """Sign-up rows plus a new version for each phone change and profile edit inside the span."""
    span_start, span_end = int(bounds[0]), int(bounds[-1])
    n = len(records)
    first_month_len = int(bounds[1] - bounds[0])
    # Records from before the span are delivered in the first month, as a snapshot.
    signup_time = np.where(
        records.registered >= span_start,
        records.registered,
        span_start + (rng.random(n) * first_month_len).astype(np.int64),
    )

    # Phone changes: the record a person uses most (the earliest) always follows; others sometimes.
    changed_at = people.phone_changed_at[records.person]
    before_change = (changed_at >= 0) & ~records.starts_with_new_phone
    earliest = np.zeros(n, dtype=bool)
    earliest[records.by_person(people.n)[:, 0]] = True
    follows = before_change & (earliest | (rng.random(n) < OTHER_CHANNELS_UPDATE_SHARE))
    follows &= records.phone_state == PHONE_PRESENT
    lag = np.where(earliest, rng.exponential(3 * DAY, n), rng.exponential(30 * DAY, n)).astype(np.int64)
    change_time = np.maximum(changed_at + lag, signup_time + 3600)
    follows &= change_time < span_end
    change_rows = np.flatnonzero(follows)

    exposure = (span_end - np.maximum(signup_time, span_start)) / YEAR
    edits = rng.poisson(PROFILE_EDITS_PER_YEAR * exposure)
    edit_rows = np.repeat(np.arange(n), edits)
    edit_time = signup_time[edit_rows] + (
        rng.random(len(edit_rows)) * (span_end - signup_time[edit_rows])
    ).astype(np.int64)
    edit_time = np.maximum(edit_time, signup_time[edit_rows] + 1)

    record = np.concatenate([np.arange(n), change_rows, edit_rows])
    time = np.concatenate([signup_time, change_time[change_rows], edit_time])
    kind = np.concatenate(
        [
            np.full(n, KIND_SIGNUP, dtype=np.int8),
            np.full(len(change_rows), KIND_PHONE_CHANGE, dtype=np.int8),
            np.full(len(edit_rows), KIND_PROFILE, dtype=np.int8),
        ]
    )
    # An edit flips one of the channel's consent flags or, now and then, moves the person's city.
    edit_toggle = FLAG_CHOICES[
        records.channel[edit_rows], rng.integers(0, FLAG_CHOICES.shape[1], len(edit_rows))
    ]
    edit_toggle[rng.random(len(edit_rows)) < CITY_MOVE_SHARE] = -1
    toggle = np.concatenate([np.full(n + len(change_rows), -1), edit_toggle])
    new_city = np.concatenate(
        [np.full(n + len(change_rows), -1), rng.integers(0, len(vocab.CITIES), len(edit_rows))]
    )
    new_city[toggle >= 0] = -1
    time = np.minimum(time, span_end - 1)

    order = np.lexsort((kind, time, record))
    record, time, kind, toggle, new_city = (
        record[order],
        time[order],
        kind[order],
        toggle[order],
        new_city[order],
    )
    # Versions closer than an hour to the previous one are dropped: POS keeps minutes only, and
    # (record, updated time) must stay a key after that truncation.
    same = np.concatenate([[False], record[1:] == record[:-1]])
    too_close = same & (np.diff(time, prepend=time[0]) < 3600)
    keep = ~too_close
    record, time, kind, toggle, new_city = record[keep], time[keep], kind[keep], toggle[keep], new_city[keep]

    phone_update = np.full(n, NOT_REGISTERED, dtype=np.int64)
    is_change = kind == KIND_PHONE_CHANGE
    phone_update[record[is_change]] = time[is_change]
    new_phone = records.starts_with_new_phone[record] | (time >= phone_update[record])

    first = np.concatenate([[True], record[1:] != record[:-1]])
    group_start = np.maximum.accumulate(np.where(first, np.arange(len(record)), 0))
    consent = records.consent[record].copy()
    for flag in range(3):
        flips = np.cumsum(toggle == flag)
        flips_before_group = flips[group_start] - (toggle[group_start] == flag)
        consent[:, flag] ^= ((flips - flips_before_group) % 2).astype(bool)
    city_source = np.where(first | (new_city >= 0), np.arange(len(record)), 0)
    last_city_row = np.maximum.accumulate(city_source)
    city = np.where(new_city >= 0, new_city, people.city[records.person[record]])[last_city_row]
    return Versions(record=record, time=time, kind=kind, new_phone=new_phone, consent=consent, city=city)


def _categorical(rng: np.random.Generator, weights: np.ndarray) -> np.ndarray:
    cumulative = np.cumsum(weights, axis=1)
    draw = rng.random(len(weights)) * cumulative[:, -1]
    return (cumulative < draw[:, None]).sum(axis=1).astype(np.int8)


def _record_ids(channel: np.ndarray, channel_start: np.ndarray, rng: np.random.Generator) -> pa.Array:
    pieces = []
    for code in range(len(CHANNELS)):
        count = int(channel_start[code + 1] - channel_start[code])
        sequence = np.arange(count, dtype=np.int64)
        if code == APP:
            pieces.append(padded_ints(100_000_000 + int(rng.integers(0, 10**6)) + sequence * 3, 9))
        elif code == WECHAT:
            pieces.append(random_tokens(rng, count, 24, BASE64URL, prefix=b"oX3q"))
        elif code == ECOMMERCE:
            codes = affine_permutation(sequence, 10**10, int(rng.integers(1, 2**31)))
            pieces.append(padded_ints(codes, 10, prefix=b"2"))
        elif code == POS:
            pieces.append(padded_ints(1 + sequence, 9, prefix=b"V"))
        elif code == MEMBER_CENTER:
            pieces.append(padded_ints(int(rng.integers(10**8, 9 * 10**8)) + sequence, 10, prefix=b"MC"))
        else:
            pieces.append(random_tokens(rng, count, 16, HEX_LOWER, prefix=b"c_"))
    return pa.concat_arrays([piece.cast(pa.string()) for piece in pieces])


def _device_ids(channel_start: np.ndarray, rng: np.random.Generator) -> pa.Array:
    """Upper-case UUIDs for app records; households share one device between two people."""
    n = int(channel_start[-1])
    n_app = int(channel_start[APP + 1] - channel_start[APP])
    hex_chars = np.frombuffer(HEX_UPPER, dtype=np.uint8)[rng.integers(0, 16, size=(n_app, 32))]
    shared = rng.permutation(n_app)[: 2 * int(n_app * SHARED_DEVICE_SHARE / 2)].reshape(-1, 2)
    hex_chars[shared[:, 1]] = hex_chars[shared[:, 0]]
    uuid = hstack_bytes(
        [
            hex_chars[:, :8],
            b"-",
            hex_chars[:, 8:12],
            b"-",
            hex_chars[:, 12:16],
            b"-",
            hex_chars[:, 16:20],
            b"-",
            hex_chars[:, 20:],
        ],
        n_app,
    )
    app_ids = from_fixed_width(uuid)
    before = pa.nulls(int(channel_start[APP]), pa.string())
    after = pa.nulls(n - int(channel_start[APP + 1]), pa.string())
    return pa.concat_arrays([before, app_ids, after])


def nicknames(people: People, person: np.ndarray, rng: np.random.Generator) -> pa.Array:
    n = len(person)
    word = pick(vocab.NICK_WORDS, rng.integers(0, len(vocab.NICK_WORDS), n))
    given = pick([g for g, _ in vocab.GIVEN], people.given[person, 0])
    suffix = pick(vocab.NICK_SUFFIXES, rng.integers(0, len(vocab.NICK_SUFFIXES), n))
    return join(word, given, suffix)
