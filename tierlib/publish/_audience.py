"""Each export channel's audience: one row per reachable member with exactly the channel's columns."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from tierlib.publish._contacts import (
    Contacts,
    consenting_in,
    consenting_members,
    latest_assignment,
    reachable_candidates,
    reachable_values,
)
from tierlib.publish._frames import arrow_text, first_of_runs
from tierlib.publish._identifiers import IDENTIFIER_RULES, MISSING, NO_GUIDE, identifier_values
from tierlib.publish._settings import AD_PLATFORM_KINDS, CUSTOMER_MATCH_CONSENT, ExportChannel

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
        self._platform: dict[tuple, tuple[pd.DataFrame, pd.DataFrame]] = {}

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

    def platform_identifiers(self, channel: ExportChannel) -> tuple[pd.DataFrame, pd.DataFrame]:
        """``(audience, rejected)`` of an ad platform channel.

        ``audience``: ``member`` and the channel's one hashed column, from the member's best
        consenting value that the platform takes.  ``rejected``: ``member``, ``reason`` for
        members who consent but whose every value would be rejected (the reason of the best
        one), or who have no value at all (``missing_identifier``).
        """
        column = channel.export_columns[0]
        key = (column, channel.consent_flag, channel.record_channels)
        if key not in self._platform:
            rule = IDENTIFIER_RULES[column]
            candidates = reachable_candidates(
                self.contacts,
                rule.source,
                channel.consent_flag,
                blocked_values=self.blocked.get(rule.source, frozenset()),
                record_channels=channel.record_channels,
            )
            hashed, reasons = identifier_values(rule, candidates["value"])
            member = candidates["member"].to_numpy()
            valid = hashed.notna().to_numpy()
            chosen = np.flatnonzero(valid)[first_of_runs(member[valid])]
            audience = pd.DataFrame({"member": member[chosen], column: hashed.iloc[chosen].to_numpy()})
            audience[column] = audience[column].astype("string")
            reachable = self.contacts.members.mask(member[chosen])
            best = np.flatnonzero(first_of_runs(member))
            best = best[~reachable[member[best]]]
            consenting = consenting_in(self.contacts, channel.consent_flag, channel.record_channels)
            with_value = self.contacts.members.mask(member)
            missing = np.flatnonzero(consenting & ~with_value)
            rejected = pd.DataFrame(
                {
                    "member": np.concatenate([member[best], missing]).astype(np.int64),
                    "reason": pd.array(
                        [*reasons.iloc[best].tolist(), *([MISSING] * len(missing))], dtype="string"
                    ),
                }
            )
            rejected = rejected.sort_values("member", kind="stable").reset_index(drop=True)
            self._platform[key] = (audience, rejected)
        return self._platform[key]

    def rejections(self, channel: ExportChannel) -> pd.DataFrame:
        """``member``, ``reason`` of members the channel's destination would reject (none for most kinds)."""
        if channel.kind in AD_PLATFORM_KINDS:
            return self.platform_identifiers(channel)[1]
        if channel.kind == "wecom":
            return self.wecom_lists(channel)[1]
        return pd.DataFrame({"member": np.array([], dtype=np.int64), "reason": pd.array([], dtype="string")})

    def wecom_lists(self, channel: ExportChannel) -> tuple[pd.DataFrame, pd.DataFrame]:
        """``(audience, rejected)`` of a wecom channel: each member under the guide who serves them.

        The guide is the one on the member's newest record (within ``record_channels``) that
        names one; the external contact id comes from the newest record with that guide that
        carries one (the customer added that guide on WeCom); without it, the member's
        consenting phone is given for the guide to add.  Members refusing the channel's flag
        and suppressed members are left out; members with a guide but neither identifier are
        ``missing_identifier``, members whose records name no guide ``no_guide``.
        """
        key = ("wecom", channel.consent_flag, channel.record_channels)
        if key in self._platform:
            return self._platform[key]
        contacts = self.contacts
        eligible = ~contacts.refusing(channel.consent_flag) & ~contacts.suppressed
        latest = contacts.latest
        if channel.record_channels:
            latest = latest[latest["channel"].isin(list(channel.record_channels)).to_numpy(bool)]
            latest = latest.reset_index(drop=True)
        scoped = Contacts(latest, contacts.suppressed, contacts.members)
        guides = latest_assignment(scoped, eligible, ("guide_id",))
        member = latest["member"].to_numpy()
        carries = latest["external_userid"].notna().to_numpy() & latest["guide_id"].notna().to_numpy()
        rows = np.flatnonzero(carries & eligible[member])
        rows = rows[
            np.lexsort((latest["rank"].to_numpy()[rows], ~latest["updated"].to_numpy()[rows], member[rows]))
        ]
        external = pd.DataFrame(
            {
                "member": member[rows],
                "guide_id": latest["guide_id"].iloc[rows].to_numpy(),
                "external_userid": latest["external_userid"].iloc[rows].to_numpy(),
            }
        ).drop_duplicates(["member", "guide_id"])
        frame = guides.merge(external, on=["member", "guide_id"], how="left")
        phones = self.values("phone", channel.consent_flag, ())
        frame = frame.merge(phones.rename(columns={"value": "phone"}), on="member", how="left")
        frame["phone"] = frame["phone"].where(frame["external_userid"].isna())
        usable = frame["external_userid"].notna() | frame["phone"].notna()
        audience = frame[usable.to_numpy(bool)].sort_values("member").reset_index(drop=True)
        audience = audience[["member", "guide_id", "external_userid", "phone"]]
        for column in ("guide_id", "external_userid", "phone"):
            audience[column] = audience[column].astype("string")
        has_guide = contacts.members.mask(guides["member"].to_numpy())
        missing = frame.loc[~usable.to_numpy(bool), "member"].to_numpy()
        no_guide = np.flatnonzero(eligible & ~has_guide)
        rejected = (
            pd.DataFrame(
                {
                    "member": np.concatenate([missing, no_guide]).astype(np.int64),
                    "reason": pd.array([MISSING] * len(missing) + [NO_GUIDE] * len(no_guide), dtype="string"),
                }
            )
            .sort_values("member", kind="stable")
            .reset_index(drop=True)
        )
        self._platform[key] = (audience, rejected)
        return self._platform[key]

    def audience(self, channel: ExportChannel) -> pd.DataFrame:
        """Members who may receive ``channel``: ``member`` (code) plus the channel's export columns.

        Sorted by member code; columns are ``string``.  A crm channel's ``oneid``
        column is filled in by the caller, which knows the oneids.
        """
        columns = channel.export_columns
        if channel.kind in AD_PLATFORM_KINDS:
            return self.platform_identifiers(channel)[0]
        if channel.kind == "wecom":
            return self.wecom_lists(channel)[0]
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
