"""Normalize identifier values so that equal people get equal strings.

Every function takes a Series of raw values (any dtype; numbers read from CSV
are fine) and returns a ``string`` Series of the same index, with ``<NA>``
where the value is missing or invalid.  They are vectorized: pandas string
methods run on Arrow arrays, so three million values take about a second.
"""

from __future__ import annotations

import pandas as pd

from tierlib.errors import ConfigError
from tierlib.identity._regions import PHONE_REGIONS, PhoneRegion

_PHONE_CHARACTERS = r"\(?\+?[0-9()\-./\s]+"
_EMAIL = r"[^@\s]+@(?:[^@\s.]+\.)+[a-z]{2,}"
_DEVICE = r"[0-9A-Z][0-9A-Z\-:_.]{5,127}"
_OPAQUE = r"\S{1,128}"


def clean_text(values: pd.Series) -> pd.Series:
    """As text: full-width characters folded (NFKC), surrounding whitespace trimmed, blanks as NA."""
    text = values.astype("string")
    if not pd.api.types.is_string_dtype(values.dtype) or values.dtype == object:
        # Numbers that went through a float (a phone column with a gap, read from CSV) print as 13812345678.0.
        text = text.str.replace(r"^(\d+)\.0$", r"\1", regex=True)
    non_ascii = ~text.str.isascii().fillna(True)
    if non_ascii.any():
        text = text.mask(non_ascii, text[non_ascii].str.normalize("NFKC"))
    text = text.str.strip()
    return text.mask(text == "")


def normalize_phone(values: pd.Series, default_region: str = "CN") -> pd.Series:
    """Phones as E.164 (``+8613812345678``); NA where missing or not a valid number.

    Without a country prefix a number must be a mobile of ``default_region``
    (for CN: 11 digits starting 13-19).  ``+``, ``00`` and a bare country code
    (``86 138...``) are understood; spaces, dashes, dots and brackets are
    ignored; anything with letters is invalid.  Numbers with a country code
    outside the known regions are kept when they have 8 to 15 digits.
    """
    return phone_from_clean(clean_text(values), _region(default_region))


def phone_from_clean(text: pd.Series, region: PhoneRegion) -> pd.Series:
    allowed = text.str.fullmatch(_PHONE_CHARACTERS).fillna(False).astype(bool)
    text = text.where(allowed)
    plus = text.str.contains(r"^\(?\+", regex=True).fillna(False).astype(bool)
    digits = text.str.replace(r"\D", "", regex=True)
    double_zero = ~plus & digits.str.startswith("00").fillna(False).astype(bool)
    digits = digits.mask(double_zero, digits.str.slice(2))
    international = plus | double_zero

    result = pd.Series(pd.NA, index=text.index, dtype="string")
    national = digits[~international & digits.notna()]
    result.update(_with_country_code(national, region, national_form=True))
    result.update(_with_country_code(national, region, national_form=False))

    abroad = digits[international & digits.notna()]
    if len(abroad):
        known = pd.Series(False, index=abroad.index)
        for other in PHONE_REGIONS.values():
            known |= abroad.str.startswith(other.country_code).astype(bool)
            result.update(_with_country_code(abroad, other, national_form=False))
        unknown = abroad[~known & abroad.str.fullmatch(r"[1-9]\d{7,14}").astype(bool)]
        result.update("+" + unknown)
    return result


def _with_country_code(digits: pd.Series, region: PhoneRegion, national_form: bool) -> pd.Series:
    trunk = f"(?:{region.trunk_prefix})?" if region.trunk_prefix else ""
    code = "" if national_form else region.country_code
    pattern = f"^{code}{trunk}({region.national_pattern})$"
    matched = digits.str.fullmatch(pattern).fillna(False).astype(bool)
    return "+" + region.country_code + digits[matched].str.replace(pattern, r"\1", regex=True)


def _region(name: str) -> PhoneRegion:
    if name not in PHONE_REGIONS:
        raise ConfigError(
            f"identity.default_region {name!r} is not supported; use one of {', '.join(PHONE_REGIONS)}"
        )
    return PHONE_REGIONS[name]


def normalize_email(values: pd.Series) -> pd.Series:
    """Emails without any whitespace, lower-cased; NA unless ``local@domain.tld``."""
    return email_from_clean(clean_text(values))


def email_from_clean(text: pd.Series) -> pd.Series:
    text = text.str.replace(r"\s+", "", regex=True).str.lower()
    return text.where(text.str.fullmatch(_EMAIL).fillna(False).astype(bool))


def normalize_device_id(values: pd.Series) -> pd.Series:
    """Device ids trimmed and upper-cased; NA when too short or made only of zeros and separators."""
    return device_id_from_clean(clean_text(values))


def device_id_from_clean(text: pd.Series) -> pd.Series:
    text = text.str.upper()
    valid = text.str.fullmatch(_DEVICE).fillna(False).astype(bool)
    placeholder = text.str.fullmatch(r"[0\-:_.]+").fillna(False).astype(bool)
    return text.where(valid & ~placeholder)


def normalize_opaque_id(values: pd.Series) -> pd.Series:
    """Ids compared exactly (unionid, openid, member, platform ids): trimmed; NA if they hold whitespace."""
    return opaque_id_from_clean(clean_text(values))


def opaque_id_from_clean(text: pd.Series) -> pd.Series:
    return text.where(text.str.fullmatch(_OPAQUE).fillna(False).astype(bool))


def scope_to_channel(values: pd.Series, channels: pd.Series) -> pd.Series:
    """``channel:value``: an openid or member id means something only inside its own channel."""
    return channels.astype("string") + ":" + values


def normalize_name(values: pd.Series) -> pd.Series:
    """Names for corroborating a weak identifier: folded, whitespace removed, lower-cased."""
    return clean_text(values).str.replace(r"\s+", "", regex=True).str.lower()


def normalize_identifier(identifier_type: str, values: pd.Series, default_region: str = "CN") -> pd.Series:
    """The normalizer of one identifier type (without channel scoping)."""
    return identifier_from_clean(identifier_type, clean_text(values), default_region)


def identifier_from_clean(identifier_type: str, text: pd.Series, default_region: str = "CN") -> pd.Series:
    """Like :func:`normalize_identifier` on text that has been through :func:`clean_text`."""
    if identifier_type == "phone":
        return phone_from_clean(text, _region(default_region))
    if identifier_type == "email":
        return email_from_clean(text)
    if identifier_type == "device_id":
        return device_id_from_clean(text)
    return opaque_id_from_clean(text)
