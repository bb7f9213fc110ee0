"""Stable OneIDs: map this month's clusters onto last month's OneIDs by shared records.

Rules: a cluster takes the OneID of the previous people whose records it
holds; a previous OneID goes to the cluster holding most of its records (the
larger part of a split keeps the id); when one cluster receives several
previous OneIDs, the one seen first survives (ties: the smaller id) and the
others are recorded as merged into it; clusters with no previous OneID get
new sequential ids.  Previous OneIDs none of whose records remain retire.

The registry is handled by row position (integer arrays) and Arrow kernels:
at a million OneIDs, pandas' per-value string operations would dominate the run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from tierlib.errors import ValidationFailed
from tierlib.identity._arrays import group_starts, sorted_unique, unique_counts
from tierlib.identity._identifiers import KEY_SEPARATOR, join_keys
from tierlib.identity._normalize import to_arrow
from tierlib.identity._settings import IdentitySettings

STATUSES = ("active", "merged", "retired", "erased")
ACTIVE, MERGED, RETIRED = range(3)
ERASED = "erased"
"""Status of a person erased on request: no record of theirs is kept, and the number is never reused."""

REGISTRY_COLUMNS: dict[str, str] = {
    "oneid": "string",
    "first_seen": "string",
    "last_seen": "string",
    "status": "string",
    "merged_into": "string",
}
"""One row per OneID ever issued, sorted by ``oneid``.  ``first_seen``/``last_seen``
are periods (YYYY-MM); ``merged_into`` names the OneID a ``merged`` row lives on as
(chains are flattened, so it names the end of the chain)."""

IDENTITY_MAP_COLUMNS: dict[str, str] = {"channel": "string", "record_id": "string", "oneid": "string"}

EVENT_COLUMNS = ("event", "oneid", "other_oneid", "detail")


@dataclass(frozen=True)
class Assignment:
    label_oneid: pa.Array
    """OneID of each cluster label."""
    registry: pd.DataFrame
    events: pd.DataFrame
    figures: dict[str, int]


@dataclass(frozen=True)
class Previous:
    """Last month's identity map and registry, checked, with the lookups the assignment needs."""

    identity_map: pd.DataFrame
    registry: pd.DataFrame
    """Sorted by OneID: the row number orders OneIDs."""
    map_keys: pa.Array
    """:func:`join_keys` of each map row."""
    map_registry_row: np.ndarray
    """Registry row of each map row's OneID."""


def empty_registry() -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in REGISTRY_COLUMNS.items()})


def empty_map() -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in IDENTITY_MAP_COLUMNS.items()})


