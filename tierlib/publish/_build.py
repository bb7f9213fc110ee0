"""From tiers, records and the opt-out list to every segment table of the month (no IO)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from tierlib.publish._audience import AudienceBuilder
from tierlib.publish._budget import CONTACT_LOG_COLUMNS, contacts_used, within_budget
from tierlib.publish._contacts import Contacts, Suppression, member_contacts
from tierlib.publish._control import CONTACTED, GLOBAL_CONTROL, PROGRAM_COLUMNS, empty_program
from tierlib.publish._deltas import row_deltas
from tierlib.publish._frames import MemberIndex, arrow_text, text_series
from tierlib.publish._identifiers import reason_counts
from tierlib.publish._segments import (
    ASSIGNMENT_COLUMNS,
    HOLDOUT,
    TREATED,
    assign_channel,
    global_control_members,
    segment_members,
)
from tierlib.publish._settings import PublishSettings

ROLES = ("members", "holdout", "added", "removed")
"""The files of each (channel, segment): sent list, held-out list, and the deltas of the sent list."""


@dataclass(frozen=True)
class ExportTables:
    """Everything a month publishes, before it is encoded into files.

    ``segments[(channel, segment)][role]`` is a frame with exactly the channel's
    export columns; ``assignments`` records, by oneid, who was treated or held
    out (the lift report of next month reads it); ``delta_basis`` says what each
    segment's deltas were computed against; ``invalid`` counts, per (channel,
    segment) and reason, the rows a destination would reject (in no file).
    """

    segments: dict[tuple[str, str], dict[str, pd.DataFrame]]
    assignments: pd.DataFrame
    delta_basis: dict[tuple[str, str], str]
    figures: dict = field(default_factory=dict)
    contact_log: pd.DataFrame | None = None
    """Who was sent what this month (CONTACT_LOG_COLUMNS); next months' budgets read it."""
    program: pd.DataFrame = field(default_factory=empty_program)
    """Contacted members and the global control members who would have been (PROGRAM_COLUMNS)."""
    invalid: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)
    """Rows left out of each (channel, segment) because the destination would reject them, by reason."""


