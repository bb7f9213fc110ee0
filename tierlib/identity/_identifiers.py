"""From standardized records to graph nodes and their normalized identifier values.

A node is one ``(channel, record_id)``; all versions of a record are the same
node and contribute every identifier value they ever held.  Values become
integer codes, so the graph work downstream is plain numpy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from tierlib.errors import ValidationFailed
from tierlib.identity._arrays import sorted_unique
from tierlib.identity._normalize import clean_arrow, identifier_arrow, name_arrow, to_arrow
from tierlib.identity._settings import IdentitySettings

_REPEATED_TAIL = "(?:" + "|".join(digit * 8 for digit in "0123456789") + ")$"


@dataclass(frozen=True)
class Nodes:
    keys: pd.DataFrame
    """``channel, record_id`` per node, sorted; node ``i`` is row ``i``."""
    key_text: pa.Array
    """``channel`` and ``record_id`` joined (:func:`join_keys`) per node."""
    channel_code: np.ndarray
    """Index into ``channels`` per node."""
    channels: np.ndarray
    row_node: np.ndarray
    """Node of each keyed input row, in input order."""
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
    uniques: tuple[pa.Array, ...]
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
        for code in range(len(self.type_names)):
            picked = np.flatnonzero(types == code)
            if len(picked):
                local = pa.array(values[picked] - self.offsets[code])
                out[picked] = self.uniques[code].take(local).to_pylist()
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


KEY_SEPARATOR = "\x1f"


def join_keys(channel: pa.Array, record_id: pa.Array) -> pa.Array:
    """``channel`` and ``record_id`` as one string per row (sorting like the pair: channels are [a-z0-9_])."""
    text = pa.large_string()
    return pc.binary_join_element_wise(
        channel.cast(text), record_id.cast(text), pa.scalar(KEY_SEPARATOR, text)
    )


def build_nodes(records: pd.DataFrame) -> Nodes:
    """Number the distinct ``(channel, record_id)`` pairs in sorted order.

    Keys are used exactly as given (no trimming): the identity map must join
    back to the orders and events of the same record.
    """
    channel = to_arrow(records["channel"])
    record_id = to_arrow(records["record_id"])
    keyed_mask = pc.fill_null(pc.and_(pc.not_equal(channel, ""), pc.not_equal(record_id, "")), False)
    keyed = keyed_mask.to_numpy(zero_copy_only=False)
    if not keyed.all():
        channel, record_id = pc.filter(channel, keyed_mask), pc.filter(record_id, keyed_mask)
    encoded = pc.dictionary_encode(join_keys(channel, record_id))
    key_text = encoded.dictionary
    row_node = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    n_nodes = len(key_text)
    # Node numbers follow the sorted keys, so that the input's row order changes nothing; input
    # already sorted by record (as the pipeline hands it over) skips the sort.
    if n_nodes > 1 and not pc.all(pc.less(key_text.slice(0, n_nodes - 1), key_text.slice(1))).as_py():
        order = pc.array_sort_indices(key_text).to_numpy()
        rank = np.empty(n_nodes, dtype=np.int64)
        rank[order] = np.arange(n_nodes)
        row_node = rank[row_node]
        key_text = key_text.take(pa.array(order))
    first_row = np.empty(n_nodes, dtype=np.int64)
    first_row[row_node[::-1]] = np.arange(len(row_node))[::-1]
    node_channel = channel.take(pa.array(first_row))
    channel_codes = pc.dictionary_encode(node_channel)
    keys = pd.DataFrame(
        {
            "channel": pd.arrays.ArrowStringArray(node_channel.cast(pa.large_string())),
            "record_id": pd.arrays.ArrowStringArray(
                record_id.take(pa.array(first_row)).cast(pa.large_string())
            ),
        }
    )
    return Nodes(
        keys=keys,
        key_text=key_text,
        channel_code=channel_codes.indices.to_numpy(zero_copy_only=False).astype(np.int64),
        channels=np.asarray(channel_codes.dictionary.to_pylist(), dtype=object),
        row_node=row_node,
        keyed_rows=keyed,
    )


def collect_identifiers(records: pd.DataFrame, nodes: Nodes, settings: IdentitySettings) -> Identifiers:
    """Normalize, validate and block every configured identifier type of the keyed records."""
    linking = settings.linking_order()
    type_names = tuple(dict.fromkeys((*linking, *settings.weak_types)))
    n_nodes = max(len(nodes), 1)
    all_keyed = bool(nodes.keyed_rows.all())
    keyed = pa.array(nodes.keyed_rows)

    def keyed_text(values: pd.Series) -> pa.Array:
        array = to_arrow(values)
        return array if all_keyed else pc.filter(array, keyed)

    channel = keyed_text(records["channel"])
    corroboration = _corroboration(keyed_text, records, settings) if settings.weak_link_requires else None
    # Phones and e-mails that spell a junk word are invalid anyway; the other ids are compared
    # with the junk words as people type them.
    junk = sorted(
        {variant for word in settings.junk_values for variant in (word.lower(), word.upper(), word.title())}
    )

    node_parts, value_parts, type_parts, uniques = [], [], [], []
    offsets = [0]
    figures: dict[str, int] = {}
    for code, name in enumerate(type_names):
        raw = keyed_text(records[name])
        # Most id columns are empty in most channels: work on the values that are there.
        rows = np.flatnonzero(pc.is_valid(raw).to_numpy(zero_copy_only=False)) if raw.null_count else None

        def present(array: pa.Array, rows: np.ndarray | None = rows) -> pa.Array:
            return array if rows is None else array.take(pa.array(rows))

        text = clean_arrow(pc.drop_null(raw))
        normalized = identifier_arrow(name, text, settings.default_region)
        valid = pc.is_valid(normalized)
        listed = _blocked_values(name, settings) + ([] if name in ("phone", "email") else junk)
        blocked = pc.fill_null(pc.is_in(normalized, value_set=pa.array(listed, normalized.type)), False)
        if name == "phone" and settings.block_repeated_phone_digits:
            blocked = pc.or_(
                blocked, pc.fill_null(pc.match_substring_regex(normalized, _REPEATED_TAIL), False)
            )
        blocked = pc.and_(valid, blocked)
        usable = pc.and_(valid, pc.invert(blocked))
        if name in settings.channel_scoped_types:
            normalized = pc.binary_join_element_wise(
                present(channel).cast(normalized.type), normalized, pa.scalar(":", normalized.type)
            )
        if name in settings.weak_types and corroboration is not None:
            normalized = pc.binary_join_element_wise(
                normalized, present(corroboration).cast(normalized.type), pa.scalar("|", normalized.type)
            )
            usable = pc.and_(usable, pc.is_valid(normalized))
        present_count = pc.sum(pc.is_valid(text)).as_py() or 0
        valid_count = pc.sum(valid).as_py() or 0
        figures[f"present_{name}"] = present_count
        figures[f"invalid_{name}"] = present_count - valid_count
        figures[f"blocked_{name}"] = pc.sum(blocked).as_py() or 0

        encoded = pc.dictionary_encode(pc.filter(normalized, usable))
        value_codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        usable_rows = usable.to_numpy(zero_copy_only=False)
        row_node = nodes.row_node if rows is None else nodes.row_node[rows]
        pair_key = sorted_unique(value_codes * n_nodes + row_node[usable_rows])
        node_parts.append(pair_key % n_nodes)
        value_parts.append(pair_key // n_nodes + offsets[-1])
        type_parts.append(np.full(len(encoded.dictionary), code, dtype=np.int16))
        uniques.append(encoded.dictionary)
        offsets.append(offsets[-1] + len(encoded.dictionary))
        figures[f"values_{name}"] = len(encoded.dictionary)

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
    listed = pa.array(list(settings.blocklist.get(name, ())), pa.string())
    normalized = identifier_arrow(name, clean_arrow(listed), settings.default_region)
    return [value for value in normalized.to_pylist() if value is not None]


def _corroboration(keyed_text, records: pd.DataFrame, settings: IdentitySettings) -> pa.Array:
    """One text per keyed row joining the columns a weak identifier must agree on; null if any is missing."""
    parts = []
    for column in settings.weak_link_requires:
        values = records[column]
        if pd.api.types.is_datetime64_any_dtype(values.dtype):
            values = values.dt.strftime("%Y-%m-%d")
        parts.append(name_arrow(clean_arrow(keyed_text(values))).cast(pa.large_string()))
    return pc.binary_join_element_wise(*parts, pa.scalar("|", pa.large_string()))
