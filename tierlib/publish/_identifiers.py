"""Identifier rules of the Chinese ad platforms: what each file column holds and how it is made.

Tencent Ads (广点通 customer-file audiences) and Ocean Engine (巨量引擎 audience packages) take
one identifier type per file, hashed after a normalization of their own.  Each rule below
says where its value comes from, how it is normalized, which digest it takes and under which
name the platform knows it; docs/publish.md cites the platform pages each rule comes from.

A value the platform would reject never goes into a file: it is given a reason instead
(``INVALID_REASONS``) and counted.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tierlib.publish._frames import arrow_text, map_distinct, text_series

MISSING = "missing_identifier"
NOT_MAINLAND = "phone_not_mainland"
DEVICE_MALFORMED = "device_id_malformed"
DEVICE_ZEROED = "device_id_zeroed"
OTHER_DEVICE = "other_device_type"
NO_GUIDE = "no_guide"

INVALID_REASONS: dict[str, str] = {
    MISSING: "consents, but no usable identifier of the file's type is on a consenting record",
    NOT_MAINLAND: "the phone is not a mainland China mobile (+86 1xxxxxxxxxx), the only ones matched",
    DEVICE_MALFORMED: "the device id has no shape of an IMEI, IDFA or OAID (or mixes upper and lower case)",
    DEVICE_ZEROED: "the device id is all zeros: the device limits ad tracking, it matches nobody",
    OTHER_DEVICE: "the member's device id is of another type than the file's (an IDFA in an IMEI file)",
    NO_GUIDE: "wecom: no record names a guide of the member, so nobody can send them the message",
}
"""Why a row a destination would reject was left out of its file."""


@dataclass(frozen=True)
class IdentifierRule:
    """One identifier column of a platform file."""

    column: str
    source: str
    """``phone`` or ``device_id``: the normalized record value it is made from."""
    device_type: str | None
    """``imei``, ``idfa`` or ``oaid`` for device columns."""
    digest: str
    """``md5`` or ``sha256``; always written as lower-case hex."""
    platform_name: str
    """The identifier type to choose when uploading the file."""
    default_consent: str


IDENTIFIER_RULES: dict[str, IdentifierRule] = {
    rule.column: rule
    for rule in (
        # Tencent Ads: user_id_type of custom_audience_files/add.
        IdentifierRule("hash_mobile_phone", "phone", None, "md5", "HASH_MOBILE_PHONE", "consent_sms"),
        IdentifierRule("hash_imei", "device_id", "imei", "md5", "HASH_IMEI", "consent_push"),
        IdentifierRule("hash_idfa", "device_id", "idfa", "md5", "HASH_IDFA", "consent_push"),
        IdentifierRule("hash_oaid", "device_id", "oaid", "md5", "HASH_OAID", "consent_push"),
        # Ocean Engine: data_type of the audience file upload.
        IdentifierRule("mobile_sha256", "phone", None, "sha256", "14 手机号-SHA256", "consent_sms"),
        IdentifierRule("imei_md5", "device_id", "imei", "md5", "11 IMEI-MD5", "consent_push"),
        IdentifierRule("idfa_md5", "device_id", "idfa", "md5", "12 IDFA-MD5", "consent_push"),
        IdentifierRule("oaid_md5", "device_id", "oaid", "md5", "16 OAID-MD5", "consent_push"),
    )
}

_MAINLAND_MOBILE = re.compile(r"\+86(1[3-9][0-9]{9})")
_SEPARATORS = re.compile(r"[\s\-./:]")
_IMEI = re.compile(r"[0-9]{14,15}|[0-9a-f]{14}")
_UUID = re.compile(
    r"([0-9a-f]{8})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{12})", re.IGNORECASE
)
_OAID = re.compile(r"[0-9A-Za-z][0-9A-Za-z\-]{14,98}[0-9A-Za-z]")


def mainland_number(e164: str) -> str | None:
    """``+8613812345678`` -> ``13812345678``; None for any other number."""
    match = _MAINLAND_MOBILE.fullmatch(e164)
    return match.group(1) if match else None


def classify_device(raw: str) -> tuple[str, str]:
    """``(type, normal form)`` of a device id, or ``("invalid", reason)``.

    - IMEI (15 digits, or the 14 of an IMEI without check digit / a 14-hex MEID), separators
      removed, lower-case: Tencent hashes "14或15位数字+小写字母串".
    - IDFA: a UUID written in upper case (as iOS gives it), in Apple's ``8-4-4-4-12`` form with
      hyphens and upper case: Tencent's published example hashes exactly that form.
    - OAID: a UUID in lower case (as Android vendors give it), or any other 16-100 character
      id of letters, digits and hyphens; hashed as given, case and hyphens kept.
    An id of only zeros comes from a device that limits ad tracking.
    """
    text = raw.strip()
    if not text or not _SEPARATORS.sub("", text).strip("0"):
        return "invalid", DEVICE_ZEROED
    compact = _SEPARATORS.sub("", text).lower()
    if len(compact) in (14, 15) and _IMEI.fullmatch(compact):
        return "imei", compact
    uuid = _UUID.fullmatch(text)
    if uuid:
        letters = [char for char in text if char.isalpha()]
        if all(char.isupper() for char in letters):
            return "idfa", "-".join(uuid.groups()).upper()
        if all(char.islower() for char in letters):
            return "oaid", text
        return "invalid", DEVICE_MALFORMED
    if _OAID.fullmatch(text):
        return "oaid", text
    return "invalid", DEVICE_MALFORMED


def hex_digest(text: str, digest: str) -> str:
    return hashlib.new(digest, text.encode("utf-8")).hexdigest()


def identifier_values(rule: IdentifierRule, values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """``(hashed, reason)`` per value: the file's text, or null with the reason it cannot be sent.

    ``values`` are the normalized record values of ``rule.source`` (E.164 phones; device ids
    trimmed, case as given).  Null values get the reason ``missing_identifier``.
    """

    def one(text: str | None) -> tuple[str | None, str | None]:
        if text is None:
            return None, MISSING
        if rule.source == "phone":
            national = mainland_number(text)
            return (None, NOT_MAINLAND) if national is None else (hex_digest(national, rule.digest), None)
        kind, form = classify_device(text)
        if kind == "invalid":
            return None, form
        if kind != rule.device_type:
            return None, OTHER_DEVICE
        return hex_digest(form, rule.digest), None

    def hashed(distinct: pd.Series) -> pd.Series:
        return pd.Series([one(text)[0] for text in arrow_text(distinct).to_pylist()], dtype="string")

    def reason(distinct: pd.Series) -> pd.Series:
        return pd.Series([one(text)[1] for text in arrow_text(distinct).to_pylist()], dtype="string")

    out = text_series(map_distinct(values, hashed), index=values.index)
    why = text_series(map_distinct(values, reason), index=values.index)
    return out, why.mask(out.isna() & why.isna(), MISSING)


def reason_counts(reasons: pd.Series) -> dict[str, int]:
    """``{reason: rows}`` in the order of INVALID_REASONS, reasons with no rows left out."""
    counts = reasons.value_counts()
    return {name: int(counts[name]) for name in INVALID_REASONS if name in counts.index}


def valid_mask(reasons: pd.Series) -> np.ndarray:
    return reasons.isna().to_numpy(bool)
