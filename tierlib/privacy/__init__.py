"""Privacy: erasure requests (PIPL art. 47, GDPR art. 17) from the next run on, and a purge of storage.

::

    requests = read_requests(ctx)                                   # privacy.erasure_requests
    erasure = ErasureFilter.of(requests, Tombstone.read(storage), key, identity_settings)
    kept = records[~erasure.records_mask(records)]                  # what runs do at extract and identity
    people = resolve_people(requests, records, identity_map, registry, erasure)
    report = purge_storage(storage, people, key)                    # python -m tierlib erase

See docs/security.md.
"""

from tierlib.privacy._hashes import Tombstone, erasure_hashes
from tierlib.privacy._people import ErasedPeople, ErasureFilter, resolve_people
from tierlib.privacy._requests import IDENTIFIER_COLUMNS, REQUEST_COLUMNS, read_requests
from tierlib.privacy._settings import PrivacySettings

__all__ = [
    "IDENTIFIER_COLUMNS",
    "REQUEST_COLUMNS",
    "ErasedPeople",
    "ErasureFilter",
    "PrivacySettings",
    "Tombstone",
    "erasure_hashes",
    "read_requests",
    "resolve_people",
]
