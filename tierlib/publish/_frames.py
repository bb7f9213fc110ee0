"""Text columns as Arrow arrays, and the member code space the stage works in.

Publishing compares millions of oneids, phones and record keys.  pandas'
Arrow-backed text is slow to sort, group and ``isin`` against large sets, so
the stage turns every oneid into an integer code once (its rank among the
month's oneids, so ordering by code is ordering by oneid) and does set work
with Arrow's hash kernels.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def arrow_text(values: Iterable) -> pa.Array:
    """Any column, list or set of text as one ``large_string`` Arrow array (nulls kept)."""
    if isinstance(values, pa.ChunkedArray):
        array = pa.concat_arrays(values.chunks) if values.num_chunks else pa.array([], type=values.type)
        return array.cast(pa.large_string())
    if isinstance(values, pa.Array):
        return values.cast(pa.large_string())
    if isinstance(values, set | frozenset):
        values = sorted(values)
    series = values if isinstance(values, pd.Series) else pd.Series(values, dtype="string")
    return arrow_text(pa.array(series.astype("string").array))


def text_series(values: pa.Array, index: pd.Index | None = None) -> pd.Series:
    """An Arrow text array as a pandas ``string`` column."""
    return pd.Series(pd.arrays.ArrowStringArray(values.cast(pa.large_string())), index=index, dtype="string")


def is_in(values: Iterable, candidates: Iterable) -> np.ndarray:
    """``values.isin(candidates)`` as a numpy bool array; nulls never match."""
    left, right = arrow_text(values), arrow_text(candidates)
    if len(right) == 0:
        return np.zeros(len(left), dtype=bool)
    return pc.is_in(left, value_set=right, skip_nulls=True).fill_null(False).to_numpy(zero_copy_only=False)


def positions(values: Iterable, among: pa.Array) -> np.ndarray:
    """Where each value sits in ``among`` (distinct values), -1 when absent or null."""
    found = pc.index_in(arrow_text(values), value_set=among, skip_nulls=True)
    return found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)


def map_distinct(values: Iterable, function: Callable[[pd.Series], pd.Series]) -> pa.Array:
    """``function`` applied once per distinct value (a normalizer is costly; values repeat a lot)."""
    array = arrow_text(values)
    encoded = pc.dictionary_encode(array)
    mapped = arrow_text(function(text_series(encoded.dictionary)))
    return mapped.take(encoded.indices)


_KEY_SEPARATOR = pa.scalar("\x1f", pa.large_string())


def record_keys(frame: pd.DataFrame) -> pa.Array:
    """``channel`` and ``record_id`` joined into one text key per row (a record's identity)."""
    return pc.binary_join_element_wise(
        arrow_text(frame["channel"]).fill_null(""),
        arrow_text(frame["record_id"]).fill_null(""),
        _KEY_SEPARATOR,
    )


def first_of_runs(keys: np.ndarray) -> np.ndarray:
    """Mask of the first row of each run of equal ``keys`` (rows sorted so that equal keys are adjacent)."""
    mask = np.ones(len(keys), dtype=bool)
    mask[1:] = keys[1:] != keys[:-1]
    return mask


class MemberIndex:
    """Every oneid of the month, sorted; a member's code is its position."""

    def __init__(self, *columns: Iterable) -> None:
        parts = [arrow_text(column) for column in columns]
        combined = pa.concat_arrays(parts) if parts else pa.array([], type=pa.large_string())
        distinct = pc.unique(combined.drop_null())
        self.oneids = distinct.take(pc.sort_indices(distinct))

    def __len__(self) -> int:
        return len(self.oneids)

    def codes(self, oneids: Iterable) -> np.ndarray:
        """Member codes of ``oneids``; -1 for a null or unknown oneid."""
        return positions(oneids, self.oneids)

    def names(self, codes: np.ndarray, index: pd.Index | None = None) -> pd.Series:
        """The oneids of member codes."""
        return text_series(self.oneids.take(pa.array(codes, type=pa.int64())), index=index)

    def mask(self, codes: np.ndarray) -> np.ndarray:
        """A bool array over every member code, true at ``codes``."""
        out = np.zeros(len(self), dtype=bool)
        out[codes[codes >= 0]] = True
        return out
