"""The identity graph: hubs, star edges, connected components and cap splits.

Records sharing a value are linked as a star (each to the first record
holding the value), so a value held by ``k`` records costs ``k - 1`` edges
instead of ``k(k-1)/2`` pairs; the components are the same.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from tierlib.identity._arrays import (
    first_index_per_label,
    group_starts,
    sorted_unique,
    unique_counts,
    unique_inverse,
)
from tierlib.identity._identifiers import Identifiers
from tierlib.identity._settings import IdentitySettings


@dataclass(frozen=True)
class Hubs:
    """Per value code: how widely it is shared, and whether that makes it a hub."""

    records: np.ndarray
    channels: np.ndarray
    max_records_per_channel: np.ndarray
    is_hub: np.ndarray


@dataclass(frozen=True)
class Edges:
    """Star edges ``source -> target`` and the value code that made each one."""

    source: np.ndarray
    target: np.ndarray
    value: np.ndarray

    def __len__(self) -> int:
        return len(self.source)

    def take(self, mask: np.ndarray) -> Edges:
        return Edges(self.source[mask], self.target[mask], self.value[mask])


@dataclass(frozen=True)
class CapSplit:
    """One cluster that held too many values of a type, and what splitting it did."""

    original_label: int
    nodes: np.ndarray
    parts: int
    """How many clusters it became (1: a single record over the cap, left as it is)."""
    reason: str
    cut_types: tuple[str, ...]


def find_hubs(
    ids: Identifiers, node_channel: np.ndarray, n_channels: int, settings: IdentitySettings
) -> Hubs:
    n_values = ids.n_values
    records = np.bincount(ids.value, minlength=n_values)
    n_channels = max(n_channels, 1)
    per_channel_key, per_channel_count = unique_counts(ids.value * n_channels + node_channel[ids.node])
    per_channel_value = per_channel_key // n_channels
    channels = np.bincount(per_channel_value, minlength=n_values)
    max_per_channel = np.zeros(n_values, dtype=np.int64)
    np.maximum.at(max_per_channel, per_channel_value, per_channel_count)
    is_hub = (records > settings.hub_max_records) | (max_per_channel > settings.hub_max_records_per_channel)
    return Hubs(records=records, channels=channels, max_records_per_channel=max_per_channel, is_hub=is_hub)


def star_edges(ids: Identifiers, hubs: Hubs) -> Edges:
    """Link every record holding a usable linking value to the first (lowest) node holding it."""
    usable = ids.links[ids.value_type[ids.value]] & ~hubs.is_hub[ids.value]
    node, value = ids.node[usable], ids.value[usable]
    if len(node) == 0:
        empty = np.empty(0, np.int64)
        return Edges(empty, empty, empty)
    first = group_starts(value)
    anchor = node[first][np.cumsum(first) - 1]
    return Edges(source=node[~first], target=anchor[~first], value=value[~first])


def components(n_nodes: int, edges: Edges) -> np.ndarray:
    """Component label per node, numbered in order of each component's lowest node."""
    if n_nodes == 0:
        return np.empty(0, np.int64)
    graph = coo_matrix(
        (np.ones(len(edges), dtype=np.int8), (edges.source, edges.target)), shape=(n_nodes, n_nodes)
    ).tocsr()
    _, labels = connected_components(graph, directed=False)
    return renumber_by_first_node(labels)


def renumber_by_first_node(labels: np.ndarray) -> np.ndarray:
    """Labels 0..k-1 numbered in order of each label's lowest node (labels may have gaps)."""
    present, dense = unique_inverse(labels)
    first_node = first_index_per_label(dense, len(present))
    rank = np.empty(len(first_node), dtype=np.int64)
    rank[np.argsort(first_node, kind="stable")] = np.arange(len(first_node))
    return rank[dense]


