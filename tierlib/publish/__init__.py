"""Publish: per-channel segment exports with consent, suppression, holdouts, deltas and a manifest.

The library side takes DataFrames (tiers, record versions, identity map, the
opt-out list) and returns the month's tables (:func:`build_exports`); the
commit side (:func:`publish`) writes files to a storage root atomically and
:func:`read_published` / :func:`verify_published` are what readers use.
:func:`lift_table` judges last month's segments as A/B tests.  See ``docs/publish.md``.
"""

from tierlib.publish._audience import channel_audience, customer_match_phone, sha256_hex
from tierlib.publish._build import ROLES, ExportTables, build_exports
from tierlib.publish._commit import PublishError, build_manifest, publish, read_published, verify_published
from tierlib.publish._contacts import Contacts, Suppression, member_contacts, suppression_from_frames
from tierlib.publish._deltas import row_deltas
from tierlib.publish._files import (
    ExportFile,
    decode,
    encode,
    segment_file_path,
    upload_archives,
    upload_file_path,
)
from tierlib.publish._frames import MemberIndex
from tierlib.publish._identifiers import IDENTIFIER_RULES, INVALID_REASONS, classify_device, identifier_values
from tierlib.publish._lift import (
    LIFT_COLUMNS,
    difference_of_proportions,
    lift_table,
    member_outcomes,
    welch_difference,
    wilson_interval,
)
from tierlib.publish._segments import ASSIGNMENT_COLUMNS, HOLDOUT, TREATED, holdout_draws, segment_members
from tierlib.publish._settings import KIND_COLUMNS, ExportChannel, PublishSettings, SegmentRule

__all__ = [
    "ASSIGNMENT_COLUMNS",
    "HOLDOUT",
    "IDENTIFIER_RULES",
    "INVALID_REASONS",
    "KIND_COLUMNS",
    "LIFT_COLUMNS",
    "ROLES",
    "TREATED",
    "Contacts",
    "ExportChannel",
    "ExportFile",
    "ExportTables",
    "MemberIndex",
    "PublishError",
    "PublishSettings",
    "SegmentRule",
    "Suppression",
    "build_exports",
    "build_manifest",
    "channel_audience",
    "classify_device",
    "customer_match_phone",
    "decode",
    "difference_of_proportions",
    "encode",
    "holdout_draws",
    "identifier_values",
    "lift_table",
    "member_contacts",
    "member_outcomes",
    "publish",
    "read_published",
    "row_deltas",
    "segment_file_path",
    "segment_members",
    "sha256_hex",
    "suppression_from_frames",
    "upload_archives",
    "upload_file_path",
    "verify_published",
    "welch_difference",
    "wilson_interval",
]
