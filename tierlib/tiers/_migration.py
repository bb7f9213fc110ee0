"""Month-over-month movement between tiers: the transition matrix and its headline rates."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tierlib.tiers._settings import TierSettings

NEW = "(new)"
"""Row label for members without a tier last month."""
GONE = "(gone)"
"""Column label for last month's members absent this month (left, or merged into another OneID)."""

MIGRATION_COLUMNS: dict[str, str] = {
    "from_tier": "string",
    "to_tier": "string",
    "members": "int64",
    "rate": "float64",
}
"""Long form of the transition matrix; ``rate`` is the share of the ``from_tier`` row."""


def transition_matrix(
    tiers: pd.DataFrame, previous: pd.DataFrame | None, settings: TierSettings
) -> pd.DataFrame:
    """Counts and row rates from last month's tier to this month's, in rule order.

    Every pair of tiers appears (zeros included) so months line up in reports;
    ``(new)`` and ``(gone)`` rows/columns appear when there is a previous month.
    """
    order = [rule.tier for rule in settings.rules]
    if previous is None:
        return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in MIGRATION_COLUMNS.items()})
    source = tiers["previous_tier"].astype(object).where(tiers["previous_tier"].notna(), NEW)
    pairs = pd.DataFrame({"from_tier": source.astype(str), "to_tier": tiers["tier"].astype(str)})
    gone = previous.loc[~_present_in(previous["oneid"], tiers["oneid"]), "tier"]
    pairs = pd.concat(
        [pairs, pd.DataFrame({"from_tier": gone.astype(str), "to_tier": GONE})], ignore_index=True
    )
    counts = pairs.groupby(["from_tier", "to_tier"], sort=False).size()
    rows = [*order, NEW, *sorted(set(pairs["from_tier"]) - {*order, NEW})]
    cols = [*order, GONE, *sorted(set(pairs["to_tier"]) - {*order, GONE})]
    index = pd.MultiIndex.from_product([rows, cols], names=["from_tier", "to_tier"])
    matrix = counts.reindex(index, fill_value=0).rename("members").reset_index()
    totals = matrix.groupby("from_tier", sort=False)["members"].transform("sum")
    matrix["rate"] = np.where(totals > 0, matrix["members"] / totals.where(totals > 0, 1), 0.0)
    return matrix.astype(MIGRATION_COLUMNS).reset_index(drop=True)


def _present_in(values: pd.Series, members: pd.Series) -> np.ndarray:
    """Which ``values`` are among ``members``: one factorization of both (a million OneIDs as a
    Python set, as ``isin`` on Arrow strings builds it, takes seconds)."""
    codes, uniques = pd.factorize(pd.concat([members, values], ignore_index=True).astype("string"))
    present = np.zeros(len(uniques) + 1, dtype=bool)  # the extra slot answers code -1 (missing)
    present[codes[: len(members)]] = True
    present[-1] = False
    return present[codes[len(members) :]]


def migration_summary(tiers: pd.DataFrame, previous: pd.DataFrame | None, settings: TierSettings) -> dict:
    """The month's headline movement figures (JSON-able).

    - ``tier_change_share``: of members present both months, the share whose tier changed;
    - ``value_migration_rate``: the share whose tier moved to another value rank, split into
      ``upgrade_rate`` and ``downgrade_rate`` (rank from each rule's ``value_rank``);
    - ``potential_to_high_conversion``: of last month's potential-tier members still here,
      the share now in a high-value tier;
    - ``value_variance`` now and before, and its relative change.
    """
    figures: dict = {
        "members": len(tiers),
        "tier_counts": {tier: int(n) for tier, n in tiers["tier"].value_counts().sort_index().items()},
        "value_variance": _variance(tiers),
        "has_previous": previous is not None,
    }
    if previous is None:
        return figures
    both = tiers[tiers["previous_tier"].notna()]
    now, before = both["tier"].astype(str), both["previous_tier"].astype(str)
    rank = {rule.tier: rule.value_rank for rule in settings.rules}
    rank_now = now.map(rank).astype("float64")
    rank_before = before.map(rank).astype("float64")
    present = len(both)
    potential = before == settings.potential_tier
    previous_variance = _variance(previous)
    figures.update(
        {
            "members_previous": len(previous),
            "members_both_months": present,
            "members_new": int(tiers["previous_tier"].isna().sum()),
            "members_gone": int(len(previous) - present),
            "tier_change_share": _share((now != before).sum(), present),
            "value_migration_rate": _share((rank_now != rank_before).sum(), present),
            "upgrade_rate": _share((rank_now > rank_before).sum(), present),
            "downgrade_rate": _share((rank_now < rank_before).sum(), present),
            "potential_members_previous": int(potential.sum()),
            "potential_to_high_conversion": _share(
                now[potential].isin(settings.high_value_tiers).sum(), potential.sum()
            ),
            "value_variance_previous": previous_variance,
            "value_variance_change": (
                None
                if previous_variance in (None, 0.0) or figures["value_variance"] is None
                else round(figures["value_variance"] / previous_variance - 1.0, 6)
            ),
        }
    )
    return figures


def _share(count, total) -> float | None:
    return None if not total else round(float(count) / float(total), 6)


def _variance(tiers: pd.DataFrame) -> float | None:
    values = tiers["predicted_value_90d"].astype("float64").dropna()
    return None if len(values) < 2 else round(float(values.var(ddof=0)), 6)
