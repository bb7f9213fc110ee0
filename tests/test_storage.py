"""tierlib.storage: both backends pass the same behaviour tests; then what only one has."""

from __future__ import annotations

import base64
import hashlib
import os

import boto3
import numpy as np
import pandas as pd
import pytest
from botocore.awsrequest import AWSResponse
from botocore.retries.standard import ExponentialBackoff

from tierlib.errors import StorageError
from tierlib.storage import LocalStorage, S3Storage, Storage, open_storage, period_prefix
from tierlib.storage._keys import TEMP_PREFIX

KEY = "standardized/period=2026-10/channel=app/orders.parquet"


def sample_frame() -> pd.DataFrame:
    """Every dtype the stage contracts use, with nulls where the dtype allows them."""
    return pd.DataFrame(
        {
            "record_id": pd.array(["r1", None, "r3", "记录4"], dtype="string"),
            "city": pd.Series(["上海", "Berlin", None, "x"], dtype="str"),
            "consent_sms": pd.array([True, None, False, True], dtype="boolean"),
            "visits": pd.array([1, None, 3, 4], dtype="Int64"),
            "amount": [10.5, np.nan, 0.0, -1.25],
            "ordered_at": pd.to_datetime(
                ["2026-10-01 08:00:00", None, "2026-10-31 23:59:59", "2024-02-29 12:00:00"]
            ).astype("datetime64[us]"),
            "tier": pd.Categorical(["gold", "silver", "gold", "bronze"]),
            "count": np.array([1, 2, 3, 4], dtype="int32"),
            "vip": [True, False, False, True],
        }
    )


# -- the same behaviour on both backends --------------------------------------------


def test_bytes_round_trip_and_overwrite(storage: Storage) -> None:
    payload = bytes(range(256)) * 3
    storage.write_bytes("a/b/blob.bin", payload)
    assert storage.read_bytes("a/b/blob.bin") == payload
    storage.write_bytes("a/b/blob.bin", b"")
    assert storage.read_bytes("a/b/blob.bin") == b""
    assert storage.list() == ["a/b/blob.bin"]


def test_json_round_trip_writes_sorted_indented_utf8(storage: Storage) -> None:
    manifest = {"rows": np.int64(3), "channel": "微信", "files": [{"z": 1, "a": None}]}
    storage.write_json("exports/manifest.json", manifest)
    assert storage.read_json("exports/manifest.json") == {
        "channel": "微信",
        "files": [{"a": None, "z": 1}],
        "rows": 3,
    }
    expected = (
        '{\n  "channel": "微信",\n  "files": [\n    {\n      "a": null,\n      "z": 1\n    }\n  ],\n'
        '  "rows": 3\n}\n'
    )
    assert storage.read_bytes("exports/manifest.json") == expected.encode("utf-8")


@pytest.mark.parametrize(
    ("obj", "hint"),
    [({"share": float("nan")}, "NaN"), ({"when": pd.Timestamp("2026-10-01")}, "convert it")],
)
def test_json_that_cannot_be_written_names_the_key(storage: Storage, obj: object, hint: str) -> None:
    with pytest.raises(StorageError, match=hint) as raised:
        storage.write_json("bad.json", obj)
    assert storage.uri("bad.json") in str(raised.value)
    assert not storage.exists("bad.json")


def test_read_json_of_non_json_says_so(storage: Storage) -> None:
    storage.write_bytes("x.json", b"\xff{not json")
    with pytest.raises(StorageError, match="not UTF-8 JSON"):
        storage.read_json("x.json")


def test_parquet_round_trip_preserves_dtypes_and_drops_index(storage: Storage) -> None:
    frame = sample_frame().set_axis([10, 20, 30, 40])
    storage.write_parquet(KEY, frame)
    back = storage.read_parquet(KEY)
    # Partition-like folders in the key (period=, channel=) must not turn into columns.
    assert list(back.columns) == list(frame.columns)
    pd.testing.assert_frame_equal(back, frame.reset_index(drop=True), check_dtype=True, check_exact=True)
    assert isinstance(back.index, pd.RangeIndex)


