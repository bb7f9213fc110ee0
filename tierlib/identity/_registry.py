"""Stable OneIDs: map this month's clusters onto last month's OneIDs by shared records.

Rules: a cluster takes the OneID of the previous people whose records it
holds; a previous OneID goes to the cluster holding most of its records (the
larger part of a split keeps the id); when one cluster receives several
previous OneIDs, the one seen first survives (ties: the smaller id) and the
others are recorded as merged into it; clusters with no previous OneID get
new sequential ids.  Previous OneIDs none of whose records remain retire.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tierlib.errors import ValidationFailed
from tierlib.identity._settings import IdentitySettings

STATUSES = ("active", "merged", "retired")

REGISTRY_COLUMNS: dict[str, str] = {
    "oneid": "string",
    "first_seen": "string",
    "last_seen": "string",
    "status": "string",
    "merged_into": "string",
}
"""One row per OneID ever issued.  ``first_seen``/``last_seen`` are periods (YYYY-MM);
``merged_into`` names the surviving OneID of a ``merged`` row (always an active one
when the registry is written: chains are flattened)."""

IDENTITY_MAP_COLUMNS: dict[str, str] = {"channel": "string", "record_id": "string", "oneid": "string"}

EVENT_COLUMNS = ("event", "oneid", "other_oneid", "detail")


@dataclass(frozen=True)
class Assignment:
    label_oneid: np.ndarray
    """OneID (object array) of each cluster label."""
    registry: pd.DataFrame
    events: pd.DataFrame
    figures: dict[str, int]


def empty_registry() -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in REGISTRY_COLUMNS.items()})


def check_previous(
    previous_map: pd.DataFrame | None, previous_registry: pd.DataFrame | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both earlier tables, checked; two empty tables on a first run."""
    if (previous_map is None) != (previous_registry is None):
        given, missing = ("map", "registry") if previous_registry is None else ("registry", "map")
        raise ValidationFailed(
            f"identity: got the previous identity {given} without the previous {missing}; pass both "
            "(from the same earlier month) to keep OneIDs stable, or neither for a first run"
        )
    if previous_map is None or previous_registry is None:
        return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in IDENTITY_MAP_COLUMNS.items()}), (
            empty_registry()
        )
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

    duplicated_ids = registry["oneid"][registry["oneid"].duplicated()]
    if len(duplicated_ids):
        problems.append(f"the previous registry lists OneID {duplicated_ids.iloc[0]} more than once")
    bad_status = registry.loc[~registry["status"].isin(STATUSES), "status"]
    if len(bad_status):
        problems.append(
            f"the previous registry has status {bad_status.iloc[0]!r}; allowed: {', '.join(STATUSES)}"
        )
    unknown = ~identity_map["oneid"].isin(registry["oneid"])
    if unknown.any():
        problems.append(
            f"the previous identity map uses {int(unknown.sum())} OneIDs the registry does not know "
            f"(first: {identity_map.loc[unknown, 'oneid'].iloc[0]})"
        )
    doubled = identity_map.duplicated(["channel", "record_id"])
    if doubled.any():
        row = identity_map[doubled].iloc[0]
        problems.append(f"the previous identity map lists record {row['channel']}/{row['record_id']} twice")
    if problems:
        raise ValidationFailed(
            "identity: " + "; ".join(problems) + ". The map and registry must come from the same earlier run."
        )
    return identity_map, registry


