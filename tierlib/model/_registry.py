"""Versioned model artifacts in storage, and the approved pointer.

The one module of ``tierlib.model`` that does IO, through a Storage handed in.
Layout (keys from :mod:`tierlib.catalog`)::

    models/versions/<version>/model.pkl    the fitted TieringModel (pickle)
    models/versions/<version>/card.json    the model card
    models/approved.json                   current version and every approval with its first month:
                                           written last, one small object

A version name is the data month plus a hash of the model's bytes, so
retraining the same month on the same data and settings gives the same
version and overwrites it with identical bytes.  Readers find a version only
through the pointer, and the pointer is replaced atomically after the
artifact and card are in place, so a reader never sees a half-written model.

Artifacts are pickles: load them only from a storage root you control (the
run's own); never point ``storage.root`` at files from elsewhere.
"""

from __future__ import annotations

import hashlib
import logging
import pickle

import sklearn

from tierlib.catalog import approved_model_key, model_artifact_key, model_card_key, model_versions_prefix
from tierlib.errors import StorageError
from tierlib.model._estimator import TieringModel

log = logging.getLogger("tierlib")


def version_name(period: str, model_bytes: bytes) -> str:
    return f"{period}-{hashlib.sha256(model_bytes).hexdigest()[:10]}"


class ModelRegistry:
    def __init__(self, storage):
        self.storage = storage

    def save(self, model: TieringModel, card: dict, period: str) -> str:
        """Store a fitted model and its card as a new version; return the version name."""
        data = pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)
        version = version_name(period, data)
        self.storage.write_bytes(model_artifact_key(version), data)
        self.storage.write_json(model_card_key(version), {**card, "version": version})
        return version

    def versions(self) -> list[str]:
        prefix = model_versions_prefix()
        return sorted({key[len(prefix) :].split("/", 1)[0] for key in self.storage.list(prefix)})

    def card(self, version: str) -> dict:
        key = model_card_key(version)
        if not self.storage.exists(key):
            raise StorageError(
                f"model version {version!r} has no card at {self.storage.uri(key)}; "
                f"versions stored: {self.versions()}"
            )
        return self.storage.read_json(key)

    def load(self, version: str) -> TieringModel:
        key = model_artifact_key(version)
        if not self.storage.exists(key):
            raise StorageError(
                f"model version {version!r} has no artifact at {self.storage.uri(key)}; "
                "retrain (python -m tierlib retrain) or approve one of the stored versions: "
                f"{self.versions()}"
            )
        model = pickle.loads(self.storage.read_bytes(key))
        if not isinstance(model, TieringModel):
            raise StorageError(f"{self.storage.uri(key)} does not hold a TieringModel; retrain to replace it")
        trained_with = self.card(version).get("code_version", {}).get("scikit_learn")
        if trained_with and trained_with != sklearn.__version__:
            log.warning(
                "model %s was trained with scikit-learn %s, this process has %s: retrain soon",
                version,
                trained_with,
                sklearn.__version__,
            )
        return model

    def approved(self) -> dict | None:
        """The approved pointer (current version and its history), or None before any approval."""
        key = approved_model_key()
        return self.storage.read_json(key) if self.storage.exists(key) else None

    def approved_for(self, period: str) -> dict | None:
        """The approval in effect for month ``period``: the latest one with ``from_period`` <= it.

        A model approved by the retrain on data up to month P scores months after P.
        Keeping every approval with its first month makes a rerun of an old month
        use the model it used the first time.
        """
        pointer = self.approved()
        if pointer is None:
            return None
        in_effect = [entry for entry in pointer["history"] if entry["from_period"] <= period]
        return in_effect[-1] if in_effect else None

    def approve(self, version: str, decision: dict, from_period: str) -> dict:
        """Make ``version`` the approved model from month ``from_period`` on; the pointer goes last.

        The version's artifact and card must exist.  An earlier approval for the
        same first month is replaced (a rerun of the same retrain).
        """
        self.card(version)
        if not self.storage.exists(model_artifact_key(version)):
            raise StorageError(f"cannot approve {version!r}: its artifact is missing; retrain")
        pointer = self.approved() or {"history": []}
        before = self.approved_for(from_period)
        entry = {
            "version": version,
            "from_period": from_period,
            "model_key": model_artifact_key(version),
            "card_key": model_card_key(version),
            "metric": decision.get("metric"),
            "value": decision.get("candidate_value"),
            "replaces": None if before is None else before["version"],
        }
        history = [item for item in pointer["history"] if item["from_period"] != from_period] + [entry]
        history.sort(key=lambda item: item["from_period"])
        current = history[-1]
        pointer = {
            "version": current["version"],
            "from_period": current["from_period"],
            "model_key": current["model_key"],
            "card_key": current["card_key"],
            "history": history,
        }
        self.storage.write_json(approved_model_key(), pointer)
        return pointer