def test_parquet_column_subset_and_unknown_columns(storage: Storage) -> None:
    storage.write_parquet(KEY, sample_frame())
    subset = storage.read_parquet(KEY, columns=["visits", "record_id"])
    assert list(subset.columns) == ["visits", "record_id"]
    assert subset["visits"].dtype == "Int64"
    with pytest.raises(StorageError, match=r"no column\(s\) \['oneid', 'score'\]"):
        storage.read_parquet(KEY, columns=["oneid", "visits", "score"])


def test_parquet_bytes_are_deterministic(storage: Storage) -> None:
    frame = sample_frame()
    storage.write_parquet("one.parquet", frame)
    storage.write_parquet("two.parquet", frame.copy())
    # Same rows under another index: the index is not stored, so the bytes match too.
    storage.write_parquet("three.parquet", frame.set_axis([7, 5, 3, 1]))
    first = storage.read_bytes("one.parquet")
    assert storage.read_bytes("two.parquet") == first
    assert storage.read_bytes("three.parquet") == first
    storage.write_parquet("other.parquet", frame.assign(amount=frame["amount"] + 1))
    assert storage.read_bytes("other.parquet") != first


def test_parquet_empty_frame_keeps_dtypes(storage: Storage) -> None:
    # Known limit: an empty categorical comes back without its categories (Parquet
    # stores them only with data), so contract columns use the string dtype.
    empty = sample_frame().drop(columns="tier").iloc[0:0]
    storage.write_parquet("empty.parquet", empty)
    back = storage.read_parquet("empty.parquet")
    assert len(back) == 0
    assert back.dtypes.to_dict() == empty.dtypes.to_dict()


def test_parquet_refuses_unconvertible_frames(storage: Storage) -> None:
    mixed = pd.DataFrame({"amount": pd.Series([1, "two", 3.0], dtype=object)})
    with pytest.raises(StorageError, match="amount"):
        storage.write_parquet(KEY, mixed)
    with pytest.raises(StorageError, match="pass a pandas DataFrame"):
        storage.write_parquet(KEY, {"amount": [1]})  # type: ignore[arg-type]
    assert storage.list() == []


def test_read_parquet_of_non_parquet_says_so(storage: Storage) -> None:
    storage.write_bytes("not.parquet", b"id,amount\n1,2\n")
    with pytest.raises(StorageError, match="not a readable Parquet file"):
        storage.read_parquet("not.parquet")


def test_list_is_sorted_and_filters_by_string_prefix(storage: Storage) -> None:
    keys = [
        "tiers/period=2026-10/tiers.parquet",
        "tiers/period=2026-09/tiers.parquet",
        "tiers/period=2026-10/_SUCCESS",
        "tiersx/a.json",
        "identity/period=2026-10/map.parquet",
    ]
    for key in keys:
        storage.write_bytes(key, b"x")
    assert storage.list() == sorted(keys)
    assert storage.list("tiers/") == [
        "tiers/period=2026-09/tiers.parquet",
        "tiers/period=2026-10/_SUCCESS",
        "tiers/period=2026-10/tiers.parquet",
    ]
    # A prefix is a string prefix, as in S3: "tiers" also matches "tiersx/".
    assert storage.list("tiers") == sorted(k for k in keys if k.startswith("tiers"))
    assert storage.list("tiers/period=2026-1") == [
        "tiers/period=2026-10/_SUCCESS",
        "tiers/period=2026-10/tiers.parquet",
    ]
    assert storage.list("nothing/") == []


def test_exists_and_delete(storage: Storage) -> None:
    storage.write_bytes("a/b.txt", b"x")
    assert storage.exists("a/b.txt")
    assert not storage.exists("a/c.txt")
    assert not storage.exists("a")  # a folder-like prefix is not an object
    storage.delete("a/b.txt")
    assert not storage.exists("a/b.txt")
    storage.delete("a/b.txt")  # deleting what is gone is fine: reruns delete freely
    assert storage.list() == []


def test_delete_prefix_removes_only_that_month(storage: Storage) -> None:
    for period in ("2026-09", "2026-10"):
        for name in ("a.parquet", "b/c.csv"):
            storage.write_bytes(period_prefix("exports", period) + name, b"x")
    storage.write_bytes("exports_archive/a.parquet", b"x")
    storage.delete_prefix(period_prefix("exports", "2026-10"))
    assert storage.list() == [
        "exports/period=2026-09/a.parquet",
        "exports/period=2026-09/b/c.csv",
        "exports_archive/a.parquet",
    ]
    storage.delete_prefix("exports/period=2030-01/")  # nothing there: no error
    with pytest.raises(StorageError, match="refusing to delete everything"):
        storage.delete_prefix("")
    assert len(storage.list()) == 3


