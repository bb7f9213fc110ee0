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

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from tierlib.errors import InputError
from tierlib.identity import normalize_email, normalize_identifier, normalize_phone
from tierlib.publish._frames import (
    MemberIndex,
    arrow_text,
    first_of_runs,
    is_in,
    map_distinct,
    record_keys,
    text_series,
)
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
    "external_userid",
    *CONSENT_FLAGS,
)
"""The standardized record columns publishing reads."""

_OPAQUE_VALUES = ("openid", "device_id", "store_id", "guide_id", "external_userid")


@dataclass(frozen=True)
class Suppression:
    """Normalized opt-out values, and how many list entries could not be normalized."""

    phones: frozenset[str]
    emails: frozenset[str]
    unusable: int = 0

    @classmethod
    def empty(cls) -> Suppression:
        return cls(frozenset(), frozenset(), 0)


@dataclass(frozen=True)
class Contacts:
    """The latest version of every record the identity map knows, and who is suppressed.

    ``latest`` columns: ``member`` (code in ``members``), ``channel``, ``updated``
    (int, ns), ``rank`` (the record's place in (channel, record_id) order), the
    normalized values ``phone`` (E.164), ``email``, ``openid``, ``device_id``,
    ``store_id``, ``guide_id`` (null when missing or invalid), and the consent
    flags (nullable boolean).  ``suppressed`` is a bool per member code.
    """

    latest: pd.DataFrame
    suppressed: np.ndarray
    members: MemberIndex
    versions_without_oneid: int = 0

    def flag(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """``(says_true, says_false)`` per latest record for a consent flag."""
        values = self.latest[name]
        return values.eq(True).fillna(False).to_numpy(bool), values.eq(False).fillna(False).to_numpy(bool)

    def refusing(self, flag: str) -> np.ndarray:
        """Bool per member code: some latest record of the member says False for ``flag``."""
        _, says_false = self.flag(flag)
        return self.members.mask(self.latest["member"].to_numpy()[says_false])


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


def member_contacts(
    records: pd.DataFrame,
    identity_map: pd.DataFrame,
    members: MemberIndex,
    suppression: Suppression,
    default_region: str,
) -> Contacts:
    """Latest record versions with member codes and normalized values, and the suppressed members.

    ``records``: every version of every record up to the month; versions of
    records the identity map does not know are left out (and counted).
    """
    require_columns(records, RECORD_INPUT_COLUMNS, "standardized records")
    require_columns(identity_map, ("channel", "record_id", "oneid"), "identity map")
    identity_keys = record_keys(identity_map)
    if len(pc.unique(identity_keys)) != len(identity_keys):
        counts = pc.value_counts(identity_keys)
        repeated = counts.filter(pc.greater(counts.field("counts"), 1))[0]["values"].as_py()
        raise InputError(
            f"identity map lists record {repeated.replace(chr(31), '/')!r} more than once; "
            "rerun the identity stage for this month"
        )
    record = pc.index_in(record_keys(records), value_set=identity_keys).fill_null(-1).to_numpy()
    record = record.astype(np.int64)
    known = np.flatnonzero(record >= 0)
    record_member = members.codes(identity_map["oneid"])
    rank = np.empty(len(identity_map), dtype=np.int64)
    by_name = pa.table({"c": arrow_text(identity_map["channel"]), "r": arrow_text(identity_map["record_id"])})
    rank[pc.sort_indices(by_name, [("c", "ascending"), ("r", "ascending")]).to_numpy()] = np.arange(len(rank))

    versions = records.iloc[known]
    version_record = record[known]
    phone = map_distinct(versions["phone"], lambda raw: normalize_phone(raw, default_region=default_region))
    email = map_distinct(versions["email"], normalize_email)
    listed = is_in(phone, suppression.phones) | is_in(email, suppression.emails)
    suppressed = members.mask(record_member[version_record[listed]])

    updated = versions["updated_at"].astype("datetime64[ns]").to_numpy().view(np.int64)  # NaT is the smallest
    order = np.lexsort((np.arange(len(versions)), updated, version_record))
    sorted_record = version_record[order]
    last = np.ones(len(order), dtype=bool)
    last[:-1] = sorted_record[1:] != sorted_record[:-1]
    take = order[last]  # the latest version of each record, in record-code order
    latest_record = version_record[take]
    take_arrow = pa.array(take, type=pa.int64())
    latest = pd.DataFrame(
        {
            "member": record_member[latest_record],
            "channel": text_series(arrow_text(versions["channel"]).take(take_arrow)),
            "updated": updated[take],
            "rank": rank[latest_record],
            "phone": text_series(phone.take(take_arrow)),
            "email": text_series(email.take(take_arrow)),
        }
    )
    for name in _OPAQUE_VALUES:
        values = arrow_text(versions[name]).take(take_arrow)
        latest[name] = text_series(map_distinct(values, lambda raw: normalize_identifier("openid", raw)))
    for flag in CONSENT_FLAGS:
        latest[flag] = versions[flag].astype("boolean").iloc[take].reset_index(drop=True)
    latest = latest[latest["member"] >= 0].reset_index(drop=True)
    return Contacts(latest, suppressed, members, versions_without_oneid=len(records) - len(known))


def consenting_members(contacts: Contacts, flag: str) -> np.ndarray:
    """Bool per member code: a latest record says True for ``flag``, none says False, not suppressed."""
    says_true, _ = contacts.flag(flag)
    granted = contacts.members.mask(contacts.latest["member"].to_numpy()[says_true])
    return granted & ~contacts.refusing(flag) & ~contacts.suppressed


def reachable_values(
    contacts: Contacts,
    value: str,
    flag: str,
    *,
    blocked_values: frozenset[str] = frozenset(),
    record_channels: tuple[str, ...] = (),
) -> pd.DataFrame:
    """One contact value per member who may be reached on it: columns ``member``, ``value``.

    The value comes from a latest record that consents (``flag`` True) within
    ``record_channels`` (all when empty); members refusing ``flag`` anywhere,
    suppressed members, values refused on any record and ``blocked_values``
    (the opt-out list) are left out.  Of several qualifying records the most
    recently updated gives the value (then channel, record_id).
    """
    candidates = reachable_candidates(
        contacts, value, flag, blocked_values=blocked_values, record_channels=record_channels
    )
    first = first_of_runs(candidates["member"].to_numpy())
    return candidates[first].reset_index(drop=True)


def reachable_candidates(
    contacts: Contacts,
    value: str,
    flag: str,
    *,
    blocked_values: frozenset[str] = frozenset(),
    record_channels: tuple[str, ...] = (),
) -> pd.DataFrame:
    """Every value :func:`reachable_values` chooses from: ``member``, ``value``, best first per member."""
    latest = contacts.latest
    values = latest[value]
    member = latest["member"].to_numpy()
    has_value = values.notna().to_numpy()
    says_true, says_false = contacts.flag(flag)
    refused_values = arrow_text(values[says_false & has_value])
    keep = says_true & has_value & ~contacts.refusing(flag)[member] & ~contacts.suppressed[member]
    if record_channels:
        keep &= is_in(latest["channel"], record_channels)
    keep &= ~is_in(values, refused_values)
    if blocked_values:
        keep &= ~is_in(values, blocked_values)
    rows = np.flatnonzero(keep)
    # Newest first: ~updated reverses the order without overflowing at NaT.
    rows = rows[
        np.lexsort((latest["rank"].to_numpy()[rows], ~latest["updated"].to_numpy()[rows], member[rows]))
    ]
    return pd.DataFrame({"member": member[rows], "value": values.iloc[rows].reset_index(drop=True)})


def consenting_in(contacts: Contacts, flag: str, record_channels: tuple[str, ...] = ()) -> np.ndarray:
    """Bool per member code: :func:`consenting_members`, the consent given within ``record_channels``."""
    says_true, _ = contacts.flag(flag)
    if record_channels:
        says_true = says_true & is_in(contacts.latest["channel"], record_channels)
    granted = contacts.members.mask(contacts.latest["member"].to_numpy()[says_true])
    return granted & ~contacts.refusing(flag) & ~contacts.suppressed


def latest_assignment(contacts: Contacts, eligible: np.ndarray, columns: tuple[str, ...]) -> pd.DataFrame:
    """Store and guide of each eligible member from their newest record that names a guide (else a store).

    Columns: ``member`` and the requested ones of ``store_id``/``guide_id``;
    members whose records name none of them are left out.  ``eligible`` is a
    bool per member code.
    """
    wanted = [column for column in columns if column in ("store_id", "guide_id")]
    if not wanted:
        return pd.DataFrame({"member": np.flatnonzero(eligible).astype(np.int64)})
    latest = contacts.latest
    member = latest["member"].to_numpy()
    names_one = np.zeros(len(latest), dtype=bool)
    for column in wanted:
        names_one |= latest[column].notna().to_numpy()
    rows = np.flatnonzero(names_one & eligible[member])
    # The guide is the stronger fact (a person assigned the member): records that name one come first.
    no_guide = (
        latest["guide_id"].isna().to_numpy()[rows] if "guide_id" in wanted else np.zeros(len(rows), bool)
    )
    rows = rows[
        np.lexsort(
            (latest["rank"].to_numpy()[rows], ~latest["updated"].to_numpy()[rows], no_guide, member[rows])
        )
    ]
    rows = rows[first_of_runs(member[rows])]
    out = pd.DataFrame({"member": member[rows]})
    for column in wanted:
        out[column] = latest[column].iloc[rows].reset_index(drop=True)
    return out
