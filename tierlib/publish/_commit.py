"""Atomic publish of a month's export files: stage, verify, commit, manifest, ``_SUCCESS`` last.

S3 cannot rename a folder, so a month's files cannot appear all at once.  What
readers get instead is a contract: a month is published when its ``_SUCCESS``
marker exists, and then exactly the files its manifest lists are there with the
listed SHA-256.  The commit keeps that contract at every instant:

1. every file is written under a staging prefix and read back; its SHA-256
   must equal the one computed before the upload;
2. the final ``_SUCCESS`` and manifest are removed (the month is now "not
   published", never "half published"), staged files are copied over, files of
   the earlier publish that the new one lacks are deleted, and every final file
   is read back and checked again;
3. the staging prefix is removed, the manifest written, and ``_SUCCESS`` last.

A failure anywhere leaves either the earlier publish untouched (failure while
staging) or a month without ``_SUCCESS`` (failure while committing); a rerun
starts by clearing the staging prefix and goes through the same steps.  A
rerun whose files are byte-identical to the published ones touches nothing.
"""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tierlib.catalog import exports_manifest_key, exports_prefix, exports_staging_prefix, exports_success_key
from tierlib.errors import StorageError, TierflowError
from tierlib.publish._files import ExportFile

MANIFEST_NAME = "manifest.json"
SUCCESS_NAME = "_SUCCESS"
MANIFEST_VERSION = 1


class PublishError(TierflowError):
    """A publish could not be completed or does not verify; the message says which file and what to do."""


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    """The manifest as stored: sorted keys, 2-space indent, UTF-8, final newline."""
    return (
        json.dumps(manifest, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    ).encode()


def build_manifest(period: str, files: list[ExportFile], header: dict[str, Any]) -> dict[str, Any]:
    """The manifest of a month: ``header`` (config digest, model version, ...) plus every file."""
    paths = [file.path for file in files]
    repeated = sorted({path for path in paths if paths.count(path) > 1})
    if repeated:
        raise PublishError(f"publish of {period} lists {repeated} more than once; this is a bug, report it")
    return {
        **header,
        "manifest_version": MANIFEST_VERSION,
        "period": period,
        "prefix": exports_prefix(period),
        "files": [file.manifest_entry() for file in sorted(files, key=lambda file: file.path)],
    }


def publish(
    storage,
    period: str,
    files: list[ExportFile],
    header: dict[str, Any],
    *,
    workers: int = 8,
    commit: bool = True,
) -> dict[str, Any]:
    """Publish ``files`` as month ``period``; returns figures (files, bytes, what was done).

    With ``commit=False`` (a dry run) the files are staged and verified but the
    month's published exports are left as they were; the staged files stay for
    inspection until the next publish of the month clears them.

    Uploads, copies and read-backs run on ``workers`` threads (S3 is bound by
    round trips, not bandwidth); each step finishes for every file before the
    next begins.  Raises PublishError if a staged or committed file does not
    read back with its checksum; StorageError (from the backend) if the storage fails.
    """
    manifest = build_manifest(period, files, header)
    encoded_manifest = manifest_bytes(manifest)
    success = manifest_bytes({"files": len(files), "manifest_sha256": _sha256(encoded_manifest)})
    final, staging = exports_prefix(period), exports_staging_prefix(period)

    def stage(file: ExportFile) -> None:
        storage.write_bytes(staging + file.path, file.data)
        _check(storage, staging + file.path, file)

    def copy(file: ExportFile) -> None:
        storage.copy(staging + file.path, final + file.path)
        _check(storage, final + file.path, file)

    storage.delete_prefix(staging)  # leftovers of a failed run must not be mistaken for this one's
    _for_each(stage, files, workers)
    if not commit:
        storage.write_bytes(staging + MANIFEST_NAME, encoded_manifest)
        return _figures(files, "staged (dry run)")

    if _already_published(storage, period, encoded_manifest, workers):
        storage.delete_prefix(staging)
        return _figures(files, "unchanged")

    storage.delete(exports_success_key(period))
    storage.delete(exports_manifest_key(period))
    _for_each(copy, files, workers)
    wanted = {final + file.path for file in files}
    for key in storage.list(final):
        if key not in wanted:
            storage.delete(key)
    storage.delete_prefix(staging)
    storage.write_bytes(exports_manifest_key(period), encoded_manifest)
    storage.write_bytes(exports_success_key(period), success)
    return _figures(files, "committed")


def _for_each(action, items: list, workers: int) -> None:
    """Run ``action`` on every item; when all have finished, raise the first failure (in item order)."""
    if workers <= 1:
        for item in items:
            action(item)
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(action, item) for item in items]
    for future in futures:
        future.result()


