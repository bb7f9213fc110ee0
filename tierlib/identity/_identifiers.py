"""From standardized records to graph nodes and their normalized identifier values.

A node is one ``(channel, record_id)``; all versions of a record are the same
node and contribute every identifier value they ever held.  Values become
integer codes, so the graph work downstream is plain numpy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tierlib.errors import ValidationFailed
from tierlib.identity._normalize import clean_text, identifier_from_clean, normalize_name, scope_to_channel
from tierlib.identity._settings import IdentitySettings

_REPEATED_TAIL = "(?:" + "|".join(digit * 8 for digit in "0123456789") + ")$"


@dataclass(frozen=True)
class Nodes:
    keys: pd.DataFrame
    """``channel, record_id`` per node, sorted; node ``i`` is row ``i``."""
    channel_code: np.ndarray
    """Index into ``channels`` per node."""
    channels: np.ndarray
    row_node: np.ndarray
    """Node of each keyed input row, aligned with the records that have both keys."""
    keyed_rows: np.ndarray
    """Boolean mask of input rows that have a channel and a record id."""

    def __len__(self) -> int:
        return len(self.keys)


@dataclass(frozen=True)
class Identifiers:
    """Distinct (node, value) pairs of every identifier type, sorted by value then node."""

    type_names: tuple[str, ...]
    links: np.ndarray
    """Per type code: whether values of this type may link records."""
    node: np.ndarray
    value: np.ndarray
    value_type: np.ndarray
    """Type code of each value code."""
    uniques: tuple[np.ndarray, ...]
    """Normalized text of the values of each type, in value-code order."""
    offsets: np.ndarray
    """First value code of each type."""
    figures: dict[str, int] = field(default_factory=dict)

    @property
    def n_values(self) -> int:
        return int(self.offsets[-1])

    def texts(self, values: np.ndarray) -> np.ndarray:
        """Normalized text of the given value codes (object array)."""
        out = np.empty(len(values), dtype=object)
        types = self.value_type[values]
        for code in np.unique(types):
            picked = types == code
            out[picked] = self.uniques[code][values[picked] - self.offsets[code]]
        return out


def required_columns(settings: IdentitySettings) -> list[str]:
    return ["channel", "record_id", *settings.link_types, *settings.weak_types, *settings.weak_link_requires]


def check_columns(records: pd.DataFrame, settings: IdentitySettings) -> None:
    missing = [column for column in required_columns(settings) if column not in records.columns]
    if missing:
        raise ValidationFailed(
            f"identity: the records table has no column {', '.join(map(repr, missing))} "
            f"(found: {', '.join(map(str, records.columns))}). Add the missing columns (empty if a channel "
            "never has them) or take the identifier types out of identity.link_types / identity.weak_types."
        )


def build_nodes(records: pd.DataFrame) -> Nodes:
    """Number the distinct ``(channel, record_id)`` pairs in sorted order.

    Keys are used exactly as given (no trimming): the identity map must join
    back to the orders and events of the same record.
    """
    channel = records["channel"].astype("string")
    record_id = records["record_id"].astype("string")
    keyed = (channel.notna() & record_id.notna() & (record_id != "")).to_numpy(dtype=bool)
    channel_codes, channels = pd.factorize(channel[keyed], sort=True)
    record_codes, record_ids = pd.factorize(record_id[keyed], sort=True)
    combined = channel_codes.astype(np.int64) * max(len(record_ids), 1) + record_codes
    unique, row_node = np.unique(combined, return_inverse=True)
    node_channel = unique // max(len(record_ids), 1)
    keys = pd.DataFrame(
        {
            "channel": pd.array(np.asarray(channels, dtype=object)[node_channel], dtype="string"),
            "record_id": pd.array(record_ids.take(unique % max(len(record_ids), 1)), dtype="string"),
        }
    )
    return Nodes(
        keys=keys,
        channel_code=node_channel,
        channels=np.asarray(channels, dtype=object),
        row_node=row_node.astype(np.int64),
        keyed_rows=keyed,
    )


def collect_identifiers(records: pd.DataFrame, nodes: Nodes, settings: IdentitySettings) -> Identifiers:
    """Normalize, validate and block every configured identifier type.

    ``records`` holds only the keyed rows, in the order ``nodes.row_node`` describes.
    """
    linking = settings.linking_order()
    type_names = tuple(dict.fromkeys((*linking, *settings.weak_types)))
    n_nodes = max(len(nodes), 1)
    channel = records["channel"].astype("string").reset_index(drop=True)
    corroboration = _corroboration(records, settings) if settings.weak_link_requires else None
    junk = {value.lower() for value in settings.junk_values}

    node_parts, value_parts, type_parts, uniques = [], [], [], []
    offsets = [0]
    figures: dict[str, int] = {}
    for code, name in enumerate(type_names):
        text = clean_text(records[name]).reset_index(drop=True)
        normalized = identifier_from_clean(name, text, settings.default_region)
        present = text.notna()
        valid = normalized.notna()
        blocked = valid & (
            normalized.isin(_blocked_values(name, settings)) | text.str.lower().isin(junk).fillna(False)
        )
        if name == "phone" and settings.block_repeated_phone_digits:
            blocked |= valid & normalized.str.contains(_REPEATED_TAIL, regex=True).fillna(False)
        usable = (valid & ~blocked).to_numpy(dtype=bool)
        if name in settings.channel_scoped_types:
            normalized = scope_to_channel(normalized, channel)
        if name in settings.weak_types and corroboration is not None:
            normalized = normalized + "|" + corroboration
            usable = usable & normalized.notna().to_numpy(dtype=bool)
        figures[f"present_{name}"] = int(present.sum())
        figures[f"invalid_{name}"] = int((present & ~valid).sum())
        figures[f"blocked_{name}"] = int(blocked.sum())

        value_codes, value_uniques = pd.factorize(normalized[usable])
        pair_key = np.unique(value_codes.astype(np.int64) * n_nodes + nodes.row_node[usable])
        node_parts.append(pair_key % n_nodes)
        value_parts.append(pair_key // n_nodes + offsets[-1])
        type_parts.append(np.full(len(value_uniques), code, dtype=np.int16))
        uniques.append(np.asarray(value_uniques, dtype=object))
        offsets.append(offsets[-1] + len(value_uniques))
        figures[f"values_{name}"] = len(value_uniques)

    links = np.array([name in linking for name in type_names], dtype=bool)
    return Identifiers(
        type_names=type_names,
        links=links,
        node=np.concatenate(node_parts) if node_parts else np.empty(0, np.int64),
        value=np.concatenate(value_parts) if value_parts else np.empty(0, np.int64),
        value_type=np.concatenate(type_parts) if type_parts else np.empty(0, np.int16),
        uniques=tuple(uniques),
        offsets=np.asarray(offsets, dtype=np.int64),
        figures=figures,
    )


def _blocked_values(name: str, settings: IdentitySettings) -> list[str]:
    listed = pd.Series(list(settings.blocklist.get(name, ())), dtype="string")
    normalized = identifier_from_clean(name, clean_text(listed), settings.default_region)
    return [value for value in normalized.dropna().tolist()]


def _corroboration(records: pd.DataFrame, settings: IdentitySettings) -> pd.Series:
    """One text per row joining the columns a weak identifier must agree on; NA if any is missing."""
    parts = []
    for column in settings.weak_link_requires:
        values = records[column]
        if pd.api.types.is_datetime64_any_dtype(values.dtype):
            part = values.dt.strftime("%Y-%m-%d").astype("string")
        else:
            part = normalize_name(values)
        parts.append(part.reset_index(drop=True))
    joined = parts[0]
    for part in parts[1:]:
        joined = joined + "|" + part
    return joined
