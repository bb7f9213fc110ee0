"""Added and removed rows of a segment file against the previous month's published file."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from tierlib.publish._frames import arrow_text, is_in

_SEPARATOR = pa.scalar("\x1f", pa.large_string())


def _row_keys(frame: pd.DataFrame, columns: list[str]) -> pa.Array:
    # Null and empty text are the same in a CSV file, so they compare equal here too.
    parts = [arrow_text(frame[column]).fill_null("") for column in columns]
    return parts[0] if len(parts) == 1 else pc.binary_join_element_wise(*parts, _SEPARATOR)


def row_deltas(
    current: pd.DataFrame, previous: pd.DataFrame | None
) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """``(added, removed, basis)``: rows of ``current`` not in ``previous`` and the reverse.

    A row is compared as a whole, so a member whose phone changed shows as the
    old row removed and the new one added (apply removals first).  ``basis`` is
    ``previous`` when a previous file was compared, ``none`` when there was no
    previous publish (every row is added), ``columns_changed`` when the previous
    file had other columns (every row is added, none removed: resend in full).
    """
    columns = list(current.columns)
    if previous is None:
        return current.reset_index(drop=True), current.iloc[0:0].reset_index(drop=True), "none"
    if list(previous.columns) != columns:
        return current.reset_index(drop=True), current.iloc[0:0].reset_index(drop=True), "columns_changed"
    previous = previous.astype({column: "string" for column in columns})
    current_keys = _row_keys(current, columns)
    previous_keys = _row_keys(previous, columns)
    added = current[~is_in(current_keys, previous_keys)]
    removed = previous[~is_in(previous_keys, current_keys)]
    return added.reset_index(drop=True), removed.reset_index(drop=True), "previous"