def assign_oneids(
    node_keys: pd.DataFrame,
    labels: np.ndarray,
    period: str,
    previous_map: pd.DataFrame,
    previous_registry: pd.DataFrame,
    settings: IdentitySettings,
) -> Assignment:
    n_labels = int(labels.max()) + 1 if len(labels) else 0
    registry = previous_registry.reset_index(drop=True)
    # A map row naming a since-merged OneID counts for the id it was merged into.
    final_id = _flattened_targets(registry)
    carried = previous_map.assign(
        oneid=_mapped(previous_map["oneid"], final_id).fillna(previous_map["oneid"])
    )

    matched = node_keys.assign(node=np.arange(len(node_keys))).merge(
        carried, on=["channel", "record_id"], how="inner", sort=False
    )
    previous_codes, previous_ids = pd.factorize(matched["oneid"], sort=True)
    previous_ids = np.asarray(previous_ids, dtype=object)
    n_previous = len(previous_ids)
    first_seen = (
        registry.set_index("oneid")["first_seen"].reindex(previous_ids).fillna(period).to_numpy(dtype=object)
    )

    label_of_match = labels[matched["node"].to_numpy()]
    pair, overlap = np.unique(label_of_match * max(n_previous, 1) + previous_codes, return_counts=True)
    pair_label, pair_previous = pair // max(n_previous, 1), pair % max(n_previous, 1)
    # Home of each previous OneID: the cluster holding most of its records (ties: lowest label).
    order = np.lexsort((pair_label, -overlap, pair_previous))
    is_first = np.r_[True, pair_previous[order][1:] != pair_previous[order][:-1]] if len(order) else order
    home_rows = order[is_first.astype(bool)]
    home_label = np.full(n_previous, -1, dtype=np.int64)
    home_label[pair_previous[home_rows]] = pair_label[home_rows]

    # Survivor of each cluster among the previous OneIDs that call it home: seen first, then smallest id.
    seen_rank = pd.factorize(pd.Series(first_seen, dtype="string"), sort=True)[0]
    claimants = np.flatnonzero(home_label >= 0)
    order = np.lexsort((claimants, seen_rank[claimants], home_label[claimants]))
    claimants = claimants[order]
    claim_label = home_label[claimants]
    survives = np.r_[True, claim_label[1:] != claim_label[:-1]] if len(claimants) else np.zeros(0, bool)
    survivors, merged = claimants[survives], claimants[~survives]
    label_survivor = np.full(n_labels, -1, dtype=np.int64)
    label_survivor[home_label[survivors]] = survivors

    label_oneid = np.empty(n_labels, dtype=object)
    label_oneid[label_survivor >= 0] = previous_ids[label_survivor[label_survivor >= 0]]
    new_labels = np.flatnonzero(label_survivor < 0)
    new_ids = _new_ids(registry["oneid"], len(new_labels), settings)
    label_oneid[new_labels] = new_ids

    merged_into = previous_ids[label_survivor[home_label[merged]]]
    events = [
        pd.DataFrame(
            {
                "event": "merge",
                "oneid": merged_into,
                "other_oneid": previous_ids[merged],
                "detail": [
                    f"{other} (first seen {first_seen[code]}) now shares records with {survivor}; "
                    "the older OneID survives"
                    for other, code, survivor in zip(previous_ids[merged], merged, merged_into, strict=True)
                ],
            }
        )
    ]
    not_home = pair_label != home_label[pair_previous]
    split_previous, split_label = pair_previous[not_home], pair_label[not_home]
    total = np.bincount(pair_previous, weights=overlap, minlength=n_previous)
    events.append(
        pd.DataFrame(
            {
                "event": "split",
                "oneid": previous_ids[split_previous],
                "other_oneid": label_oneid[split_label],
                "detail": [
                    f"{count} of its {int(all_records)} records now belong to {other}; "
                    "the larger part keeps it"
                    for count, all_records, other in zip(
                        overlap[not_home], total[split_previous], label_oneid[split_label], strict=True
                    )
                ],
            }
        )
    )

    survivor_ids = previous_ids[survivors]
    merged_ids = previous_ids[merged]
    was_active = registry["status"] == "active"
    retiring = was_active & ~registry["oneid"].isin(survivor_ids) & ~registry["oneid"].isin(merged_ids)
    retired_ids = registry.loc[retiring, "oneid"].to_numpy(dtype=object)
    events.append(
        pd.DataFrame(
            {
                "event": "retire",
                "oneid": retired_ids,
                "other_oneid": pd.NA,
                "detail": "none of its records is in this month's records",
            }
        )
    )

    registry = _updated_registry(registry, period, survivor_ids, merged_ids, merged_into, retiring, new_ids)
    event_table = pd.concat([frame for frame in events if len(frame)] or [events[0]], ignore_index=True)
    event_table = event_table.astype({name: "string" for name in EVENT_COLUMNS})
    figures = {
        "oneids": n_labels,
        "kept_oneids": len(survivors),
        "new_oneids": len(new_labels),
        "merged_oneids": len(merged),
        "split_oneids": len(np.unique(split_previous)),
        "retired_oneids": len(retired_ids),
    }
    return Assignment(label_oneid=label_oneid, registry=registry, events=event_table, figures=figures)


