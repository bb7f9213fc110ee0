"""Orders from a heterogeneous repeat-buying process, and engagement events."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tierlib.synth import _vocab as vocab
from tierlib.synth._calendar import DAY
from tierlib.synth._people import ECOMMERCE, GG_P, NOT_REGISTERED, POS, WECHAT, People
from tierlib.synth._records import Records

REFUND_SHARE = 0.07
FULL_REFUND_SHARE = 0.55
FAVOURITE_CATEGORY_SHARE = 0.55
POS_HOME_STORE_SHARE = 0.85
WECHAT_PICKUP_SHARE = 0.4
PREFERRED_PLATFORM_SHARE = 0.75
MAX_ORDER_VALUE = 50_000.0
DORMANT_ENGAGEMENT_FACTOR = 0.15
CHUNK = 1 << 20
EVENT_LEAN_SHARE = 0.3


@dataclass
class Orders:
    """Every purchase a tracked record made, until the end of the truth horizon, person by person."""

    person: np.ndarray
    record: np.ndarray
    channel: np.ndarray  # of the record
    time: np.ndarray
    amount: np.ndarray  # paid, yuan
    discount: np.ndarray
    refund: np.ndarray
    category: np.ndarray
    store: np.ndarray  # -1: online
    platform: np.ndarray  # index into vocab.PLATFORMS, ecommerce only


@dataclass
class Events:
    record: np.ndarray
    time: np.ndarray
    event_type: np.ndarray  # index into EVENT_TYPES


def simulate_purchases(people: People, span_start: int, horizon_end: int, rng: np.random.Generator):
    """Purchase times per person (BG/NBD-like) and the time each person dropped out (-1: still active).

    History before the span is not drawn order by order: only whether the person
    survived it, and when the last purchase was for those who did not.
    """
    acquired = people.acquired_at
    rate = people.purchase_rate
    history_days = np.maximum(span_start - acquired, 0) / DAY
    purchases_before = rng.poisson(rate * history_days)
    until_dropout = rng.geometric(people.dropout_prob)  # purchases up to the one after which they leave
    alive = until_dropout > purchases_before
    churned_at = np.full(people.n, -1, dtype=np.int64)
    dead = np.flatnonzero(~alive)
    # The k-th of m uniform purchase times is Beta(k, m - k + 1) distributed over the history.
    position = rng.beta(until_dropout[dead], purchases_before[dead] - until_dropout[dead] + 1)
    churned_at[dead] = acquired[dead] + (position * history_days[dead] * DAY).astype(np.int64)

    window_start = np.maximum(acquired, span_start)
    window = (horizon_end - window_start).astype(np.float64)
    in_window = rng.poisson(rate * window / DAY)
    remaining = until_dropout - purchases_before
    count = np.where(alive, np.minimum(in_window, remaining), 0)
    drops = alive & (in_window >= remaining)

    # The first `count` of `in_window` sorted uniform times, via normalized exponential spacings:
    # the k-th time is window_start + window * S_k / S_(in_window + 1), S_k the running sum.
    person = np.repeat(np.arange(people.n, dtype=np.int32), count)
    running = np.cumsum(rng.standard_exponential(int(count.sum())))
    ends = np.cumsum(count)
    starts = ends - count
    offset = np.where(starts > 0, running[np.maximum(starts - 1, 0)], 0.0)
    last = np.where(count > 0, running[np.maximum(ends - 1, 0)] - offset, 0.0)
    scale = window / (last + rng.standard_gamma(in_window - count + 1.0))
    running *= np.repeat(scale, count)
    running += np.repeat(window_start - offset * scale, count)
    time = running.astype(np.int64)
    del running
    dropped = np.flatnonzero(drops & (count > 0))
    churned_at[dropped] = time[ends[dropped] - 1]
    return person, time, churned_at


def assign_orders(
    people: People, records: Records, person: np.ndarray, time: np.ndarray, rng: np.random.Generator
) -> Orders:
    """Route each purchase to one of the person's ordering records open at the time; drop the rest."""
    weight = _record_weights(people.order_weight, records)
    record = _route(people, records, weight, person, time, rng)
    kept = record >= 0
    person, time, record = person[kept], time[kept], record[kept].astype(np.int32)
    n = len(person)

    amount = rng.standard_gamma(GG_P, n)
    amount /= people.spend_nu[person]
    np.clip(amount, 1.0, MAX_ORDER_VALUE, out=amount)
    amount = np.round(amount, 2)
    # Price-sensitive people take discounts more often.
    discount = np.zeros(n)
    uses = np.flatnonzero(rng.random(n) < 0.08 + 0.75 * people.price_sensitivity[person])
    rate = rng.uniform(0.05, 0.35, len(uses))
    discount[uses] = np.round(amount[uses] * rate / (1 - rate), 2)
    refund = np.zeros(n)
    refunded = np.flatnonzero(rng.random(n) < REFUND_SHARE)
    partial = rng.random(len(refunded)) >= FULL_REFUND_SHARE
    refund[refunded] = amount[refunded]
    part_rows = refunded[partial]
    refund[part_rows] = np.round(amount[part_rows] * rng.uniform(0.1, 0.9, len(part_rows)), 2)

    category = _draw(rng, vocab.CATEGORY_WEIGHTS, n)
    favourite = np.flatnonzero(rng.random(n) < FAVOURITE_CATEGORY_SHARE)
    category[favourite] = people.favourite_category[person[favourite]]

    channel = records.channel[record]
    store = np.full(n, -1, dtype=np.int16)  # -1: online
    at_pos = np.flatnonzero(channel == POS)
    home = records.store[record[at_pos]]
    elsewhere = rng.integers(0, people.n_stores, len(at_pos))
    store[at_pos] = np.where(rng.random(len(at_pos)) < POS_HOME_STORE_SHARE, home, elsewhere)
    pickup = np.flatnonzero((channel == WECHAT) & (rng.random(n) < WECHAT_PICKUP_SHARE))
    store[pickup] = records.store[record[pickup]]

    platform = np.full(n, -1, dtype=np.int8)
    online = np.flatnonzero(channel == ECOMMERCE)
    preferred = _draw(rng, vocab.PLATFORM_WEIGHTS, len(records))[record[online]]
    any_platform = _draw(rng, vocab.PLATFORM_WEIGHTS, len(online))
    platform[online] = np.where(rng.random(len(online)) < PREFERRED_PLATFORM_SHARE, preferred, any_platform)
    return Orders(
        person=person,
        record=record,
        channel=channel,
        time=time,
        amount=amount,
        discount=discount,
        refund=refund,
        category=category,
        store=store,
        platform=platform,
    )