def check_previous(previous_map: pd.DataFrame | None, previous_registry: pd.DataFrame | None) -> Previous:
    """Both earlier tables, checked (all problems at once); empty tables on a first run."""
    if (previous_map is None) != (previous_registry is None):
        given, missing = ("map", "registry") if previous_registry is None else ("registry", "map")
        raise ValidationFailed(
            f"identity: got the previous identity {given} without the previous {missing}; pass both "
            "(from the same earlier month) to keep OneIDs stable, or neither for a first run"
        )
    if previous_map is None or previous_registry is None:
        previous_map, previous_registry = empty_map(), empty_registry()
    problems = []
    for table, columns, name in (
        (previous_map, IDENTITY_MAP_COLUMNS, "previous identity map"),
        (previous_registry, ("oneid", "first_seen", "status", "merged_into"), "previous registry"),
    ):
        missing = [column for column in columns if column not in table.columns]
        if missing:
            problems.append(f"the {name} has no column {', '.join(map(repr, missing))}")
    if problems:
        raise ValidationFailed("identity: " + "; ".join(problems) + ". Pass the tables an earlier run wrote.")
    registry = previous_registry.copy()
    if "last_seen" not in registry.columns:
        registry["last_seen"] = registry["first_seen"]
    registry = registry[list(REGISTRY_COLUMNS)].astype(REGISTRY_COLUMNS)
    identity_map = previous_map[list(IDENTITY_MAP_COLUMNS)].astype(IDENTITY_MAP_COLUMNS)
    oneids = to_arrow(registry["oneid"])
    if not _strictly_increasing(oneids):
        order = pc.sort_indices(oneids)
        registry = registry.take(order.to_numpy()).reset_index(drop=True)
        oneids = oneids.take(order)
    if oneids.null_count or not _strictly_increasing(oneids):
        problems.append("the previous registry lists a OneID more than once (or an empty one)")
    bad_status = pc.invert(pc.fill_null(pc.is_in(to_arrow(registry["status"]), pa.array(STATUSES)), False))
    if pc.any(bad_status).as_py():
        first = registry["status"].iloc[int(np.flatnonzero(bad_status.to_numpy(zero_copy_only=False))[0])]
        problems.append(f"the previous registry has status {first!r}; allowed: {', '.join(STATUSES)}")
    position = pc.index_in(to_arrow(identity_map["oneid"]), value_set=oneids)
    if position.null_count:
        unknown = np.flatnonzero(position.is_null().to_numpy(zero_copy_only=False))
        problems.append(
            f"the previous identity map uses {len(unknown)} OneIDs the registry does not know "
            f"(first: {identity_map['oneid'].iloc[int(unknown[0])]})"
        )
    keys = join_keys(to_arrow(identity_map["channel"]), to_arrow(identity_map["record_id"]))
    # A map written by an earlier run is sorted by record, which makes the check one pass.
    if not _strictly_increasing(keys) and len(pc.unique(keys)) != len(keys):
        counts = pc.value_counts(keys)
        twice = pc.filter(counts.field("values"), pc.greater(counts.field("counts"), 1))[0].as_py()
        problems.append(f"the previous identity map lists record {twice.replace(KEY_SEPARATOR, '/')} twice")
    if problems:
        raise ValidationFailed(
            "identity: " + "; ".join(problems) + ". The map and registry must come from the same earlier run."
        )
    return Previous(
        identity_map=identity_map,
        registry=registry,
        map_keys=keys,
        map_registry_row=position.to_numpy(zero_copy_only=False).astype(np.int64),
    )


def assign_oneids(
    node_keys: pa.Array, labels: np.ndarray, period: str, previous: Previous, settings: IdentitySettings
) -> Assignment:
    """OneIDs for this month's clusters (``labels`` per node, ``node_keys`` from :func:`join_keys`)
    and the updated registry."""
    n_labels = int(labels.max()) + 1 if len(labels) else 0
    registry = _RegistryArrays.of(previous.registry)
    n_registry = max(len(registry), 1)

    # Previous OneID of each node (as a registry row), through any merge chain.
    map_row = registry.final_row[previous.map_registry_row]
    node_of_map_row = pc.index_in(previous.map_keys, value_set=node_keys)
    still_there = node_of_map_row.is_valid()
    matched_node = pc.filter(node_of_map_row, still_there).to_numpy().astype(np.int64)
    matched_row = map_row[still_there.to_numpy(zero_copy_only=False)]

    pair, overlap = unique_counts(labels[matched_node] * n_registry + matched_row)
    pair_label, pair_row = pair // n_registry, pair % n_registry
    # Home of each previous OneID: the cluster holding most of its records (ties: lowest label).
    order = np.lexsort((pair_label, -overlap, pair_row))
    home_pairs = order[group_starts(pair_row[order])]
    home_label = np.full(len(registry), -1, dtype=np.int64)
    home_label[pair_row[home_pairs]] = pair_label[home_pairs]

    # Survivor of each cluster among the OneIDs that call it home: seen first, then the smaller id
    # (registry rows are sorted by OneID, so the row number breaks ties).
    claimants = np.flatnonzero(home_label >= 0)
    order = np.lexsort((claimants, registry.first_seen_rank[claimants], home_label[claimants]))
    claimants = claimants[order]
    survives = group_starts(home_label[claimants])
    survivors, merged = claimants[survives], claimants[~survives]
    label_survivor = np.full(n_labels, -1, dtype=np.int64)
    label_survivor[home_label[survivors]] = survivors
    merged_into_row = label_survivor[home_label[merged]]

    new_labels = np.flatnonzero(label_survivor < 0)
    new_ids = _new_ids(registry.oneid, len(new_labels), settings)
    kept_labels = np.flatnonzero(label_survivor >= 0)
    label_order = np.concatenate([kept_labels, new_labels])
    position = np.empty(n_labels, dtype=np.int64)
    position[label_order] = np.arange(n_labels)
    label_oneid = pa.concat_arrays(
        [registry.oneid.take(pa.array(label_survivor[kept_labels])), new_ids.cast(registry.oneid.type)]
    ).take(pa.array(position))

    not_home = pair_label != home_label[pair_row]
    split_row, split_label, split_count = pair_row[not_home], pair_label[not_home], overlap[not_home]
    records_of_row = np.bincount(pair_row, weights=overlap, minlength=len(registry)).astype(np.int64)
    was_active = registry.status == ACTIVE
    retiring = was_active & (home_label < 0)
    events = _events(
        registry,
        label_oneid,
        merged,
        merged_into_row,
        split_row,
        split_label,
        split_count,
        records_of_row,
        retiring,
    )
    updated = registry.updated(period, survivors, merged, merged_into_row, retiring, new_ids)
    figures = {
        "oneids": n_labels,
        "kept_oneids": len(survivors),
        "new_oneids": len(new_labels),
        "merged_oneids": len(merged),
        "split_oneids": len(sorted_unique(split_row)),
        "retired_oneids": int(retiring.sum()),
    }
    return Assignment(label_oneid=label_oneid, registry=updated, events=events, figures=figures)


