"""Sort-based set operations on integer arrays.

``numpy.unique`` without ``return_inverse`` hashes first and is an order of
magnitude slower than sorting on the integer keys used here (millions of
``value * n + node`` codes), so the graph code uses these instead.
"""

from __future__ import annotations

import numpy as np


def _starts(sorted_values: np.ndarray) -> np.ndarray:
    starts = np.empty(len(sorted_values), dtype=bool)
    if len(sorted_values):
        starts[0] = True
        np.not_equal(sorted_values[1:], sorted_values[:-1], out=starts[1:])
    return starts


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """Distinct values, ascending."""
    ordered = np.sort(values)
    return ordered[_starts(ordered)]


def unique_counts(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values ascending, and how often each occurs."""
    ordered = np.sort(values)
    first = np.flatnonzero(_starts(ordered))
    return ordered[first], np.diff(np.append(first, len(ordered)))


def group_starts(sorted_values: np.ndarray) -> np.ndarray:
    """Boolean mask of the first element of each run of equal values."""
    return _starts(sorted_values)


def unique_inverse(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values ascending, and the index of each input value among them."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = _starts(ordered)
    inverse = np.empty(len(values), dtype=np.int64)
    inverse[order] = np.cumsum(starts) - 1
    return ordered[starts], inverse


def first_index_per_label(labels: np.ndarray, n_labels: int) -> np.ndarray:
    """Lowest position holding each label 0..n_labels-1 (labels must all be present)."""
    order = np.argsort(labels, kind="stable")
    return order[_starts(labels[order])]
