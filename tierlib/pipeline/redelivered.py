"""Orders a channel delivers again in a later month: counted once.

A platform that re-exports an order with a new time (a late payment confirmation, a status
change) would otherwise have it accepted in both months.  Order ids are checked against the
channel's other months of the history window already in storage:

- ``redelivered: duplicate`` (default): a re-delivered order is quarantined as
  ``duplicate_order_id``, its detail naming the month it was first delivered;
- ``redelivered: update``: the later delivery is the order's current version.  Extracting
  the later month moves the earlier copy from its month's standardized orders to that
  month's quarantine (``superseded_order``, figures and marker updated), and re-extracting
  the earlier month keeps it out for as long as the later month holds it.
"""

from __future__ import annotations

import pandas as pd

from tierlib.catalog import quarantine_key, standardized_key, standardized_marker_key
from tierlib.period import shift_period
from tierlib.pipeline.context import RunContext, log
from tierlib.validation._outcome import quarantine_frame


class DeliveredOrders:
    """The order ids of one channel's stored months, read once per run and kept as months are written."""

    def __init__(self, ctx: RunContext, channel: str) -> None:
        self.ctx = ctx
        self.channel = channel
        self._ids: dict[str, pd.Series | None] = {}

    def ids(self, period: str) -> pd.Series | None:
        if period not in self._ids:
            key = standardized_key(period, self.channel, "orders")
            marker = standardized_marker_key(period, self.channel)
            stored = self.ctx.storage.exists(marker) and self.ctx.storage.exists(key)
            frame = self.ctx.storage.read_parquet(key, columns=["order_id"]) if stored else None
            self._ids[period] = None if frame is None else frame["order_id"].astype("string")
        return self._ids[period]

    def written(self, period: str, orders: pd.DataFrame) -> None:
        self._ids[period] = orders["order_id"].astype("string")

    def elsewhere(self, period: str, mode: str) -> pd.DataFrame:
        """``order_id, period, reason`` of ids this month must not accept again.

        Earlier months of the window (``duplicate``), or, for ``update``, later months whose
        delivery replaces this one's.
        """
        window = self.ctx.config.run.history_months
        if mode == "update":
            months = [shift_period(period, offset) for offset in range(1, window)]
            reason = "superseded_order"
            months = [m for m in months if m <= self.ctx.period]
        else:
            months = [shift_period(period, -offset) for offset in range(1, window)]
            reason = "duplicate_order_id"
        # Oldest first for duplicates (the detail names where an order was first seen),
        # latest first for updates (the delivery that replaces it).
        months = sorted(months, reverse=mode == "update")
        parts = [
            pd.DataFrame({"order_id": ids, "period": month, "reason": reason})
            for month in months
            if (ids := self.ids(month)) is not None and len(ids)
        ]
        if not parts:
            return pd.DataFrame({"order_id": pd.Series(dtype="string"), "period": [], "reason": []})
        return pd.concat(parts, ignore_index=True)

    def supersede_earlier(self, period: str, orders: pd.DataFrame) -> dict[str, int]:
        """``update`` mode after ``period`` was written: earlier copies of its orders leave their months."""
        moved: dict[str, int] = {}
        window = self.ctx.config.run.history_months
        ids = orders["order_id"].astype("string")
        for offset in range(1, window):
            month = shift_period(period, -offset)
            earlier = self.ids(month)
            if earlier is None or not earlier.isin(ids).any():
                continue
            moved[month] = self._move_to_quarantine(month, ids, period)
        return moved

    def _move_to_quarantine(self, month: str, ids: pd.Series, later: str) -> int:
        storage = self.ctx.storage
        key = standardized_key(month, self.channel, "orders")
        frame = storage.read_parquet(key)
        gone = frame["order_id"].astype("string").isin(ids).to_numpy()
        rows = frame.loc[gone]
        detail = "orders.order_id.not_delivered_before: order_id=" + rows["order_id"].astype("string")
        moved = quarantine_frame(
            rows.drop(columns=["source_file", "source_row"]),
            stage="extract",
            channel=self.channel,
            kind="orders",
            source_file=rows["source_file"].to_numpy(dtype=object),
            source_row=rows["source_row"].to_numpy(),
            reason=["superseded_order"] * len(rows),
            detail=(detail + f" re-delivered in {later}").to_numpy(dtype=object),
        )
        quarantined_key = quarantine_key(month, "extract", self.channel, "orders")
        quarantined = storage.read_parquet(quarantined_key) if storage.exists(quarantined_key) else None
        parts = [part for part in (quarantined, moved) if part is not None and len(part)]
        combined = pd.concat(parts, ignore_index=True).sort_values("source_row", kind="stable")
        kept = frame.loc[~gone].reset_index(drop=True)
        marker_key = standardized_marker_key(month, self.channel)
        marker = storage.read_json(marker_key)
        storage.delete(marker_key)
        storage.write_parquet(key, kept)
        storage.write_parquet(quarantined_key, combined.reset_index(drop=True))
        figures = marker["orders"]
        figures["accepted"] -= len(rows)
        figures["quarantined"] += len(rows)
        figures["quarantined_validation"] += len(rows)
        figures["reasons"]["superseded_order"] = figures["reasons"].get("superseded_order", 0) + len(rows)
        figures["reasons"] = dict(sorted(figures["reasons"].items()))
        rows_in = figures["rows_in"]
        figures["quarantine_share"] = round(figures["quarantined"] / rows_in, 6) if rows_in else 0.0
        storage.write_json(marker_key, marker)
        self._ids[month] = kept["order_id"].astype("string")
        log.info(
            "extract %s %s orders: %d orders re-delivered in %s replace their copies here (superseded_order)",
            self.channel,
            month,
            len(rows),
            later,
        )
        return len(rows)