def _mapped(ids: pd.Series, mapping: dict[str, str]) -> pd.Series:
    """``ids`` looked up in ``mapping`` as a string Series (NA where absent)."""
    return ids.astype(object).map(mapping).astype("string")


def _flattened_targets(registry: pd.DataFrame) -> dict[str, str]:
    """merged OneID -> the active OneID at the end of its ``merged_into`` chain."""
    merged = registry[registry["status"] == "merged"].dropna(subset=["merged_into"])
    target = dict(zip(merged["oneid"], merged["merged_into"], strict=True))
    resolved = {}
    for start in target:
        seen, current = {start}, target[start]
        while current in target and current not in seen:
            seen.add(current)
            current = target[current]
        resolved[start] = current
    return resolved


def _new_ids(existing: pd.Series, count: int, settings: IdentitySettings) -> np.ndarray:
    prefix, digits = settings.oneid_prefix, settings.oneid_digits
    numbered = existing[existing.str.fullmatch(f"{prefix}[0-9]+").fillna(False).astype(bool)]
    start = int(numbered.str.slice(len(prefix)).astype("int64").max()) + 1 if len(numbered) else 1
    numbers = pd.Series(np.arange(start, start + count, dtype=np.int64)).astype("string")
    return (prefix + numbers.str.zfill(digits)).to_numpy(dtype=object)


def _updated_registry(
    registry: pd.DataFrame,
    period: str,
    survivor_ids: np.ndarray,
    merged_ids: np.ndarray,
    merged_into: np.ndarray,
    retiring: pd.Series,
    new_ids: np.ndarray,
) -> pd.DataFrame:
    registry = registry.copy()
    is_survivor = registry["oneid"].isin(survivor_ids)
    registry.loc[is_survivor, "status"] = "active"
    registry.loc[is_survivor, "merged_into"] = pd.NA
    registry.loc[is_survivor, "last_seen"] = period
    target = dict(zip(merged_ids, merged_into, strict=True))
    is_merged = registry["oneid"].isin(merged_ids)
    registry.loc[is_merged, "status"] = "merged"
    registry.loc[is_merged, "merged_into"] = _mapped(registry.loc[is_merged, "oneid"], target)
    registry.loc[is_merged, "last_seen"] = period
    registry.loc[retiring, "status"] = "retired"
    # Keep merge chains one hop long: whatever pointed at a now-merged id points at its survivor.
    pointing = registry["merged_into"].isin(merged_ids).fillna(False).astype(bool)
    registry.loc[pointing, "merged_into"] = _mapped(registry.loc[pointing, "merged_into"], target)
    # ...and whatever pointed at an id that has retired or merged earlier keeps its flattened target.
    flat = _flattened_targets(registry)
    has_target = registry["status"] == "merged"
    registry.loc[has_target, "merged_into"] = _mapped(registry.loc[has_target, "oneid"], flat)
    fresh = pd.DataFrame(
        {
            "oneid": new_ids,
            "first_seen": period,
            "last_seen": period,
            "status": "active",
            "merged_into": pd.NA,
        }
    )
    combined = pd.concat([registry, fresh.astype(REGISTRY_COLUMNS)], ignore_index=True)
    return combined.sort_values("oneid", kind="stable", ignore_index=True).astype(REGISTRY_COLUMNS)
