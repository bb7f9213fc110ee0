"""Normalize identifier values so that equal people get equal strings.

Every public function takes a Series of raw values (any dtype; numbers read
from CSV are fine) and returns a ``string`` Series with the same index, with
``<NA>`` where the value is missing or invalid.  The work is done by Arrow
compute kernels on whole columns (``*_arrow`` functions), so millions of
values take a second or two; no Python code runs per value.
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from tierlib.errors import ConfigError
from tierlib.identity._regions import PHONE_REGIONS, PhoneRegion

_EMAIL = r"^[^@\s]+@(?:[^@\s.]+\.)+[a-z]{2,}$"
_DEVICE = r"^[0-9A-Z][0-9A-Z\-:_.]{5,127}$"
_DEVICE_PLACEHOLDER = r"^[0\-:_.]+$"
_OPAQUE = r"^\S{1,128}$"


# --- Arrow <-> pandas -------------------------------------------------------------------


def to_arrow(values: pd.Series) -> pa.Array:
    """The values as one Arrow string array (numbers that passed through a float lose their ``.0``)."""
    dtype = values.dtype
    if isinstance(dtype, pd.StringDtype) or (
        isinstance(dtype, pd.ArrowDtype) and pa.types.is_string(dtype.pyarrow_dtype)
    ):
        array = pa.array(values.array)
        numeric = False
    else:
        array = pa.array(values.astype("string").array)
        numeric = not pd.api.types.is_string_dtype(dtype) or pd.api.types.is_object_dtype(dtype)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        array = array.cast(pa.large_string())
    if numeric:
        # A phone column with a gap read from CSV becomes float and prints as 13812345678.0.
        array = pc.replace_substring_regex(array, r"^(\d+)\.0$", r"\1")
    return array


def to_series(array: pa.Array, index: pd.Index) -> pd.Series:
    return pd.Series(pd.arrays.ArrowStringArray(array), index=index, copy=False)


def _null_where(array: pa.Array, mask: pa.Array) -> pa.Array:
    return pc.if_else(pc.fill_null(mask, False), pa.scalar(None, array.type), array)


def _keep_where(array: pa.Array, mask: pa.Array) -> pa.Array:
    return pc.if_else(pc.fill_null(mask, False), array, pa.scalar(None, array.type))


def _matches(array: pa.Array, pattern: str) -> pa.Array:
    return pc.fill_null(pc.match_substring_regex(array, pattern), False)


# --- cleaning ---------------------------------------------------------------------------


def clean_arrow(array: pa.Array) -> pa.Array:
    """Full-width characters folded (NFKC, only where there are any), trimmed, blanks as null."""
    non_ascii = pc.fill_null(pc.invert(pc.string_is_ascii(array)), False)
    if pc.any(non_ascii).as_py():
        folded = pc.utf8_normalize(pc.filter(array, non_ascii), form="NFKC")
        array = pc.replace_with_mask(array, non_ascii, folded)
    array = pc.utf8_trim_whitespace(array)
    return _null_where(array, pc.equal(array, ""))


# --- per identifier type (on cleaned Arrow arrays) --------------------------------------


def phone_arrow(text: pa.Array, region: PhoneRegion) -> pa.Array:
    """E.164 or null.  See :func:`normalize_phone`."""
    # Most numbers are written as the bare national mobile: those only need the country code.
    bare = _matches(text, rf"^(?:{region.national_pattern})$")
    code = pa.scalar(f"+{region.country_code}", text.type)
    e164 = pc.if_else(bare, pc.binary_join_element_wise(code, text, pa.scalar("", text.type)), None)
    others = pc.and_(pc.is_valid(text), pc.invert(bare))
    if pc.any(others).as_py():
        e164 = pc.replace_with_mask(e164, others, _written_phone(pc.filter(text, others), region))
    return e164


SCIENTIFIC = r"^\+?[0-9](?:\.[0-9]+)?[eE]\+?[0-9]{1,2}$"
"""A number as a spreadsheet shows a wide integer: ``1.38001E+10``."""


def _written_phone(text: pa.Array, region: PhoneRegion) -> pa.Array:
    """E.164 or null for numbers written with separators, prefixes or another country code."""
    # A number that passed through a float in a spreadsheet: "13912345678.0" is 13912345678,
    # and "1.3912345678E+10" too, where every digit survived; "1.39123E+10" lost digits.
    text = pc.replace_substring_regex(text, r"^(\+?[0-9]+)\.0+$", r"\1")
    scientific = _matches(text, SCIENTIFIC)
    if pc.any(scientific).as_py():
        exact = [exact_scientific_integer(value) for value in pc.filter(text, scientific).to_pylist()]
        text = pc.replace_with_mask(text, scientific, pa.array(exact, text.type))
    # Separators go; what is left must be digits with at most a leading '+'.
    digits = pc.replace_substring_regex(text, r"[\s()\-./]", "")
    trunk = f"(?:{region.trunk_prefix})?" if region.trunk_prefix else ""
    # National numbers of the default region, with or without its country code ("86 138...", "0086...").
    home = rf"^(?:(?:\+|00)?{region.country_code})?{trunk}({region.national_pattern})$"
    e164 = pc.replace_substring_regex(digits, home, rf"+{region.country_code}\1")
    home_valid = _matches(e164, rf"^\+{region.country_code}(?:{region.national_pattern})$")
    rest = pc.and_(pc.is_valid(e164), pc.invert(home_valid))
    if not pc.any(rest).as_py():
        return _keep_where(e164, home_valid)
    # The few numbers written with another country code: checked against that region, if known.
    abroad = pc.replace_substring_regex(pc.filter(e164, rest), r"^00", "+")
    known_code = "|".join(other.country_code for other in PHONE_REGIONS.values())
    known_number = "|".join(
        f"{other.country_code}(?:{other.national_pattern})" for other in PHONE_REGIONS.values()
    )
    abroad_valid = pc.if_else(
        _matches(abroad, rf"^\+(?:{known_code})"),
        _matches(abroad, rf"^\+(?:{known_number})$"),
        _matches(abroad, r"^\+[1-9]\d{7,14}$"),
    )
    e164 = pc.replace_with_mask(e164, rest, _keep_where(abroad, abroad_valid))
    return _keep_where(e164, pc.or_(home_valid, rest))


def exact_scientific_integer(value: str) -> str | None:
    """``1.3912345678E+10`` -> ``13912345678``; None when the mantissa is too short to hold every digit."""
    mantissa, _, exponent = value.lstrip("+").upper().partition("E")
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    if len(digits) != int(exponent) + 1:
        return None  # the spreadsheet rounded: the last digits are gone, not zeros
    return digits


def email_arrow(text: pa.Array) -> pa.Array:
    text = pc.utf8_lower(pc.replace_substring_regex(text, r"\s+", ""))
    return _keep_where(text, _matches(text, _EMAIL))


def device_id_arrow(text: pa.Array) -> pa.Array:
    text = pc.utf8_upper(text)
    return _keep_where(text, pc.and_(_matches(text, _DEVICE), pc.invert(_matches(text, _DEVICE_PLACEHOLDER))))


def opaque_id_arrow(text: pa.Array) -> pa.Array:
    return _keep_where(text, _matches(text, _OPAQUE))


def name_arrow(text: pa.Array) -> pa.Array:
    return pc.utf8_lower(pc.replace_substring_regex(text, r"\s+", ""))


def identifier_arrow(identifier_type: str, text: pa.Array, default_region: str = "CN") -> pa.Array:
    """The normalizer of ``identifier_type`` on cleaned text (no channel scoping)."""
    if identifier_type == "phone":
        return phone_arrow(text, region_of(default_region))
    if identifier_type == "email":
        return email_arrow(text)
    if identifier_type == "device_id":
        return device_id_arrow(text)
    return opaque_id_arrow(text)


def region_of(name: str) -> PhoneRegion:
    if name not in PHONE_REGIONS:
        raise ConfigError(
            f"identity.default_region {name!r} is not supported; use one of {', '.join(PHONE_REGIONS)}"
        )
    return PHONE_REGIONS[name]


# --- public, on pandas Series -----------------------------------------------------------


def normalize_phone(values: pd.Series, default_region: str = "CN") -> pd.Series:
    """Phones as E.164 (``+8613812345678``); NA where missing or not a valid number.

    Without a country prefix a number must be a mobile of ``default_region``
    (for CN: 11 digits starting 13-19), its trunk prefix allowed.  ``+``,
    ``00`` and a bare default country code (``86 138...``) are understood;
    spaces, dashes, dots and brackets are ignored; anything with letters or
    ``*`` is invalid.  With a country code of a region in
    ``tierlib.identity._regions`` the number must be one of that region's
    mobiles; other country codes are kept when they have 8 to 15 digits.
    """
    region = region_of(default_region)
    return to_series(phone_arrow(clean_arrow(to_arrow(values)), region), values.index)


def normalize_email(values: pd.Series) -> pd.Series:
    """Emails without any whitespace, lower-cased; NA unless ``local@domain.tld``."""
    return to_series(email_arrow(clean_arrow(to_arrow(values))), values.index)


def normalize_device_id(values: pd.Series) -> pd.Series:
    """Device ids trimmed and upper-cased; NA when too short or made only of zeros and separators."""
    return to_series(device_id_arrow(clean_arrow(to_arrow(values))), values.index)


def normalize_identifier(identifier_type: str, values: pd.Series, default_region: str = "CN") -> pd.Series:
    """The normalizer of one identifier type (without channel scoping).

    Opaque ids (unionid, openid, member and platform ids) are compared exactly
    after trimming; they are NA when they hold whitespace or exceed 128 characters.
    """
    return to_series(
        identifier_arrow(identifier_type, clean_arrow(to_arrow(values)), default_region), values.index
    )