def value_counts_per_label(
    labels: np.ndarray,
    ids: Identifiers,
    hubs: Hubs,
    type_codes: np.ndarray,
    n_labels: int,
    node_mask: np.ndarray | None = None,
) -> np.ndarray:
    """Distinct usable values of each type per label: array ``[n_labels, n_types]``.

    ``node_mask`` limits the count to some nodes (labels of other nodes count zero).
    """
    n_types = len(ids.type_names)
    n_values = max(ids.n_values, 1)
    counted = np.isin(ids.value_type[ids.value], type_codes) & ~hubs.is_hub[ids.value]
    if node_mask is not None:
        counted &= node_mask[ids.node]
    label_value = sorted_unique(labels[ids.node[counted]] * n_values + ids.value[counted])
    label = label_value // n_values
    value_type = ids.value_type[label_value % n_values]
    counts = np.bincount(label * n_types + value_type, minlength=n_labels * n_types)
    return counts.reshape(n_labels, n_types)


def split_over_cap(
    labels: np.ndarray, edges: Edges, ids: Identifiers, hubs: Hubs, settings: IdentitySettings
) -> tuple[np.ndarray, list[CapSplit]]:
    """Split clusters holding more values of a type than its cap, weakest link type first.

    A cluster over a cap loses the links of its lowest-priority type and falls
    apart into components; parts still over a cap lose the next type, and so
    on.  Parts within every cap are left alone.  A single record over a cap
    (many phone changes) cannot be split and stays as it is.
    """
    caps = np.zeros(len(ids.type_names), dtype=np.int64)
    for name, cap in settings.max_values_per_oneid.items():
        if name in ids.type_names:
            caps[ids.type_names.index(name)] = cap
    capped = np.flatnonzero(caps)
    if not len(capped) or len(labels) == 0:
        return labels, []
    n_labels = int(labels.max()) + 1
    counts = value_counts_per_label(labels, ids, hubs, capped, n_labels)
    excess = counts[:, capped] - caps[capped]
    over = (excess > 0).any(axis=1)
    if not over.any():
        return labels, []

    original = labels
    labels = labels.copy()
    active = over[labels]
    edge_type = ids.value_type[edges.value]
    inside = active[edges.source]
    cut_types: dict[int, list[str]] = {int(label): [] for label in np.flatnonzero(over)}
    order = [ids.type_names.index(name) for name in settings.linking_order()]
    next_label = n_labels
    while active.any() and order:
        dropped = order.pop()
        for label in sorted_unique(
            original[edges.source[inside & active[edges.source] & (edge_type == dropped)]]
        ):
            cut_types[int(label)].append(ids.type_names[dropped])
        kept = inside & active[edges.source] & np.isin(edge_type, order)
        active_nodes = np.flatnonzero(active)
        local = np.full(len(labels), -1, dtype=np.int64)
        local[active_nodes] = np.arange(len(active_nodes))
        part = components(
            len(active_nodes), Edges(local[edges.source[kept]], local[edges.target[kept]], edges.value[kept])
        )
        labels[active_nodes] = part + next_label
        next_label += int(part.max()) + 1
        part_counts = value_counts_per_label(labels, ids, hubs, capped, next_label, node_mask=active)
        still_over = (part_counts[:, capped] > caps[capped]).any(axis=1)
        active = active & still_over[labels]

    labels = renumber_by_first_node(labels)
    over_nodes = np.flatnonzero(over[original])
    over_nodes = over_nodes[np.argsort(original[over_nodes], kind="stable")]
    bounds = np.flatnonzero(np.diff(original[over_nodes])) + 1
    splits = []
    for nodes in np.split(over_nodes, bounds):
        label = int(original[nodes[0]])
        worst = capped[np.argmax(excess[label])]
        splits.append(
            CapSplit(
                original_label=label,
                nodes=nodes,
                parts=len(sorted_unique(labels[nodes])),
                reason=(
                    f"{counts[label, worst]} distinct {ids.type_names[worst]} values "
                    f"over the cap of {caps[worst]}"
                ),
                cut_types=tuple(cut_types[label]),
            )
        )
    return labels, splits
