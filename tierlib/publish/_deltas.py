"""Added and removed rows of a segment file against the previous month's published file."""

from __future__ import annotations

import pandas as pd

_SEPARATOR = "\x1f"


def _row_keys(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    # Null and empty text are the same in a CSV file, so they compare equal here too.
    text = frame[columns].astype("string").fillna("")
    key = text[columns[0]]
    for column in columns[1:]:
        key = key + _SEPARATOR + text[column]
    return key


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
    added = current[~current_keys.isin(previous_keys).to_numpy()]
    removed = previous[~previous_keys.isin(current_keys).to_numpy()]
    return added.reset_index(drop=True), removed.reset_index(drop=True), "previous"
