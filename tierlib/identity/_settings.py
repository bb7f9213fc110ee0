"""The OneID rules: one frozen settings object, read from the ``identity`` section of the config."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tierlib.errors import ConfigError
from tierlib.identity._regions import PHONE_REGIONS
from tierlib.settings import settings_from_mapping

IDENTIFIER_TYPES = ("unionid", "openid", "member_id", "phone", "email", "platform_user_id", "device_id")
"""Identifier types the OneID stage knows; each is a column of the standardized records."""

CORROBORATING_COLUMNS = ("name", "birth_date", "city")
"""Record columns that may confirm a weak identifier (see ``weak_link_requires``)."""


def _default_blocklist() -> dict[str, tuple[str, ...]]:
    # Values typed in when the real one is unknown: a store's default phone,
    # China Mobile's service number used as a filler, throwaway emails, the
    # all-zero advertising id and Android's fixed MAC address.
    return {
        "phone": ("13800000000", "13800138000", "13888888888", "18888888888", "13000000000", "13900000000"),
        "email": (
            "test@test.com",
            "none@none.com",
            "null@null.com",
            "no@no.com",
            "na@na.com",
            "noemail@noemail.com",
            "noreply@noreply.com",
            "a@a.com",
            "123@qq.com",
        ),
        "device_id": (
            "00000000-0000-0000-0000-000000000000",
            "0000000000000000",
            "02:00:00:00:00:00",
            "UNKNOWN",
        ),
    }


def _default_caps() -> dict[str, int]:
    return {"phone": 3, "email": 3, "unionid": 2}


@dataclass(frozen=True)
class IdentitySettings:
    """How records are linked into people and how OneIDs are kept from month to month.

    Build it from the YAML ``identity`` section with :meth:`from_dict`; every
    field has a default, so an empty section gives the documented behaviour.
    """

    default_region: str = "CN"
    """Region whose national phone numbers are accepted without a country code."""
    link_types: tuple[str, ...] = ("unionid", "phone", "email", "member_id", "openid", "platform_user_id")
    """Strong identifier types that link records, strongest first; the order is the priority
    used when an over-large cluster has to be split (the last type is cut first)."""
    weak_types: tuple[str, ...] = ("device_id",)
    """Identifier types that never link two records on their own; see ``weak_link_requires``."""
    weak_link_requires: tuple[str, ...] = ()
    """Columns (of ``name``, ``birth_date``, ``city``) that two records sharing a weak value must
    also agree on to be linked.  Empty: weak identifiers never link, they are only reported."""
    channel_scoped_types: tuple[str, ...] = ("openid", "member_id", "platform_user_id")
    """Types whose values mean something only inside one channel (an openid belongs to one app):
    they are prefixed with the channel before comparison."""
    blocklist: dict[str, tuple[str, ...]] = field(default_factory=_default_blocklist)
    """Junk values per identifier type, written as they appear in data; they are normalized
    the same way as the data before comparison."""
    junk_values: tuple[str, ...] = ("null", "none", "nan", "n/a", "na", "0", "-", "undefined", "unknown")
    """Values that mean 'missing' in any identifier column (compared case-insensitively)."""
    block_repeated_phone_digits: bool = True
    """Treat mobiles whose last 8 digits are one repeated digit (13900000000) as placeholders."""
    hub_max_records: int = 20
    """A value held by more records than this is a hub: it links nothing and is reported."""
    hub_max_records_per_channel: int = 4
    """A value held by more records than this inside one channel is a hub as well."""
    max_values_per_oneid: dict[str, int] = field(default_factory=_default_caps)
    """At most this many distinct values of a type per OneID; a larger cluster is split
    along its weakest links."""
    oneid_prefix: str = "P"
    """OneIDs are this prefix and a zero-padded sequence number; they carry no personal data."""
    oneid_digits: int = 10
    log_links: bool = True
    """Write one merge-log row per record-to-record link (hashed value), not only merges and splits."""
    allow_unkeyed_hashes: bool = False
    """Without ``TIERFLOW_IDENTITY_HASH_KEY`` the stage stops; true hashes without a key instead
    (demos and tests only: an unkeyed hash of a mainland mobile number is reversed by trying them all)."""

    def __post_init__(self) -> None:
        problems = self._problems()
        if problems:
            raise ValueError("; ".join(problems))
        # Own copies, so a caller's dict can't change frozen settings behind our back.
        object.__setattr__(self, "blocklist", {k: tuple(v) for k, v in self.blocklist.items()})
        object.__setattr__(self, "max_values_per_oneid", dict(self.max_values_per_oneid))

    def _problems(self) -> list[str]:
        problems = []
        allowed_types = ", ".join(IDENTIFIER_TYPES)
        if self.default_region not in PHONE_REGIONS:
            problems.append(
                f"default_region {self.default_region!r} is not supported; "
                f"use one of {', '.join(PHONE_REGIONS)}"
            )
        for key in ("link_types", "weak_types", "channel_scoped_types"):
            for name in getattr(self, key):
                if name not in IDENTIFIER_TYPES:
                    problems.append(f"{key}: {name!r} is not an identifier type; use one of {allowed_types}")
        if not self.link_types:
            problems.append("link_types: name at least one identifier type that links records")
        for name in set(self.link_types) & set(self.weak_types):
            problems.append(f"{name!r} is in both link_types and weak_types; keep it in one")
        for key in ("link_types", "weak_types"):
            values = getattr(self, key)
            if len(set(values)) != len(values):
                problems.append(f"{key}: lists a type twice")
        for name in self.weak_link_requires:
            if name not in CORROBORATING_COLUMNS:
                problems.append(
                    f"weak_link_requires: {name!r} is not allowed; "
                    f"use some of {', '.join(CORROBORATING_COLUMNS)}"
                )
        for name in self.blocklist:
            if name not in IDENTIFIER_TYPES:
                problems.append(f"blocklist: {name!r} is not an identifier type; use one of {allowed_types}")
        for name, cap in self.max_values_per_oneid.items():
            if name not in self.link_types:
                problems.append(
                    f"max_values_per_oneid: {name!r} is not one of the link_types "
                    f"({', '.join(self.link_types)})"
                )
            if not isinstance(cap, int) or isinstance(cap, bool) or cap < 1:
                problems.append(f"max_values_per_oneid.{name}: {cap!r} must be a whole number of at least 1")
        for key in ("hub_max_records", "hub_max_records_per_channel"):
            if getattr(self, key) < 2:
                problems.append(
                    f"{key}: {getattr(self, key)!r} must be at least 2 (a value shared by two links)"
                )
        if not (1 <= self.oneid_digits <= 18):
            problems.append(f"oneid_digits: {self.oneid_digits!r} must be between 1 and 18")
        if not self.oneid_prefix or not self.oneid_prefix.isalpha() or not self.oneid_prefix.isascii():
            problems.append(f"oneid_prefix: {self.oneid_prefix!r} must be one or more ASCII letters")
        return problems

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, path: str = "identity") -> IdentitySettings:
        """Settings from the YAML section; one ConfigError lists every bad key or value."""
        return settings_from_mapping(cls, data, path)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (lists, dicts) that :meth:`from_dict` reads back to equal settings."""
        plain = dataclasses.asdict(self)
        plain["blocklist"] = {name: list(values) for name, values in self.blocklist.items()}
        return {key: list(value) if isinstance(value, tuple) else value for key, value in plain.items()}

    def linking_order(self) -> tuple[str, ...]:
        """Every type that can create a link, strongest first (corroborated weak types last)."""
        if not self.weak_link_requires:
            return self.link_types
        return self.link_types + self.weak_types


def check_settings(settings: Any) -> IdentitySettings:
    if settings is None:
        return IdentitySettings()
    if isinstance(settings, Mapping):
        return IdentitySettings.from_dict(settings)
    if not isinstance(settings, IdentitySettings):
        raise ConfigError(
            f"identity settings must be IdentitySettings or a mapping, got {type(settings).__name__}"
        )
    return settings
