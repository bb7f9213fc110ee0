"""Segments from the month's tiers, the per-channel cap by priority, and deterministic holdouts."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from tierlib.errors import InputError
from tierlib.publish._contacts import require_columns
from tierlib.publish._frames import MemberIndex, arrow_text, first_of_runs
from tierlib.publish._settings import PublishSettings, SegmentRule

TIERS_INPUT_COLUMNS = ("oneid", "tier", "previous_tier", "rfm_cell", "lifecycle_stage", "vip")

ASSIGNMENT_COLUMNS: dict[str, str] = {
    "channel": "string",
    "segment": "string",
    "oneid": "string",
    "priority": "int64",
    "group": "string",
}
"""Who went where: ``group`` is ``treated`` (in the file sent) or ``holdout`` (kept back)."""

TREATED, HOLDOUT = "treated", "holdout"


def segment_mask(tiers: pd.DataFrame, rule: SegmentRule) -> pd.Series:
    """Rows of ``tiers`` matching every condition of ``rule``."""
    mask = pd.Series(True, index=tiers.index)
    for column, values in (
        ("tier", rule.tiers),
        ("previous_tier", rule.previous_tiers),
        ("lifecycle_stage", rule.lifecycle_stages),
        ("rfm_cell", rule.rfm_cells),
    ):
        if values:
            mask &= tiers[column].astype("string").isin(values).fillna(False).astype(bool)
    if rule.vip is not None:
        mask &= tiers["vip"].astype("boolean").eq(rule.vip).fillna(False).astype(bool)
    bounds = (
        ("churn_probability", rule.min_churn_probability, np.greater_equal),
        ("churn_probability", rule.max_churn_probability, np.less),
        ("predicted_value_90d", rule.min_predicted_value_90d, np.greater_equal),
    )
    for column, bound, compare in bounds:
        if bound is not None:
            values = tiers[column].astype("float64")
            mask &= pd.Series(
                compare(values.to_numpy(), bound) & values.notna().to_numpy(), index=tiers.index
            )
    return mask


def segment_members(tiers: pd.DataFrame, settings: PublishSettings, members: MemberIndex) -> pd.DataFrame:
    """Every (member, segment) the month's tiers qualify for.

    Columns: ``member`` (code in ``members``), ``segment`` (its name),
    ``segment_order`` (position of the name in sorted order), ``priority`` and
    ``held_out``: the segment's holdout draw (:func:`holdout_draws`), the same in
    every channel the segment goes to.
    """
    require_columns(tiers, TIERS_INPUT_COLUMNS, "tiers table")
    needed = set()
    for rule in settings.segments.values():
        if rule.min_churn_probability is not None or rule.max_churn_probability is not None:
            needed.add("churn_probability")
        if rule.min_predicted_value_90d is not None:
            needed.add("predicted_value_90d")
    require_columns(tiers, sorted(needed), "tiers table")
    codes = members.codes(tiers["oneid"])
    if (codes < 0).any():
        raise InputError("tiers table has a row without a oneid; rerun the tiers stage")
    repeated = np.bincount(codes, minlength=len(members)) > 1
    if repeated.any():
        example = members.names(np.flatnonzero(repeated)[:1]).iloc[0]
        raise InputError(f"tiers table has oneid {example!r} more than once; rerun the tiers stage")
    order = {name: index for index, name in enumerate(sorted(settings.segments))}
    frames = []
    for name, rule in settings.segments.items():
        chosen = segment_mask(tiers, rule).to_numpy(bool)
        share, salt = settings.segment_holdout(name)
        oneids = tiers["oneid"].astype("string")[chosen]
        frames.append(
            pd.DataFrame(
                {
                    "member": codes[chosen],
                    "segment": name,
                    "segment_order": order[name],
                    "priority": rule.priority,
                    "held_out": holdout_draws(oneids, salt) < share,
                }
            )
        )
    dtypes = {
        "member": "int64",
        "segment": "string",
        "segment_order": "int64",
        "priority": "int64",
        "held_out": "bool",
    }
    if not frames:
        return pd.DataFrame({name: [] for name in dtypes}).astype(dtypes)
    return pd.concat(frames, ignore_index=True).astype(dtypes)


def holdout_draws(oneids: pd.Series, salt: str) -> np.ndarray:
    """A uniform number in [0, 1) per oneid: the first 8 bytes of SHA-256(salt, 0x1f, oneid).

    It depends on nothing but the salt and the oneid, so a member's holdout
    status stays the same month after month while the salt is unchanged, and
    anyone can recompute it (e.g. in SQL) to audit a holdout.
    """
    prefix = salt.encode("utf-8") + b"\x1f"
    draws = np.empty(len(oneids), dtype=np.float64)
    for index, oneid in enumerate(arrow_text(oneids).to_pylist()):
        digest = hashlib.sha256(prefix + oneid.encode("utf-8")).digest()
        draws[index] = int.from_bytes(digest[:8], "big") / 2.0**64
    return draws


def global_control_members(tiers: pd.DataFrame, settings: PublishSettings, members: MemberIndex, period):
    """Bool per member code: in the global control group of ``period`` (see tierlib.publish._control)."""
    control = settings.global_control
    out = np.zeros(len(members), dtype=bool)
    if control.share == 0.0:
        return out
    if period is None:
        raise InputError("a global control group needs the run's period; pass period= to build_exports")
    oneids = tiers["oneid"].astype("string")
    out[members.codes(oneids)] = holdout_draws(oneids, control.period_salt(period)) < control.share
    return out


def assign_channel(
    channel: str,
    segment_rows: pd.DataFrame,
    reachable: np.ndarray,
    settings: PublishSettings,
) -> pd.DataFrame:
    """Assignments of one export channel: ``member``, ``segment``, ``priority``, ``group``.

    Of the segments routed to ``channel``, a member reachable on it (``reachable``:
    bool per member code) keeps at most the channel's cap, highest priority
    first (ties by segment name).  The holdout is drawn after the cap: a
    held-out member's slot stays empty rather than going to a lower segment, so
    treated and holdout differ only in the one treatment.
    """
    routed = [name for name, rule in settings.segments.items() if channel in rule.channels]
    member = segment_rows["member"].to_numpy()
    rows = np.flatnonzero(segment_rows["segment"].isin(routed).to_numpy(bool) & reachable[member])
    rows = rows[
        np.lexsort(
            (
                segment_rows["segment_order"].to_numpy()[rows],
                segment_rows["priority"].to_numpy()[rows],
                member[rows],
            )
        )
    ]
    starts = np.flatnonzero(first_of_runs(member[rows]))
    run_start = np.repeat(starts, np.diff(np.append(starts, len(rows))))
    rows = rows[np.arange(len(rows)) - run_start < settings.segment_cap(channel)]
    frame = segment_rows.iloc[rows].reset_index(drop=True)
    return pd.DataFrame(
        {
            "member": frame["member"],
            "segment": frame["segment"],
            "segment_order": frame["segment_order"],
            "priority": frame["priority"],
            "group": np.where(frame["held_out"].to_numpy(), HOLDOUT, TREATED),
        }
    )
