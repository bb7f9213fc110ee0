"""Each export channel's audience: one row per reachable member with exactly the channel's columns."""

from __future__ import annotations

import hashlib

import pandas as pd

from tierlib.publish._contacts import (
    Suppression,
    consenting_members,
    latest_assignment,
    reachable_values,
)
from tierlib.publish._settings import CUSTOMER_MATCH_CONSENT, ExportChannel

_SOURCE_OF = {"sms": "phone", "email": "email", "wechat": "openid", "push": "device_id"}


def sha256_hex(values: pd.Series) -> pd.Series:
    """Lower-case hex SHA-256 of each UTF-8 value; null stays null."""
    out = [None if pd.isna(text) else hashlib.sha256(text.encode("utf-8")).hexdigest() for text in values]
    return pd.Series(out, index=values.index, dtype="string")


def customer_match_phone(e164: pd.Series, platform: str) -> pd.Series:
    """The phone text a platform hashes: Google E.164 with ``+``, Meta digits only (country code kept)."""
    return e164 if platform == "google" else e164.str.removeprefix("+")


def channel_audience(
    channel: ExportChannel,
    contacts: pd.DataFrame,
    suppressed: pd.Index,
    suppression: Suppression,
) -> pd.DataFrame:
    """Members who may receive ``channel``, as ``oneid`` plus the channel's export columns.

    (``oneid`` is the key; it is an export column only where the channel lists it.)

    ``contacts`` is :func:`member_contacts`; ``suppressed`` the oneids on the opt-out
    list (excluded from every channel).  Columns are ``string``; a row per member.
    """
    columns = channel.export_columns
    if channel.kind in _SOURCE_OF:
        source = _SOURCE_OF[channel.kind]
        blocked = {"phone": suppression.phones, "email": suppression.emails}.get(source, frozenset())
        found = reachable_values(
            contacts,
            source,
            channel.consent_flag,
            excluded=suppressed,
            blocked_values=blocked,
            record_channels=channel.record_channels,
        )
        frame = found.rename(columns={"value": columns[0]})
    elif channel.kind == "customer_match":
        frame = _customer_match(channel, contacts, suppressed, suppression)
    else:
        members = consenting_members(contacts, channel.consent_flag, excluded=suppressed)
        scoped = contacts
        if channel.record_channels:
            scoped = contacts[contacts["channel"].isin(channel.record_channels)]
        frame = latest_assignment(scoped, members, columns)
    # The key is ``oneid``; a crm export carries it as one of its columns too.
    out = pd.DataFrame({"oneid": frame["oneid"].astype("string")})
    for column in columns:
        if column != "oneid":
            out[column] = frame[column].astype("string")
    return out.sort_values("oneid").reset_index(drop=True)


def _customer_match(
    channel: ExportChannel, contacts: pd.DataFrame, suppressed: pd.Index, suppression: Suppression
) -> pd.DataFrame:
    parts = []
    if "hashed_email" in channel.export_columns:
        emails = reachable_values(
            contacts,
            "email",
            CUSTOMER_MATCH_CONSENT["hashed_email"],
            excluded=suppressed,
            blocked_values=suppression.emails,
            record_channels=channel.record_channels,
        )
        parts.append(emails.assign(hashed_email=sha256_hex(emails["value"]))[["oneid", "hashed_email"]])
    if "hashed_phone" in channel.export_columns:
        phones = reachable_values(
            contacts,
            "phone",
            CUSTOMER_MATCH_CONSENT["hashed_phone"],
            excluded=suppressed,
            blocked_values=suppression.phones,
            record_channels=channel.record_channels,
        )
        hashed = sha256_hex(customer_match_phone(phones["value"], channel.platform))
        parts.append(phones.assign(hashed_phone=hashed)[["oneid", "hashed_phone"]])
    frame = parts[0]
    for part in parts[1:]:
        frame = frame.merge(part, on="oneid", how="outer")
    return frame
