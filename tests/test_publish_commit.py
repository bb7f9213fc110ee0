"""The atomic publish on both backends: staging, verification, manifest, _SUCCESS, failures, reruns.

"Visible" means what the reader contract gives: :func:`read_published` (a month
counts only while its ``_SUCCESS`` names its manifest) and the files that
manifest lists.  A failure injected at any storage operation must leave the
earlier publish (verifying) or no publish at all, never a mixture.
"""

from __future__ import annotations

import hashlib
import os

import botocore.exceptions
import pytest

from tierlib.catalog import exports_prefix, exports_staging_prefix, exports_success_key
from tierlib.errors import StorageError
from tierlib.publish import ExportFile, PublishError, publish, read_published, verify_published
from tierlib.storage import Storage, open_storage

PERIOD, EARLIER = "2024-03", "2024-02"


def files(
    tag: str,
    names=(
        "channel=sms/segment=vip/members.csv",
        "channel=sms/segment=vip/holdout.csv",
        "channel=email/segment=vip/members.csv",
    ),
) -> list[ExportFile]:
    return [
        ExportFile(path=name, data=f"phone\n+86{tag}{index}\n".encode(), rows=1, role="members", format="csv")
        for index, name in enumerate(names)
    ]


HEADER = {"config_digest": "c0ffee", "model_version": "m1"}


class FailingStorage(Storage):
    """Passes everything to ``inner`` but raises StorageError at the ``fail_at``-th change (0-based).

    Changes are writes, copies and deletes (a prefix delete counts once), as a
    dropped connection or a killed worker would interrupt them.
    """

    def __init__(self, inner: Storage, fail_at: int | None) -> None:
        self.inner, self.fail_at, self.changes = inner, fail_at, 0
        self.root = inner.root

    def _change(self, what: str) -> None:
        if self.changes == self.fail_at:
            self.changes += 1
            raise StorageError(f"injected failure at change {self.fail_at} ({what})")
        self.changes += 1

    def uri(self, key):
        return self.inner.uri(key)

    def exists(self, key):
        return self.inner.exists(key)

    def list(self, prefix=""):
        return self.inner.list(prefix)

    def read_bytes(self, key):
        return self.inner.read_bytes(key)

    def local_path(self, key):
        return self.inner.local_path(key)

    def open_write(self, key):
        self._change(f"write {key}")
        return self.inner.open_write(key)

    def write_bytes(self, key, data):
        self._change(f"write {key}")
        self.inner.write_bytes(key, data)

    def delete(self, key):
        self._change(f"delete {key}")
        self.inner.delete(key)

    def delete_prefix(self, prefix):
        self._change(f"delete {prefix}")
        self.inner.delete_prefix(prefix)

    def copy(self, src_key, dst_key):
        self._change(f"copy {dst_key}")
        self.inner.copy(src_key, dst_key)


def test_publish_writes_listed_files_manifest_and_success_last(storage: Storage) -> None:
    written = []
    spy = FailingStorage(storage, None)
    original = spy._change
    spy._change = lambda what: (written.append(what), original(what))[1]
    publish(spy, PERIOD, files("a"), HEADER)
    assert written[-2:] == [
        f"write {exports_prefix(PERIOD)}manifest.json",
        f"write {exports_success_key(PERIOD)}",
    ]
    manifest = verify_published(storage, PERIOD)
    assert manifest["config_digest"] == "c0ffee" and manifest["model_version"] == "m1"
    assert [entry["path"] for entry in manifest["files"]] == sorted(file.path for file in files("a"))
    for entry, file in zip(manifest["files"], sorted(files("a"), key=lambda f: f.path), strict=True):
        data = storage.read_bytes(exports_prefix(PERIOD) + entry["path"])
        assert data == file.data and entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["rows"] == 1 and entry["bytes"] == len(data)
    assert storage.list(exports_staging_prefix(PERIOD)) == []


def test_rerun_is_byte_identical_and_touches_nothing(storage: Storage) -> None:
    publish(storage, PERIOD, files("a"), HEADER)
    before = {key: storage.read_bytes(key) for key in storage.list("exports/")}
    figures = publish(storage, PERIOD, files("a"), HEADER)
    assert figures["commit"] == "unchanged"
    assert {key: storage.read_bytes(key) for key in storage.list("exports/")} == before