def simulate_events(
    people: People,
    records: Records,
    churned_at: np.ndarray,
    span_start: int,
    span_end: int,
    rng: np.random.Generator,
) -> Events:
    """Engagement while active, and a trickle after dropping out, routed to engagement records."""
    window_start = np.maximum(people.acquired_at, span_start)
    active_end = np.where(churned_at >= 0, np.clip(churned_at, window_start, span_end), span_end)
    rate = people.engagement_rate
    active = rng.poisson(rate * (active_end - window_start) / DAY)
    dormant = rng.poisson(DORMANT_ENGAGEMENT_FACTOR * rate * (span_end - active_end) / DAY)
    person = np.concatenate([np.repeat(np.arange(people.n), active), np.repeat(np.arange(people.n), dormant)])
    low = np.concatenate([np.repeat(window_start, active), np.repeat(active_end, dormant)])
    high = np.concatenate([np.repeat(active_end, active), np.repeat(np.full(people.n, span_end), dormant)])
    time = low + (rng.random(len(person)) * (high - low)).astype(np.int64)

    weight = _record_weights(people.event_weight, records)
    record = _route(people, records, weight, person, time, rng)
    kept = record >= 0
    person, time, record = person[kept], time[kept], record[kept]

    # People lean towards some kinds of engagement (a reviewer reviews).
    favourite = _draw(rng, vocab.EVENT_WEIGHTS, people.n)
    event_type = _draw(rng, vocab.EVENT_WEIGHTS, len(person))
    leaning = np.flatnonzero(rng.random(len(person)) < EVENT_LEAN_SHARE)
    event_type[leaning] = favourite[person[leaning]]

    # One sort on a packed (time, record, type) key orders the events and finds exact repeats,
    # which would break the (record, type, time) key downstream: they are dropped.
    record_bits = max(len(records).bit_length(), 1)
    key = ((time - span_start) << (record_bits + 3)) | (record << 3) | event_type.astype(np.int64)
    key.sort()
    key = key[np.concatenate([[True], key[1:] != key[:-1]])]
    return Events(
        record=(key >> 3) & ((1 << record_bits) - 1),
        time=(key >> (record_bits + 3)) + span_start,
        event_type=(key & 7).astype(np.int8),
    )