def read_published(storage, period: str) -> dict[str, Any] | None:
    """The manifest of a published month, or None if the month is not (completely) published.

    Only a month whose ``_SUCCESS`` names the manifest's SHA-256 counts; readers
    should take the file list from here rather than listing the prefix.
    """
    success_key = exports_success_key(period)
    if not storage.exists(success_key):
        return None
    try:
        success = json.loads(storage.read_bytes(success_key).decode("utf-8"))
        data = storage.read_bytes(exports_manifest_key(period))
    except (ValueError, UnicodeDecodeError) as error:
        raise PublishError(
            f"{storage.uri(success_key)} is not a publish marker ({error}); republish {period}"
        ) from error
    if success.get("manifest_sha256") != _sha256(data):
        raise PublishError(
            f"{storage.uri(exports_manifest_key(period))} does not match its _SUCCESS marker; "
            f"republish {period}"
        )
    return json.loads(data.decode("utf-8"))


def verify_published(storage, period: str, *, workers: int = 8) -> dict[str, Any]:
    """Recompute the SHA-256 and size of every file the month's manifest lists; return the manifest.

    Raises PublishError when the month is not published, a listed file is
    missing or differs, or the prefix holds files the manifest does not list.
    """
    manifest = read_published(storage, period)
    if manifest is None:
        raise PublishError(f"exports of {period} are not published (no _SUCCESS); run the publish stage")
    prefix = manifest["prefix"]

    def check(entry: dict) -> None:
        key = prefix + entry["path"]
        try:
            data = storage.read_bytes(key)
        except StorageError as error:
            raise PublishError(f"a file the manifest of {period} lists cannot be read: {error}") from error
        if _sha256(data) != entry["sha256"] or len(data) != entry["bytes"]:
            raise PublishError(
                f"{storage.uri(key)} does not match the manifest of {period}; republish {period}"
            )

    _for_each(check, manifest["files"], workers)
    listed = {prefix + entry["path"] for entry in manifest["files"]}
    extra = [key for key in storage.list(prefix) if key not in listed and not _is_marker(key, period)]
    if extra:
        raise PublishError(f"exports of {period} hold files the manifest does not list: {extra[:5]}")
    return manifest


def _is_marker(key: str, period: str) -> bool:
    return key in (exports_manifest_key(period), exports_success_key(period))


def _check(storage, key: str, file: ExportFile) -> None:
    data = storage.read_bytes(key)
    if _sha256(data) != file.sha256:
        raise PublishError(
            f"{storage.uri(key)} read back with SHA-256 {_sha256(data)[:12]}..., "
            f"expected {file.sha256[:12]}...; the storage altered or lost the upload: rerun the publish"
        )


def _already_published(storage, period: str, encoded_manifest: bytes, workers: int) -> bool:
    """Whether the month is published with exactly these files (so a rerun need not touch it)."""
    try:
        published = read_published(storage, period)
    except (PublishError, StorageError):
        return False
    if published is None or manifest_bytes(published) != encoded_manifest:
        return False
    try:
        verify_published(storage, period, workers=workers)
    except PublishError:
        return False
    return True


def _figures(files: list[ExportFile], action: str) -> dict[str, Any]:
    return {"files": len(files), "bytes": sum(len(file.data) for file in files), "commit": action}


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