def test_copy(storage: Storage) -> None:
    storage.write_bytes("staging/run1/a.csv", b"id\n1\n")
    storage.write_bytes("exports/a.csv", b"old")
    storage.copy("staging/run1/a.csv", "exports/a.csv")
    assert storage.read_bytes("exports/a.csv") == b"id\n1\n"
    assert storage.read_bytes("staging/run1/a.csv") == b"id\n1\n"
    with pytest.raises(StorageError, match="does not exist") as raised:
        storage.copy("staging/run1/missing.csv", "exports/b.csv")
    assert storage.uri("staging/run1/missing.csv") in str(raised.value)
    assert not storage.exists("exports/b.csv")


BAD_KEYS = [
    ("/etc/passwd", "absolute"),
    ("a/../../b", r"'\.\.'"),
    ("..", r"'\.\.'"),
    ("./a", r"'\.'"),
    ("a//b", "empty part"),
    ("a/b/", "ends with '/'"),
    ("", "empty"),
    ("s3://bucket/a", "full location"),
    ("a\\b", "separate the parts"),
    (f"a/{TEMP_PREFIX}x", "reserved"),
    (3, "must be a str"),
]


@pytest.mark.parametrize(("key", "reason"), BAD_KEYS)
def test_bad_keys_are_refused_by_every_method(storage: Storage, key: object, reason: str) -> None:
    calls = [
        lambda: storage.uri(key),
        lambda: storage.exists(key),
        lambda: storage.read_bytes(key),
        lambda: storage.write_bytes(key, b"x"),
        lambda: storage.write_json(key, {}),
        lambda: storage.write_parquet(key, sample_frame()),
        lambda: storage.read_parquet(key),
        lambda: storage.delete(key),
        lambda: storage.copy("a.txt", key),
        lambda: storage.local_path(key),
    ]
    for call in calls:
        with pytest.raises(StorageError, match=reason):
            call()


@pytest.mark.parametrize("prefix", ["/abs/", "../", "a/../", "a//", "s3://x/"])
def test_bad_prefixes_are_refused(storage: Storage, prefix: str) -> None:
    with pytest.raises(StorageError):
        storage.list(prefix)
    with pytest.raises(StorageError):
        storage.delete_prefix(prefix)


@pytest.mark.parametrize("read", ["read_bytes", "read_json", "read_parquet"])
def test_missing_key_names_location_and_what_to_do(storage: Storage, read: str) -> None:
    key = "features/period=2026-10/features.parquet"
    with pytest.raises(StorageError) as raised:
        getattr(storage, read)(key)
    message = str(raised.value)
    assert storage.uri(key) in message
    assert "run the earlier stage" in message


def test_uri_and_root(storage: Storage) -> None:
    assert storage.uri(KEY).startswith(storage.root + "/")
    assert storage.uri(KEY).endswith("/" + KEY)
    assert storage.root in repr(storage)


def test_failed_open_write_leaves_previous_object(storage: Storage) -> None:
    storage.write_bytes("tiers.csv", b"previous")

    class Interrupted(Exception):
        pass

    with pytest.raises(Interrupted), storage.open_write("tiers.csv") as file:
        file.write(b"half of the new")
        raise Interrupted
    assert storage.read_bytes("tiers.csv") == b"previous"
    with pytest.raises(Interrupted), storage.open_write("new.csv") as file:
        file.write(b"half")
        raise Interrupted
    assert storage.list() == ["tiers.csv"]
    with storage.open_write("new.csv") as file:
        file.write(b"id\n")
        file.write(b"1\n")
    assert storage.read_bytes("new.csv") == b"id\n1\n"


def test_period_prefix() -> None:
    assert period_prefix("identity", "2026-10") == "identity/period=2026-10/"
    assert period_prefix("exports/", "2025-01") == "exports/period=2025-01/"
    for bad in ("2026-13", "2026-1", "202610", "2026-10-01", "26-10", None):
        with pytest.raises(StorageError, match="YYYY-MM"):
            period_prefix("identity", bad)  # type: ignore[arg-type]
    for bad_area in ("", "/abs", "../up"):
        with pytest.raises(StorageError):
            period_prefix(bad_area, "2026-10")


