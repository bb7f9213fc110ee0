"""Who an erasure is about: the records, OneIDs and identifier values of each requested person.

A person is found by every identifier the request gives (normalized as the identity stage
normalizes them) and by the OneID those records resolve to, so every record of theirs goes,
including ones that carry none of the requested identifiers (an openid-only WeChat record
linked through a unionid).  Values that junk lists block, or that other people's records also
hold (a shop's placeholder phone, a shared tablet), identify nobody and are left alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tierlib.identity import normalize_identifier
from tierlib.identity._settings import IdentitySettings
from tierlib.privacy._hashes import Tombstone, erasure_hashes, oneid_texts, record_texts, value_texts

RECORD_IDENTIFIERS = (
    "phone",
    "email",
    "member_id",
    "unionid",
    "openid",
    "device_id",
    "platform_user_id",
    "external_userid",
)
"""Identifier columns of a standardized record that can name a person."""
CHANNEL_SCOPED = ("member_id",)
"""Short ids that mean something only inside their channel (like record ids): ``V0001`` of the POS
is not ``V0001`` of the app.  Opaque long ids (openids, unionids, devices) are looked for everywhere,
since exports carry them under export channel names."""
REQUESTED_TYPES = ("phone", "email", "member_id", "unionid")


def normalized(identifier_type: str, values: pd.Series, settings: IdentitySettings) -> pd.Series:
    """``values`` normalized as the identity stage does (unscoped), NA for junk and blocked values."""
    out = normalize_identifier(identifier_type, values.astype("string"), settings.default_region)
    junk = {value.lower() for value in settings.junk_values}
    blocked = settings.blocklist.get(identifier_type, ())
    if blocked:
        listed = normalize_identifier(
            identifier_type, pd.Series(list(blocked), dtype="string"), settings.default_region
        )
        junk |= set(listed.dropna())
    lowered = out.str.lower()
    return out.mask(lowered.isin(junk).fillna(False).astype(bool))


@dataclass(frozen=True)
class ErasureFilter:
    """What a run excludes: the requests' normalized identifiers and the tombstone's hashes."""

    values: dict[str, frozenset[str]]
    oneids: frozenset[str]
    tombstone: Tombstone
    key: bytes | None
    settings: IdentitySettings = field(default_factory=IdentitySettings)

    def __bool__(self) -> bool:
        return any(self.values.values()) or bool(self.oneids) or bool(self.tombstone)

    @classmethod
    def of(cls, requests: pd.DataFrame, tombstone: Tombstone, key: bytes | None, settings: IdentitySettings):
        values = {
            name: frozenset(normalized(name, requests[name], settings).dropna()) for name in REQUESTED_TYPES
        }
        return cls(values, frozenset(requests["oneid"].dropna()), tombstone, key, settings)

    def records_mask(self, records: pd.DataFrame, remembered: bool = True) -> np.ndarray:
        """True for erased people's records: an identifier requested or remembered, or the record key.

        ``remembered=False`` compares with the requests only (no hashing: cheap over millions of
        record versions that earlier runs already checked against the tombstone).
        """
        erased = np.zeros(len(records), dtype=bool)
        if not self or not len(records):
            return erased
        for name in RECORD_IDENTIFIERS:
            if name not in records.columns or not (
                self.values.get(name) or (remembered and self.tombstone.values)
            ):
                continue
            values = normalized(name, records[name], self.settings)
            present = values.notna().to_numpy()
            if self.values.get(name):
                erased |= values.isin(self.values[name]).fillna(False).to_numpy(dtype=bool)
            if remembered and self.tombstone.values and present.any():
                hashes = erasure_hashes(value_texts(name, values[present]), self.key)
                erased[np.flatnonzero(present)[pd.Series(hashes).isin(self.tombstone.values).to_numpy()]] = (
                    True
                )
        return erased | self.keys_mask(records) if remembered else erased

    def text_mask(self, texts: pd.Series) -> np.ndarray:
        """True for text (a quarantined row as the source wrote it) holding a requested identifier."""
        import re

        from tierlib.identity._regions import PHONE_REGIONS

        forms = set(self.oneids) | {value for name, found in self.values.items() for value in found}
        for phone in self.values.get("phone", ()):
            digits = phone.lstrip("+")
            forms.add(digits)
            forms |= {
                digits[len(r.country_code) :]
                for r in PHONE_REGIONS.values()
                if digits.startswith(r.country_code)
            }
        forms = sorted((form for form in forms if len(form) >= 4), key=len, reverse=True)
        if not forms or not len(texts):
            return np.zeros(len(texts), dtype=bool)
        pattern = (
            "(?:^|[^0-9A-Za-z])(?:" + "|".join(re.escape(form) for form in forms) + ")(?:$|[^0-9A-Za-z])"
        )
        found = texts.astype("string").str.contains(pattern, case=False, regex=True)
        return found.fillna(False).to_numpy(dtype=bool)

    def keys_mask(self, frame: pd.DataFrame, also: set[tuple[str, str]] | None = None) -> np.ndarray:
        """True for rows whose ``(channel, record_id)`` is in the tombstone or in ``also``."""
        erased = np.zeros(len(frame), dtype=bool)
        if not len(frame):
            return erased
        channels, record_ids = frame["channel"].astype("string"), frame["record_id"].astype("string")
        known = (channels.notna() & record_ids.notna()).to_numpy()
        if self.tombstone.records and known.any():
            hashes = erasure_hashes(record_texts(channels[known], record_ids[known]), self.key)
            erased[np.flatnonzero(known)[pd.Series(hashes).isin(self.tombstone.records).to_numpy()]] = True
        if also:
            pairs = pd.MultiIndex.from_arrays([channels.fillna(""), record_ids.fillna("")])
            erased |= pairs.isin(list(also))
        return erased

    def erased_oneids(self, oneids: pd.Series) -> np.ndarray:
        """True for OneIDs a request names or the tombstone holds."""
        texts = oneids.astype("string")
        erased = texts.isin(self.oneids).fillna(False).to_numpy(dtype=bool, copy=True)
        if self.tombstone.oneids and len(texts):
            present = texts.notna().to_numpy()
            hashes = pd.Series(erasure_hashes(oneid_texts(texts[present]), self.key))
            erased[np.flatnonzero(present)[hashes.isin(self.tombstone.oneids).to_numpy()]] = True
        return erased


@dataclass(frozen=True)
class ErasedPeople:
    oneids: frozenset[str]
    """Every OneID of the people, merged ones included."""
    record_keys: frozenset[tuple[str, str]]
    values: dict[str, frozenset[str]]
    """Normalized identifier values only these people's records hold, by type (not channel-scoped)."""
    raw_values: frozenset[str]
    """The same identifiers as the records spell them (``+86 138-...``, upper-case e-mails)."""
    channel_values: dict[str, frozenset[str]]
    """Per channel: their record ids and channel-scoped ids, which name them only in that channel."""
    requests: list[dict]
    """Per request: ``request_id``, ``requested_at``, ``records`` and ``oneids`` found (counts)."""

    def tombstone(self, key: bytes | None) -> Tombstone:
        channels = [channel for channel, _ in sorted(self.record_keys)]
        record_ids = [record_id for _, record_id in sorted(self.record_keys)]
        values = [text for name, found in self.values.items() for text in value_texts(name, sorted(found))]
        return Tombstone(
            values=frozenset(erasure_hashes(values, key)),
            records=frozenset(erasure_hashes(record_texts(channels, record_ids), key)),
            oneids=frozenset(erasure_hashes(oneid_texts(sorted(self.oneids)), key)),
        )


