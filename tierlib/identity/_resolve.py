"""The OneID stage as one function: standardized records in, identity map and registry out."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from tierlib.identity._arrays import sorted_unique, unique_counts, unique_inverse
from tierlib.identity._graph import (
    CapSplit,
    Edges,
    Hubs,
    components,
    find_hubs,
    split_over_cap,
    star_edges,
)
from tierlib.identity._hashing import value_hashes
from tierlib.identity._identifiers import Identifiers, Nodes, build_nodes, check_columns, collect_identifiers
from tierlib.identity._registry import assign_oneids, check_previous
from tierlib.identity._settings import IdentitySettings, check_settings
from tierlib.period import format_period, parse_period

MERGE_LOG_COLUMNS: dict[str, str] = {
    "period": "string",
    "event": "string",
    "oneid": "string",
    "other_oneid": "string",
    "channel": "string",
    "record_id": "string",
    "other_channel": "string",
    "other_record_id": "string",
    "identifier_type": "string",
    "value_hash": "string",
    "detail": "string",
}
"""What joined what, and why.  ``event`` is one of:

- ``link``: record ``channel/record_id`` joined ``other_channel/other_record_id`` (the
  first record holding the value) through ``identifier_type`` / ``value_hash``;
- ``cut``: such a link was cut to split a cluster over a cap;
- ``cap_split``: one row per part of a split cluster (``detail`` says which cap);
- ``hub``: a value shared too widely to link anything;
- ``merge``: ``other_oneid`` merged into ``oneid`` (the older survives);
- ``split``: some records of ``oneid`` now belong to ``other_oneid``;
- ``retire``: none of the records of ``oneid`` remain.

