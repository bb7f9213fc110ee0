"""Versioned model artifacts in storage, and the approved pointer.

The one module of ``tierlib.model`` that does IO, through a Storage handed in.
Layout (keys from :mod:`tierlib.catalog`)::

    models/versions/<version>/model.skops  the fitted TieringModel (skops.io, deflated)
    models/versions/<version>/card.json    the model card, with the artifact's full SHA-256
    models/approved.json                   current version and every approval with its first month
                                           and the artifact's SHA-256: written last, one small object

A version name is the data month plus a hash of the model's bytes, so
retraining the same month on the same data and settings gives the same
version and overwrites it with identical bytes.  Readers find a version only
through the pointer, and the pointer is replaced atomically after the
artifact and card are in place, so a reader never sees a half-written model.

Loading checks the artifact's SHA-256 against the pointer and the card before
deserializing anything, and deserializes with skops.io, which builds only the
types it is told to trust (``TRUSTED_TYPES`` beside scikit-learn's and NumPy's
own): an artifact written by someone else cannot run code on the worker that
loads it (docs/security.md).
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
import zipfile

import sklearn

from tierlib.catalog import approved_model_key, model_artifact_key, model_card_key, model_versions_prefix
from tierlib.errors import StorageError
from tierlib.model._estimator import TieringModel

log = logging.getLogger("tierlib")

TRUSTED_TYPES = (
    "tierlib.model._estimator.TieringModel",
    "tierlib.model._settings.BoostingParams",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.utils.validation.check_array",
    "functools.partial",
)
"""Types a model artifact may hold beyond those skops trusts by default (scikit-learn estimators,
NumPy and SciPy containers).  ``functools.partial`` wraps a trusted function only: skops loads the
function it wraps through the same check."""


class ModelIntegrityError(StorageError):
    """A stored artifact does not match its recorded SHA-256, or holds types that are not trusted."""


def version_name(period: str, model_bytes: bytes) -> str:
    return f"{period}-{hashlib.sha256(model_bytes).hexdigest()[:10]}"


_OBJECT_ID = re.compile(r'("__id__": )(\d+)|("file": ")(\d+)(\.npy")')


def model_bytes(model: TieringModel) -> bytes:
    """The artifact's bytes: skops.io, deflated, made canonical so the same model gives the same bytes.

    skops names array files and memo entries by ``id()`` and stamps each zip entry with the
    time; both are renumbered here (in order of first use) and the time fixed, so a rerun of the
    same retrain gives the same version.
    """
    import skops.io

    packed = zipfile.ZipFile(io.BytesIO(skops.io.dumps(model, compression=zipfile.ZIP_DEFLATED)))
    schema = packed.read("schema.json").decode("utf-8")
    numbers: dict[str, str] = {}

    def renumber(match: re.Match) -> str:
        head, ident = (match.group(1), match.group(2)) if match.group(1) else (match.group(3), match.group(4))
        number = numbers.setdefault(ident, str(len(numbers) + 1))
        return head + number + (match.group(5) or "")

    schema = _OBJECT_ID.sub(renumber, schema)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as canonical:
        entries = {"schema.json": schema.encode("utf-8")}
        for name in packed.namelist():
            if name != "schema.json":
                stem, _, suffix = name.partition(".")
                entries[f"{numbers.get(stem, stem)}.{suffix}"] = packed.read(name)
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            canonical.writestr(info, entries[name])
    return out.getvalue()


class ModelRegistry:
    def __init__(self, storage):
        self.storage = storage

    def save(self, model: TieringModel, card: dict, period: str) -> str:
        """Store a fitted model and its card as a new version; return the version name."""
        data = model_bytes(model)
        version = version_name(period, data)
        self.storage.write_bytes(model_artifact_key(version), data)
        record = {**card, "version": version, "artifact_sha256": hashlib.sha256(data).hexdigest()}
        self.storage.write_json(model_card_key(version), record)
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

    def load(self, version: str, sha256: str | None, *, recorded_in: str | None = None) -> TieringModel:
        """The model of ``version``, after checking its bytes against ``sha256``.

        ``sha256`` is what the approved pointer (``recorded_in``, default its key) records; the
        card must record the same.  A missing or different hash, or a type outside the trusted
        ones, refuses the artifact before anything in it is deserialized.
        """
        import skops.io

        key = model_artifact_key(version)
        where = recorded_in or self.storage.uri(approved_model_key())
        if not sha256:
            raise ModelIntegrityError(
                f"{where} records no artifact_sha256 for model {version!r}, so "
                f"{self.storage.uri(key)} cannot be verified and is not loaded: retrain "
                "(python -m tierlib retrain) to store and approve a verified version"
            )
        if not self.storage.exists(key):
            raise StorageError(
                f"model version {version!r} has no artifact at {self.storage.uri(key)}; "
                "retrain (python -m tierlib retrain) or approve one of the stored versions: "
                f"{self.versions()}"
            )
        data = self.storage.read_bytes(key)
        actual = hashlib.sha256(data).hexdigest()
        card = self.card(version)
        for recorded, place in (
            (sha256, where),
            (card.get("artifact_sha256"), self.storage.uri(model_card_key(version))),
        ):
            if recorded != actual:
                raise ModelIntegrityError(
                    f"{self.storage.uri(key)} has SHA-256 {actual}, but {place} records {recorded}: the "
                    "artifact changed after it was stored and is not loaded. Restore it, or retrain "
                    "(python -m tierlib retrain); then find out who could write models/"
                )
        try:
            found = skops.io.get_untrusted_types(data=data)
        except Exception as error:  # a corrupt zip or schema: refuse, naming the key
            raise ModelIntegrityError(
                f"{self.storage.uri(key)} is not a skops artifact ({error}); retrain"
            ) from error
        untrusted = sorted(set(found) - set(TRUSTED_TYPES))
        if untrusted:
            raise ModelIntegrityError(
                f"{self.storage.uri(key)} holds types Tierflow does not trust ({', '.join(untrusted)}); "
                "it is not loaded. Retrain with this version of Tierflow"
            )
        model = skops.io.loads(data, trusted=list(found))
        if not isinstance(model, TieringModel):
            raise ModelIntegrityError(
                f"{self.storage.uri(key)} does not hold a TieringModel; retrain to replace it"
            )
        trained_with = card.get("code_version", {}).get("scikit_learn")
        if trained_with and trained_with != sklearn.__version__:
            log.warning(
                "model %s was trained with scikit-learn %s, this process has %s: retrain soon",
                version,
                trained_with,
                sklearn.__version__,
            )
        return model

    def load_approved(self, entry: dict) -> TieringModel:
        """The model of an approval entry (from :meth:`approved_for`), verified against its hash."""
        return self.load(entry["version"], entry.get("artifact_sha256"))

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
        card = self.card(version)
        key = model_artifact_key(version)
        if not self.storage.exists(key):
            raise StorageError(f"cannot approve {version!r}: its artifact is missing; retrain")
        sha256 = hashlib.sha256(self.storage.read_bytes(key)).hexdigest()
        if card.get("artifact_sha256") != sha256:
            raise ModelIntegrityError(
                f"cannot approve {version!r}: {self.storage.uri(key)} has SHA-256 {sha256}, but "
                f"{self.storage.uri(model_card_key(version))} records {card.get('artifact_sha256')}; retrain"
            )
        pointer = self.approved() or {"history": []}
        before = self.approved_for(from_period)
        entry = {
            "version": version,
            "from_period": from_period,
            "model_key": model_artifact_key(version),
            "card_key": model_card_key(version),
            "artifact_sha256": sha256,
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
            "artifact_sha256": current.get("artifact_sha256"),
            "history": history,
        }
        self.storage.write_json(approved_model_key(), pointer)
        return pointer