def resolve_people(
    requests: pd.DataFrame,
    records: pd.DataFrame,
    identity_map: pd.DataFrame,
    registry: pd.DataFrame | None,
    erasure: ErasureFilter,
    remembered: bool = True,
) -> ErasedPeople:
    """The people the requests (and the tombstone) name, over every record version and map known.

    ``remembered=False``: records are compared with the requests only, not with the tombstone's
    value hashes (they passed those in their own month's run); OneIDs are still.
    """
    records = records.reset_index(drop=True)
    settings = erasure.settings
    identity_map = identity_map[["channel", "record_id", "oneid"]].drop_duplicates(["channel", "record_id"])
    keys = pd.MultiIndex.from_arrays(
        [records["channel"].astype("string"), records["record_id"].astype("string")]
    )
    map_keys = pd.MultiIndex.from_arrays([identity_map["channel"], identity_map["record_id"]])
    record_oneid = pd.Series(identity_map["oneid"].to_numpy(), index=map_keys)
    oneid_of_row = pd.Series(record_oneid.reindex(keys).to_numpy(), dtype="string")

    direct = erasure.records_mask(records, remembered) | erasure.erased_oneids(oneid_of_row)
    oneids = set(oneid_of_row[direct].dropna()) | set(erasure.oneids)
    map_erased = erasure.erased_oneids(identity_map["oneid"])
    oneids |= set(identity_map.loc[map_erased, "oneid"])
    oneids = _with_merges(oneids, registry)

    erased_map = identity_map[identity_map["oneid"].isin(oneids)]
    record_keys = set(zip(erased_map["channel"], erased_map["record_id"], strict=True))
    record_keys |= set(keys[direct])
    mine = keys.isin(list(record_keys))
    columns = [name for name in RECORD_IDENTIFIERS if name in records.columns]
    norm = {name: normalized(name, records[name], settings) for name in columns}
    spelled = {name: records[name].astype("string").str.strip() for name in ["record_id", *columns]}
    theirs = {name: set(norm[name][mine].dropna()) for name in columns if name not in CHANNEL_SCOPED}
    raw = {value for name in theirs for value in spelled[name][mine].dropna()}
    candidates = raw | {value for found in theirs.values() for value in found}
    # What other people's records hold too identifies nobody (looked up, not collected: millions of rows).
    held = set()
    for column in [*spelled.values(), *norm.values()]:
        others = column[~mine]
        held |= set(others[others.isin(candidates).fillna(False).to_numpy(dtype=bool)])
    values = {name: frozenset(found - held) for name, found in theirs.items()}
    channel_values: dict[str, frozenset[str]] = {}
    for channel in {c for c, _ in record_keys}:
        here = (records["channel"] == channel).fillna(False).to_numpy(dtype=bool)
        found = {record_id for c, record_id in record_keys if c == channel}
        for name in CHANNEL_SCOPED:
            if name in spelled:
                found |= set(spelled[name][here & mine].dropna())
        taken = set()
        for name in ["record_id", *(n for n in CHANNEL_SCOPED if n in spelled)]:
            others = spelled[name][here & ~mine]
            taken |= set(others[others.isin(found).fillna(False).to_numpy(dtype=bool)])
        if found - taken:
            channel_values[channel] = frozenset(found - taken)
    return ErasedPeople(
        oneids=frozenset(oneids),
        record_keys=frozenset(record_keys),
        values=values,
        raw_values=frozenset(value for value in raw - held if value),
        channel_values=channel_values,
        requests=_per_request(requests, norm, oneid_of_row, registry, settings),
    )