@dataclass(frozen=True)
class _RegistryArrays:
    """The registry as arrays by row (rows sorted by OneID)."""

    oneid: pa.Array
    first_seen: pa.Array
    last_seen: pa.Array
    status: np.ndarray
    """Index into STATUSES per row."""
    merged_into_row: np.ndarray
    """Row of the ``merged_into`` OneID, -1 if none."""
    final_row: np.ndarray
    """Row a OneID's records now count for: its own, or the end of its merge chain."""
    first_seen_rank: np.ndarray

    def __len__(self) -> int:
        return len(self.oneid)

    @classmethod
    def of(cls, registry: pd.DataFrame) -> _RegistryArrays:
        oneid = to_arrow(registry["oneid"]).cast(pa.large_string())
        status = pc.index_in(to_arrow(registry["status"]), value_set=pa.array(STATUSES))
        status = status.to_numpy(zero_copy_only=False).astype(np.int64)
        target = pc.index_in(to_arrow(registry["merged_into"]), value_set=oneid)
        target = pc.fill_null(target, -1).to_numpy(zero_copy_only=False).astype(np.int64)
        target[status != MERGED] = -1
        first_seen = to_arrow(registry["first_seen"]).cast(pa.large_string())
        rank = pc.rank(pc.fill_null(first_seen, ""), sort_keys="ascending", tiebreaker="dense")
        return cls(
            oneid=oneid,
            first_seen=first_seen,
            last_seen=to_arrow(registry["last_seen"]).cast(pa.large_string()),
            status=status,
            merged_into_row=target,
            final_row=_chain_ends(target),
            first_seen_rank=rank.to_numpy().astype(np.int64),
        )

    def updated(
        self,
        period: str,
        survivors: np.ndarray,
        merged: np.ndarray,
        merged_into_row: np.ndarray,
        retiring: np.ndarray,
        new_ids: pa.Array,
    ) -> pd.DataFrame:
        status = self.status.copy()
        status[retiring] = RETIRED
        status[survivors] = ACTIVE
        status[merged] = MERGED
        target = self.merged_into_row.copy()
        target[survivors] = -1
        target[merged] = merged_into_row
        target = _chain_ends(target)
        target[status != MERGED] = -1
        seen = np.zeros(len(self), dtype=bool)
        seen[survivors] = True
        seen[merged] = True
        n_new = len(new_ids)
        period_text = pa.array([period], pa.large_string())
        table = pa.table(
            {
                "oneid": pa.concat_arrays([self.oneid, new_ids.cast(pa.large_string())]),
                "first_seen": pa.concat_arrays([self.first_seen, _repeat(period_text, n_new)]),
                "last_seen": pa.concat_arrays(
                    [pc.if_else(pa.array(seen), period_text[0], self.last_seen), _repeat(period_text, n_new)]
                ),
                "status": pa.array(STATUSES, pa.large_string()).take(
                    pa.array(np.concatenate([status, np.full(n_new, ACTIVE)]))
                ),
                "merged_into": pa.concat_arrays(
                    [self.oneid.take(pa.array(target, mask=target < 0)), pa.nulls(n_new, pa.large_string())]
                ),
            }
        )
        if len(self) and n_new and pc.less_equal(new_ids[0].cast(pa.large_string()), self.oneid[-1]).as_py():
            table = table.take(pc.sort_indices(table["oneid"]))
        return pd.DataFrame(
            {name: pd.arrays.ArrowStringArray(table[name].combine_chunks()) for name in REGISTRY_COLUMNS}
        )


