"""The ``exports`` config section: export channels, segments, holdouts, suppression.

Each export channel names a ``kind`` that fixes which columns it may carry and
which consent flag guards it; a segment selects members from the month's tiers
and names the channels it goes to, with a priority that decides which segments
win when a member qualifies for more than a channel allows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from tierlib.period import parse_period
from tierlib.publish._identifiers import IDENTIFIER_RULES

ExportKind = Literal[
    "sms", "email", "wechat", "push", "customer_match", "crm", "tencent_ads", "ocean_engine", "wecom"
]

KIND_COLUMNS: dict[str, tuple[str, ...]] = {
    "sms": ("phone",),
    "email": ("email",),
    "wechat": ("openid",),
    "push": ("device_token",),
    "customer_match": ("hashed_email", "hashed_phone"),
    "crm": ("oneid", "store_id", "guide_id"),
    "tencent_ads": ("hash_mobile_phone", "hash_imei", "hash_idfa", "hash_oaid"),
    "ocean_engine": ("mobile_sha256", "imei_md5", "idfa_md5", "oaid_md5"),
    "wecom": ("guide_id", "external_userid", "phone"),
}
"""Every column an export of each kind may carry; a channel lists the ones it needs."""

DEFAULT_CONSENT: dict[str, str] = {
    "sms": "consent_sms",
    "email": "consent_email",
    "wechat": "consent_wechat",
    "push": "consent_push",
    "crm": "consent_sms",
    "wecom": "consent_sms",
}
"""The consent flag that guards each kind unless the channel names another one."""

AD_PLATFORM_KINDS = ("tencent_ads", "ocean_engine")
"""Kinds whose files carry one hashed identifier type each (tierlib.publish._identifiers)."""

UPLOAD_LIMIT_BYTES = {"tencent_ads": 100 * 1024 * 1024, "ocean_engine": 100 * 1024 * 1024}
"""Largest upload archive of each platform kind (Tencent: a zip of at most 100M; docs/publish.md)."""

WECOM_MESSAGES_PER_DAY = 1
"""WeCom: a member of staff may send a customer one group message a day (docs/publish.md)."""

CUSTOMER_MATCH_CONSENT = {"hashed_email": "consent_email", "hashed_phone": "consent_sms"}
"""Customer-match identifiers are each guarded by the flag of their own contact point."""

CONSENT_FLAGS = ("consent_sms", "consent_email", "consent_push", "consent_wechat")

SEGMENT_NAME = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True)
class ExportChannel:
    """One destination: which kind it is and the columns its files carry (and no others).

    ``record_channels`` limits which source channels' records may supply the
    identifier (an openid means something only in the WeChat app that issued
    it); empty means every channel.  ``platform`` picks the customer-match phone
    rule: ``google`` hashes E.164 with ``+``, ``meta`` digits only with the
    country code.
    """

    kind: ExportKind
    columns: tuple[str, ...] = ()
    consent: str | None = None
    record_channels: tuple[str, ...] = ()
    platform: Literal["google", "meta"] | None = None
    max_segments_per_member: int | None = None
    max_upload_bytes: int | None = None
    """Ad platform kinds: split the upload into archives of at most this size (default: the platform's)."""

    def __post_init__(self) -> None:
        problems = []
        allowed = KIND_COLUMNS.get(self.kind, ())
        extra = [column for column in self.columns if column not in allowed]
        if extra:
            problems.append(
                f"columns {extra} are not carried by a {self.kind} export; allowed: {list(allowed)}"
            )
        if len(set(self.columns)) != len(self.columns):
            problems.append(f"columns {list(self.columns)} list a column twice")
        if self.consent is not None and self.consent not in CONSENT_FLAGS:
            problems.append(
                f"consent {self.consent!r} is not a consent flag; use one of {list(CONSENT_FLAGS)}"
            )
        if self.kind == "customer_match":
            if self.platform is None:
                problems.append("a customer_match export needs 'platform: google' or 'platform: meta'")
            if self.consent is not None:
                problems.append(
                    "customer_match takes no 'consent': hashed_email needs consent_email, "
                    "hashed_phone needs consent_sms"
                )
        elif self.platform is not None:
            problems.append(f"'platform' applies to customer_match exports only, not {self.kind}")
        if self.kind in AD_PLATFORM_KINDS and len(self.columns) != 1:
            problems.append(
                f"a {self.kind} file carries one identifier type: list exactly one of "
                f"{list(allowed)} in 'columns' (one export channel per identifier type)"
            )
        if self.kind == "wecom" and self.columns and len(self.columns) != len(KIND_COLUMNS["wecom"]):
            problems.append(
                "a wecom export carries guide_id, external_userid and phone (the guide's list: "
                "the external contact id where known, else the phone to add); list all three or none"
            )
        if self.max_upload_bytes is not None:
            if self.kind not in AD_PLATFORM_KINDS:
                problems.append(f"'max_upload_bytes' applies to {list(AD_PLATFORM_KINDS)} exports only")
            elif not 1024 <= self.max_upload_bytes <= UPLOAD_LIMIT_BYTES[self.kind]:
                problems.append(
                    f"max_upload_bytes must be from 1024 to the platform's limit "
                    f"{UPLOAD_LIMIT_BYTES[self.kind]}, got {self.max_upload_bytes}"
                )
        if self.max_segments_per_member is not None and self.max_segments_per_member < 1:
            problems.append(f"max_segments_per_member must be at least 1, got {self.max_segments_per_member}")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def export_columns(self) -> tuple[str, ...]:
        """The columns of this channel's files, in the kind's order."""
        chosen = self.columns or KIND_COLUMNS[self.kind]
        return tuple(column for column in KIND_COLUMNS[self.kind] if column in chosen)

    @property
    def consent_flag(self) -> str | None:
        """The one flag guarding this channel (None for customer match, guarded per identifier)."""
        if self.kind == "customer_match":
            return None
        if self.kind in AD_PLATFORM_KINDS:
            return self.consent or IDENTIFIER_RULES[self.export_columns[0]].default_consent
        return self.consent or DEFAULT_CONSENT[self.kind]

    @property
    def upload_limit(self) -> int | None:
        """Largest upload archive in bytes (ad platform kinds), else None."""
        if self.kind not in AD_PLATFORM_KINDS:
            return None
        return self.max_upload_bytes or UPLOAD_LIMIT_BYTES[self.kind]


@dataclass(frozen=True)
class SegmentRule:
    """Members of the month's tiers that match every condition given (a list matches any of its values).

    ``priority`` 1 is the highest; when a member qualifies for more segments
    of a channel than it allows, the highest-priority ones win.
    ``holdout_share`` and ``campaign_salt`` override the section-wide holdout.
    """

    channels: tuple[str, ...]
    priority: int
    tiers: tuple[str, ...] = ()
    previous_tiers: tuple[str, ...] = ()
    lifecycle_stages: tuple[str, ...] = ()
    rfm_cells: tuple[str, ...] = ()
    vip: bool | None = None
    min_churn_probability: float | None = None
    max_churn_probability: float | None = None
    min_predicted_value_90d: float | None = None
    holdout_share: float | None = None
    campaign_salt: str | None = None

    def __post_init__(self) -> None:
        problems = []
        if not self.channels:
            problems.append("name at least one export channel in 'channels'")
        if self.priority < 1:
            problems.append(f"priority must be 1 (highest) or more, got {self.priority}")
        if self.holdout_share is not None and not 0.0 <= self.holdout_share < 1.0:
            problems.append(f"holdout_share must be in [0, 1), got {self.holdout_share}")
        for name in ("min_churn_probability", "max_churn_probability"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                problems.append(f"{name} must be in [0, 1], got {value}")
        if self.campaign_salt is not None and not self.campaign_salt.strip():
            problems.append("campaign_salt must not be blank")
        if problems:
            raise ValueError("; ".join(problems))


@dataclass(frozen=True)
class GlobalControl:
    """``exports.global_control``: who receives nothing, for the program's incrementality."""

    share: float = 0.0
    salt: str = "tierflow-global-control-v1"
    rotation: Literal["month", "quarter", "half_year", "year"] = "quarter"
    """How often the control is drawn afresh: the salt names the period."""

    def __post_init__(self) -> None:
        problems = []
        if not 0.0 <= self.share < 0.5:
            problems.append(f"share must be in [0, 0.5), got {self.share}")
        if not self.salt.strip():
            problems.append("salt must not be blank")
        if problems:
            raise ValueError("; ".join(problems))

    def period_salt(self, period: str) -> str:
        """The salt of the rotation period ``period`` (YYYY-MM) falls in."""
        year, month = parse_period(period)
        label = {
            "month": f"{year:04d}-{month:02d}",
            "quarter": f"{year:04d}Q{(month - 1) // 3 + 1}",
            "half_year": f"{year:04d}H{(month - 1) // 6 + 1}",
            "year": f"{year:04d}",
        }[self.rotation]
        return f"{self.salt}:{label}"


@dataclass(frozen=True)
class ContactBudget:
    """``exports.contact_budget``: at most ``max_contacts`` per member across all channels.

    ``window_months``: the months the budget spans, this one included (1: each month on its
    own; more: the contact logs of the earlier months count).  ``channel_order``: which
    channel's contact is kept first among segments of equal priority.
    """

    max_contacts: int | None = None
    window_months: int = 1
    channel_order: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        problems = []
        if self.max_contacts is not None and self.max_contacts < 1:
            problems.append(
                f"max_contacts must be at least 1 (or left out: no budget), got {self.max_contacts}"
            )
        if not 1 <= self.window_months <= 12:
            problems.append(f"window_months must be from 1 to 12, got {self.window_months}")
        if len(set(self.channel_order)) != len(self.channel_order):
            problems.append(f"channel_order {list(self.channel_order)} names a channel twice")
        if problems:
            raise ValueError("; ".join(problems))


@dataclass(frozen=True)
class PublishSettings:
    """The ``exports`` section of ``config/tierflow.yaml``.

    ``suppression`` lists opt-out files (CSV or Parquet with ``phone`` and/or
    ``email`` columns; local paths relative to the config file, or ``s3://``);
    it must be given (``[]`` on purpose) before any channel publishes.
    ``holdout_salt`` is the campaign salt of every segment without its own:
    change it and every holdout is drawn afresh.
    """

    channels: dict[str, ExportChannel] = field(default_factory=dict)
    segments: dict[str, SegmentRule] = field(default_factory=dict)
    suppression: tuple[str, ...] | None = None
    holdout_share: float = 0.1
    holdout_salt: str = "tierflow-holdout-v1"
    max_segments_per_member: int = 1
    formats: tuple[Literal["csv", "parquet"], ...] = ("csv", "parquet")
    default_region: str = "CN"
    lift_confidence: float = 0.95
    parallel_transfers: int = 8
    """Uploads, copies and read-backs in flight at once (S3 round trips dominate a publish)."""
    global_control: GlobalControl = field(default_factory=GlobalControl)
    contact_budget: ContactBudget = field(default_factory=ContactBudget)

    def __post_init__(self) -> None:
        problems = []
        for name in self.channels:
            if not SEGMENT_NAME.fullmatch(name):
                problems.append(f"channels.{name}: export channel names are lower-case letters, digits and _")
        for name, segment in self.segments.items():
            if not SEGMENT_NAME.fullmatch(name):
                problems.append(f"segments.{name}: segment names are lower-case letters, digits and _")
            unknown = [channel for channel in segment.channels if channel not in self.channels]
            if unknown:
                problems.append(
                    f"segments.{name}.channels: {unknown} are not export channels; "
                    f"configured: {sorted(self.channels)}"
                )
        unknown_order = [name for name in self.contact_budget.channel_order if name not in self.channels]
        if unknown_order:
            problems.append(
                f"contact_budget.channel_order: {unknown_order} are not export channels; "
                f"configured: {sorted(self.channels)}"
            )
        if not 0.0 <= self.holdout_share < 1.0:
            problems.append(f"holdout_share must be in [0, 1), got {self.holdout_share}")
        if not self.holdout_salt.strip():
            problems.append("holdout_salt must not be blank")
        if self.max_segments_per_member < 1:
            problems.append(f"max_segments_per_member must be at least 1, got {self.max_segments_per_member}")
        if not self.formats or len(set(self.formats)) != len(self.formats):
            problems.append(f"formats must list csv and/or parquet once each, got {list(self.formats)}")
        if not 1 <= self.parallel_transfers <= 64:
            problems.append(f"parallel_transfers must be from 1 to 64, got {self.parallel_transfers}")
        if not 0.5 <= self.lift_confidence < 1.0:
            problems.append(f"lift_confidence must be in [0.5, 1), got {self.lift_confidence}")
        if problems:
            raise ValueError("; ".join(problems))

    def segment_cap(self, channel: str) -> int:
        """At most this many segments per member in ``channel`` per month.

        A wecom channel's month of lists goes out as one day's group-send tasks, so a customer
        is in no more segments than the messages WeCom lets them receive a day.
        """
        export = self.channels[channel]
        own = export.max_segments_per_member
        cap = own if own is not None else self.max_segments_per_member
        return min(cap, WECOM_MESSAGES_PER_DAY) if export.kind == "wecom" else cap

    def segment_holdout(self, segment: str) -> tuple[float, str]:
        """``(share, campaign salt)`` of a segment's holdout."""
        rule = self.segments[segment]
        share = rule.holdout_share if rule.holdout_share is not None else self.holdout_share
        salt = rule.campaign_salt if rule.campaign_salt is not None else f"{self.holdout_salt}:{segment}"
        return share, salt
