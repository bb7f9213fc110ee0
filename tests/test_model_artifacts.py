"""Model artifacts are verified before anything in them is deserialized (docs/security.md)."""

from __future__ import annotations

import hashlib
import pickle
import zipfile

import pytest
import skops.io
from test_model_training import fitted, sets  # noqa: F401  (the module's training set fixture)

from tierlib.catalog import approved_model_key, model_artifact_key, model_card_key
from tierlib.model import ModelRegistry
from tierlib.model._registry import TRUSTED_TYPES, ModelIntegrityError


class NotAModel:
    """A type no artifact may hold: skops refuses to build it unless told to trust it."""


def _stored(storage, training) -> tuple[ModelRegistry, str, dict]:
    registry = ModelRegistry(storage)
    version = registry.save(fitted(training), {"metrics": {}}, "2025-11")
    pointer = registry.approve(version, {"metric": "top_share_capture"}, "2025-12")
    return registry, version, pointer


def test_the_card_and_the_pointer_carry_the_artifacts_full_sha256(local_storage, sets):  # noqa: F811
    training, validation = sets
    registry, version, pointer = _stored(local_storage, training)
    digest = hashlib.sha256(local_storage.read_bytes(model_artifact_key(version))).hexdigest()
    assert model_artifact_key(version).endswith("/model.skops")
    assert registry.card(version)["artifact_sha256"] == digest
    assert pointer["artifact_sha256"] == digest == pointer["history"][-1]["artifact_sha256"]
    entry = registry.approved_for("2026-01")
    assert registry.load_approved(entry).predict(validation).shape == (len(validation), 2)
    # The artifact holds only the trusted types beyond skops' defaults.
    found = skops.io.get_untrusted_types(data=local_storage.read_bytes(model_artifact_key(version)))
    assert set(found) <= set(TRUSTED_TYPES)


def test_a_changed_artifact_is_refused_naming_the_key(local_storage, sets):  # noqa: F811
    training, _ = sets
    registry, version, _ = _stored(local_storage, training)
    other = ModelRegistry(local_storage).save(fitted(training, random_state=5), {"metrics": {}}, "2025-10")
    # Someone with write access to models/ swaps in another (valid) artifact.
    local_storage.write_bytes(
        model_artifact_key(version), local_storage.read_bytes(model_artifact_key(other))
    )
    with pytest.raises(ModelIntegrityError) as refused:
        registry.load_approved(registry.approved_for("2026-01"))
    assert model_artifact_key(version) in str(refused.value)
    assert approved_model_key() in str(refused.value) and "not loaded" in str(refused.value)


def test_a_pointer_without_a_hash_or_a_card_that_disagrees_is_refused(local_storage, sets):  # noqa: F811
    training, _ = sets
    registry, version, _ = _stored(local_storage, training)
    entry = dict(registry.approved_for("2026-01"))
    entry.pop("artifact_sha256")
    with pytest.raises(ModelIntegrityError, match="records no artifact_sha256"):
        registry.load_approved(entry)
    card = local_storage.read_json(model_card_key(version))
    local_storage.write_json(model_card_key(version), {**card, "artifact_sha256": "0" * 64})
    with pytest.raises(ModelIntegrityError, match=r"card\.json records 0000"):
        registry.load_approved(registry.approved_for("2026-01"))


def test_an_artifact_with_matching_hashes_still_builds_only_trusted_types(local_storage, sets):  # noqa: F811
    """Whoever can write models/ can rewrite the hashes too: the loader must still run no code."""
    training, _ = sets
    registry, version, _ = _stored(local_storage, training)

    def forge(data: bytes) -> None:
        digest = hashlib.sha256(data).hexdigest()
        local_storage.write_bytes(model_artifact_key(version), data)
        card = local_storage.read_json(model_card_key(version))
        local_storage.write_json(model_card_key(version), {**card, "artifact_sha256": digest})
        pointer = local_storage.read_json(approved_model_key())
        pointer["history"][-1]["artifact_sha256"] = digest
        local_storage.write_json(approved_model_key(), pointer)

    forge(skops.io.dumps(NotAModel(), compression=zipfile.ZIP_DEFLATED))
    with pytest.raises(ModelIntegrityError, match=r"does not trust.*NotAModel"):
        registry.load_approved(registry.approved_for("2026-01"))
    forge(pickle.dumps(NotAModel()))  # a pickle is never unpickled
    with pytest.raises(ModelIntegrityError, match="not a skops artifact"):
        registry.load_approved(registry.approved_for("2026-01"))


def test_approving_an_artifact_that_does_not_match_its_card_is_refused(local_storage, sets):  # noqa: F811
    training, _ = sets
    registry = ModelRegistry(local_storage)
    version = registry.save(fitted(training), {"metrics": {}}, "2025-11")
    local_storage.write_bytes(model_artifact_key(version), b"changed")
    with pytest.raises(ModelIntegrityError, match="cannot approve"):
        registry.approve(version, {"metric": "top_share_capture"}, "2025-12")
    assert not local_storage.exists(approved_model_key())