def test_a_new_publish_replaces_the_month_as_a_whole(storage: Storage) -> None:
    publish(storage, PERIOD, files("a"), HEADER)
    smaller = files("b", names=("channel=sms/segment=vip/members.csv",))
    assert publish(storage, PERIOD, smaller, HEADER)["commit"] == "committed"
    manifest = verify_published(storage, PERIOD)
    assert [entry["path"] for entry in manifest["files"]] == ["channel=sms/segment=vip/members.csv"]
    assert storage.list(exports_prefix(PERIOD)) == [
        f"{exports_prefix(PERIOD)}_SUCCESS",
        f"{exports_prefix(PERIOD)}channel=sms/segment=vip/members.csv",
        f"{exports_prefix(PERIOD)}manifest.json",
    ]


def test_a_dry_run_stages_and_verifies_but_leaves_the_published_month(storage: Storage) -> None:
    publish(storage, PERIOD, files("a"), HEADER)
    before = {key: storage.read_bytes(key) for key in storage.list(exports_prefix(PERIOD))}
    assert publish(storage, PERIOD, files("b"), HEADER, commit=False)["commit"] == "staged (dry run)"
    assert {key: storage.read_bytes(key) for key in storage.list(exports_prefix(PERIOD))} == before
    staged = storage.list(exports_staging_prefix(PERIOD))
    assert len(staged) == len(files("b")) + 1 and staged[-1].endswith("manifest.json")
    assert publish(storage, PERIOD, files("b"), HEADER)["commit"] == "committed"
    assert storage.list(exports_staging_prefix(PERIOD)) == []


def test_verification_catches_tampering_and_strays(local_storage: Storage) -> None:
    publish(local_storage, PERIOD, files("a"), HEADER)
    key = exports_prefix(PERIOD) + "channel=sms/segment=vip/members.csv"
    local_storage.write_bytes(key, b"phone\n+8600000000\n")
    with pytest.raises(PublishError, match="does not match the manifest"):
        verify_published(local_storage, PERIOD)
    publish(local_storage, PERIOD, files("a"), HEADER)  # a rerun repairs it
    verify_published(local_storage, PERIOD)
    local_storage.write_bytes(exports_prefix(PERIOD) + "stray.csv", b"x")
    with pytest.raises(PublishError, match="does not list"):
        verify_published(local_storage, PERIOD)


def test_a_staged_file_that_reads_back_different_stops_the_publish(local_storage: Storage) -> None:
    publish(local_storage, PERIOD, files("a"), HEADER)

    class Corrupting(FailingStorage):
        def write_bytes(self, key, data):
            super().write_bytes(key, data[:-1] + b"X" if key.endswith("holdout.csv") else data)

    with pytest.raises(PublishError, match="read back with SHA-256"):
        publish(Corrupting(local_storage, None), PERIOD, files("b"), HEADER)
    assert read_published(local_storage, PERIOD)["files"][0]["sha256"] == files("a")[2].sha256
    verify_published(local_storage, PERIOD)


def _count_changes(storage_factory) -> int:
    storage = FailingStorage(storage_factory(), None)
    publish(storage, EARLIER, files("0"), HEADER)
    publish(storage, PERIOD, files("a"), HEADER)
    storage.changes = 0
    publish(storage, PERIOD, files("b"), HEADER, workers=1)
    return storage.changes


