"""Who may be reached on which contact point: latest record versions, consent, suppression.

The rules, strictest first (docs/publish.md spells them out for marketers):

- Only a record's latest version speaks (by ``updated_at``); older versions' flags
  and identifiers are superseded.
- A refusal wins: if any latest record of a member says ``False`` for a flag,
  the member gets nothing guarded by that flag; if any latest record carrying a
  contact value says ``False``, that value is never exported, whoever it belongs to.
- Consent is given by a record, for the contact point on that record: a phone is
  exported only from a record that says ``True`` for the flag.  Unknown (null)
  is not consent.
- Suppression (the global opt-out list) removes a member from every channel when
  any version of any of their records carries a listed phone or email, and a
  listed value is never exported at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from tierlib.errors import InputError
from tierlib.identity import normalize_email, normalize_identifier, normalize_phone
from tierlib.publish._settings import CONSENT_FLAGS

RECORD_INPUT_COLUMNS = (
    "channel",
    "record_id",
    "updated_at",
    "phone",
    "email",
    "openid",
    "device_id",
    "store_id",
    "guide_id",
    *CONSENT_FLAGS,
)
"""The standardized record columns publishing reads."""

CONTACT_COLUMNS = ("phone", "email", "openid", "device_id", "store_id", "guide_id")


@dataclass(frozen=True)
class Suppression:
    """Normalized opt-out values, and how many list entries could not be normalized."""

    phones: frozenset[str]
    emails: frozenset[str]
    unusable: int = 0

    @classmethod
    def empty(cls) -> Suppression:
        return cls(frozenset(), frozenset(), 0)


def require_columns(frame: pd.DataFrame, columns: tuple[str, ...] | list[str], what: str) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise InputError(
            f"{what} lacks column(s) {missing}; it has {sorted(map(str, frame.columns))}. "
            "Rerun the stage that writes it for this month."
        )


def suppression_from_frames(frames: list[tuple[str, pd.DataFrame]], default_region: str) -> Suppression:
    """Normalize opt-out lists (each named by where it came from) into one Suppression.

    A list must have a ``phone`` or ``email`` column (either may be blank on a row).
    Entries that do not normalize cannot be matched; they are counted so the run
    figures show them rather than dropping them silently.
    """
    phones: set[str] = set()
    emails: set[str] = set()
    unusable = 0
    for where, frame in frames:
        columns = {str(column).strip().lower(): column for column in frame.columns}
        if "phone" not in columns and "email" not in columns:
            raise InputError(
                f"suppression list {where} has neither a 'phone' nor an 'email' column "
                f"(it has {list(frame.columns)}); name its columns phone and/or email"
            )
        given = pd.Series(False, index=frame.index)
        matched = pd.Series(False, index=frame.index)
        if "phone" in columns:
            raw = frame[columns["phone"]]
            normalized = normalize_phone(raw, default_region=default_region)
            given |= _present(raw)
            matched |= normalized.notna()
            phones.update(normalized.dropna().tolist())
        if "email" in columns:
            raw = frame[columns["email"]]
            normalized = normalize_email(raw)
            given |= _present(raw)
            matched |= normalized.notna()
            emails.update(normalized.dropna().tolist())
        unusable += int((given & ~matched).sum())
    return Suppression(frozenset(phones), frozenset(emails), unusable)


def _present(values: pd.Series) -> pd.Series:
    text = values.astype("string").str.strip()
    return (text.notna() & (text != "")).fillna(False).astype(bool)


def latest_versions(records: pd.DataFrame) -> pd.DataFrame:
    """One row per (channel, record_id): its latest version by ``updated_at``.

    Versions with equal ``updated_at`` keep the one read last (a later month's file).
    """
    require_columns(records, ("channel", "record_id", "updated_at"), "standardized records")
    frame = records.reset_index(drop=True)
    frame = frame.assign(_read_order=range(len(frame)))
    frame = frame.sort_values(["channel", "record_id", "updated_at", "_read_order"], na_position="first")
    latest = frame.drop_duplicates(["channel", "record_id"], keep="last")
    return latest.drop(columns="_read_order").reset_index(drop=True)


def member_contacts(records: pd.DataFrame, identity_map: pd.DataFrame, default_region: str) -> pd.DataFrame:
    """Latest record versions with their oneid and normalized contact values.

    Columns: oneid, channel, record_id, updated_at, the consent flags (nullable
    boolean), ``phone`` (E.164), ``email``, ``openid``, ``device_id``,
    ``store_id``, ``guide_id`` (trimmed; null when missing or invalid).
    Records the identity map does not know are left out (counted by the caller).
    """
    require_columns(records, RECORD_INPUT_COLUMNS, "standardized records")
    require_columns(identity_map, ("channel", "record_id", "oneid"), "identity map")
    latest = latest_versions(records[list(RECORD_INPUT_COLUMNS)])
    keys = (
        identity_map[["channel", "record_id", "oneid"]]
        .astype("string")
        .drop_duplicates(["channel", "record_id"])
    )
    latest = latest.astype({"channel": "string", "record_id": "string"})
    frame = latest.merge(keys, on=["channel", "record_id"], how="inner", validate="one_to_one")
    out = pd.DataFrame(
        {
            "oneid": frame["oneid"].astype("string"),
            "channel": frame["channel"],
            "record_id": frame["record_id"],
            "updated_at": frame["updated_at"],
            "phone": normalize_phone(frame["phone"], default_region=default_region),
            "email": normalize_email(frame["email"]),
            "openid": normalize_identifier("openid", frame["openid"]),
            "device_id": normalize_identifier("openid", frame["device_id"]),
            "store_id": normalize_identifier("openid", frame["store_id"]),
            "guide_id": normalize_identifier("openid", frame["guide_id"]),
        }
    )
    for flag in CONSENT_FLAGS:
        out[flag] = frame[flag].astype("boolean")
    return out


def suppressed_members(
    records: pd.DataFrame, identity_map: pd.DataFrame, suppression: Suppression, default_region: str
) -> pd.Index:
    """Oneids with any record version, latest or not, carrying a listed phone or email.

    Every version counts, not just the latest: someone who opted out with the
    number they had then is still the person who opted out.  (A listed value on
    none of our records cannot be tied to anyone; docs/publish.md says so.)
    """
    require_columns(records, ("channel", "record_id", "phone", "email"), "standardized records")
    frame = records[["channel", "record_id", "phone", "email"]]
    listed = normalize_phone(frame["phone"], default_region=default_region).isin(suppression.phones)
    listed |= normalize_email(frame["email"]).isin(suppression.emails)
    hits = frame.loc[listed.fillna(False).astype(bool), ["channel", "record_id"]].astype("string")
    keys = identity_map[["channel", "record_id", "oneid"]].astype("string")
    return pd.Index(hits.merge(keys, on=["channel", "record_id"])["oneid"].unique())


def refusing_members(contacts: pd.DataFrame, flag: str) -> pd.Index:
    """Oneids with any latest record that says False for ``flag``."""
    return pd.Index(contacts.loc[contacts[flag].eq(False).fillna(False).astype(bool), "oneid"].unique())


def consenting_members(contacts: pd.DataFrame, flag: str, excluded: pd.Index) -> pd.Index:
    """Oneids with a latest record saying True for ``flag``, none saying False, not excluded."""
    granted = contacts.loc[contacts[flag].eq(True).fillna(False).astype(bool), "oneid"].unique()
    granted = pd.Index(granted)
    return granted.difference(refusing_members(contacts, flag)).difference(excluded)


def reachable_values(
    contacts: pd.DataFrame,
    value: str,
    flag: str,
    *,
    excluded: pd.Index,
    blocked_values: frozenset[str] = frozenset(),
    record_channels: tuple[str, ...] = (),
) -> pd.DataFrame:
    """One contact value per member who may be reached on it: columns ``oneid``, ``value``.

    The value comes from a latest record that consents (``flag`` True) within
    ``record_channels`` (all when empty); members refusing ``flag`` anywhere,
    members in ``excluded`` (suppressed), values refused anywhere and values in
    ``blocked_values`` (the opt-out list) are left out.  Of several qualifying
    records the most recently updated gives the value (then channel, record_id).
    """
    has_value = contacts[value].notna()
    refused = contacts[flag].eq(False).fillna(False).astype(bool)
    granted = contacts[flag].eq(True).fillna(False).astype(bool)
    refused_values = set(contacts.loc[refused & has_value, value].tolist())
    candidates = contacts[granted & has_value]
    if record_channels:
        candidates = candidates[candidates["channel"].isin(record_channels)]
    bad_members = refusing_members(contacts, flag).union(excluded)
    blocked = refused_values | set(blocked_values)
    keep = ~candidates["oneid"].isin(bad_members) & ~candidates[value].isin(blocked)
    candidates = candidates[keep.astype(bool)]
    candidates = candidates.sort_values(
        ["oneid", "updated_at", "channel", "record_id"],
        ascending=[True, False, True, True],
        na_position="last",
    )
    chosen = candidates.drop_duplicates("oneid", keep="first")
    return pd.DataFrame({"oneid": chosen["oneid"].to_numpy(), "value": chosen[value].to_numpy()}).astype(
        "string"
    )


def latest_assignment(contacts: pd.DataFrame, members: pd.Index, columns: tuple[str, ...]) -> pd.DataFrame:
    """Store and guide of each member from their most recently updated record that names one.

    Columns: ``oneid`` and the requested ones of ``store_id``/``guide_id``;
    members whose records name none of them are left out.
    """
    wanted = [column for column in columns if column in ("store_id", "guide_id")]
    frame = contacts[contacts["oneid"].isin(members)]
    if not wanted:
        return pd.DataFrame({"oneid": pd.Series(sorted(members), dtype="string")})
    # The guide is the stronger fact (a person assigned the member); prefer records that name one.
    names_one = frame[wanted].notna().any(axis=1)
    frame = frame[names_one].assign(_has_guide=frame["guide_id"].notna() if "guide_id" in wanted else False)
    frame = frame.sort_values(
        ["oneid", "_has_guide", "updated_at", "channel", "record_id"],
        ascending=[True, False, False, True, True],
        na_position="last",
    )
    chosen = frame.drop_duplicates("oneid", keep="first")
    return chosen[["oneid", *wanted]].reset_index(drop=True).astype("string")
