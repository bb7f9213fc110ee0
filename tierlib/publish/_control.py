"""The global control group and the program's incrementality.

A configured share of all members receives no export of any channel.  The draw is the
holdout hash (:func:`holdout_draws`) under a salt that names the period it belongs to
(``salt:2026Q3`` for a quarterly rotation), so membership holds for the whole period and
is drawn afresh when the next one starts.

Program lift compares, per tier, the members contacted in a month with the control members
who would have been contacted by the same rules (qualified for a segment, reachable, within
the contact budget) had they not been in the control.  Both groups come from one random
split of members under one selection rule, so the difference is what the whole program of
contacts earned, not the difference between the kind of members each rule picks.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from tierlib.publish._contacts import require_columns
from tierlib.publish._frames import MemberIndex
from tierlib.publish._lift import difference_of_proportions, welch_difference

CONTACTED, GLOBAL_CONTROL = "contacted", "global_control"
ALL_TIERS = "all"

PROGRAM_COLUMNS: dict[str, str] = {"oneid": "string", "tier": "string", "group": "string"}
"""A month's program groups: contacted members and control members who would have been contacted."""

PROGRAM_LIFT_COLUMNS: dict[str, str] = {
    "tier": "string",
    "contacted_members": "int64",
    "control_members": "int64",
    "contacted_conversion_rate": "float64",
    "control_conversion_rate": "float64",
    "conversion_lift": "float64",
    "conversion_lift_low": "float64",
    "conversion_lift_high": "float64",
    "contacted_spend_per_member": "float64",
    "control_spend_per_member": "float64",
    "spend_lift": "float64",
    "spend_lift_low": "float64",
    "spend_lift_high": "float64",
    "spend_p_value": "float64",
}
"""One row per tier of the contacts' month, and ``all``; lifts are contacted minus control."""


def program_lift(program: pd.DataFrame, outcomes: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Contacted against global control per tier (and ``all``), on ``outcomes`` of the next month."""
    require_columns(program, tuple(PROGRAM_COLUMNS), "last month's program groups")
    require_columns(outcomes, ("oneid", "converted", "spend"), "member outcomes")
    members = MemberIndex(program["oneid"], outcomes["oneid"])
    converted = np.zeros(len(members), dtype=bool)
    spend = np.zeros(len(members), dtype=np.float64)
    bought = members.codes(outcomes["oneid"])
    converted[bought] = outcomes["converted"].to_numpy(bool)
    spend[bought] = outcomes["spend"].astype("float64").to_numpy()
    member = members.codes(program["oneid"])
    tier = program["tier"].astype("string").fillna("").to_numpy(dtype=object)
    contacted = (program["group"] == CONTACTED).to_numpy(bool)
    rows = []
    for name in [ALL_TIERS, *sorted(set(tier))]:
        chosen = np.ones(len(tier), dtype=bool) if name == ALL_TIERS else tier == name
        treated, control = member[chosen & contacted], member[chosen & ~contacted]
        n1, n0 = len(treated), len(control)
        x1, x0 = int(converted[treated].sum()), int(converted[control].sum())
        conversion = difference_of_proportions(x1, n1, x0, n0, confidence)
        money = welch_difference(spend[treated], spend[control], confidence)
        rows.append(
            {
                "tier": name,
                "contacted_members": n1,
                "control_members": n0,
                "contacted_conversion_rate": x1 / n1 if n1 else math.nan,
                "control_conversion_rate": x0 / n0 if n0 else math.nan,
                "conversion_lift": conversion[0],
                "conversion_lift_low": conversion[1],
                "conversion_lift_high": conversion[2],
                "contacted_spend_per_member": float(spend[treated].mean()) if n1 else math.nan,
                "control_spend_per_member": float(spend[control].mean()) if n0 else math.nan,
                "spend_lift": money[0],
                "spend_lift_low": money[1],
                "spend_lift_high": money[2],
                "spend_p_value": money[3],
            }
        )
    return pd.DataFrame(rows, columns=list(PROGRAM_LIFT_COLUMNS)).astype(PROGRAM_LIFT_COLUMNS)


def empty_program() -> pd.DataFrame:
    return pd.DataFrame({name: [] for name in PROGRAM_COLUMNS}).astype(PROGRAM_COLUMNS)