def test_open_storage_refuses_unknown_locations(tmp_path) -> None:
    with pytest.raises(StorageError, match="gs://"):
        open_storage("gs://bucket/prefix")
    with pytest.raises(StorageError, match="names no bucket"):
        open_storage("s3://")
    with pytest.raises(StorageError, match="bad prefix"):
        open_storage("s3://bucket/a/../b")
    with pytest.raises(StorageError, match="empty"):
        open_storage("  ")
    with pytest.raises(StorageError, match="S3 roots only"):
        open_storage(tmp_path, multipart_threshold=10)
    assert open_storage(f"file://{tmp_path}").root == str(tmp_path)


# -- local backend ------------------------------------------------------------------------


def test_local_paths(local_storage: LocalStorage, tmp_path) -> None:
    assert local_storage.root == str(tmp_path / "storage")
    local_storage.write_bytes("a/b.txt", b"x")
    path = local_storage.local_path("a/b.txt")
    assert path == tmp_path / "storage" / "a" / "b.txt"
    assert path.read_bytes() == b"x"
    assert local_storage.uri("a/b.txt") == str(path)


def test_local_relative_root_is_made_absolute(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    storage = open_storage("data/root")
    storage.write_bytes("k.txt", b"x")
    assert storage.root == str(tmp_path / "data" / "root")
    assert (tmp_path / "data" / "root" / "k.txt").read_bytes() == b"x"


def test_local_reader_sees_old_file_until_the_rename(
    local_storage: LocalStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    local_storage.write_bytes("tiers/t.parquet", b"old")
    seen = {}
    real_replace = os.replace

    def observing_replace(src, dst) -> None:
        # At this point the new bytes are fully written and fsynced to the temp file.
        seen["target"] = local_storage.read_bytes("tiers/t.parquet")
        seen["listed"] = local_storage.list()
        seen["on_disk"] = sorted(os.listdir(os.path.dirname(dst)))
        with open(src, "rb") as temp:
            seen["temp_content"] = temp.read()
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", observing_replace)
    local_storage.write_parquet("tiers/t.parquet", sample_frame())
    assert seen["target"] == b"old"
    assert seen["listed"] == ["tiers/t.parquet"]
    assert len(seen["on_disk"]) == 2 and seen["on_disk"][0].startswith(TEMP_PREFIX)
    assert seen["temp_content"] == local_storage.read_bytes("tiers/t.parquet")
    assert os.listdir(local_storage.local_path("tiers")) == ["t.parquet"]


@pytest.mark.parametrize("failing", ["fsync", "replace"])
def test_local_failure_mid_write_keeps_previous_and_leaves_no_temp(
    local_storage: LocalStorage, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    local_storage.write_json("m/manifest.json", {"version": 1})

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, failing, broken)
    with pytest.raises(StorageError, match=r"No space left.*previous file, if any, is unchanged"):
        local_storage.write_json("m/manifest.json", {"version": 2})
    monkeypatch.undo()
    assert local_storage.read_json("m/manifest.json") == {"version": 1}
    assert os.listdir(local_storage.local_path("m")) == ["manifest.json"]


def test_local_list_hides_temp_files_left_by_a_crash(local_storage: LocalStorage) -> None:
    local_storage.write_bytes("a/b.txt", b"x")
    folder = local_storage.local_path("a")
    (folder / f"{TEMP_PREFIX}b.txt.dead").write_bytes(b"half")
    assert local_storage.list() == ["a/b.txt"]
    assert local_storage.list("a/") == ["a/b.txt"]


def test_local_delete_removes_emptied_folders(local_storage: LocalStorage, tmp_path) -> None:
    local_storage.write_bytes("x/period=2026-10/a/b.txt", b"1")
    local_storage.write_bytes("x/keep.txt", b"1")
    local_storage.delete_prefix("x/period=2026-10/")
    assert not (tmp_path / "storage" / "x" / "period=2026-10").exists()
    assert (tmp_path / "storage").exists()
    assert local_storage.list() == ["x/keep.txt"]


def test_local_file_in_the_way_of_a_folder(local_storage: LocalStorage) -> None:
    local_storage.write_bytes("a", b"x")
    with pytest.raises(StorageError, match="a file stands where a folder"):
        local_storage.write_bytes("a/b", b"y")


def test_local_list_of_missing_root_is_empty(tmp_path) -> None:
    assert open_storage(tmp_path / "never-written").list() == []


# -- S3 backend --------------------------------------------------------------------------


def canned_response(status: int, code: str):
    """A before-send handler result: botocore treats it as the server's answer."""

    class Body:
        def stream(self, **_):
            yield f"<Error><Code>{code}</Code><Message>injected</Message></Error>".encode()

    return AWSResponse("http://injected", status, {"Content-Type": "application/xml"}, Body())


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries still happen, without the jittered sleep between them."""
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0)


def test_s3_local_path_is_none_and_uri_is_s3(s3_storage: S3Storage, s3_root: str) -> None:
    assert s3_storage.root == s3_root
    assert s3_storage.local_path("a/b.txt") is None
    assert s3_storage.uri("a/b.txt") == f"{s3_root}/a/b.txt"


def test_s3_root_at_bucket_top(s3_bucket: str, s3_endpoint: str, s3_session) -> None:
    storage = open_storage(f"s3://{s3_bucket}/", endpoint_url=s3_endpoint, boto3_session=s3_session)
    assert storage.root == f"s3://{s3_bucket}"
    assert storage.uri("k") == f"s3://{s3_bucket}/k"


def test_s3_client_retries_in_standard_mode(s3_storage: S3Storage) -> None:
    # max_attempts 10 are retries; botocore counts the first try too.
    assert s3_storage.client.meta.config.retries == {"mode": "standard", "total_max_attempts": 11}


def test_s3_transient_errors_are_retried(s3_storage: S3Storage, no_backoff) -> None:
    calls = []

    def flaky(request, **_):
        calls.append(request.url)
        return canned_response(503, "SlowDown") if len(calls) <= 2 else None

    s3_storage.client.meta.events.register("before-send.s3.PutObject", flaky)
    s3_storage.write_bytes("a.txt", b"made it")
    assert len(calls) == 3
    assert s3_storage.read_bytes("a.txt") == b"made it"


def test_s3_upload_carries_a_verified_checksum(s3_storage: S3Storage) -> None:
    data = b"member,tier\n1,gold\n"
    s3_storage.write_bytes("exports/a.csv", data)
    head = s3_storage.client.head_object(
        Bucket=s3_storage.bucket, Key=s3_storage.prefix + "exports/a.csv", ChecksumMode="ENABLED"
    )
    assert head["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(data).digest()).decode()


def test_s3_large_objects_go_up_in_parts(s3_root: str, s3_endpoint: str, s3_session) -> None:
    mib = 1024 * 1024
    storage = open_storage(
        s3_root,
        endpoint_url=s3_endpoint,
        boto3_session=s3_session,
        multipart_threshold=mib,
        multipart_chunksize=5 * mib,
    )
    parts = []
    storage.client.meta.events.register("before-send.s3.UploadPart", lambda request, **_: parts.append(1))
    data = np.random.default_rng(7).bytes(6 * mib)
    storage.write_bytes("big.bin", data)
    head = storage.client.head_object(
        Bucket=storage.bucket, Key=storage.prefix + "big.bin", ChecksumMode="ENABLED"
    )
    assert head["ETag"].strip('"').endswith("-2")  # a multipart ETag counts its parts
    assert "ChecksumSHA256" in head
    assert len(parts) == 2
    assert storage.read_bytes("big.bin") == data
    # A copy above the threshold is a multipart copy; the bytes must survive it.
    copied_parts = []
    storage.client.meta.events.register(
        "before-send.s3.UploadPartCopy", lambda request, **_: copied_parts.append(1)
    )
    storage.copy("big.bin", "copied.bin")
    assert len(copied_parts) == 2
    assert storage.read_bytes("copied.bin") == data
    # open_write spools (to disk past the threshold) into the same managed upload.
    with storage.open_write("big2.bin") as file:
        file.write(data[:mib])
        file.write(data[mib : 2 * mib])
    assert len(parts) == 3
    head = storage.client.head_object(Bucket=storage.bucket, Key=storage.prefix + "big2.bin")
    assert head["ETag"].strip('"').endswith("-1")
    assert storage.read_bytes("big2.bin") == data[: 2 * mib]


def test_s3_failed_multipart_leaves_previous_object_and_no_upload(
    s3_root: str, s3_endpoint: str, s3_session, no_backoff
) -> None:
    mib = 1024 * 1024
    storage = open_storage(
        s3_root,
        endpoint_url=s3_endpoint,
        boto3_session=s3_session,
        multipart_threshold=mib,
        multipart_chunksize=5 * mib,
    )
    storage.write_bytes("big.bin", b"previous")

    def fail_second_part(request, **_):
        return canned_response(403, "AccessDenied") if "partNumber=2" in request.url else None

    storage.client.meta.events.register("before-send.s3.UploadPart", fail_second_part)
    with pytest.raises(StorageError, match=r"could not write .*big\.bin"):
        storage.write_bytes("big.bin", bytes(6 * mib))
    assert storage.read_bytes("big.bin") == b"previous"
    uploads = storage.client.list_multipart_uploads(Bucket=storage.bucket, Prefix=storage.prefix)
    assert uploads.get("Uploads", []) == []  # aborted, so no parts linger and bill


def test_s3_list_follows_pages(s3_root: str, s3_endpoint: str, s3_session) -> None:
    storage = open_storage(s3_root, endpoint_url=s3_endpoint, boto3_session=s3_session, list_page_size=2)
    pages = []
    storage.client.meta.events.register("before-send.s3.ListObjectsV2", lambda request, **_: pages.append(1))
    keys = [f"k/{i:02d}" for i in range(5)]
    for key in reversed(keys):
        storage.write_bytes(key, b"x")
    assert storage.list("k/") == keys
    assert len(pages) == 3


def test_s3_missing_bucket_says_so(s3_endpoint: str, s3_session) -> None:
    storage = open_storage("s3://no-such-bucket-here/x", endpoint_url=s3_endpoint, boto3_session=s3_session)
    with pytest.raises(StorageError, match="bucket 'no-such-bucket-here' does not exist"):
        storage.write_bytes("a", b"x")
    with pytest.raises(StorageError, match="bucket 'no-such-bucket-here' does not exist"):
        storage.list()


def test_s3_unreachable_endpoint_is_retried_then_says_so(
    s3_session: boto3.session.Session, no_backoff
) -> None:
    # Nothing listens on port 9 of loopback, so every attempt is refused at once.
    storage = open_storage("s3://bucket/x", endpoint_url="http://127.0.0.1:9", boto3_session=s3_session)
    attempts = []
    storage.client.meta.events.register("before-send.s3.HeadObject", lambda request, **_: attempts.append(1))
    with pytest.raises(StorageError, match=r"cannot reach http://127\.0\.0\.1:9"):
        storage.exists("a")
    assert len(attempts) == 11


def test_s3_endpoint_from_environment(
    s3_root: str, s3_endpoint: str, s3_session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_endpoint)
    storage = open_storage(s3_root, boto3_session=s3_session)
    assert storage.endpoint_url == s3_endpoint
    storage.write_bytes("a", b"x")
    assert storage.read_bytes("a") == b"x"


def test_s3_uses_the_session_it_is_given(
    s3_root: str, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    without = open_storage(s3_root, endpoint_url=s3_endpoint)
    with pytest.raises(StorageError, match=r"no valid credentials.*boto3_session"):
        without.write_bytes("a", b"x")
    # What an Airflow AWS connection hands over: a session holding the credentials.
    session = boto3.session.Session(aws_access_key_id="from-connection", aws_secret_access_key="testing")
    signed_by = []
    session.events.register(
        "before-send.s3.PutObject", lambda request, **_: signed_by.append(request.headers["Authorization"])
    )
    storage = open_storage(s3_root, endpoint_url=s3_endpoint, boto3_session=session)
    storage.write_bytes("a", b"x")
    assert storage.read_bytes("a") == b"x"
    assert "Credential=from-connection/" in signed_by[0].decode()


def test_s3_and_local_write_identical_parquet(local_storage: LocalStorage, s3_storage: S3Storage) -> None:
    frame = sample_frame()
    local_storage.write_parquet(KEY, frame)
    s3_storage.write_parquet(KEY, frame)
    assert local_storage.read_bytes(KEY) == s3_storage.read_bytes(KEY)
