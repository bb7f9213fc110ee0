"""RFM: recency, frequency and monetary value, their quintile scores and the 8-cell model.

Tie rule of the quintile scores (deterministic, order-free): among members with at
least one purchase, a member's score is ``1 + floor(5 · share of buyers with a
strictly worse value)``.  Equal values therefore always share a score, the worst
value always scores 1, and no member depends on how rows happen to be sorted.
When many members tie (most have one order, say) the quintiles are uneven rather
than arbitrary.  "Worse" is longer ago for R (so R high means recent), fewer
orders for F and less net spend for M.  Members without a purchase score 0.

8-cell model: each of R, F, M is high (H) when strictly better than the centre of
the buyers' raw values (mean or median, per ``rfm_split``), else low (L).
"""

from __future__ import annotations

import numpy as np

RFM_CELLS: dict[str, tuple[str, str]] = {
    "HHH": ("重要价值", "important value"),
    "LHH": ("重要保持", "important retain"),
    "HLH": ("重要发展", "important develop"),
    "LLH": ("重要挽留", "important win-back"),
    "HHL": ("一般价值", "general value"),
    "LHL": ("一般保持", "general retain"),
    "HLL": ("一般发展", "general develop"),
    "LLL": ("一般挽留", "general win-back"),
}
"""R F M high/low code -> (Chinese label, English label)."""

NO_PURCHASE = ("", "无购买", "no purchase")
"""(code, Chinese, English) of members without a purchase before the as-of date."""


def quintile_scores(values: np.ndarray, *, higher_is_better: bool = True) -> np.ndarray:
    """Scores 1..5 for ``values`` by the tie rule in the module docstring (int8)."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return np.zeros(0, dtype=np.int8)
    ordered = np.sort(values)
    if higher_is_better:
        worse = np.searchsorted(ordered, values, side="left")
    else:
        worse = values.size - np.searchsorted(ordered, values, side="right")
    return (1 + (5 * worse) // values.size).astype(np.int8)


def high_low(values: np.ndarray, split: str, *, higher_is_better: bool = True) -> np.ndarray:
    """True where a value is strictly better than the mean or median of ``values``."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return np.zeros(0, dtype=bool)
    centre = values.mean() if split == "mean" else np.median(values)
    return values > centre if higher_is_better else values < centre


def rfm_cells(r_high: np.ndarray, f_high: np.ndarray, m_high: np.ndarray) -> np.ndarray:
    """Index 0..7 into ``RFM_CELLS`` (in its order) for each member's R, F, M high flags."""
    codes = list(RFM_CELLS)
    lookup = np.empty(8, dtype=np.int8)
    for bits in range(8):
        r, f, m = bool(bits & 4), bool(bits & 2), bool(bits & 1)
        lookup[bits] = codes.index("".join("H" if flag else "L" for flag in (r, f, m)))
    return lookup[r_high.astype(np.int8) * 4 + f_high.astype(np.int8) * 2 + m_high.astype(np.int8)]


def rfm_features(
    order_member: np.ndarray,
    net_amount: np.ndarray,
    purchase_member: np.ndarray,
    last_day: np.ndarray,
    as_of_day: int,
    split: str,
) -> dict[str, np.ndarray]:
    """R, F, M, scores and cells per member code 0..n-1.

    ``order_member``/``net_amount`` cover every order (refunds net out in M);
    ``purchase_member`` the purchases; ``last_day`` each member's last purchase day.
    """
    n = len(last_day)
    frequency = np.bincount(purchase_member, minlength=n).astype(np.int64)
    monetary = np.bincount(order_member, weights=net_amount, minlength=n)
    buyer = frequency > 0
    recency = np.where(buyer, as_of_day - last_day, np.nan).astype(np.float64)

    r_score = np.zeros(n, dtype=np.int8)
    f_score = np.zeros(n, dtype=np.int8)
    m_score = np.zeros(n, dtype=np.int8)
    r_score[buyer] = quintile_scores(recency[buyer], higher_is_better=False)
    f_score[buyer] = quintile_scores(frequency[buyer])
    m_score[buyer] = quintile_scores(monetary[buyer])

    cell = np.full(n, -1, dtype=np.int8)
    cell[buyer] = rfm_cells(
        high_low(recency[buyer], split, higher_is_better=False),
        high_low(frequency[buyer], split),
        high_low(monetary[buyer], split),
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        average = np.where(buyer, monetary / frequency, np.nan)
    return {
        "recency_days": recency,
        "frequency": frequency,
        "monetary": monetary,
        "avg_order_value": average,
        "r_score": r_score,
        "f_score": f_score,
        "m_score": m_score,
        "rfm_score": (r_score + f_score + m_score).astype(np.int8),
        "rfm_cell_index": cell,
    }


def cell_labels(cell_index: np.ndarray) -> dict[str, np.ndarray]:
    """rfm_code, rfm_cell (Chinese) and rfm_cell_en arrays from cell indexes (-1: no purchase)."""
    codes = np.array([*RFM_CELLS, NO_PURCHASE[0]], dtype=object)
    chinese = np.array([zh for zh, _ in RFM_CELLS.values()] + [NO_PURCHASE[1]], dtype=object)
    english = np.array([en for _, en in RFM_CELLS.values()] + [NO_PURCHASE[2]], dtype=object)
    position = np.where(cell_index < 0, len(RFM_CELLS), cell_index)
    return {"rfm_code": codes[position], "rfm_cell": chinese[position], "rfm_cell_en": english[position]}
