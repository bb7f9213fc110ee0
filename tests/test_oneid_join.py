"""Attaching OneIDs to history rows: the code-based join gives what a merge on the text keys gives."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tierlib.pipeline.features import OneIdLookup, with_oneid


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
    joined = with_oneid(rows, identity_map())
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
