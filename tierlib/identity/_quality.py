"""How well OneIDs match a known truth: pairwise precision/recall and month-to-month stability."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tierlib.errors import ValidationFailed
from tierlib.identity._arrays import unique_counts


def _pairs(sizes: np.ndarray) -> int:
    sizes = sizes.astype(np.int64)
    return int((sizes * (sizes - 1) // 2).sum())


def _joined(truth: pd.DataFrame, identity_map: pd.DataFrame) -> pd.DataFrame:
    for name, table, columns in (
        ("truth", truth, ("channel", "record_id", "person_id")),
        ("identity map", identity_map, ("channel", "record_id", "oneid")),
    ):
        missing = [column for column in columns if column not in table.columns]
        if missing:
            raise ValidationFailed(f"{name} has no column {', '.join(map(repr, missing))}")
    keys = ["channel", "record_id"]
    truth = truth[[*keys, "person_id"]].drop_duplicates(keys).astype("string")
    return truth.merge(identity_map[[*keys, "oneid"]].astype("string"), on=keys, how="inner")


def pairwise_scores(truth: pd.DataFrame, identity_map: pd.DataFrame) -> dict[str, float]:
    """Pairwise precision and recall of ``oneid`` against ``person_id`` over the records both know.

    A pair of records is predicted when they share a OneID and true when they
    share a person; pairs are counted from cluster sizes (``k`` records make
    ``k(k-1)/2`` pairs), never enumerated.
    """
    joined = _joined(truth, identity_map)
    person = pd.factorize(joined["person_id"])[0]
    oneid = pd.factorize(joined["oneid"])[0]
    both = unique_counts(person.astype(np.int64) * (oneid.max() + 1 if len(oneid) else 1) + oneid)[1]
    correct = _pairs(both)
    predicted = _pairs(np.bincount(oneid)) if len(oneid) else 0
    true = _pairs(np.bincount(person)) if len(person) else 0
    precision = correct / predicted if predicted else 1.0
    recall = correct / true if true else 1.0
    return {
        "records": len(joined),
        "people": int(person.max()) + 1 if len(person) else 0,
        "oneids": int(oneid.max()) + 1 if len(oneid) else 0,
        "true_pairs": true,
        "predicted_pairs": predicted,
        "correct_pairs": correct,
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
    }


def oneid_stability(
    truth: pd.DataFrame, earlier_map: pd.DataFrame, later_map: pd.DataFrame, later_registry: pd.DataFrame
) -> dict[str, float]:
    """Share of people present in both months whose OneID stayed the same.

    A person's OneID in a month is the one most of their records carry.  A
    person whose earlier OneID was merged into their later one (two partial
    identities found to be one person) counts as kept: that is a true merge.
    """
    earlier = _person_oneid(_joined(truth, earlier_map))
    later = _person_oneid(_joined(truth, later_map))
    both = earlier.to_frame("earlier").join(later.to_frame("later"), how="inner")
    merged = later_registry[later_registry["status"] == "merged"]
    target = dict(zip(merged["oneid"].astype(str), merged["merged_into"].astype(str), strict=True))
    same = both["earlier"] == both["later"]
    merged_in = both["earlier"].map(target) == both["later"]
    kept = int((same | merged_in.fillna(False)).sum())
    return {
        "people_in_both": len(both),
        "kept_same_oneid": int(same.sum()),
        "kept_through_merge": int((merged_in.fillna(False) & ~same).sum()),
        "stability": kept / len(both) if len(both) else 1.0,
    }


def _person_oneid(joined: pd.DataFrame) -> pd.Series:
    counts = joined.groupby(["person_id", "oneid"], observed=True).size().rename("records").reset_index()
    counts = counts.sort_values(["person_id", "records", "oneid"], ascending=[True, False, True])
    return counts.drop_duplicates("person_id").set_index("person_id")["oneid"]
