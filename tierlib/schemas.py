"""Column contracts of the standardized tables every stage reads and writes.

Connectors map each channel's own columns onto these; everything downstream of
extract relies on exactly these names and dtypes.  Timestamps are naive and in
the business's local time (the channels all report local time).
"""

from __future__ import annotations

import pandas as pd

CHANNELS = ("app", "wechat", "ecommerce", "pos", "member_center", "guide")
"""Channel codes the synthetic data and the default config use.

The config may declare other channels; this tuple is not a whitelist.
"""

KINDS = ("records", "orders", "events")
"""The three tables each channel can deliver."""

EVENT_TYPES = ("view", "share", "review", "invite", "post")

LINEAGE_COLUMNS = ("source_file", "source_row")
"""Where a standardized row came from: file path or table, and 0-based row index."""

STRING = "string"
TIMESTAMP = "datetime64[us]"
FLOAT = "float64"
BOOLEAN = "boolean"

RECORD_COLUMNS: dict[str, str] = {
    "channel": STRING,
    "record_id": STRING,
    "phone": STRING,
    "email": STRING,
    "member_id": STRING,
    "unionid": STRING,
    "openid": STRING,
    "device_id": STRING,
    "platform_user_id": STRING,
    "name": STRING,
    "birth_date": TIMESTAMP,
    "city": STRING,
    "store_id": STRING,
    "guide_id": STRING,
    "external_userid": STRING,
    "registered_at": TIMESTAMP,
    "updated_at": TIMESTAMP,
    "consent_sms": BOOLEAN,
    "consent_email": BOOLEAN,
    "consent_push": BOOLEAN,
    "consent_wechat": BOOLEAN,
}
"""One member record as one channel knows it.

``external_userid`` is the WeCom (企业微信) external contact id of a customer who added the
record's guide on WeCom; the guide reaches them through a group-send task.

``updated_at`` places a record version in a month: a record first appears in the
month it was registered and again in any month it changed (a new phone, say).
"""

ORDER_COLUMNS: dict[str, str] = {
    "channel": STRING,
    "order_id": STRING,
    "record_id": STRING,
    "ordered_at": TIMESTAMP,
    "amount": FLOAT,
    "discount": FLOAT,
    "refund_amount": FLOAT,
    "category": STRING,
    "store_id": STRING,
}
"""One order; ``amount`` is what was paid, ``discount`` what was taken off, in yuan."""

EVENT_COLUMNS: dict[str, str] = {
    "channel": STRING,
    "record_id": STRING,
    "event_type": STRING,
    "ts": TIMESTAMP,
}

COLUMNS_BY_KIND: dict[str, dict[str, str]] = {
    "records": RECORD_COLUMNS,
    "orders": ORDER_COLUMNS,
    "events": EVENT_COLUMNS,
}

REQUIRED_COLUMNS_BY_KIND: dict[str, tuple[str, ...]] = {
    "records": ("record_id", "updated_at"),
    "orders": ("order_id", "record_id", "ordered_at", "amount"),
    "events": ("record_id", "event_type", "ts"),
}
"""Columns a row cannot do without: a bad value here quarantines the row.  A bad value in any
other (optional) column is cleared and counted, and the row is kept."""

TIME_COLUMN_BY_KIND = {"records": "updated_at", "orders": "ordered_at", "events": "ts"}
"""The column that places a row in a month."""

KEY_COLUMNS_BY_KIND = {
    "records": ("channel", "record_id", "updated_at"),
    "orders": ("channel", "order_id"),
    "events": ("channel", "record_id", "event_type", "ts"),
}

QUARANTINE_COLUMNS: dict[str, str] = {
    "stage": STRING,
    "channel": STRING,
    "kind": STRING,
    "source_file": STRING,
    "source_row": "int64",
    "reason": STRING,
    "detail": STRING,
    "row_json": STRING,
}
"""A rejected row: where it was rejected, where it came from, why, and the row itself."""

FIELD_QUARANTINE_COLUMNS: dict[str, str] = {
    "stage": STRING,
    "channel": STRING,
    "kind": STRING,
    "source_file": STRING,
    "source_row": "int64",
    "column": STRING,
    "source_column": STRING,
    "reason": STRING,
    "value": STRING,
}
"""A cleared optional field: the row was kept with the field empty; ``value`` is what the source wrote."""

QUARANTINE_REASONS: dict[str, str] = {
    # extract (tierlib.extract.standardize): the row cannot be read or typed
    "malformed_row": "a line of the file is not a row (broken JSON, a CSV row with too many or too "
    "few fields)",
    "missing_key": "the row's key (record_id, order_id) or a required foreign key is empty",
    "bad_encoding": "a text value holds bytes that are not valid in the channel's encoding",
    "unparseable_date": "a date or time does not parse in the channel's format",
    "non_numeric_amount": "an amount is not a number (as the channel declares numbers: numbers.<column>)",
    "non_finite_amount": "an amount is infinite or too large to be one (inf, Infinity, 1e309)",
    "unknown_channel_code": "the row's channel code is not one the channel declares",
    # raw validation (tierlib.validation): typed rows that break a rule
    "missing_date": "the column that places the row in a month is empty",
    "future_date": "a date or time at or after the run's as-of instant",
    "outside_period": "the row's time lies before the month it was delivered for",
    "negative_amount": "amount, discount or refund below zero",
    "missing_amount": "an order without an amount",
    "duplicate_order_id": "a later copy of an order id already seen in the channel's month, or delivered "
    "in an earlier month (the detail names it)",
    "superseded_order": "an order re-delivered in a later month, whose delivery replaces this one "
    "(orders.redelivered: update)",
    "unknown_event_type": "an event type outside the configured list",
    # derived datasets (identity map, features, scores, tiers, exports)
    "missing_oneid": "an accepted record without a OneID",
    "duplicate_key": "a later copy of a key that must be unique (channel + record_id, oneid, export id)",
    "missing_value": "a required value is empty or NaN",
    "out_of_range": "a value outside its allowed range (scores, probabilities, non-negative figures)",
    "unknown_tier": "a tier that is not in the configured set",
    "bad_identifier_format": "an identifier that does not have its normalized form",
}
"""Every reason code a quarantined row can carry, and what it means."""

FIELD_REASONS: dict[str, str] = {
    "placeholder_value": "a placeholder written for no value (NULL, \\N, N/A, 0000-00-00)",
    "unparseable_date": "a date or time that does not parse in the channel's format",
    "non_numeric_amount": "an amount that is not a number",
    "non_finite_amount": "an amount that is infinite",
    "unknown_boolean": "a yes/no value in a spelling not understood (true/false, 1/0, y/n, yes/no, t/f)",
    "future_date": "a date at or after the run's as-of instant (a birthday in 2049)",
    "negative_amount": "a discount or refund below zero",
}
"""Why an optional field was cleared (the row kept): ``FIELD_QUARANTINE_COLUMNS.reason``."""


def empty_frame(columns: dict[str, str]) -> pd.DataFrame:
    """A zero-row DataFrame with exactly the contract's columns and dtypes."""
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in columns.items()})
