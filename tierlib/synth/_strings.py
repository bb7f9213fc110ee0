"""Vectorized string building on top of pyarrow and fixed-width byte matrices.

Millions of identifiers and timestamps are formatted here; a Python loop per
value would take minutes, so everything works on whole arrays.
"""

from __future__ import annotations

from math import gcd

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

BASE64URL = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
HEX_UPPER = b"0123456789ABCDEF"
HEX_LOWER = b"0123456789abcdef"


def from_fixed_width(matrix: np.ndarray, binary: bool = False) -> pa.Array:
    """Rows of a ``(n, width)`` uint8 matrix as one string (or binary) array."""
    matrix = np.ascontiguousarray(matrix, dtype=np.uint8)
    n, width = matrix.shape
    offsets = (np.arange(n + 1, dtype=np.int32) * width).tobytes()
    kind = pa.binary() if binary else pa.string()
    return pa.Array.from_buffers(kind, n, [None, pa.py_buffer(offsets), pa.py_buffer(matrix.tobytes())])


def to_fixed_width(array: pa.Array, width: int) -> np.ndarray:
    """The inverse of :func:`from_fixed_width` for an array whose values all have ``width`` bytes."""
    array = array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int32)[array.offset : array.offset + len(array) + 1]
    data = np.frombuffer(array.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    return data.reshape(len(array), width)


def hstack_bytes(parts: list[np.ndarray | bytes], n: int) -> np.ndarray:
    """Glue byte-matrix slices and constant byte strings side by side."""
    columns = []
    for part in parts:
        if isinstance(part, bytes):
            columns.append(np.broadcast_to(np.frombuffer(part, dtype=np.uint8), (n, len(part))))
        else:
            columns.append(part)
    return np.hstack(columns) if columns else np.zeros((n, 0), dtype=np.uint8)


def random_tokens(
    rng: np.random.Generator, n: int, length: int, alphabet: bytes, prefix: bytes = b""
) -> pa.Array:
    """``n`` random strings of ``prefix`` followed by ``length`` characters from ``alphabet``."""
    table = np.frombuffer(alphabet, dtype=np.uint8)
    if 256 % len(table) == 0:
        draws = np.frombuffer(rng.bytes(n * length), dtype=np.uint8).reshape(n, length) % len(table)
    else:
        draws = rng.integers(0, len(table), size=(n, length), dtype=np.uint8)
    body = table[draws]
    return from_fixed_width(hstack_bytes([prefix, body], n))


def digits_matrix(values: np.ndarray, width: int) -> np.ndarray:
    """Non-negative integers below ``10**width`` as ``(n, width)`` ASCII digit matrices, zero-padded."""
    values = np.asarray(values, dtype=np.int64)
    if not len(values):
        return np.zeros((0, width), dtype=np.uint8)
    # Adding 10**width gives every value width + 1 digits with a leading 1, cut off below.
    text = pa.array(values + 10**width).cast(pa.string())
    return to_fixed_width(text, width + 1)[:, 1:]


def padded_ints(values: np.ndarray, width: int, prefix: bytes = b"") -> pa.Array:
    """Integers as fixed-width zero-padded strings with an optional constant prefix."""
    values = np.asarray(values, dtype=np.int64)
    return from_fixed_width(hstack_bytes([prefix, digits_matrix(values, width)], len(values)))


def join(*parts: pa.Array | str | bytes) -> pa.Array:
    """Element-wise concatenation; a null in any part gives a null.

    All strings in, a string array out; if any part is binary (or bytes), the
    result is binary, which may hold invalid UTF-8 on purpose.
    """
    binary = any(
        isinstance(p, bytes) or (isinstance(p, pa.Array) and pa.types.is_binary(p.type)) for p in parts
    )
    if not binary:
        return pc.binary_join_element_wise(*parts, "")
    converted = []
    for part in parts:
        if isinstance(part, str):
            part = part.encode()
        if isinstance(part, bytes):
            converted.append(pa.scalar(part, pa.binary()))
        elif pa.types.is_binary(part.type):
            converted.append(part)
        else:
            converted.append(part.cast(pa.binary()))
    return pc.binary_join_element_wise(*converted, pa.scalar(b"", pa.binary()))


def pick(vocabulary: tuple[str, ...] | list[str], index: np.ndarray) -> pa.Array:
    """Vocabulary entries by index, as a string array."""
    return pa.array(list(vocabulary), type=pa.string()).take(pa.array(np.asarray(index, dtype=np.int64)))


def scatter_variants(n: int, variant: np.ndarray, build) -> pa.Array:
    """Build each row with ``build(k, rows)`` for its variant ``k``, computing only the rows needed.

    ``build`` returns an array of ``len(rows)`` values; the results are put back in row order.
    """
    variant = np.asarray(variant)
    order = np.argsort(variant, kind="stable")
    pieces = []
    sorted_variants = variant[order]
    bounds = np.flatnonzero(np.diff(sorted_variants)) + 1
    starts = np.concatenate([[0], bounds])
    ends = np.concatenate([bounds, [n]])
    for start, end in zip(starts, ends, strict=True):
        if end > start:
            rows = order[start:end]
            pieces.append(build(int(sorted_variants[start]), rows).cast(pa.string()))
    if not pieces:
        return pa.array([], type=pa.string())
    stacked = pa.concat_arrays(pieces)
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = np.arange(n)
    return stacked.take(pa.array(inverse))


def affine_permutation(index: np.ndarray, modulus: int, seed_value: int) -> np.ndarray:
    """A bijection of ``[0, modulus)`` applied to ``index``: unique, random-looking codes."""
    multiplier = _coprime_multiplier(modulus, seed_value)
    if modulus * multiplier >= 2**63:
        raise ValueError(f"modulus {modulus} too large for int64 arithmetic")
    offset = (seed_value * 2_654_435_761) % modulus
    return (np.asarray(index, dtype=np.int64) * multiplier + offset) % modulus


def _coprime_multiplier(modulus: int, seed_value: int) -> int:
    candidate = 1_000_003 + 2 * (seed_value % 100_000)
    while gcd(candidate, modulus) != 1:
        candidate += 2
    return candidate
