"""Erasure stage: the month's run learns whom it must leave out, before anything is extracted.

Reads the erasure requests (``privacy`` section), finds each person over last month's identity
(every record version, the map, the registry) and adds their keyed hashes to the tombstone, so
that extract leaves out this month's records, orders and events of every record of theirs, and
identity marks their OneIDs erased.  Nothing of the person is written, only hashes and counts.
"""

from __future__ import annotations

import pandas as pd

from tierlib.catalog import erased_key, erased_records_key, identity_key
from tierlib.period import previous_period
from tierlib.pipeline.context import RunContext, log


def erasure_filter(ctx: RunContext):
    """What this run excludes (falsy when nothing is to be erased): requests and tombstone."""
    from tierlib.identity import identity_hash_key
    from tierlib.privacy import ErasureFilter, Tombstone, read_requests

    identity = ctx.config.stage("identity")
    requests = read_requests(ctx)
    tombstone = Tombstone.read(ctx.storage)
    if not len(requests) and not tombstone:
        return ErasureFilter({}, frozenset(), tombstone, None, identity)
    key = identity_hash_key(identity.allow_unkeyed_hashes)
    return ErasureFilter.of(requests, tombstone, key, identity)


def run_erasure(ctx: RunContext) -> dict:
    from tierlib.privacy import read_requests, resolve_people

    erasure = erasure_filter(ctx)
    if not erasure:
        return {"requests": 0, "erased_oneids": 0, "erased_records": 0}
    requests = read_requests(ctx)
    previous = previous_period(ctx.period)
    if ctx.storage.exists(identity_key(previous, "registry")):
        records = ctx.storage.read_parquet(identity_key(previous, "records"))
        identity_map = ctx.storage.read_parquet(identity_key(previous, "identity_map"))
        registry = ctx.storage.read_parquet(identity_key(previous, "registry"))
    else:
        from tierlib.catalog import read_standardized
        from tierlib.identity import IDENTITY_MAP_COLUMNS
        from tierlib.schemas import empty_frame

        log.info(
            "erasure %s: no identity for %s; requests are matched by their identifiers", ctx.period, previous
        )
        records = read_standardized(ctx.storage, "records", [], ctx.channels)
        identity_map, registry = empty_frame(IDENTITY_MAP_COLUMNS), None
    # Last month's records passed the tombstone in their own run: compare them with the requests.
    people = resolve_people(requests, records, identity_map, registry, erasure, remembered=False)
    found = people.tombstone(erasure.key)
    tombstone = erasure.tombstone.union(found)
    if tombstone != erasure.tombstone or not ctx.storage.exists(erased_key()):
        ctx.storage.write_parquet(erased_key(), tombstone.frame())
    figures = {
        "requests": len(requests),
        "erased_oneids": len(people.oneids),
        "erased_records": len(people.record_keys),
        "tombstone_hashes": len(tombstone.values) + len(tombstone.records) + len(tombstone.oneids),
    }
    log.info(
        "erasure %s: %d requests; %d OneIDs and %d records known up to %s are left out of this run",
        ctx.period,
        figures["requests"],
        figures["erased_oneids"],
        figures["erased_records"],
        previous,
    )
    return figures


def exclude_erased(
    ctx: RunContext, erasure, kind: str, frame: pd.DataFrame, also: set
) -> tuple[pd.DataFrame, int]:
    """``frame`` (standard columns) without rows of erased people, and how many rows left.

    Records go by identifier or record key; orders and events by record key (the tombstone's,
    or ``also``: records of the same extract left out just now, which this adds to).
    """
    if not erasure or not len(frame):
        return frame, 0
    if kind == "records":
        erased = erasure.records_mask(frame)
        also.update(zip(frame.loc[erased, "channel"], frame.loc[erased, "record_id"], strict=True))
    else:
        erased = erasure.keys_mask(frame, also)
    return frame.loc[~erased].reset_index(drop=True), int(erased.sum())


def remember_records(ctx: RunContext, erasure, period: str, source: str, keys: set) -> None:
    """Keep the keyed hashes of record keys left out this month, so their later orders go too."""
    from tierlib.privacy import Tombstone, erasure_hashes
    from tierlib.privacy._hashes import record_texts

    key = erased_records_key(period, source)
    if not keys:
        ctx.storage.delete(key)
        return
    ordered = sorted(keys)
    hashes = erasure_hashes(record_texts([c for c, _ in ordered], [r for _, r in ordered]), erasure.key)
    ctx.storage.write_parquet(key, Tombstone(records=frozenset(hashes)).frame())


def exclude_standardized(ctx: RunContext, erasure, table, result, kind: str, mapping, also: set):
    """A channel table's standardized and quarantined rows without erased people's; the count left out.

    Quarantined rows hold the source row as the source wrote it, so they are matched through
    the mapping on the source frame (a malformed row of an erased person goes as well).
    """
    from tierlib.extract import Standardized

    if not erasure:
        return result, 0
    accepted, erased = exclude_erased(ctx, erasure, kind, result.accepted, also)
    quarantined = result.quarantined
    if len(quarantined):
        rows = table.frame.iloc[quarantined["source_row"].to_numpy()]
        standard = pd.DataFrame(
            {
                target: rows[source].astype("string").to_numpy()
                for target, source in mapping.columns.items()
                if source in rows.columns and target in ("record_id", *RECORD_IDENTIFIER_NAMES)
            }
        )
        standard["channel"] = quarantined["channel"].to_numpy()
        if "record_id" not in standard.columns:
            standard["record_id"] = pd.NA
        gone = erasure.records_mask(standard) if kind == "records" else erasure.keys_mask(standard, also)
        # A malformed row has no columns to map: its text as delivered is looked through instead.
        gone |= erasure.text_mask(quarantined["row_json"])
        quarantined = quarantined.loc[~gone].reset_index(drop=True)
        erased += int(gone.sum())
    return Standardized(accepted, quarantined), erased


RECORD_IDENTIFIER_NAMES = (
    "phone",
    "email",
    "member_id",
    "unionid",
    "openid",
    "device_id",
    "platform_user_id",
    "external_userid",
)
