"""Turn the three input tables into aligned NumPy arrays keyed by a dense OneID code.

Every feature is a per-member aggregate over millions of rows.  Hashing the
OneID strings once per table and then working on integer codes (bincount,
ufunc.at, boolean matrices) is what keeps twenty million orders within seconds;
nothing here loops over members in Python.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import pandas as pd

from tierlib.errors import InputError

MICROS_PER_DAY = 86_400_000_000

REQUIRED_COLUMNS = {
    "orders": ("oneid", "channel", "ordered_at", "amount", "discount", "refund_amount", "category"),
    "events": ("oneid", "channel", "event_type", "ts"),
    "records": ("oneid", "channel", "registered_at"),
}


@dataclass(frozen=True)
class Orders:
    """Orders placed before the as-of date, one array entry per order."""

    member: np.ndarray  # int64 code into Inputs.ids
    day: np.ndarray  # int64 days since 1970-01-01
    amount: np.ndarray  # paid
    discount: np.ndarray  # taken off
    refund: np.ndarray  # refunded
    category: np.ndarray  # int64 code into categories, -1 when missing
    channel: np.ndarray  # int64 code into Inputs.channels
    n_categories: int

    @property
    def purchase(self) -> np.ndarray:
        """Orders that count as purchases: all but those refunded in full."""
        return ~((self.refund > 0) & (self.refund >= self.amount))


@dataclass(frozen=True)
class Events:
    member: np.ndarray
    day: np.ndarray
    event_type: np.ndarray  # int64 code into EVENT_TYPES
    channel: np.ndarray


@dataclass(frozen=True)
class Records:
    member: np.ndarray
    registered_day: np.ndarray  # int64, -1 when unknown or not before the as-of date
    channel: np.ndarray


@dataclass(frozen=True)
class Inputs:
    ids: pd.Index  # sorted OneIDs: row i of every feature array belongs to ids[i]
    as_of_day: int
    orders: Orders
    events: Events
    records: Records
    channels: pd.Index

    @property
    def n(self) -> int:
        return len(self.ids)


def check_columns(orders: pd.DataFrame, events: pd.DataFrame, records: pd.DataFrame) -> None:
    """One InputError naming every missing column of every table."""
    missing = [
        f"{table} lacks {', '.join(absent)}"
        for table, frame in (("orders", orders), ("events", events), ("records", records))
        if (absent := [c for c in REQUIRED_COLUMNS[table] if c not in frame.columns])
    ]
    if missing:
        raise InputError(
            "feature inputs are incomplete: "
            + "; ".join(missing)
            + ". Features need the standardized tables with the identity map's oneid joined on."
        )


def prepare(
    orders: pd.DataFrame,
    events: pd.DataFrame,
    records: pd.DataFrame,
    as_of: pd.Timestamp,
    event_types: tuple[str, ...],
) -> Inputs:
    check_columns(orders, events, records)
    as_of_micros = int(np.datetime64(as_of.as_unit("us"), "us").astype(np.int64))
    as_of_day = as_of_micros // MICROS_PER_DAY

    order_micros = _micros(orders, "ordered_at", "orders")
    event_micros = _micros(events, "ts", "events")
    keep_orders = order_micros < as_of_micros
    keep_events = event_micros < as_of_micros

    # Hashing the text columns is the largest single cost; Arrow-backed strings release
    # the GIL while they hash, so two threads use both cores.  Results do not depend on it.
    text_columns = {
        (table, column): frame[column]
        for table, frame, columns in (
            ("orders", orders, ("oneid", "channel", "category")),
            ("events", events, ("oneid", "channel", "event_type")),
            ("records", records, ("oneid", "channel")),
        )
        for column in columns
    }
    with ThreadPoolExecutor(max_workers=2) as pool:
        factorized = dict(zip(text_columns, pool.map(pd.factorize, text_columns.values()), strict=True))

    def codes(table: str, column: str, keep: np.ndarray | None, check_missing: bool = False):
        return _factorize(factorized[table, column], keep, table if check_missing else None)

    order_member, order_ids = codes("orders", "oneid", keep_orders, check_missing=True)
    event_member, event_ids = codes("events", "oneid", keep_events, check_missing=True)
    record_member, record_ids = codes("records", "oneid", None, check_missing=True)
    ids, (record_map, order_map, event_map) = _union_sorted(record_ids, order_ids, event_ids)

    order_channel, order_channels = codes("orders", "channel", keep_orders)
    event_channel, event_channels = codes("events", "channel", keep_events)
    record_channel, record_channels = codes("records", "channel", None)
    channels, (record_channel_map, order_channel_map, event_channel_map) = _union_sorted(
        record_channels, order_channels, event_channels
    )

    category, categories = codes("orders", "category", keep_orders)
    event_type, event_type_values = codes("events", "event_type", keep_events)
    known_type = pd.Index(event_types).get_indexer(event_type_values)
    if (known_type < 0).any():
        unknown = sorted(map(str, event_type_values[known_type < 0]))
        raise InputError(
            f"events hold unknown event_type(s) {unknown}; features count {list(event_types)}. "
            "Map them to one of these in the channel's connector, or drop them before features."
        )
    if (event_type < 0).any():
        raise InputError(
            "events hold rows without an event_type; every event needs one of " + str(event_types)
        )

    orders_arrays = Orders(
        member=_remap(order_member, order_map),
        day=np.floor_divide(order_micros[keep_orders], MICROS_PER_DAY),
        amount=_numbers(orders, "amount", keep_orders, required=True),
        discount=_numbers(orders, "discount", keep_orders, required=False),
        refund=_numbers(orders, "refund_amount", keep_orders, required=False),
        category=category,
        channel=_remap(order_channel, order_channel_map),
        n_categories=len(categories),
    )
    events_arrays = Events(
        member=_remap(event_member, event_map),
        day=np.floor_divide(event_micros[keep_events], MICROS_PER_DAY),
        event_type=known_type[event_type] if event_type.size else np.zeros(0, np.int64),
        channel=_remap(event_channel, event_channel_map),
    )
    return Inputs(
        ids=ids,
        as_of_day=as_of_day,
        orders=orders_arrays,
        events=events_arrays,
        records=Records(
            member=_remap(record_member, record_map),
            registered_day=_registered_days(records, as_of_micros),
            channel=_remap(record_channel, record_channel_map),
        ),
        channels=channels,
    )


def _factorize(factorized, keep: np.ndarray | None, table: str | None = None):
    """Codes of the kept rows (-1 for missing) and the distinct values they use.

    ``factorized`` is ``pd.factorize`` of the whole column: the codes are filtered
    afterwards, because filtering twenty million strings would cost more than hashing them.
    """
    codes, uniques = factorized
    codes = codes.astype(np.int64)
    uniques = np.asarray(uniques, dtype=object)
    if keep is not None and not keep.all():
        codes = codes[keep]
        used = np.zeros(len(uniques) + 1, dtype=bool)
        used[codes + 1] = True  # slot 0 is "missing"
        renumber = np.cumsum(used) - 1 - used[0]
        codes = np.where(codes >= 0, renumber[codes + 1], -1)
        uniques = uniques[used[1:]]
    if table is not None and (codes < 0).any():
        row = int(np.flatnonzero(codes < 0)[0])
        if keep is not None:
            row = int(np.flatnonzero(keep)[row])
        raise InputError(
            f"{table} row {row} has no oneid ({int((codes < 0).sum())} such rows); join the "
            "identity map so every row carries one."
        )
    return codes, uniques


def _union_sorted(*value_sets: np.ndarray) -> tuple[pd.Index, list[np.ndarray]]:
    """Sorted union of several arrays of distinct values, and each array's positions in it."""
    codes, union = pd.factorize(np.concatenate(value_sets).astype(object), sort=True)
    bounds = np.cumsum([0, *(len(values) for values in value_sets)])
    positions = [codes[start:end].astype(np.int64) for start, end in pairwise(bounds)]
    return pd.Index(union, dtype=object), positions