def build_exports(
    tiers: pd.DataFrame,
    records: pd.DataFrame,
    identity_map: pd.DataFrame,
    suppression: Suppression,
    settings: PublishSettings,
    previous: Mapping[tuple[str, str], pd.DataFrame] | None = None,
    period: str | None = None,
    contact_history: pd.DataFrame | None = None,
) -> ExportTables:
    """Segment tables of every configured (channel, segment).

    ``records``: standardized record versions of every month up to this one;
    ``identity_map``: channel, record_id, oneid; ``previous``: last month's
    published ``members`` tables by (channel, segment), or None when last month
    was not published (then every row is "added"); ``period``: the run's month (YYYY-MM),
    which the global control group is drawn for; ``contact_history``: the contact log rows
    (CONTACT_LOG_COLUMNS) of the budget window's earlier months.
    """
    members = MemberIndex(tiers["oneid"], identity_map["oneid"])
    contacts = member_contacts(records, identity_map, members, suppression, settings.default_region)
    qualified = segment_members(tiers, settings, members)
    control = global_control_members(tiers, settings, members, period)
    would_contact = np.zeros(len(members), dtype=bool)
    builder = AudienceBuilder(contacts, {"phone": suppression.phones, "email": suppression.emails})
    segments: dict[tuple[str, str], dict[str, pd.DataFrame]] = {}
    basis: dict[tuple[str, str], str] = {}
    assignments = []
    figures: dict = {
        "members_in_tiers": len(tiers),
        "records_latest_with_oneid": len(contacts.latest),
        "record_versions_without_oneid": contacts.versions_without_oneid,
        "members_suppressed": int(contacts.suppressed.sum()),
        "members_in_global_control": int(control.sum()),
        "suppression_entries": len(suppression.phones) + len(suppression.emails),
        "suppression_entries_unusable": suppression.unusable,
        "channels": {},
    }
    invalid: dict[tuple[str, str], dict[str, int]] = {}
    # Pass 1: every channel's slots (the control and the platform's rejects still take theirs).
    slots = {}
    for channel_name, channel in settings.channels.items():
        audience = builder.audience(channel)
        reachable = members.mask(audience["member"].to_numpy())
        rejected = builder.rejections(channel)
        # A member the platform would reject still takes their slot, so that it is counted
        # where it would have gone; the slot then stays empty, like a held-out one.
        assigned = assign_channel(
            channel_name, qualified, reachable | members.mask(rejected["member"].to_numpy()), settings
        )
        slots[channel_name] = (audience, reachable, rejected, assigned)
    # The budget allots the month's would-be contacts (treated, sendable rows) across channels;
    # control members go through it too, so "would have been contacted" follows the same rules.
    contact_rows = []
    for channel_name, (_, reachable, _, assigned) in slots.items():
        sendable = reachable[assigned["member"].to_numpy()] & (assigned["group"] == TREATED).to_numpy()
        contact_rows.append(assigned[sendable].assign(channel=channel_name, row=np.flatnonzero(sendable)))
    contact_rows = pd.concat(contact_rows, ignore_index=True) if contact_rows else pd.DataFrame()
    kept = within_budget(contact_rows, contacts_used(contact_history, members), settings)
    over_budget = {name: np.zeros(len(slot[3]), dtype=bool) for name, slot in slots.items()}
    if len(contact_rows):
        for channel_name, dropped in over_budget.items():
            mask = (contact_rows["channel"] == channel_name).to_numpy() & ~kept
            dropped[contact_rows["row"].to_numpy()[mask]] = True
    # Pass 2: the files.
    for channel_name, channel in settings.channels.items():
        audience, reachable, rejected, assigned = slots[channel_name]
        reason_of = pd.Series(rejected["reason"].to_numpy(), index=rejected["member"].to_numpy())
        in_control = control[assigned["member"].to_numpy()]
        dropped = over_budget[channel_name]
        treated_control = assigned["member"].to_numpy()[
            in_control
            & reachable[assigned["member"].to_numpy()]
            & (assigned["group"] == TREATED).to_numpy()
            & ~dropped
        ]
        would_contact[treated_control] = True
        over_rows = assigned[dropped & ~in_control]
        # The global control receives nothing: not a file row, not a holdout, not an invalid row;
        # a contact over the budget is not sent (nor held out: its slot stays empty).
        assigned = assigned[~in_control & ~dropped].reset_index(drop=True)
        is_rejected = ~reachable[assigned["member"].to_numpy()]
        rejected_rows = assigned[is_rejected].assign(
            reason=reason_of.reindex(assigned["member"][is_rejected]).to_numpy()
        )
        assigned = assigned[~is_rejected].reset_index(drop=True)
        assignments.append(assigned.assign(channel=channel_name))
        columns = list(channel.export_columns)
        values = _values_by_member(audience, columns, members, contacts)
        channel_figures = {
            "reachable_members": len(audience),
            "invalid": reason_counts(rejected_rows["reason"].astype("string")),
            "over_budget": len(over_rows),
            "segments": {},
        }
        for segment_name, rule in settings.segments.items():
            if channel_name not in rule.channels:
                continue
            invalid[(channel_name, segment_name)] = reason_counts(
                rejected_rows.loc[rejected_rows["segment"] == segment_name, "reason"].astype("string")
            )
            in_segment = assigned[assigned["segment"] == segment_name]
            tables = {
                role: _file_rows(values, in_segment.loc[in_segment["group"] == group, "member"].to_numpy())
                for role, group in (("members", TREATED), ("holdout", HOLDOUT))
            }
            earlier = None if previous is None else previous.get((channel_name, segment_name))
            if previous is not None and earlier is None:
                earlier = tables["members"].iloc[0:0]  # the segment was not published last month
            tables["added"], tables["removed"], basis[(channel_name, segment_name)] = row_deltas(
                tables["members"], earlier
            )
            segments[(channel_name, segment_name)] = tables
            channel_figures["segments"][segment_name] = {
                **{role: len(tables[role]) for role in ROLES},
                "invalid": invalid[(channel_name, segment_name)],
                "over_budget": int((over_rows["segment"] == segment_name).sum()),
            }
        figures["channels"][channel_name] = channel_figures
    assignment_table = _assignment_table(assignments, members)
    treated = assignment_table[assignment_table["group"] == TREATED]
    contact_log = pd.DataFrame(
        {
            "period": period or "",
            "oneid": treated["oneid"].to_numpy(),
            "channel": treated["channel"].to_numpy(),
            "segment": treated["segment"].to_numpy(),
        }
    ).astype(CONTACT_LOG_COLUMNS)
    contact_log = contact_log.sort_values(["oneid", "channel", "segment"]).reset_index(drop=True)
    program = _program_table(tiers, assignment_table, members, would_contact)
    figures["program"] = program["group"].value_counts().reindex([CONTACTED, GLOBAL_CONTROL], fill_value=0)
    figures["program"] = {name: int(count) for name, count in figures["program"].items()}
    return ExportTables(
        segments=segments,
        assignments=assignment_table,
        program=program,
        contact_log=contact_log,
        delta_basis=basis,
        figures=figures,
        invalid=invalid,
    )


