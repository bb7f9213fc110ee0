"""Records that share no strong identifier with the person's other records.

Three cases a probabilistic OneID layer must link from names, birthdays,
cities and the visible digits of a masked phone:

- a marketplace order profile (Tmall, JD, Douyin): the receiver's phone masked
  (``138****5678``), the receiver's name and city;
- a store walk-in: name and birthday only, no phone;
- a second web account: name, birthday and city, and an e-mail with a typo.

Names are sometimes mistyped (a homophone from the input method, or a wrong
character).  The records come from their own random stream and are appended after
everyone else's, so the rest of the dataset stays as it was; they are never
chosen as bad rows, and they place no orders.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tierlib.synth import _vocab as vocab
from tierlib.synth._noise import PHONE_MASKED
from tierlib.synth._people import ECOMMERCE, MEMBER_CENTER, NOT_REGISTERED, POS, People
from tierlib.synth._records import (
    EMAIL_MISSING,
    EMAIL_PRESENT,
    KIND_SIGNUP,
    PHONE_MASKED_STATE,
    PHONE_MISSING,
    Records,
    Versions,
    nicknames,
)
from tierlib.synth._strings import padded_ints

CASES = ("", "platform_masked_phone", "walk_in", "second_account")
"""Truth labels (``record_person.case``); the empty label marks the ordinary records."""
PLATFORM, WALK_IN, SECOND_ACCOUNT = 1, 2, 3
PLATFORM_SHARE = 0.03
"""Share of people with a marketplace order profile besides their other records."""
WALK_IN_SHARE = 0.02
"""Share of store or member-centre customers registered once more at a till, without a phone."""
SECOND_ACCOUNT_SHARE = 0.015
"""Share of people with an e-mail and a member-centre account who opened another one."""
NAME_TYPO_SHARE = 0.08


def add_unlinked_records(
    people: People, names: pa.Array, records: Records, versions: Versions, bounds: np.ndarray, rng
) -> tuple[Records, Versions]:
    """``records`` and ``versions`` with the new cases appended (indices after the existing ones)."""
    span_start, span_end = int(bounds[0]), int(bounds[-1])
    member = people.registered != NOT_REGISTERED
    has_email = people.email.is_valid().to_numpy(zero_copy_only=False)
    has_birthday_record = member[:, POS] | member[:, MEMBER_CENTER]
    draws = rng.random((3, people.n))
    chosen = [
        np.flatnonzero(draws[0] < PLATFORM_SHARE),
        np.flatnonzero(has_birthday_record & (draws[1] < WALK_IN_SHARE)),
        np.flatnonzero(member[:, MEMBER_CENTER] & has_email & (draws[2] < SECOND_ACCOUNT_SHARE)),
    ]
    person = np.concatenate(chosen)
    case = np.concatenate([np.full(len(rows), code, dtype=np.int8) for code, rows in enumerate(chosen, 1)])
    channel = np.array([0, ECOMMERCE, POS, MEMBER_CENTER], dtype=np.int8)[case]
    n_new = len(person)
    earliest = np.maximum(people.acquired_at[person], span_start)
    registered = earliest + (rng.random(n_new) * np.maximum(span_end - 3600 - earliest, 1)).astype(np.int64)
    registered = np.minimum(registered, span_end - 3600)

    written_name = _mistyped(names.take(pa.array(person)), rng)
    email = people.email.take(pa.array(person))
    written_email = pc.if_else(pa.array(case == SECOND_ACCOUNT), _email_typos(email, rng), None)
    n_old = len(records)
    added = Records(
        person=person.astype(np.int64),
        channel=channel,
        registered=registered,
        is_duplicate=np.zeros(n_new, dtype=bool),
        store=people.home_store[person].astype(np.int64),
        guide=rng.integers(0, 8, n_new),
        record_id=_record_ids(records, channel, rng),
        phone_state=np.where(case == PLATFORM, PHONE_MASKED_STATE, PHONE_MISSING).astype(np.int8),
        phone_format=np.full(n_new, PHONE_MASKED, dtype=np.int8),
        starts_with_new_phone=np.ones(n_new, dtype=bool),
        email_state=np.where(case == SECOND_ACCOUNT, EMAIL_PRESENT, EMAIL_MISSING).astype(np.int8),
        email_format=np.zeros(n_new, dtype=np.int8),
        has_unionid=np.zeros(n_new, dtype=bool),
        device_id=pa.nulls(n_new, pa.string()),
        consent=rng.random((n_new, 3)) < 0.3,
        nickname=nicknames(people, person, rng),
        channel_start=records.channel_start,
    )
    combined = Records(
        **{
            name: _concat(getattr(records, name), getattr(added, name))
            for name in (f.name for f in dataclasses.fields(Records))
            if name not in ("channel_start", "written_name", "written_email", "case")
        },
        channel_start=records.channel_start,
        written_name=pa.concat_arrays([_nulls_or(records.written_name, n_old), written_name]),
        written_email=pa.concat_arrays([_nulls_or(records.written_email, n_old), written_email]),
        case=np.concatenate([records.case if records.case is not None else np.zeros(n_old, np.int8), case]),
    )
    order = np.arange(n_old, n_old + n_new)
    signup = np.maximum(registered, span_start)
    combined_versions = Versions(
        record=np.concatenate([versions.record, order]),
        time=np.concatenate([versions.time, signup]),
        kind=np.concatenate([versions.kind, np.full(n_new, KIND_SIGNUP, dtype=np.int8)]),
        new_phone=np.concatenate([versions.new_phone, np.ones(n_new, dtype=bool)]),
        consent=np.concatenate([versions.consent, added.consent]),
        city=np.concatenate([versions.city, people.city[person]]),
    )
    return combined, combined_versions


def _concat(old, new):
    if isinstance(old, pa.Array):
        return pa.concat_arrays([old.cast(pa.string()), new.cast(pa.string())])
    return np.concatenate([old, new.astype(old.dtype)])


def _nulls_or(values: pa.Array | None, n: int) -> pa.Array:
    return pa.nulls(n, pa.string()) if values is None else values


def _homophones() -> dict[str, list[str]]:
    by_sound: dict[str, list[str]] = {}
    for char, sound in vocab.GIVEN:
        by_sound.setdefault(sound, []).append(char)
    return {char: [c for c in by_sound[sound] if c != char] for char, sound in vocab.GIVEN}


def _mistyped(names: pa.Array, rng) -> pa.Array:
    """Names with a typo in the given name for a share of rows: a homophone where one exists
    (what a pinyin input method offers first), otherwise another character."""
    homophones = _homophones()
    given = [char for char, _ in vocab.GIVEN]
    text = names.to_pylist()
    typo = np.flatnonzero(rng.random(len(text)) < NAME_TYPO_SHARE)
    picks = rng.integers(0, 1 << 30, size=(len(typo), 2))
    for row, (a, b) in zip(typo.tolist(), picks.tolist(), strict=True):
        name = text[row]
        position = 1 + a % (len(name) - 1)
        char = name[position]
        options = homophones.get(char) or [c for c in given if c != char]
        text[row] = name[:position] + options[b % len(options)] + name[position + 1 :]
    return pa.array(text, pa.string())


def _email_typos(email: pa.Array, rng) -> pa.Array:
    """Each address with one slip in its local part: a dropped, doubled or swapped character."""
    out = []
    kinds = rng.integers(0, 3, len(email))
    spots = rng.integers(0, 1 << 30, len(email))
    for address, kind, spot in zip(email.to_pylist(), kinds.tolist(), spots.tolist(), strict=True):
        if address is None:
            out.append(None)
            continue
        local, domain = address.split("@", 1)
        at = spot % (len(local) - 1)
        if kind == 0:
            local = local[:at] + local[at + 1 :]
        elif kind == 1:
            local = local[: at + 1] + local[at:]
        else:
            local = local[:at] + local[at + 1] + local[at] + local[at + 2 :]
        out.append(f"{local}@{domain}")
    return pa.array(out, pa.string())


def _record_ids(records: Records, channel: np.ndarray, rng) -> pa.Array:
    """Ids in each channel's own style that no existing record uses."""
    ids = np.empty(len(channel), dtype=object)
    for code in (ECOMMERCE, POS, MEMBER_CENTER):
        rows = np.flatnonzero(channel == code)
        start, end = records.channel_start[code], records.channel_start[code + 1]
        existing = records.record_id.slice(start, end - start)
        if code == ECOMMERCE:
            # Marketplace buyer ids of another platform's numbering ("3" instead of "2").
            values = padded_ints(rng.choice(10**10, size=len(rows), replace=False), 10, prefix=b"3")
        else:
            prefix = "V" if code == POS else "MC"
            width = 9 if code == POS else 10
            numbers = pc.cast(pc.utf8_slice_codeunits(existing, len(prefix)), pa.int64())
            last = pc.max(numbers).as_py() or 0
            values = padded_ints(last + 1 + np.arange(len(rows)), width, prefix=prefix.encode())
        ids[rows] = values.to_pylist()
    return pa.array(ids.tolist(), pa.string())