def _remap(codes: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Per-table codes turned into positions in the union (-1, missing, stays -1)."""
    if not len(codes):
        return np.zeros(0, np.int64)
    return np.append(positions, -1)[codes]  # code -1 picks the appended -1


def _registered_days(frame: pd.DataFrame, as_of_micros: int) -> np.ndarray:
    registered = (
        pd.to_datetime(frame["registered_at"]).to_numpy().astype("datetime64[us]", copy=False).view(np.int64)
    )
    missing = registered == np.iinfo(np.int64).min  # NaT
    usable = ~missing & (registered < as_of_micros)
    return np.where(usable, np.floor_divide(registered, MICROS_PER_DAY), -1)


def _micros(frame: pd.DataFrame, column: str, table: str) -> np.ndarray:
    try:
        values = pd.to_datetime(frame[column])
    except (TypeError, ValueError) as error:
        raise InputError(f"{table}.{column} holds a value that is not a timestamp: {error}") from error
    micros = values.to_numpy().astype("datetime64[us]", copy=False).view(np.int64)
    if (micros == np.iinfo(np.int64).min).any():
        row = int(np.flatnonzero(micros == np.iinfo(np.int64).min)[0])
        raise InputError(f"{table}.{column} is empty at row {row}; every {table[:-1]} needs a time.")
    return micros


def _numbers(frame: pd.DataFrame, column: str, keep: np.ndarray, *, required: bool) -> np.ndarray:
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    values = values[keep] if not keep.all() else values
    bad = ~np.isfinite(values)
    if bad.any():
        if required:
            raise InputError(
                f"orders.{column} is missing or not a number in {int(bad.sum())} order(s) before the "
                "as-of date; every order needs an amount."
            )
        values = np.where(bad, 0.0, values)  # no discount / no refund recorded
    return values
