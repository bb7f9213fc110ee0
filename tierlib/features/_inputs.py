"""Turn the three input tables into aligned NumPy arrays keyed by a dense OneID code.

Every feature is a per-member aggregate over millions of rows.  Hashing the
OneID strings once per table and then working on integer codes (bincount,
ufunc.at, boolean matrices) is what keeps twenty million orders within seconds;
nothing here loops over members in Python.
"""

from __future__ import annotations

from dataclasses import dataclass

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

    member: np.ndarray  # int64 code into Population.ids
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

    order_codes, order_ids = _factorize_oneid(orders["oneid"], "orders", keep_orders)
    event_codes, event_ids = _factorize_oneid(events["oneid"], "events", keep_events)
    record_codes, record_ids = _factorize_oneid(records["oneid"], "records", None)
    ids = pd.Index(
        pd.unique(np.concatenate([record_ids, order_ids, event_ids]).astype(object)), name="oneid"
    ).sort_values()

    channels = pd.Index(
        pd.unique(
            np.concatenate(
                [
                    _uniques(records["channel"]),
                    _uniques(orders["channel"][keep_orders]),
                    _uniques(events["channel"][keep_events]),
                ]
            ).astype(object)
        )
    ).sort_values()

    return Inputs(
        ids=ids,
        as_of_day=as_of_day,
        orders=_orders(orders, keep_orders, order_micros, _remap(order_codes, order_ids, ids), channels),
        events=_events(
            events, keep_events, event_micros, _remap(event_codes, event_ids, ids), channels, event_types
        ),
        records=_records(records, _remap(record_codes, record_ids, ids), as_of_micros, channels),
        channels=channels,
    )


def _orders(frame, keep, micros, member, channels) -> Orders:
    amount = _numbers(frame, "amount", keep, required=True)
    category_codes, categories = pd.factorize(
        frame["category"][keep] if not keep.all() else frame["category"]
    )
    return Orders(
        member=member,
        day=np.floor_divide(micros[keep], MICROS_PER_DAY),
        amount=amount,
        discount=_numbers(frame, "discount", keep, required=False),
        refund=_numbers(frame, "refund_amount", keep, required=False),
        category=category_codes.astype(np.int64),
        channel=_channel_codes(frame["channel"], keep, channels, "orders"),
        n_categories=len(categories),
    )


def _events(frame, keep, micros, member, channels, event_types) -> Events:
    types = frame["event_type"][keep] if not keep.all() else frame["event_type"]
    type_codes, type_values = pd.factorize(types)
    known = pd.Index(event_types).get_indexer(type_values)
    if (known < 0).any():
        unknown = sorted(map(str, type_values[known < 0]))
        raise InputError(
            f"events hold unknown event_type(s) {unknown}; features count {list(event_types)}. "
            "Map them to one of these in the channel's connector, or drop them before features."
        )
    return Events(
        member=member,
        day=np.floor_divide(micros[keep], MICROS_PER_DAY),
        event_type=known[type_codes].astype(np.int64) if len(type_codes) else np.zeros(0, np.int64),
        channel=_channel_codes(frame["channel"], keep, channels, "events"),
    )


def _records(frame, member, as_of_micros, channels) -> Records:
    registered = pd.to_datetime(frame["registered_at"]).to_numpy().astype("datetime64[us]").view(np.int64)
    missing = registered == np.iinfo(np.int64).min  # NaT
    usable = ~missing & (registered < as_of_micros)
    registered_day = np.where(usable, np.floor_divide(registered, MICROS_PER_DAY), -1)
    return Records(
        member=member,
        registered_day=registered_day,
        channel=_channel_codes(frame["channel"], None, channels, "records"),
    )


def _micros(frame: pd.DataFrame, column: str, table: str) -> np.ndarray:
    try:
        values = pd.to_datetime(frame[column])
    except (TypeError, ValueError) as error:
        raise InputError(f"{table}.{column} holds a value that is not a timestamp: {error}") from error
    micros = values.to_numpy().astype("datetime64[us]").view(np.int64)
    if (micros == np.iinfo(np.int64).min).any():
        row = int(np.flatnonzero(micros == np.iinfo(np.int64).min)[0])
        raise InputError(f"{table}.{column} is empty at row {row}; every {table[:-1]} needs a time.")
    return micros


def _factorize_oneid(column: pd.Series, table: str, keep: np.ndarray | None):
    values = column if keep is None or keep.all() else column[keep]
    codes, uniques = pd.factorize(values)
    if (codes < 0).any():
        row = int(np.flatnonzero(codes < 0)[0])
        raise InputError(
            f"{table} row {row} (after the as-of filter) has no oneid; join the identity map "
            "so every row carries one."
        )
    return codes.astype(np.int64), np.asarray(uniques, dtype=object)


def _remap(codes: np.ndarray, uniques: np.ndarray, ids: pd.Index) -> np.ndarray:
    return ids.get_indexer(uniques).astype(np.int64)[codes] if len(codes) else np.zeros(0, np.int64)


def _uniques(column: pd.Series) -> np.ndarray:
    return np.asarray(pd.unique(column.dropna()), dtype=object)


def _channel_codes(column: pd.Series, keep, channels: pd.Index, table: str) -> np.ndarray:
    values = column if keep is None or keep.all() else column[keep]
    codes, uniques = pd.factorize(values)
    mapping = channels.get_indexer(np.asarray(uniques, dtype=object))
    result = np.where(codes >= 0, mapping[codes] if len(mapping) else -1, -1)
    return result.astype(np.int64)


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
