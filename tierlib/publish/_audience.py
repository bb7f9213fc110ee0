"""Each export channel's audience: one row per reachable member with exactly the channel's columns."""

from __future__ import annotations

import hashlib

import pandas as pd

from tierlib.publish._contacts import Contacts, consenting_members, latest_assignment, reachable_values
from tierlib.publish._frames import arrow_text
from tierlib.publish._settings import CUSTOMER_MATCH_CONSENT, ExportChannel

_SOURCE_OF = {"sms": "phone", "email": "email", "wechat": "openid", "push": "device_id"}


def sha256_hex(values: pd.Series) -> pd.Series:
    """Lower-case hex SHA-256 of each UTF-8 value; null stays null."""
    out = [
        None if text is None else hashlib.sha256(text.encode()).hexdigest()
        for text in arrow_text(values).to_pylist()
    ]
    return pd.Series(out, index=values.index, dtype="string")


def customer_match_phone(e164: pd.Series, platform: str) -> pd.Series:
    """The phone text a platform hashes: Google E.164 with ``+``, Meta digits only (country code kept)."""
    return e164 if platform == "google" else e164.str.removeprefix("+")


class AudienceBuilder:
    """Channel audiences over one month's contacts, sharing the work channels have in common.

    SMS, e-mail and both customer-match platforms read the same consenting
    phones and e-mails; each is worked out once per month.
    """

    def __init__(self, contacts: Contacts, blocked: dict[str, frozenset[str]]) -> None:
        self.contacts = contacts
        self.blocked = blocked
        self._values: dict[tuple, pd.DataFrame] = {}
        self._hashes: dict[tuple, pd.Series] = {}

    def values(self, value: str, flag: str, record_channels: tuple[str, ...]) -> pd.DataFrame:
        key = (value, flag, record_channels)
        if key not in self._values:
            self._values[key] = reachable_values(
                self.contacts,
                value,
                flag,
                blocked_values=self.blocked.get(value, frozenset()),
                record_channels=record_channels,
            )
        return self._values[key]

    def hashed(self, value: str, flag: str, record_channels: tuple[str, ...], platform: str) -> pd.DataFrame:
        found = self.values(value, flag, record_channels)
        key = (value, flag, record_channels, platform if value == "phone" else "")
        if key not in self._hashes:
            text = customer_match_phone(found["value"], platform) if value == "phone" else found["value"]
            self._hashes[key] = sha256_hex(text)
        return pd.DataFrame({"member": found["member"], f"hashed_{value}": self._hashes[key]})

    def audience(self, channel: ExportChannel) -> pd.DataFrame:
        """Members who may receive ``channel``: ``member`` (code) plus the channel's export columns.

        Sorted by member code; columns are ``string``.  A crm channel's ``oneid``
        column is filled in by the caller, which knows the oneids.
        """
        columns = channel.export_columns
        if channel.kind in _SOURCE_OF:
            found = self.values(_SOURCE_OF[channel.kind], channel.consent_flag, channel.record_channels)
            return found.rename(columns={"value": columns[0]})
        if channel.kind == "customer_match":
            parts = [
                self.hashed(
                    column.removeprefix("hashed_"),
                    CUSTOMER_MATCH_CONSENT[column],
                    channel.record_channels,
                    channel.platform,
                )
                for column in columns
            ]
            frame = parts[0]
            for part in parts[1:]:
                frame = frame.merge(part, on="member", how="outer", sort=True)
            return frame.reset_index(drop=True)
        eligible = consenting_members(self.contacts, channel.consent_flag)
        scoped = self.contacts
        if channel.record_channels:
            latest = scoped.latest
            inside = latest["channel"].isin(list(channel.record_channels)).to_numpy(bool)
            scoped = Contacts(latest[inside].reset_index(drop=True), scoped.suppressed, scoped.members)
        frame = latest_assignment(scoped, eligible, columns)
        if "oneid" in columns:
            frame["oneid"] = pd.Series(pd.NA, index=frame.index, dtype="string")
        return frame.sort_values("member").reset_index(drop=True)[["member", *columns]]


def channel_audience(channel: ExportChannel, contacts: Contacts, suppression) -> pd.DataFrame:
    """One channel's audience with oneids: ``oneid`` plus the channel's export columns."""
    builder = AudienceBuilder(contacts, {"phone": suppression.phones, "email": suppression.emails})
    frame = builder.audience(channel)
    names = contacts.members.names(frame["member"].to_numpy())
    out = frame.drop(columns=[c for c in ("member", "oneid") if c in frame])
    out.insert(0, "oneid", names.to_numpy())
    return out.astype("string")