def _strictly_increasing(values: pa.Array) -> bool:
    """True when each value is greater than the one before (so all are distinct); nulls count as not."""
    if len(values) < 2:
        return True
    ordered = pc.less(values.slice(0, len(values) - 1), values.slice(1))
    return bool(pc.all(pc.fill_null(ordered, False)).as_py())


def _chain_ends(target: np.ndarray) -> np.ndarray:
    """For each row, the row at the end of its ``target`` chain (itself when it has none)."""
    end = np.where(target >= 0, target, np.arange(len(target)))
    for _ in range(64):
        further = end[end]
        if np.array_equal(further, end):
            break
        end = further
    return end


def _repeat(single: pa.Array, count: int) -> pa.Array:
    return single.take(pa.array(np.zeros(count, dtype=np.int64)))


def _new_ids(existing: pa.Array, count: int, settings: IdentitySettings) -> pa.Array:
    prefix, digits = settings.oneid_prefix, settings.oneid_digits
    numbered = pc.filter(
        existing, pc.fill_null(pc.match_substring_regex(existing, f"^{prefix}[0-9]+$"), False)
    )
    numbers = pc.cast(pc.utf8_slice_codeunits(numbered, len(prefix)), pa.int64())
    start = (pc.max(numbers).as_py() or 0) + 1
    text = pc.cast(pa.array(np.arange(start, start + count, dtype=np.int64)), pa.large_string())
    padded = pc.utf8_lpad(text, width=digits, padding="0")
    return pc.binary_join_element_wise(
        pa.scalar(prefix, pa.large_string()), padded, pa.scalar("", pa.large_string())
    )


def _events(
    registry: _RegistryArrays,
    label_oneid: pa.Array,
    merged: np.ndarray,
    merged_into_row: np.ndarray,
    split_row: np.ndarray,
    split_label: np.ndarray,
    split_count: np.ndarray,
    records_of_row: np.ndarray,
    retiring: np.ndarray,
) -> pd.DataFrame:
    """merge / split / retire rows of the merge log (a handful a month, so plain Python is fine)."""
    oneid = registry.oneid
    rows = []
    for row, survivor in zip(merged.tolist(), merged_into_row.tolist(), strict=True):
        other, kept = oneid[row].as_py(), oneid[survivor].as_py()
        first_seen = registry.first_seen[row].as_py()
        detail = f"{other} (first seen {first_seen}) now shares records with {kept}; the older OneID survives"
        rows.append(("merge", kept, other, detail))
    split_other = label_oneid.take(pa.array(split_label)).to_pylist()
    for row, other, count in zip(split_row.tolist(), split_other, split_count.tolist(), strict=True):
        detail = (
            f"{count} of its {records_of_row[row]} records now belong to {other}; the larger part keeps it"
        )
        rows.append(("split", oneid[row].as_py(), other, detail))
    for row in np.flatnonzero(retiring).tolist():
        rows.append(("retire", oneid[row].as_py(), None, "none of its records is in this month's records"))
    return pd.DataFrame(rows, columns=list(EVENT_COLUMNS)).astype({name: "string" for name in EVENT_COLUMNS})
