"""How people and systems write identifiers: the formats a normalizer must undo."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tierlib.synth._strings import digits_matrix, from_fixed_width, hstack_bytes, scatter_variants

PHONE_FORMATS = (
    "bare",  # 13812345678
    "intl_spaced",  # +86 138 1234 5678
    "intl_0086_dashed",  # 0086-138-1234-5678
    "cc_space",  # 86 13812345678
    "full_width",  # １３８１２３４５６７８
    "dashed",  # 138-1234-5678
    "spaced",  # 138 1234 5678
    "e164",  # +8613812345678
    "padded",  # " 13812345678 "
)
PHONE_MASKED = len(PHONE_FORMATS)  # 138****5678, as marketplaces hand it out: not an identifier

EMAIL_FORMATS = ("as_is", "upper", "capitalized", "padded")


def format_phones(phone: np.ndarray, fmt: np.ndarray) -> pa.Array:
    """Write 11-digit phone numbers in the given formats (codes index ``PHONE_FORMATS``)."""
    phone = np.asarray(phone, dtype=np.int64)

    def build(kind: int, rows: np.ndarray) -> pa.Array:
        d = digits_matrix(phone[rows], 11)
        n = len(rows)
        head, mid, tail = d[:, :3], d[:, 3:7], d[:, 7:]
        if kind == 0:
            parts = [d]
        elif kind == 1:
            parts = [b"+86 ", head, b" ", mid, b" ", tail]
        elif kind == 2:
            parts = [b"0086-", head, b"-", mid, b"-", tail]
        elif kind == 3:
            parts = [b"86 ", d]
        elif kind == 4:
            # U+FF10..U+FF19 are EF BC 90..99 in UTF-8.
            wide = np.empty((n, 33), dtype=np.uint8)
            wide[:, 0::3] = 0xEF
            wide[:, 1::3] = 0xBC
            wide[:, 2::3] = d - 48 + 0x90
            parts = [wide]
        elif kind == 5:
            parts = [head, b"-", mid, b"-", tail]
        elif kind == 6:
            parts = [head, b" ", mid, b" ", tail]
        elif kind == 7:
            parts = [b"+86", d]
        elif kind == 8:
            parts = [b" ", d, b" "]
        else:
            parts = [head, b"****", tail]
        return from_fixed_width(hstack_bytes(parts, n))

    return scatter_variants(len(phone), fmt, build)


def format_emails(email: pa.Array, fmt: np.ndarray) -> pa.Array:
    """Write clean e-mail addresses with case and whitespace noise (codes index ``EMAIL_FORMATS``)."""

    def build(kind: int, rows: np.ndarray) -> pa.Array:
        values = email.take(pa.array(rows))
        if kind == 1:
            return pc.utf8_upper(values)
        if kind == 2:
            return pc.utf8_capitalize(values)
        if kind == 3:
            return pc.binary_join_element_wise(" ", values, "  ", "")
        return values

    return scatter_variants(len(email), fmt, build)


def normalize_phone(value: str | None) -> str | None:
    """Reference normalizer (used by tests and docs): 11 digits, or None if not a phone."""
    import unicodedata

    if value is None:
        return None
    digits = "".join(ch for ch in unicodedata.normalize("NFKC", value) if ch.isdigit())
    if len(digits) == 15 and digits.startswith("0086"):
        digits = digits[4:]
    elif len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    return digits if len(digits) == 11 and digits.startswith("1") else None


def normalize_email(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip().lower()
    return value if "@" in value else None
