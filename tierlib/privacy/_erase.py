"""``erase``: find the requested people in everything storage holds, then purge every file of them.

Order, so that a failure anywhere leaves nothing worse than before: (1) the tombstone gets their
keyed hashes (from then on every run leaves them out); (2) every file is purged, exports month by
month with the publish protocol (``_SUCCESS`` removed, files rewritten, manifest re-hashed,
``_SUCCESS`` last); (3) storage is scanned again and must mention none of them; (4) the audit
record is written: request ids, times and counts, never an identifier.  Running it again is
harmless: it finds nothing more to remove.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
import time
from collections import Counter
from datetime import UTC, datetime

import pandas as pd

from tierlib.catalog import (
    erased_key,
    erasure_audit_key,
    standardized_marker_key,
)
from tierlib.errors import TierflowError
from tierlib.privacy._people import RECORD_IDENTIFIERS, ErasedPeople, resolve_people
from tierlib.privacy._purge import SKIP_PREFIXES, Matcher, purge_bytes

_CHANNEL = re.compile(r"(?:^|/)channel=([A-Za-z0-9_]+)(?:/|$)")
_STANDARDIZED = re.compile(
    r"^standardized/period=(\d{4}-\d{2})/channel=([^/]+)/(records|orders|events)\.parquet$"
)
_QUARANTINE = re.compile(
    r"^quarantine/period=(\d{4}-\d{2})/stage=extract/channel=([^/]+)/(records|orders|events)\.parquet$"
)


class ErasureIncomplete(TierflowError):
    """After the purge some file still mentions an erased person; the message lists them."""


def people_in_storage(storage, requests: pd.DataFrame, erasure) -> ErasedPeople:
    """The requested (and remembered) people over every record version and identity map stored."""
    columns = ["channel", "record_id", *RECORD_IDENTIFIERS]
    frames = []
    for key in storage.list("standardized/"):
        if key.endswith("/records.parquet"):
            frame = storage.read_parquet(key)
            frames.append(frame.reindex(columns=columns).astype("string"))
    for key in storage.list("identity/"):
        if key.endswith("/records.parquet"):
            frame = storage.read_parquet(key)
            frames.append(frame.reindex(columns=columns).astype("string"))
    records = (
        pd.concat(frames, ignore_index=True).drop_duplicates(ignore_index=True)
        if frames
        else pd.DataFrame({name: pd.Series(dtype="string") for name in columns})
    )
    maps, registry = [], None
    seen = None
    for key in sorted(storage.list("identity/"), reverse=True):
        if key.endswith("/identity_map.parquet"):
            frame = storage.read_parquet(key, columns=["channel", "record_id", "oneid"]).astype("string")
            if seen is not None:
                frame = frame[~pd.MultiIndex.from_frame(frame[["channel", "record_id"]]).isin(seen)]
            maps.append(frame)
            known = pd.MultiIndex.from_frame(frame[["channel", "record_id"]])
            seen = known if seen is None else seen.append(known)
        elif key.endswith("/registry.parquet") and registry is None:
            registry = storage.read_parquet(key)
    identity_map = (
        pd.concat(maps, ignore_index=True)
        if maps
        else pd.DataFrame({name: pd.Series(dtype="string") for name in ("channel", "record_id", "oneid")})
    )
    return resolve_people(requests, records, identity_map, registry, erasure)


def _channels_of(key: str) -> tuple[str, ...]:
    return tuple(_CHANNEL.findall(key))


def _manifests(storage, keys: list[str]) -> dict[str, dict]:
    found = {}
    for key in keys:
        if posixpath.basename(key) != "manifest.json":
            continue
        try:
            manifest = json.loads(storage.read_bytes(key).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            continue
        files = manifest.get("files") if isinstance(manifest, dict) else None
        if isinstance(files, list) and all(
            isinstance(e, dict) and "path" in e and "sha256" in e for e in files
        ):
            found[key] = manifest
    return found


def purge_storage(storage, matcher: Matcher) -> dict:
    """Rewrite every file that mentions the people; return counts by area (first path segment)."""
    from tierlib.publish._commit import manifest_bytes

    keys = [key for key in storage.list("") if not key.startswith(SKIP_PREFIXES)]
    manifests = _manifests(storage, keys)
    covered = {
        posixpath.dirname(key) + "/" + entry["path"]
        for key, manifest in manifests.items()
        for entry in manifest["files"]
    }
    files, rows, unreadable = Counter(), Counter(), []
    removed_by_key: dict[str, int] = {}

    def purge(key: str) -> bytes | None:
        outcome = purge_bytes(key, storage.read_bytes(key), matcher, _channels_of(key))
        if outcome.unreadable:
            unreadable.append(key)
        if outcome.data is not None:
            area = key.split("/", 1)[0]
            files[area] += 1
            rows[area] += outcome.rows
            removed_by_key[key] = outcome.rows
        return outcome.data

    for manifest_key, manifest in sorted(manifests.items()):
        base = posixpath.dirname(manifest_key) + "/"
        rewritten = {}
        for entry in manifest["files"]:
            key = base + entry["path"]
            if storage.exists(key):
                data = purge(key)
                if data is not None:
                    rewritten[key] = (entry, data)
        if not rewritten:
            continue
        success = base + "_SUCCESS"
        had_success = storage.exists(success)
        storage.delete(success)  # the month is "not published" while its files change, never "half"
        for key, (entry, data) in rewritten.items():
            storage.write_bytes(key, data)
            entry["sha256"] = hashlib.sha256(data).hexdigest()
            entry["bytes"] = len(data)
            if isinstance(entry.get("rows"), int):
                entry["rows"] = max(entry["rows"] - removed_by_key[key], 0)
        _recount_segments(manifest)
        encoded = manifest_bytes(manifest)
        storage.write_bytes(manifest_key, encoded)
        if had_success:
            marker = {"files": len(manifest["files"]), "manifest_sha256": hashlib.sha256(encoded).hexdigest()}
            storage.write_bytes(success, manifest_bytes(marker))
        files["manifests_rehashed"] += 1

    for key in keys:
        if key in covered or key in manifests or posixpath.basename(key) == "_SUCCESS":
            continue
        data = purge(key)
        if data is not None:
            storage.write_bytes(key, data)
    _recount_markers(storage, removed_by_key)
    return {"files_rewritten": dict(files), "rows_removed": dict(rows), "unreadable_files": unreadable}


def _recount_segments(manifest: dict) -> None:
    """Keep the header's per-segment row counts equal to the files' (same rows in every format)."""
    rows = {
        (entry.get("channel"), entry.get("segment"), entry.get("role")): entry.get("rows")
        for entry in manifest["files"]
    }
    for segment in manifest.get("segments") or []:
        counts = segment.get("rows")
        if isinstance(counts, dict):
            for role in counts:
                found = rows.get((segment.get("channel"), segment.get("segment"), role))
                if isinstance(found, int):
                    counts[role] = found


def _recount_markers(storage, removed_by_key: dict[str, int]) -> None:
    """Extract's markers: rows left standardized and quarantined, the rest counted as erased."""
    touched: dict[tuple[str, str], dict[str, dict[str, int]]] = {}
    for key, removed in removed_by_key.items():
        for pattern, field_name in ((_STANDARDIZED, "accepted"), (_QUARANTINE, "quarantined")):
            match = pattern.match(key)
            if match:
                period, channel, kind = match.groups()
                touched.setdefault((period, channel), {}).setdefault(kind, {})[field_name] = removed
    for (period, channel), kinds in touched.items():
        marker_key = standardized_marker_key(period, channel)
        if not storage.exists(marker_key):
            continue
        marker = storage.read_json(marker_key)
        for kind, fields in kinds.items():
            counts = marker.get(kind)
            if not isinstance(counts, dict):
                continue
            for field_name, removed in fields.items():
                counts[field_name] = max(int(counts.get(field_name, 0)) - removed, 0)
                counts["erased"] = int(counts.get("erased", 0)) + removed
        storage.write_json(marker_key, marker)


