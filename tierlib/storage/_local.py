"""Storage in a local folder: the embedded default for the demo and the tests."""

from __future__ import annotations

import os
import pathlib
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

from tierlib.errors import StorageError
from tierlib.storage._base import Storage
from tierlib.storage._keys import TEMP_PREFIX, missing_message, validate_key, validate_prefix


class LocalStorage(Storage):
    """Objects are files under ``root``; a key's '/' parts are folders.

    Writes go to a temp file beside the target, are fsynced, then renamed over
    it with ``os.replace`` (atomic on POSIX and Windows), so a reader sees the
    old file or the new one.  The root folder is created on the first write.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self._root_path = pathlib.Path(root).expanduser().absolute()
        self.root = str(self._root_path)

    def _path(self, key: str) -> pathlib.Path:
        return self._root_path.joinpath(*validate_key(key).split("/"))

    def uri(self, key: str) -> str:
        return str(self._path(key))

    def local_path(self, key: str) -> pathlib.Path:
        """Where ``key`` lives (or would live) on disk."""
        return self._path(key)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str = "") -> list[str]:
        prefix = validate_prefix(prefix)
        # Walk only the deepest folder the prefix names fully; the rest of the
        # prefix filters names, as an S3 prefix would.
        folder = prefix.rpartition("/")[0]
        start = self._root_path.joinpath(*folder.split("/")) if folder else self._root_path
        keys = []
        for dirpath, dirnames, filenames in os.walk(start):
            relative = pathlib.PurePath(dirpath).relative_to(self._root_path).as_posix()
            base = "" if relative == "." else relative + "/"
            dirnames[:] = sorted(name for name in dirnames if _may_hold(base + name + "/", prefix))
            for name in filenames:
                key = base + name
                if not name.startswith(TEMP_PREFIX) and key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    def read_bytes(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except FileNotFoundError as error:
            raise StorageError(missing_message(str(path))) from error
        except IsADirectoryError as error:
            raise StorageError(f"{path} is a folder, not an object: read a key inside it") from error
        except OSError as error:
            raise StorageError(f"could not read {path}: {error}") from error

    def _parquet_source(self, key: str) -> str:
        path = self._path(key)
        if not path.is_file():
            raise StorageError(missing_message(str(path)))
        return str(path)

    @contextmanager
    def open_write(self, key: str) -> Iterator[IO[bytes]]:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError) as error:
            raise StorageError(
                f"cannot write {path}: a file stands where a folder of its key should be; "
                "delete that file or choose another key"
            ) from error
        except OSError as error:
            raise StorageError(f"cannot create the folder for {path}: {error}") from error
        temp = path.with_name(f"{TEMP_PREFIX}{path.name}.{secrets.token_hex(6)}")
        try:
            # os.open with 0o666 lets the umask decide permissions, as for any new file.
            file = os.fdopen(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), "wb")
        except OSError as error:
            raise StorageError(f"cannot write {path}: {error}") from error
        try:
            with file:
                yield file
                file.flush()
                os.fsync(file.fileno())
            os.replace(temp, path)
        except BaseException as error:
            temp.unlink(missing_ok=True)
            if isinstance(error, OSError):
                raise StorageError(
                    f"could not write {path}: {error}; the previous file, if any, is unchanged"
                ) from error
            raise
        _fsync_folder(path.parent)

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink(missing_ok=True)
        except IsADirectoryError as error:
            raise StorageError(f"{path} is a folder, not an object: use delete_prefix") from error
        except OSError as error:
            raise StorageError(f"could not delete {path}: {error}") from error
        self._prune_empty_folders(path.parent)

    def copy(self, src_key: str, dst_key: str) -> None:
        src = self._path(src_key)
        self._path(dst_key)  # refuse a bad destination before reading anything
        try:
            source = src.open("rb")
        except FileNotFoundError as error:
            raise StorageError(missing_message(str(src))) from error
        except OSError as error:
            raise StorageError(f"could not read {src}: {error}") from error
        with source, self.open_write(dst_key) as target:
            shutil.copyfileobj(source, target, 1 << 20)

    def _prune_empty_folders(self, folder: pathlib.Path) -> None:
        # Folders exist only to hold keys, as in S3: an emptied one goes too.
        while folder != self._root_path and self._root_path in folder.parents:
            try:
                folder.rmdir()
            except OSError:
                return
            folder = folder.parent


def _may_hold(folder_prefix: str, prefix: str) -> bool:
    """Whether keys under ``folder_prefix`` can start with ``prefix``."""
    if folder_prefix.rstrip("/").rpartition("/")[2].startswith(TEMP_PREFIX):
        return False
    return folder_prefix.startswith(prefix) or prefix.startswith(folder_prefix)


def _fsync_folder(folder: pathlib.Path) -> None:
    """Make the rename itself durable; only POSIX can open a folder for fsync."""
    if os.name != "posix":
        return
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