def _per_request(requests, norm: dict, oneid_of_row: pd.Series, registry, settings) -> list[dict]:
    """Records and OneIDs each request found (counts), by one join per identifier type."""
    found: dict[int, set[int]] = {index: set() for index in range(len(requests))}
    for name in REQUESTED_TYPES:
        if name not in norm:
            continue
        asked = normalized(name, requests[name], settings)
        asked = pd.DataFrame({"request": np.arange(len(requests)), "value": asked.to_numpy()}).dropna()
        if not len(asked):
            continue
        held = pd.DataFrame({"row": np.arange(len(norm[name])), "value": norm[name].to_numpy()}).dropna()
        for request, row in asked.merge(held, on="value")[["request", "row"]].itertuples(index=False):
            found[request].add(row)
    out = []
    for index, request in enumerate(requests.itertuples(index=False)):
        rows = sorted(found[index])
        oneids = set(oneid_of_row.iloc[rows].dropna()) if rows else set()
        if not pd.isna(request.oneid):
            oneids.add(request.oneid)
            rows += list(np.flatnonzero((oneid_of_row == request.oneid).fillna(False).to_numpy(dtype=bool)))
        out.append(
            {
                "request_id": request.request_id,
                "requested_at": None if pd.isna(request.requested_at) else str(request.requested_at),
                "records": len(set(rows)),
                "oneids": len(_with_merges(oneids, registry)),
            }
        )
    return out


def _with_merges(oneids: set[str], registry: pd.DataFrame | None) -> set[str]:
    """``oneids`` plus every OneID merged into one of them and every one they were merged into."""
    if registry is None or not len(registry) or not oneids:
        return set(oneids)
    merged = registry.dropna(subset=["merged_into"])
    pairs = list(zip(merged["oneid"].astype(str), merged["merged_into"].astype(str), strict=True))
    found = set(oneids)
    while True:
        grown = found | {a for a, b in pairs if b in found} | {b for a, b in pairs if a in found}
        if grown == found:
            return found
        found = grown
