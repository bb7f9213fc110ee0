"""The cross-channel contact budget: at most N contacts per member per month, across all channels.

A contact is one treated row: a member in the sent file of one (channel, segment).  When a
member has more than the budget allows, the contacts kept are those of the highest segment
priority first, then the configured channel order (channels it does not name come after, in
config order), then segment and channel name, so the choice never depends on row order.  With
``window_months`` above 1 the budget spans that many months, this one included, and the
contact logs of the earlier ones (``contact_log.parquet`` of their publishes) count against it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tierlib.publish._frames import MemberIndex, first_of_runs
from tierlib.publish._settings import PublishSettings

CONTACT_LOG_COLUMNS: dict[str, str] = {
    "period": "string",
    "oneid": "string",
    "channel": "string",
    "segment": "string",
}
"""Who was sent what in a month: one row per member and (channel, segment) file they were in."""


def contacts_used(history: pd.DataFrame | None, members: MemberIndex) -> np.ndarray:
    """Contacts per member code in the earlier months of the budget window (``history``: log rows)."""
    used = np.zeros(len(members), dtype=np.int64)
    if history is None or not len(history):
        return used
    codes = members.codes(history["oneid"])
    codes = codes[codes >= 0]
    return used + np.bincount(codes, minlength=len(members))


def within_budget(rows: pd.DataFrame, used: np.ndarray, settings: PublishSettings) -> np.ndarray:
    """Bool per row of ``rows`` (``member``, ``channel``, ``priority``, ``segment``): kept by the budget.

    ``rows`` are the month's would-be contacts of every channel; ``used`` the contacts each
    member already had in the window's earlier months.
    """
    budget = settings.contact_budget
    keep = np.ones(len(rows), dtype=bool)
    if budget.max_contacts is None or not len(rows):
        return keep
    order = {name: index for index, name in enumerate(budget.channel_order)}
    later = len(order)
    configured = {name: index for index, name in enumerate(settings.channels)}
    channel = rows["channel"].astype(str).to_numpy()
    channel_rank = np.array([order.get(name, later + configured[name]) for name in channel], dtype=np.int64)
    member = rows["member"].to_numpy()
    sorted_rows = np.lexsort(
        (
            channel,
            rows["segment"].astype(str).to_numpy(),
            channel_rank,
            rows["priority"].to_numpy(),
            member,
        )
    )
    starts = np.flatnonzero(first_of_runs(member[sorted_rows]))
    run_start = np.repeat(starts, np.diff(np.append(starts, len(sorted_rows))))
    place = np.arange(len(sorted_rows)) - run_start
    allowed = np.maximum(budget.max_contacts - used[member[sorted_rows]], 0)
    keep[sorted_rows] = place < allowed
    return keep