Values appear only as keyed hashes, never as phone numbers or emails.
"""

HUB_COLUMNS: dict[str, str] = {
    "identifier_type": "string",
    "value_hash": "string",
    "records": "int64",
    "channels": "int64",
    "max_records_per_channel": "int64",
}


@dataclass(frozen=True)
class IdentityResult:
    identity_map: pd.DataFrame
    """``channel, record_id, oneid``: one row per distinct record, sorted by channel and record id."""
    registry: pd.DataFrame
    """``oneid, first_seen, last_seen, status, merged_into``: every OneID ever issued."""
    merge_log: pd.DataFrame
    """``MERGE_LOG_COLUMNS``."""
    hub_values: pd.DataFrame
    """``HUB_COLUMNS``: values that were too widely shared to link (hashed)."""
    figures: dict[str, int]


def resolve_identities(
    records: pd.DataFrame,
    settings: IdentitySettings | None,
    period: str,
    previous_map: pd.DataFrame | None = None,
    previous_registry: pd.DataFrame | None = None,
    *,
    hash_key: bytes | None = None,
) -> IdentityResult:
    """Link records of every channel into people and give each person a stable OneID.

    ``records`` are standardized member records (``tierlib.schemas.RECORD_COLUMNS``)
    holding every version of every record known up to ``period`` (YYYY-MM): a
    record missing from them is taken to be gone.  ``previous_map`` and
    ``previous_registry`` are the ``identity_map`` and ``registry`` of the
    previous run (both or neither); without them every person gets a new
    OneID.  ``hash_key`` keys the value hashes of the merge log.  The inputs are
    not modified; identical inputs give identical outputs.
    """
    period = format_period(*parse_period(period))
    settings = check_settings(settings)
    check_columns(records, settings)
    previous = check_previous(previous_map, previous_registry)

    nodes = build_nodes(records)
    ids = collect_identifiers(records, nodes, settings)
    hubs = find_hubs(ids, nodes.channel_code, len(nodes.channels), settings)
    edges = star_edges(ids, hubs)
    labels = components(len(nodes), edges)
    labels, over_cap = split_over_cap(labels, edges, ids, hubs, settings)
    splits = [split for split in over_cap if split.parts > 1]

    assignment = assign_oneids(nodes.key_text, labels, period, previous, settings)
    node_oneid = assignment.label_oneid.take(pa.array(labels))
    identity_map = nodes.keys.assign(oneid=pd.arrays.ArrowStringArray(node_oneid))

    kept = labels[edges.source] == labels[edges.target]
    hub_values = _hub_table(ids, hubs, hash_key)
    merge_log = _merge_log(
        period,
        nodes,
        ids,
        edges,
        kept,
        splits,
        labels,
        node_oneid,
        hub_values,
        assignment.events,
        settings,
        hash_key,
    )
    figures = {
        "records": len(records),
        "records_without_key": int((~nodes.keyed_rows).sum()),
        "record_nodes": len(nodes),
        **assignment.figures,
        "largest_oneid_records": int(np.bincount(labels).max()) if len(labels) else 0,
        "link_edges": int(kept.sum()),
        "cut_links": int((~kept).sum()),
        "cap_splits": len(splits),
        "over_cap_unsplittable": len(over_cap) - len(splits),
        "hub_values": len(hub_values),
        **{
            f"hub_values_{name}": int((hub_values["identifier_type"] == name).sum())
            for name in ids.type_names
        },
        **ids.figures,
        "weak_values_shared_across_oneids": _weak_values_across(ids, labels),
    }
    return IdentityResult(
        identity_map=identity_map,
        registry=assignment.registry,
        merge_log=merge_log,
        hub_values=hub_values,
        figures=figures,
    )


def _hub_table(ids: Identifiers, hubs: Hubs, hash_key: bytes | None) -> pd.DataFrame:
    hub = np.flatnonzero(hubs.is_hub)
    names = np.asarray(ids.type_names, dtype=object)[ids.value_type[hub]]
    table = pd.DataFrame(
        {
            "identifier_type": names,
            "value_hash": value_hashes(names, ids.texts(hub), hash_key),
            "records": hubs.records[hub],
            "channels": hubs.channels[hub],
            "max_records_per_channel": hubs.max_records_per_channel[hub],
        }
    ).astype(HUB_COLUMNS)
    return table.sort_values(
        ["records", "identifier_type", "value_hash"], ascending=[False, True, True], ignore_index=True
    )


def _weak_values_across(ids: Identifiers, labels: np.ndarray) -> int:
    """Weak values (a household's shared tablet) held by records of different OneIDs."""
    weak = ~ids.links[ids.value_type[ids.value]]
    if not weak.any():
        return 0
    pairs = sorted_unique(ids.value[weak] * max(len(labels), 1) + labels[ids.node[weak]])
    return int((np.bincount(pairs // max(len(labels), 1)) > 1).sum())


def _text(values: pa.Array) -> pd.arrays.ArrowStringArray:
    return pd.arrays.ArrowStringArray(values.cast(pa.large_string()))


def _constant(text: str | None, length: int) -> pd.arrays.ArrowStringArray:
    return _text(pa.array([text], pa.large_string()).take(pa.array(np.zeros(length, dtype=np.int64))))


def _link_rows(
    nodes: Nodes,
    ids: Identifiers,
    edges: Edges,
    kept: np.ndarray,
    node_oneid: pa.Array,
    hash_key: bytes | None,
) -> pd.DataFrame:
    """One row per star edge, ordered by record, identifier type and the record it joined."""
    n_types, n_nodes = len(ids.type_names), max(len(nodes), 1)
    type_code = ids.value_type[edges.value].astype(np.int64)
    order = np.argsort((edges.source * n_types + type_code) * n_nodes + edges.target, kind="stable")
    edges, kept, type_code = edges.take(order), kept[order], type_code[order]
    unique_values, inverse = unique_inverse(edges.value)
    names = np.asarray(ids.type_names, dtype=object)
    hashes = pa.array(value_hashes(names[ids.value_type[unique_values]], ids.texts(unique_values), hash_key))
    channel = pa.array(nodes.keys["channel"].array)
    record_id = pa.array(nodes.keys["record_id"].array)
    source, target = pa.array(edges.source), pa.array(edges.target)
    is_kept = pa.array(kept)
    return pd.DataFrame(
        {
            "event": _text(pc.if_else(is_kept, "link", "cut")),
            "oneid": _text(node_oneid.take(source)),
            "other_oneid": _text(node_oneid.take(target)),
            "channel": _text(channel.take(source)),
            "record_id": _text(record_id.take(source)),
            "other_channel": _text(channel.take(target)),
            "other_record_id": _text(record_id.take(target)),
            "identifier_type": _text(pa.array(list(ids.type_names)).take(pa.array(type_code))),
            "value_hash": _text(hashes.take(pa.array(inverse))),
            "detail": _text(
                pc.if_else(is_kept, pa.scalar(None, pa.string()), "cut to split a cluster over a cap")
            ),
        }
    )


def _merge_log(
    period: str,
    nodes: Nodes,
    ids: Identifiers,
    edges: Edges,
    kept: np.ndarray,
    splits: list[CapSplit],
    labels: np.ndarray,
    node_oneid: pa.Array,
    hub_values: pd.DataFrame,
    events: pd.DataFrame,
    settings: IdentitySettings,
    hash_key: bytes | None,
) -> pd.DataFrame:
    parts = []
    logged = np.ones(len(edges), dtype=bool) if settings.log_links else ~kept
    if logged.any():
        parts.append(_link_rows(nodes, ids, edges.take(logged), kept[logged], node_oneid, hash_key))
    for split in splits:
        part_labels, part_sizes = unique_counts(labels[split.nodes])
        cut = ", ".join(split.cut_types) or "no"
        parts.append(
            pd.DataFrame(
                {
                    "event": "cap_split",
                    "oneid": [
                        node_oneid[int(split.nodes[labels[split.nodes] == label][0])].as_py()
                        for label in part_labels
                    ],
                    "detail": [
                        f"{split.reason}: cut {cut} links; part {index + 1} of {len(part_labels)} "
                        f"with {size} records"
                        for index, size in enumerate(part_sizes)
                    ],
                }
            )
        )
    if len(hub_values):
        parts.append(
            hub_values.assign(
                event="hub",
                detail=[
                    f"held by {records} records in {channels} channels (at most {most} in one); "
                    f"bounds {settings.hub_max_records} records, "
                    f"{settings.hub_max_records_per_channel} per channel"
                    for records, channels, most in zip(
                        hub_values["records"],
                        hub_values["channels"],
                        hub_values["max_records_per_channel"],
                        strict=True,
                    )
                ],
            )[["event", "identifier_type", "value_hash", "detail"]]
        )
    parts.append(events)
    parts = [part.astype({column: "string" for column in part.columns}) for part in parts if len(part)]
    log = pd.concat(parts or [events], ignore_index=True).reindex(columns=list(MERGE_LOG_COLUMNS))
    log["period"] = _constant(period, len(log))
    return log.astype(MERGE_LOG_COLUMNS)
