"""OneID: link member records of every channel into people with stable, opaque ids.

The pipeline calls :func:`resolve_identities` once per month with every record
version known so far and the previous month's identity map and registry.
The normalizers are public because publishing needs E.164 phones and
normalized emails too.  See ``docs/identity.md``.
"""

from tierlib.identity._hashing import HASH_KEY_VARIABLE, identity_hash_key, value_hashes
from tierlib.identity._normalize import (
    normalize_device_id,
    normalize_email,
    normalize_identifier,
    normalize_phone,
)
from tierlib.identity._quality import oneid_stability, pairwise_scores
from tierlib.identity._registry import IDENTITY_MAP_COLUMNS, REGISTRY_COLUMNS
from tierlib.identity._resolve import HUB_COLUMNS, MERGE_LOG_COLUMNS, IdentityResult, resolve_identities
from tierlib.identity._settings import IDENTIFIER_TYPES, IdentitySettings

__all__ = [
    "HASH_KEY_VARIABLE",
    "HUB_COLUMNS",
    "IDENTIFIER_TYPES",
    "IDENTITY_MAP_COLUMNS",
    "MERGE_LOG_COLUMNS",
    "REGISTRY_COLUMNS",
    "IdentityResult",
    "IdentitySettings",
    "identity_hash_key",
    "normalize_device_id",
    "normalize_email",
    "normalize_identifier",
    "normalize_phone",
    "oneid_stability",
    "pairwise_scores",
    "resolve_identities",
    "value_hashes",
]