def _draw(rng: np.random.Generator, weights, n: int) -> np.ndarray:
    """``n`` draws of a categorical with the given (unnormalized) weights."""
    cumulative = np.cumsum(np.asarray(weights, dtype=np.float64))
    return np.searchsorted(cumulative / cumulative[-1], rng.random(n), side="right").astype(np.int8)


def _record_weights(channel_weight: np.ndarray, records: Records) -> np.ndarray:
    """Each record's share of its person's activity; duplicate records split their channel's share."""
    weight = channel_weight[records.person, records.channel].astype(np.float64)
    key = records.person * 8 + records.channel
    _, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    return (weight / counts[inverse]).astype(np.float32)


def _route(
    people: People,
    records: Records,
    weight: np.ndarray,
    person: np.ndarray,
    time: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Pick a record per activity among the person's records registered by then (-1: none)."""
    matrix = records.by_person(people.n)
    present = matrix >= 0
    safe = np.where(present, matrix, 0)
    weight_matrix = np.where(present, weight[safe], 0.0).astype(np.float32)
    # Times relative to an origin fit int32 and halve the memory traffic of the gathers below.
    origin = int(time.min()) if len(time) else 0
    limit = np.iinfo(np.int32).max
    registered = np.where(present, records.registered[safe], NOT_REGISTERED)
    registered_matrix = np.clip(registered - origin, -limit, limit).astype(np.int32)
    chosen = np.full(len(person), -1, dtype=np.int64)

    # Most people have one record that fits: it takes the activity whenever it is open, no draw needed.
    capable = weight_matrix > 0
    n_capable = capable.sum(axis=1)
    only_slot = np.argmax(capable, axis=1)
    everyone = np.arange(people.n)
    only_record = matrix[everyone, only_slot]
    only_registered = registered_matrix[everyone, only_slot]
    how_many = n_capable[person]
    single = np.flatnonzero(how_many == 1)
    who = person[single]
    is_open = only_registered[who] <= time[single] - origin
    chosen[single] = np.where(is_open, only_record[who], -1)

    several = np.flatnonzero(how_many > 1)
    for start in range(0, len(several), CHUNK):
        index = several[start : start + CHUNK]
        rows = person[index]
        now = (time[index] - origin).astype(np.int32)
        weights = weight_matrix[rows]
        weights *= registered_matrix[rows] <= now[:, None]
        cumulative = np.cumsum(weights, axis=1)
        draw = rng.random(len(rows)) * cumulative[:, -1]
        slot = np.minimum((cumulative <= draw[:, None]).sum(axis=1), matrix.shape[1] - 1)
        chosen[index] = np.where(cumulative[:, -1] > 0, matrix[rows, slot], -1)
    return chosen
