"""Engagement, price sensitivity, category breadth, channel count and tenure per member."""

from __future__ import annotations

import numpy as np

from tierlib.clv._fitting import distinct_values
from tierlib.features._inputs import Inputs

SOCIAL_EVENTS = ("share", "invite")
PRESENCE_MATRIX_LIMIT = 256_000_000
"""Largest member x value boolean matrix (bytes) used for distinct counts before sorting instead."""
CONTENT_EVENTS = ("review", "post")


def engagement_features(
    inputs: Inputs, event_types: tuple[str, ...], window_days: int
) -> dict[str, np.ndarray]:
    """Event counts per type over the last ``window_days`` days, and their social/content sums."""
    events = inputs.events
    recent = events.day >= inputs.as_of_day - window_days
    kinds = len(event_types)
    counts = np.bincount(
        events.member[recent] * kinds + events.event_type[recent], minlength=inputs.n * kinds
    ).reshape(inputs.n, kinds)
    columns = {f"{kind}s": counts[:, i].astype(np.int64) for i, kind in enumerate(event_types)}
    columns["social_influence"] = sum(columns[f"{kind}s"] for kind in SOCIAL_EVENTS)
    columns["content_contribution"] = sum(columns[f"{kind}s"] for kind in CONTENT_EVENTS)
    return columns


def spending_features(inputs: Inputs, purchase: np.ndarray) -> dict[str, np.ndarray]:
    """price_sensitivity, discount_depth and category_breadth over purchases before the as-of date."""
    orders = inputs.orders
    # zero weights instead of boolean compaction: one pass, no copies of the member codes
    amount = np.where(purchase, orders.amount, 0.0)
    discount = np.where(purchase, orders.discount, 0.0)
    member = orders.member
    spend = np.bincount(member, weights=amount, minlength=inputs.n)
    discounted_spend = np.bincount(member, weights=np.where(discount > 0, amount, 0.0), minlength=inputs.n)
    discounts = np.bincount(member, weights=discount, minlength=inputs.n)
    with np.errstate(invalid="ignore", divide="ignore"):
        sensitivity = np.where(spend > 0, discounted_spend / spend, np.nan)
        depth = np.where(spend + discounts > 0, discounts / (spend + discounts), np.nan)
    known = purchase & (orders.category >= 0)
    breadth = distinct_per_member(member[known], orders.category[known], inputs.n, orders.n_categories)
    return {"price_sensitivity": sensitivity, "discount_depth": depth, "category_breadth": breadth}


def channel_count(inputs: Inputs) -> np.ndarray:
    """Channels in which a member has a record, an order or an event before the as-of date."""
    n_channels = max(len(inputs.channels), 1)
    tables = (inputs.records, inputs.orders, inputs.events)
    if inputs.n * n_channels > PRESENCE_MATRIX_LIMIT:
        member = np.concatenate([table.member for table in tables])
        channel = np.concatenate([table.channel for table in tables])
        known = channel >= 0
        return distinct_per_member(member[known], channel[known], inputs.n, n_channels)
    seen = np.zeros((inputs.n, n_channels), dtype=bool)
    for table in tables:
        if table.channel.size and table.channel.min() < 0:  # rows without a channel count for none
            known = table.channel >= 0
            seen[table.member[known], table.channel[known]] = True
        else:
            seen[table.member, table.channel] = True
    return seen.sum(axis=1, dtype=np.int64)


def first_registration_day(inputs: Inputs) -> np.ndarray:
    """Earliest registration day of each member over its records, -1 when none is known."""
    records = inputs.records
    known = records.registered_day >= 0
    first = np.full(inputs.n, np.iinfo(np.int64).max)
    np.minimum.at(first, records.member[known], records.registered_day[known])
    return np.where(first == np.iinfo(np.int64).max, -1, first)


def tenure_days(inputs: Inputs, registered_first_day: np.ndarray) -> np.ndarray:
    """Days since the member was first known: earliest registration or order, NaN if neither."""
    first = np.where(registered_first_day >= 0, registered_first_day, np.iinfo(np.int64).max)
    np.minimum.at(first, inputs.orders.member, inputs.orders.day)
    return np.where(first == np.iinfo(np.int64).max, np.nan, inputs.as_of_day - first).astype(np.float64)


def distinct_per_member(member: np.ndarray, value: np.ndarray, n: int, n_values: int) -> np.ndarray:
    """How many distinct ``value`` codes each member code 0..n-1 has."""
    if member.size == 0:
        return np.zeros(n, dtype=np.int64)
    if n * n_values <= PRESENCE_MATRIX_LIMIT:
        # a member x value presence matrix is O(rows) and needs no sort
        seen = np.zeros((n, n_values), dtype=bool)
        seen[member, value] = True
        return seen.sum(axis=1, dtype=np.int64)
    keys = distinct_values(member.astype(np.int64) * n_values + value)
    return np.bincount(keys // n_values, minlength=n).astype(np.int64)
