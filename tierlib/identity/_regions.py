"""Phone numbering facts for the regions the OneID stage accepts as its default region."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PhoneRegion:
    country_code: str
    national_pattern: str
    """Regular expression a national significant number (no trunk prefix) must match."""
    trunk_prefix: str = ""
    """Digit dialled before a national number inside the country (``0`` in many countries)."""


# Mobile ranges only where the business reaches people by mobile; landlines of
# stores and offices are exactly the numbers that must not link customers.
PHONE_REGIONS: dict[str, PhoneRegion] = {
    "CN": PhoneRegion("86", r"1[3-9]\d{9}"),
    "HK": PhoneRegion("852", r"[4-9]\d{7}"),
    "MO": PhoneRegion("853", r"6\d{7}"),
    "TW": PhoneRegion("886", r"9\d{8}", trunk_prefix="0"),
    "SG": PhoneRegion("65", r"[89]\d{7}"),
    "US": PhoneRegion("1", r"[2-9]\d{2}[2-9]\d{6}", trunk_prefix="1"),
    "GB": PhoneRegion("44", r"7\d{9}", trunk_prefix="0"),
}
