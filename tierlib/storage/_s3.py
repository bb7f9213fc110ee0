"""Storage under an S3 prefix through boto3: MinIO in docker-compose, any S3 endpoint in production.

Credentials never come from here: boto3 finds them in the environment, or the
caller hands over a session (DAG tasks: from the connection named by ``storage.aws_conn_id``).
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

import boto3
import boto3.exceptions
import botocore.exceptions
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

from tierlib.errors import StorageError
from tierlib.storage._base import Storage, _check_bytes
from tierlib.storage._keys import missing_message, validate_key, validate_prefix

MiB = 1024 * 1024
DEFAULT_MULTIPART_THRESHOLD = 64 * MiB
DEFAULT_MULTIPART_CHUNKSIZE = 16 * MiB
RETRIES = {"mode": "standard", "max_attempts": 10}
"""botocore retry policy: standard mode backs off on throttling, 5xx and dropped connections."""

_MISSING_CODES = {"404", "NoSuchKey", "NotFound"}
_ACCESS_CODES = {"403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken"}
_DELETE_BATCH = 1000  # the most keys one DeleteObjects call takes
_S3_ERRORS = (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError, boto3.exceptions.Boto3Error)


class S3Storage(Storage):
    """Objects are S3 objects under ``s3://bucket/prefix``.

    A PUT or a completed multipart upload becomes visible whole, which is what
    makes writes atomic here.  Uploads carry a checksum the server verifies
    (``checksum_algorithm``; None for endpoints without flexible checksums),
    and downloads verify it back.  Objects above ``multipart_threshold`` go up
    in parts of ``multipart_chunksize`` (S3 needs parts of at least 5 MiB).
    """

    def __init__(
        self,
        root: str,
        *,
        endpoint_url: str | None = None,
        region_name: str | None = None,
        boto3_session: boto3.session.Session | None = None,
        botocore_config: Config | None = None,
        multipart_threshold: int = DEFAULT_MULTIPART_THRESHOLD,
        multipart_chunksize: int = DEFAULT_MULTIPART_CHUNKSIZE,
        checksum_algorithm: str | None = "SHA256",
        list_page_size: int = 1000,
    ) -> None:
        self.bucket, self.prefix = _parse_root(root)
        self.root = f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        session = boto3_session if boto3_session is not None else boto3.session.Session()
        config = Config(retries=dict(RETRIES))
        if botocore_config is not None:
            # The connection's own settings (proxies, timeouts, retries, addressing) win over ours.
            config = config.merge(botocore_config)
        try:
            # endpoint_url=None lets boto3 take AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL or AWS's own.
            self.client = session.client(
                "s3", endpoint_url=endpoint_url, region_name=region_name, config=config
            )
        except (botocore.exceptions.BotoCoreError, ValueError) as error:
            raise StorageError(f"cannot set up an S3 client for {self.root}: {error}") from error
        self.transfer_config = TransferConfig(
            multipart_threshold=multipart_threshold, multipart_chunksize=multipart_chunksize
        )
        self._upload_args = {"ChecksumAlgorithm": checksum_algorithm} if checksum_algorithm else {}
        self._spool_size = multipart_threshold
        self._list_page_size = list_page_size

    @property
    def endpoint_url(self) -> str:
        return self.client.meta.endpoint_url

    def __repr__(self) -> str:
        return f"S3Storage({self.root!r}, endpoint_url={self.endpoint_url!r})"

    def _object_key(self, key: str) -> str:
        return self.prefix + validate_key(key)

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._object_key(key)}"

    def local_path(self, key: str) -> None:
        validate_key(key)
        return None

    def exists(self, key: str) -> bool:
        uri = self.uri(key)
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._object_key(key))
        except botocore.exceptions.ClientError as error:
            if _code(error) in _MISSING_CODES:
                return False
            raise self._error(error, uri, "check") from error
        except botocore.exceptions.BotoCoreError as error:
            raise self._error(error, uri, "check") from error
        return True

    def list(self, prefix: str = "") -> list[str]:
        full_prefix = self.prefix + validate_prefix(prefix)
        paginator = self.client.get_paginator("list_objects_v2")
        keys = []
        with self._errors(f"s3://{self.bucket}/{full_prefix}", "list"):
            pages = paginator.paginate(
                Bucket=self.bucket, Prefix=full_prefix, PaginationConfig={"PageSize": self._list_page_size}
            )
            for page in pages:
                for entry in page.get("Contents", []):
                    key = entry["Key"][len(self.prefix) :]
                    # Zero-byte 'folder' markers that consoles create are not objects of ours.
                    if not key.endswith("/"):
                        keys.append(key)
        return sorted(keys)

    def read_bytes(self, key: str) -> bytes:
        with self._errors(self.uri(key), "read"):
            response = self.client.get_object(
                Bucket=self.bucket, Key=self._object_key(key), ChecksumMode="ENABLED"
            )
            return response["Body"].read()

    def write_bytes(self, key: str, data: bytes) -> None:
        _check_bytes(key, data)
        self._upload(key, io.BytesIO(data))

    @contextmanager
    def open_write(self, key: str) -> Iterator[IO[bytes]]:
        validate_key(key)
        # Small objects stay in memory; big ones spill to a temp file before the upload.
        with tempfile.SpooledTemporaryFile(max_size=self._spool_size) as spool:
            yield spool
            spool.seek(0)
            self._upload(key, spool)

    def _upload(self, key: str, fileobj: IO[bytes]) -> None:
        with self._errors(self.uri(key), "write"):
            self.client.upload_fileobj(
                fileobj,
                self.bucket,
                self._object_key(key),
                ExtraArgs=dict(self._upload_args),
                Config=self.transfer_config,
            )

    def delete(self, key: str) -> None:
        with self._errors(self.uri(key), "delete"):
            self.client.delete_object(Bucket=self.bucket, Key=self._object_key(key))

    def _delete_keys(self, prefix: str, keys: list[str]) -> None:
        where = f"s3://{self.bucket}/{self.prefix}{prefix}"
        for start in range(0, len(keys), _DELETE_BATCH):
            batch = keys[start : start + _DELETE_BATCH]
            with self._errors(where, "delete"):
                response = self.client.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": self.prefix + key} for key in batch], "Quiet": True},
                )
            failures = response.get("Errors", [])
            if failures:
                shown = ", ".join(f"{item['Key']} ({item.get('Code')})" for item in failures[:5])
                raise StorageError(
                    f"could not delete {len(failures)} object(s) under {where}: {shown}; "
                    "check the credentials' delete permission and retry"
                )

    def copy(self, src_key: str, dst_key: str) -> None:
        src_uri, dst_object = self.uri(src_key), self._object_key(dst_key)
        try:
            # The managed copy goes multipart above the threshold (CopyObject stops at 5 GB).
            self.client.copy(
                {"Bucket": self.bucket, "Key": self._object_key(src_key)},
                self.bucket,
                dst_object,
                ExtraArgs=dict(self._upload_args),
                Config=self.transfer_config,
            )
        except botocore.exceptions.ClientError as error:
            about = src_uri if _code(error) in _MISSING_CODES else self.uri(dst_key)
            raise self._error(error, about, "copy") from error
        except _S3_ERRORS as error:
            raise self._error(error, self.uri(dst_key), "copy") from error

    # -- errors ----------------------------------------------------------------------------

    @contextmanager
    def _errors(self, uri: str, action: str) -> Iterator[None]:
        try:
            yield
        except _S3_ERRORS as error:
            raise self._error(error, uri, action) from error

    def _error(self, error: Exception, uri: str, action: str) -> StorageError:
        """A StorageError that says what went wrong with ``uri`` and what to do about it."""
        code = _code(error)
        if code in _MISSING_CODES:
            return StorageError(missing_message(uri))
        if code == "NoSuchBucket":
            return StorageError(
                f"could not {action} {uri}: bucket {self.bucket!r} does not exist at {self.endpoint_url}; "
                "create it or fix the storage root"
            )
        if code in _ACCESS_CODES or isinstance(error, botocore.exceptions.NoCredentialsError):
            return StorageError(
                f"could not {action} {uri}: access denied or no valid credentials ({code or error}); "
                "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) or pass boto3_session; "
                "DAG tasks take them from the Airflow connection named in storage.aws_conn_id"
            )
        if isinstance(error, botocore.exceptions.EndpointConnectionError):
            return StorageError(
                f"could not {action} {uri}: cannot reach {self.endpoint_url}; "
                "check endpoint_url or AWS_ENDPOINT_URL_S3 and that the server is up"
            )
        return StorageError(f"could not {action} {uri} at {self.endpoint_url}: {error}")


def _code(error: Exception) -> str:
    if isinstance(error, botocore.exceptions.ClientError):
        return str(error.response.get("Error", {}).get("Code", ""))
    # boto3 wraps some upload failures; the code is then only in the text.
    cause = error.__cause__ or error.__context__
    return _code(cause) if isinstance(cause, botocore.exceptions.ClientError) else ""


def _parse_root(root: str) -> tuple[str, str]:
    """``s3://bucket/a/b`` -> ("bucket", "a/b/"); ``s3://bucket`` -> ("bucket", "")."""
    rest = root[len("s3://") :] if root.startswith("s3://") else None
    bucket, _, prefix = (rest or "").partition("/")
    if not bucket:
        raise StorageError(f"S3 storage root {root!r} names no bucket: write it as s3://bucket/prefix")
    prefix = prefix.strip("/")
    if prefix:
        try:
            validate_prefix(prefix + "/")
        except StorageError as error:
            raise StorageError(f"S3 storage root {root!r} has a bad prefix: {error}") from error
        prefix += "/"
    return bucket, prefix