def test_a_failure_at_any_step_leaves_the_old_publish_or_none_and_a_rerun_completes(tmp_path) -> None:
    counter = iter(range(10_000))
    factory = lambda: open_storage(tmp_path / f"root{next(counter)}")  # noqa: E731
    total = _count_changes(factory)
    assert total >= 2 * len(files("b")) + 4
    old_manifest_sha = None
    outcomes = set()
    for fail_at in range(total):
        inner = factory()
        publish(inner, EARLIER, files("0"), HEADER)
        publish(inner, PERIOD, files("a"), HEADER)
        old_manifest_sha = inner.read_bytes(exports_success_key(PERIOD))
        with pytest.raises(StorageError, match="injected"):
            publish(FailingStorage(inner, fail_at), PERIOD, files("b"), HEADER, workers=1)
        visible = read_published(inner, PERIOD)
        if visible is None:
            outcomes.add("none")
            assert not inner.exists(exports_success_key(PERIOD))
        else:
            outcomes.add("old")
            assert inner.read_bytes(exports_success_key(PERIOD)) == old_manifest_sha
            assert {entry["sha256"] for entry in verify_published(inner, PERIOD)["files"]} == {
                file.sha256 for file in files("a")
            }
        verify_published(inner, EARLIER)  # last month is never touched
        assert publish(inner, PERIOD, files("b"), HEADER)["commit"] == "committed"
        assert {entry["sha256"] for entry in verify_published(inner, PERIOD)["files"]} == {
            file.sha256 for file in files("b")
        }
        assert inner.list(exports_staging_prefix(PERIOD)) == []
    assert outcomes == {"none", "old"}


def _fail_s3_calls(storage, operation: str, after: int) -> list[str]:
    """Make the S3 client fail every ``operation`` call after the first ``after`` ones."""
    calls: list[str] = []

    def fail(params, **_):
        calls.append(params.get("Key", ""))
        if len(calls) > after:
            raise botocore.exceptions.EndpointConnectionError(endpoint_url="http://injected")

    storage.client.meta.events.register(f"before-call.s3.{operation}", fail)
    return calls


@pytest.mark.parametrize("operation, after", [("PutObject", 2), ("CopyObject", 1)])
def test_s3_connection_lost_midway_then_rerun(s3_root, s3_endpoint, s3_session, operation, after) -> None:
    open_s3 = lambda: open_storage(s3_root, endpoint_url=s3_endpoint, boto3_session=s3_session)  # noqa: E731
    healthy = open_s3()
    publish(healthy, EARLIER, files("0"), HEADER)
    publish(healthy, PERIOD, files("a"), HEADER)
    failing = open_s3()
    calls = _fail_s3_calls(failing, operation, after)
    with pytest.raises(StorageError, match=r"cannot reach|injected"):
        publish(failing, PERIOD, files("b"), HEADER)
    assert len(calls) > after  # transfers run in parallel: every file is tried, the later ones fail
    visible = read_published(healthy, PERIOD)
    if operation == "PutObject":  # failed while staging: the earlier publish still stands
        assert {entry["sha256"] for entry in verify_published(healthy, PERIOD)["files"]} == {
            file.sha256 for file in files("a")
        }
    else:  # failed while committing: the month is not published
        assert visible is None and not healthy.exists(exports_success_key(PERIOD))
    verify_published(healthy, EARLIER)
    assert publish(open_s3(), PERIOD, files("b"), HEADER)["commit"] == "committed"
    assert {entry["sha256"] for entry in verify_published(healthy, PERIOD)["files"]} == {
        file.sha256 for file in files("b")
    }


def test_s3_large_export_goes_up_and_is_copied_in_parts(s3_root, s3_endpoint, s3_session) -> None:
    mib = 1024 * 1024
    storage = open_storage(
        s3_root,
        endpoint_url=s3_endpoint,
        boto3_session=s3_session,
        multipart_threshold=5 * mib,
        multipart_chunksize=5 * mib,
    )
    parts: list[str] = []
    storage.client.meta.events.register("before-call.s3.UploadPart", lambda **_: parts.append("upload"))
    storage.client.meta.events.register("before-call.s3.UploadPartCopy", lambda **_: parts.append("copy"))
    big = ExportFile(
        path="channel=sms/segment=all/members.csv",
        data=os.urandom(11 * mib),
        rows=1,
        role="members",
        format="csv",
    )
    publish(storage, PERIOD, [big], HEADER)
    assert parts.count("upload") == 3 and parts.count("copy") == 3
    head = storage.client.head_object(
        Bucket=storage.bucket, Key=storage.prefix + exports_prefix(PERIOD) + big.path
    )
    assert head["ETag"].strip('"').endswith("-3")
    verify_published(storage, PERIOD)
