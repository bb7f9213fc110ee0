"""How many of a channel's identifiers can link people, and why the others cannot.

Extract keeps identifiers as the source wrote them (identity normalizes them); this module
measures, per identifier column of a month's records, what identity will be able to use,
with the normalizers identity uses.  A value that is there but unusable has a reason:

- ``masked``: ``138****5678``, as marketplaces hand phones out (never an identifier, and
  not damage: it does not count toward the share that warns or stops);
- ``scientific_notation``: ``1.38001E+10``, a phone that went through a spreadsheet as a
  number and lost its last digits (``1.3912345678E+10`` kept them all and is repaired);
- ``invalid_<type>``: anything else that does not normalize (wrong length, letters).
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

IDENTIFIER_COLUMNS = ("phone", "email", "unionid", "openid", "member_id", "platform_user_id", "device_id")
NOT_DAMAGE = ("masked",)
"""Unusable by design rather than damaged: counted, never a reason to warn or stop."""


def unusable_reasons(identifier_type: str, values: pd.Series, default_region: str = "CN") -> pd.Series:
    """Per value: None where it is usable or missing, else why identity cannot use it."""
    from tierlib.identity._normalize import clean_arrow, to_arrow, to_series

    return to_series(_reasons(identifier_type, clean_arrow(to_arrow(values)), default_region), values.index)


def _reasons(identifier_type: str, text: pa.Array, default_region: str) -> pa.Array:
    from tierlib.identity._normalize import SCIENTIFIC, identifier_arrow

    normalized = identifier_arrow(identifier_type, text, default_region)
    unusable = pc.and_(pc.is_valid(text), pc.is_null(normalized))
    reason = pa.nulls(len(text), pa.string())
    if pc.any(unusable).as_py():
        fallback = pa.scalar(f"invalid_{identifier_type}", pa.string())
        if identifier_type == "phone":
            masked = pc.fill_null(pc.match_substring(text, "*"), False)
            scientific = pc.fill_null(pc.match_substring_regex(text, SCIENTIFIC), False)
            why = pc.if_else(masked, "masked", pc.if_else(scientific, "scientific_notation", fallback))
        else:
            why = pa.repeat(fallback, len(text))
        reason = pc.if_else(unusable, why.cast(pa.string()), reason)
    return reason


def identifier_quality(records: pd.DataFrame, columns, default_region: str = "CN") -> dict[str, dict]:
    """``{column: {present, usable, unusable, damaged_share, reasons}}`` for the identifier columns given.

    ``damaged_share`` is the share of present values that are unusable for a reason other
    than masking: what a spreadsheet or a broken export did to them.
    """
    from tierlib.identity._normalize import clean_arrow, to_arrow

    figures = {}
    for column in columns:
        if column not in records or column not in IDENTIFIER_COLUMNS:
            continue
        text = clean_arrow(to_arrow(records[column]))
        present = len(text) - text.null_count
        if not present:
            continue
        reasons = pc.value_counts(pc.drop_null(_reasons(column, text, default_region))).to_pylist()
        counts = {
            str(item["values"]): int(item["counts"]) for item in sorted(reasons, key=lambda i: i["values"])
        }
        damaged = sum(n for reason, n in counts.items() if reason not in NOT_DAMAGE)
        figures[column] = {
            "present": present,
            "usable": present - sum(counts.values()),
            "unusable": sum(counts.values()),
            "damaged_share": round(damaged / present, 6),
            "reasons": counts,
        }
    return figures