def scan_storage(storage, matcher: Matcher) -> list[str]:
    """Keys of every file that still mentions the people (empty after a complete purge)."""
    left = []
    for key in storage.list(""):
        if key.startswith(SKIP_PREFIXES):
            continue
        outcome = purge_bytes(key, storage.read_bytes(key), matcher, _channels_of(key))
        if outcome.data is not None or outcome.unreadable:
            left.append(key)
    return left


def erase(ctx, check_only: bool = False) -> dict:
    """Resolve every request over storage, purge, verify, and write the audit record."""
    from tierlib.pipeline.erasure import erasure_filter
    from tierlib.privacy._requests import read_requests

    started = time.perf_counter()
    erasure = erasure_filter(ctx)
    requests = read_requests(ctx)
    if not erasure:
        return {"requests": 0, "note": "no erasure requests (privacy.erasure_requests) and no tombstone"}
    people = people_in_storage(ctx.storage, requests, erasure)
    matcher = Matcher.of(people, erasure.key)
    if check_only:
        left = scan_storage(ctx.storage, matcher)
        return {"requests": len(requests), "files_mentioning": len(left), "keys": left}
    tombstone = erasure.tombstone.union(people.tombstone(erasure.key))
    ctx.storage.write_parquet(erased_key(), tombstone.frame())
    figures = purge_storage(ctx.storage, matcher)
    left = scan_storage(ctx.storage, matcher)
    now = datetime.now(UTC)
    audit = {
        "erased_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "requests": people.requests,
        "people": {"oneids": len(people.oneids), "records": len(people.record_keys)},
        **figures,
        "files_still_mentioning": len(left),
        "seconds": round(time.perf_counter() - started, 1),
    }
    ctx.storage.write_json(erasure_audit_key(now.strftime("%Y%m%dT%H%M%S%fZ")), audit)
    if left or figures["unreadable_files"]:
        raise ErasureIncomplete(
            f"erasure incomplete: {len(left)} files still mention an erased person and could not be "
            f"rewritten ({', '.join((left or figures['unreadable_files'])[:5])}); remove or rewrite them "
            "by hand, then run erase again"
        )
    return audit
