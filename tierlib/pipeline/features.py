"""Features stage: every member's value features at the month's as-of date.

``member_tables`` is also how the quarterly retrain gets its inputs, so training
and monthly scoring see members the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from tierlib.catalog import (
    clv_params_key,
    features_key,
    identity_key,
    read_standardized,
    standardized_key,
)
from tierlib.pipeline.context import RunContext, log

FEATURE_INPUT_COLUMNS = {
    "orders": ("channel", "ordered_at", "amount", "discount", "refund_amount", "category"),
    "events": ("channel", "event_type", "ts"),
}
"""What features and the retrain read of the standardized history: not ids, stores or lineage."""
FEATURE_RECORD_COLUMNS = ("channel", "record_id", "registered_at", "updated_at")
"""What features and the retrain read of the record versions (not the contact identifiers)."""


class OneIdLookup:
    """Each record's OneID, by (channel, record_id), built once from the identity map.

    Rows get the OneID as a categorical code over the map's OneIDs.  Twenty million history
    rows joined on the two text columns with ``DataFrame.merge`` peak near 7 GB; looking the
    record ids up per channel in Arrow (``index_in``, no Python string objects) and carrying
    integer codes cost a fraction of that in memory and time.
    """

    def __init__(self, identity_map: pd.DataFrame) -> None:
        keys = identity_map[["channel", "record_id", "oneid"]].drop_duplicates(["channel", "record_id"])
        codes, oneids = pd.factorize(keys["oneid"], sort=True)
        self.oneids = pd.Index(oneids, dtype="string")
        self._by_channel: dict[str, tuple[pa.Array, np.ndarray]] = {}
        for channel in keys["channel"].dropna().unique():
            mine = (keys["channel"] == channel).to_numpy(dtype=bool, na_value=False)
            record_ids = _arrow_text(keys["record_id"][mine]).combine_chunks()
            self._by_channel[str(channel)] = (record_ids, codes[mine].astype(np.int64))

    def channel_codes(self, channel: str, record_ids) -> np.ndarray:
        """Positions in ``oneids`` of one channel's record ids (-1: a record the map does not know)."""
        if channel not in self._by_channel:
            return np.full(len(record_ids), -1, dtype=np.int64)
        known_ids, codes = self._by_channel[channel]
        found = pc.index_in(_arrow_text(record_ids), value_set=known_ids)
        found = found.fill_null(-1).to_numpy().astype(np.int64, copy=False)
        return np.where(found >= 0, codes[np.maximum(found, 0)], -1)

    def codes(self, frame: pd.DataFrame) -> np.ndarray:
        """Each row's position in ``oneids`` (-1: a record the map does not know)."""
        codes = np.full(len(frame), -1, dtype=np.int64)
        for channel in frame["channel"].dropna().unique():
            rows = np.flatnonzero((frame["channel"] == channel).to_numpy(dtype=bool, na_value=False))
            codes[rows] = self.channel_codes(str(channel), frame["record_id"].iloc[rows])
        return codes

    def attach(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` with each row's oneid; rows of records the map does not know are dropped."""
        codes = self.codes(frame)
        known = codes >= 0
        joined = frame.reset_index(drop=True) if known.all() else frame.loc[known].reset_index(drop=True)
        joined["oneid"] = pd.Categorical.from_codes(codes[known], categories=self.oneids)
        return joined


def _arrow_text(values) -> pa.ChunkedArray:
    """Text values as Arrow large strings, without a Python object per value."""
    return pd.Series(values).astype("string[pyarrow]").array.__arrow_array__().cast(pa.large_string())


def read_with_oneid(
    ctx: RunContext, kind: str, periods: list[str], lookup: OneIdLookup, columns: Sequence[str]
) -> pd.DataFrame:
    """The standardized ``columns`` of ``kind`` over ``periods``, each row with its oneid.

    Each standardized file holds one channel's month, so a channel's files are looked up in one
    go (one hash set of its record ids, not one per file) and their record ids then dropped:
    the window's record ids never sit in memory all at once.  OneIDs travel as integer codes
    until the one categorical at the end (concatenating categoricals compares their millions of
    categories once per file).  Rows keep the order of ``read_standardized``; ``channel`` comes
    back categorical over the run's channels.
    """
    kept = list(dict.fromkeys([*columns, "channel"]))
    read = [*kept, "record_id"] if "record_id" not in kept else kept
    keys = {
        (period, channel): key
        for period in periods
        for channel in ctx.channels
        if ctx.storage.exists(key := standardized_key(period, channel, kind))
    }
    frames: dict[tuple[str, str], pd.DataFrame] = {}
    for channel in ctx.channels:
        mine = [where for where in keys if where[1] == channel]
        parts = [ctx.storage.read_parquet(keys[where], columns=read) for where in mine]
        if not parts:
            continue
        codes = lookup.channel_codes(
            channel, pd.concat([part["record_id"] for part in parts], ignore_index=True)
        )
        bounds = np.cumsum([len(part) for part in parts])[:-1]
        for where, part, part_codes in zip(mine, parts, np.split(codes, bounds), strict=True):
            known = part_codes >= 0
            part = part.loc[known, kept] if not known.all() else part[kept]
            frames[where] = part.assign(oneid=part_codes[known])
    ordered = [frames[where] for where in keys if where in frames]
    if not ordered:
        ordered = [read_standardized(ctx.storage, kind, [], [], kept).assign(oneid=np.zeros(0, np.int64))]
    frame = pd.concat([f for f in ordered if len(f)] or ordered[:1], ignore_index=True)
    frame["oneid"] = pd.Categorical.from_codes(frame["oneid"].to_numpy(), categories=lookup.oneids)
    frame["channel"] = pd.Categorical(frame["channel"], categories=pd.Index(ctx.channels, dtype="string"))
    return frame


def member_tables(ctx: RunContext, identity_month: str | None = None) -> tuple[pd.DataFrame, ...]:
    """Orders, events and record versions of the history window, each row with its oneid.

    The identity of ``identity_month`` (default: the run's month) names the people.
    """
    month = identity_month or ctx.period
    lookup = OneIdLookup(ctx.storage.read_parquet(identity_key(month, "identity_map")))
    records = ctx.storage.read_parquet(identity_key(month, "records"), columns=FEATURE_RECORD_COLUMNS)
    orders, events = (
        read_with_oneid(ctx, kind, ctx.history_periods, lookup, FEATURE_INPUT_COLUMNS[kind])
        for kind in ("orders", "events")
    )
    return orders, events, lookup.attach(records)


def clv_figures(clv: dict | None) -> dict:
    """The CLV model used and its holdout check, for the stage's figures (the full record is
    written beside the features)."""
    if not clv:
        return {}
    check = clv.get("holdout_check", {})
    figures = {
        "clv_model": clv["model"],
        "clv_penalizer": clv["penalizer"],
        "clv_holdout_scores": {
            name: round(item["score"], 6) for name, item in check.get("scores", {}).items()
        },
    }
    if check.get("skipped"):
        figures["clv_models_skipped"] = check["skipped"]
    if clv.get("note"):
        figures["clv_note"] = clv["note"]
    return figures


def run_features(ctx: RunContext) -> dict:
    """Every member's features at the month's as-of date, and the month's CLV parameters.

    Per-member parts first, then the population parts (RFM quintiles, the 8-cell split, the CLV
    fit) over all members: the two steps the Spark engine runs per OneID partition and once.
    """
    from tierlib.features._partial import combine_partials, member_partials

    settings = ctx.config.stage("features")
    orders, events, records = member_tables(ctx)
    figures_in = {"orders_in": len(orders), "events_in": len(events)}
    partial = member_partials(orders, events, records, ctx.as_of, settings)
    del orders, events, records
    features = combine_partials([partial], ctx.as_of, settings)
    del partial
    clv = features.attrs.pop("clv", None)
    ctx.storage.write_parquet(features_key(ctx.period), features)
    if clv is not None:
        ctx.storage.write_json(clv_params_key(ctx.period), clv)
    buyers = int((features["frequency"] > 0).sum()) if "frequency" in features else None
    figures = {
        "members": len(features),
        "buyers": buyers,
        **figures_in,
        "history_months": len(ctx.history_periods),
        **clv_figures(clv),
    }
    log.info("features %s: %s", ctx.period, figures)
    return figures