def _values_by_member(
    audience: pd.DataFrame, columns: list[str], members: MemberIndex, contacts: Contacts
) -> dict[str, pa.Array]:
    """Each export column as an Arrow array indexed by member code (null where unreachable)."""
    position = np.full(len(members), -1, dtype=np.int64)
    position[audience["member"].to_numpy()] = np.arange(len(audience))
    where = pa.array(position, mask=position < 0, type=pa.int64())
    out = {}
    for column in columns:
        if column == "oneid":
            out[column] = members.oneids
        else:
            out[column] = arrow_text(audience[column]).take(where)
    return out


def _file_rows(values: dict[str, pa.Array], member_codes: np.ndarray) -> pd.DataFrame:
    """The rows of a file: the channel's columns only, each distinct row once, sorted (nulls last)."""
    take = pa.array(member_codes, type=pa.int64())
    table = pa.table({name: array.take(take) for name, array in values.items()})
    names = list(values)
    if table.num_rows:
        table = table.group_by(names, use_threads=False).aggregate([])
        order = pc.sort_indices(table, sort_keys=[(name, "ascending", "at_end") for name in names])
        table = table.select(names).take(order)
    return pd.DataFrame({name: text_series(table.column(name).combine_chunks()) for name in names})


def _program_table(
    tiers: pd.DataFrame, assignments: pd.DataFrame, members: MemberIndex, would_contact: np.ndarray
) -> pd.DataFrame:
    """PROGRAM_COLUMNS: who was contacted, and the control members who would have been, with tiers."""
    contacted = members.mask(members.codes(assignments.loc[assignments["group"] == TREATED, "oneid"]))
    codes = members.codes(tiers["oneid"])
    group = np.where(contacted[codes], CONTACTED, np.where(would_contact[codes], GLOBAL_CONTROL, ""))
    keep = group != ""
    frame = pd.DataFrame(
        {
            "oneid": tiers["oneid"].astype("string").to_numpy()[keep],
            "tier": tiers["tier"].astype("string").to_numpy()[keep],
            "group": group[keep],
        }
    )
    return frame.sort_values("oneid").reset_index(drop=True).astype(PROGRAM_COLUMNS)


def _assignment_table(frames: list[pd.DataFrame], members: MemberIndex) -> pd.DataFrame:
    """ASSIGNMENT_COLUMNS sorted by channel, segment, group, oneid (member codes sort as oneids do)."""
    if not frames:
        return pd.DataFrame({name: [] for name in ASSIGNMENT_COLUMNS}).astype(ASSIGNMENT_COLUMNS)
    frame = pd.concat(frames, ignore_index=True)
    channel_order = pd.Categorical(frame["channel"], categories=sorted(frame["channel"].unique())).codes
    order = np.lexsort(
        (
            frame["member"].to_numpy(),
            frame["group"].to_numpy() != HOLDOUT,  # "holdout" sorts before "treated"
            frame["segment_order"].to_numpy(),
            channel_order,
        )
    )
    frame = frame.iloc[order].reset_index(drop=True)
    out = pd.DataFrame(
        {
            "channel": frame["channel"],
            "segment": frame["segment"],
            "oneid": members.names(frame["member"].to_numpy()),
            "priority": frame["priority"],
            "group": frame["group"],
        }
    )
    return out.astype(ASSIGNMENT_COLUMNS)
