"""Hashes that let the merge log name an identifier value without revealing it."""

from __future__ import annotations

import hashlib
import os

import numpy as np

from tierlib.errors import ConfigError

HASH_KEY_VARIABLE = "TIERFLOW_IDENTITY_HASH_KEY"
"""Environment variable holding the secret that keys every identifier hash Tierflow stores."""

MIN_KEY_LENGTH = 16
"""A shorter secret can itself be guessed, which is all a keyed hash of a phone number needs."""


def identity_hash_key(allow_unkeyed: bool, where: str = "identity.allow_unkeyed_hashes") -> bytes | None:
    """The secret from ``TIERFLOW_IDENTITY_HASH_KEY``; None only when unkeyed hashes are allowed.

    Raises ConfigError saying how to set the key when it is absent (and not explicitly
    waived with ``where``) or too short to be a secret.
    """
    key = os.environ.get(HASH_KEY_VARIABLE, "")
    if not key:
        if allow_unkeyed:
            return None
        raise ConfigError(
            f"{HASH_KEY_VARIABLE} is not set: identifier hashes (merge log, hub values, erasure "
            "records) need a secret key, or a hash of a phone number is reversed by trying every "
            f"number. Set it to a random secret of at least {MIN_KEY_LENGTH} characters, e.g. "
            f"export {HASH_KEY_VARIABLE}=$(python -c 'import secrets; print(secrets.token_urlsafe(32))') "
            "(in Airflow: the workers' environment or a secrets backend), and keep it: the same key "
            f"keeps hashes comparable from month to month. For demos and tests only, set {where}: true."
        )
    if len(key) < MIN_KEY_LENGTH:
        raise ConfigError(
            f"{HASH_KEY_VARIABLE} has {len(key)} characters: use a random secret of at least "
            f"{MIN_KEY_LENGTH} (python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return key.encode()


def value_hashes(type_names: np.ndarray, texts: np.ndarray, key: bytes | None) -> np.ndarray:
    """16 hex characters per value: keyed BLAKE2b of ``type:normalized value``.

    Without a key the hash of a phone can be found by trying every number, so
    the stage and the CLI take the key from :func:`identity_hash_key`; the same
    key gives the same hash every month, so a value can be followed across merge logs.
    """
    secret = b"" if key is None else (key if len(key) <= 64 else hashlib.sha256(key).digest())
    out = np.empty(len(texts), dtype=object)
    for name in np.unique(type_names) if len(type_names) else ():
        # Hashing "type:" once and copying the state halves the cost of a million values.
        prefix = hashlib.blake2b(key=secret, digest_size=8)
        prefix.update(f"{name}:".encode())
        picked = np.flatnonzero(type_names == name)
        hashes = []
        for text in texts[picked]:
            state = prefix.copy()
            state.update(text.encode())
            hashes.append(state.hexdigest())
        out[picked] = hashes
    return out
