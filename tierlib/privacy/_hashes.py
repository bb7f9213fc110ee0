"""Keyed hashes of what an erasure must keep recognizing, and the tombstone that holds them.

After a purge storage holds nothing of an erased person, yet source systems may deliver them
again (a late sync, a record that changed only its nickname).  The tombstone keeps, per erased
person, keyed hashes of their identifier values, record keys and OneIDs, so later runs can keep
excluding them without storing a single identifier.  The hashes are keyed with the identity key
(``TIERFLOW_IDENTITY_HASH_KEY``) under a domain of their own, so they equal no hash that appears
anywhere else in storage (the merge log's value hashes included).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

from tierlib.catalog import erased_key, erased_records_prefix

DOMAIN = b"tierflow-erasure-v1"
KINDS = ("value", "record", "oneid")
TOMBSTONE_COLUMNS = {"kind": "string", "hash": "string"}


def _secret(key: bytes | None) -> bytes:
    secret = key or b""
    return secret if len(secret) <= 64 else hashlib.sha256(secret).digest()


def erasure_hashes(texts: Iterable[str], key: bytes | None) -> list[str]:
    """32 hex characters per text: keyed BLAKE2b under the erasure domain."""
    prefix = hashlib.blake2b(key=_secret(key), digest_size=16, person=b"tierflow-erase")
    prefix.update(DOMAIN + b"\x1f")
    out = []
    for text in texts:
        state = prefix.copy()
        state.update(text.encode("utf-8"))
        out.append(state.hexdigest())
    return out


def value_texts(identifier_type: str, values: Iterable[str]) -> list[str]:
    return [f"value\x1f{identifier_type}\x1f{value}" for value in values]


def record_texts(channels: Iterable[str], record_ids: Iterable[str]) -> list[str]:
    return [
        f"record\x1f{channel}\x1f{record_id}" for channel, record_id in zip(channels, record_ids, strict=True)
    ]


def oneid_texts(oneids: Iterable[str]) -> list[str]:
    return [f"oneid\x1f{oneid}" for oneid in oneids]


@dataclass(frozen=True)
class Tombstone:
    """The keyed hashes of every erased person's values, record keys and OneIDs."""

    values: frozenset[str] = frozenset()
    records: frozenset[str] = frozenset()
    oneids: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.values or self.records or self.oneids)

    @classmethod
    def read(cls, storage) -> Tombstone:
        """Union of the purge's tombstone and the record keys runs excluded since."""
        keys = [erased_key()] if storage.exists(erased_key()) else []
        keys += storage.list(erased_records_prefix())
        by_kind: dict[str, set[str]] = {kind: set() for kind in KINDS}
        for key in keys:
            frame = storage.read_parquet(key)
            for kind in KINDS:
                by_kind[kind].update(frame.loc[frame["kind"] == kind, "hash"].astype(str))
        return cls(*(frozenset(by_kind[kind]) for kind in KINDS))

    def union(self, other: Tombstone) -> Tombstone:
        return Tombstone(self.values | other.values, self.records | other.records, self.oneids | other.oneids)

    def frame(self) -> pd.DataFrame:
        rows = [(kind, value) for kind in KINDS for value in sorted(getattr(self, kind + "s"))]
        return pd.DataFrame(rows, columns=list(TOMBSTONE_COLUMNS)).astype(TOMBSTONE_COLUMNS)
