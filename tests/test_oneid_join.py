"""Attaching OneIDs to history rows: the code-based join gives what a merge on the text keys gives."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd

from tierlib.catalog import read_standardized, standardized_key
from tierlib.pipeline.features import OneIdLookup, read_with_oneid


def identity_map() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "channel": ["app", "app", "pos", "pos", "pos"],
            "record_id": ["1", "2", "1", "9", "9"],  # a repeated key keeps its first OneID
            "oneid": ["P2", "P1", "P3", "P1", "P1"],
        },
        dtype="string",
    )


def test_rows_get_the_oneid_of_their_channel_and_record_and_unknown_records_are_dropped():
    rows = pd.DataFrame(
        {
            "channel": pd.array(["pos", "app", "wechat", "app", "pos", "app", None], dtype="string"),
            "record_id": pd.array(["1", "1", "1", "7", "9", "2", "1"], dtype="string"),
            "amount": np.arange(7, dtype=np.float64),
        }
    )
    joined = OneIdLookup(identity_map()).attach(rows)
    merged = rows.merge(
        identity_map().drop_duplicates(["channel", "record_id"]), on=["channel", "record_id"], how="inner"
    )
    assert joined["amount"].tolist() == [0.0, 1.0, 4.0, 5.0]  # row order kept, unknowns gone
    assert joined["oneid"].astype("string").tolist() == merged["oneid"].tolist() == ["P3", "P2", "P1", "P1"]
    assert isinstance(joined["oneid"].dtype, pd.CategoricalDtype)
    assert list(joined["oneid"].cat.categories) == ["P1", "P2", "P3"]


def test_codes_mark_unknown_records_minus_one():
    lookup = OneIdLookup(identity_map())
    rows = pd.DataFrame({"channel": ["app", "shop", "pos"], "record_id": ["2", "2", "3"]}, dtype="string")
    assert lookup.codes(rows).tolist() == [0, -1, -1]


def test_reading_the_window_joins_like_a_merge_and_keeps_the_read_order(local_storage):
    rows = {
        ("2026-09", "app"): ["1", "2", "5"],
        ("2026-09", "pos"): ["9", "1"],
        ("2026-10", "app"): ["2", "2"],
        ("2026-10", "pos"): ["1", "8"],
    }
    for (period, channel), record_ids in rows.items():
        frame = pd.DataFrame(
            {
                "channel": pd.array([channel] * len(record_ids), dtype="string"),
                "record_id": pd.array(record_ids, dtype="string"),
                "amount": np.arange(len(record_ids), dtype=np.float64) + 10 * len(record_ids),
            }
        )
        local_storage.write_parquet(standardized_key(period, channel, "orders"), frame)
    ctx = SimpleNamespace(storage=local_storage, channels=["app", "pos"])
    periods = ["2026-09", "2026-10"]

    joined = read_with_oneid(ctx, "orders", periods, OneIdLookup(identity_map()), ["amount"])
    expected = read_standardized(local_storage, "orders", periods, ctx.channels).merge(
        identity_map().drop_duplicates(["channel", "record_id"]), on=["channel", "record_id"], how="inner"
    )
    assert list(joined.columns) == ["amount", "channel", "oneid"]  # record ids dropped after the join
    assert joined["amount"].tolist() == expected["amount"].tolist()
    assert joined["oneid"].astype("string").tolist() == expected["oneid"].tolist()
    assert joined["channel"].astype("string").tolist() == expected["channel"].tolist()
    assert len(joined) == 7  # app 5 and pos 8 are not in the map
