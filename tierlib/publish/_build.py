"""From tiers, records and the opt-out list to every segment table of the month (no IO)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from tierlib.publish._audience import channel_audience
from tierlib.publish._contacts import Suppression, member_contacts, suppressed_members
from tierlib.publish._deltas import row_deltas
from tierlib.publish._segments import ASSIGNMENT_COLUMNS, HOLDOUT, TREATED, assign_channel, segment_members
from tierlib.publish._settings import PublishSettings

ROLES = ("members", "holdout", "added", "removed")
"""The files of each (channel, segment): sent list, held-out list, and the deltas of the sent list."""


@dataclass(frozen=True)
class ExportTables:
    """Everything a month publishes, before it is encoded into files.

    ``segments[(channel, segment)][role]`` is a frame with exactly the channel's
    export columns; ``assignments`` records, by oneid, who was treated or held
    out (the lift report of next month reads it); ``delta_basis`` says what each
    segment's deltas were computed against.
    """

    segments: dict[tuple[str, str], dict[str, pd.DataFrame]]
    assignments: pd.DataFrame
    delta_basis: dict[tuple[str, str], str]
    figures: dict = field(default_factory=dict)


def build_exports(
    tiers: pd.DataFrame,
    records: pd.DataFrame,
    identity_map: pd.DataFrame,
    suppression: Suppression,
    settings: PublishSettings,
    previous: Mapping[tuple[str, str], pd.DataFrame] | None = None,
) -> ExportTables:
    """Segment tables of every configured (channel, segment).

    ``records``: standardized record versions of every month up to this one;
    ``identity_map``: channel, record_id, oneid; ``previous``: last month's
    published ``members`` tables by (channel, segment), or None when last month
    was not published (then every row is "added").
    """
    contacts = member_contacts(records, identity_map, settings.default_region)
    suppressed = suppressed_members(records, identity_map, suppression, settings.default_region)
    members = segment_members(tiers, settings)
    segments: dict[tuple[str, str], dict[str, pd.DataFrame]] = {}
    basis: dict[tuple[str, str], str] = {}
    assignments = []
    figures: dict = {
        "members_in_tiers": len(tiers),
        "records_latest_with_oneid": len(contacts),
        "members_suppressed": len(suppressed),
        "suppression_entries": len(suppression.phones) + len(suppression.emails),
        "suppression_entries_unusable": suppression.unusable,
        "channels": {},
    }
    for channel_name, channel in settings.channels.items():
        audience = channel_audience(channel, contacts, suppressed, suppression)
        assigned = assign_channel(channel_name, members, pd.Index(audience["oneid"]), settings)
        assignments.append(assigned)
        columns = list(channel.export_columns)
        rows = assigned.merge(audience, on="oneid", how="left", validate="many_to_one")
        channel_figures = {"reachable_members": len(audience), "segments": {}}
        for segment_name, rule in settings.segments.items():
            if channel_name not in rule.channels:
                continue
            in_segment = rows[rows["segment"] == segment_name]
            tables = {
                "members": _file_rows(in_segment[in_segment["group"] == TREATED], columns),
                "holdout": _file_rows(in_segment[in_segment["group"] == HOLDOUT], columns),
            }
            earlier = None if previous is None else previous.get((channel_name, segment_name))
            if previous is not None and earlier is None:
                earlier = tables["members"].iloc[0:0]  # the segment was not published last month
            tables["added"], tables["removed"], basis[(channel_name, segment_name)] = row_deltas(
                tables["members"], earlier
            )
            segments[(channel_name, segment_name)] = tables
            channel_figures["segments"][segment_name] = {role: len(tables[role]) for role in ROLES}
        figures["channels"][channel_name] = channel_figures
    if assignments:
        all_assignments = pd.concat(assignments, ignore_index=True)
    else:
        all_assignments = pd.DataFrame({name: [] for name in ASSIGNMENT_COLUMNS}).astype(ASSIGNMENT_COLUMNS)
    all_assignments = all_assignments.sort_values(["channel", "segment", "group", "oneid"]).reset_index(
        drop=True
    )
    return ExportTables(segments=segments, assignments=all_assignments, delta_basis=basis, figures=figures)


def _file_rows(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The rows of a file: the channel's columns only, each distinct row once, sorted."""
    out = frame[columns].astype("string").drop_duplicates()
    return out.sort_values(columns, na_position="last").reset_index(drop=True)
