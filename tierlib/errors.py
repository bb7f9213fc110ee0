"""Named exceptions.  Every message says what is wrong, where, and what to do."""


class TierflowError(Exception):
    """Base of every error Tierflow raises on purpose."""


class ConfigError(TierflowError):
    """The YAML config is missing a key or holds a value that is not allowed."""


class StorageError(TierflowError):
    """A read or write against the storage root failed."""


class ExtractError(TierflowError):
    """A channel's source could not be read or does not match its mapping."""


class ValidationFailed(TierflowError):
    """A run-level data check failed; the message names channel, check and figure."""


class InputError(TierflowError):
    """A table handed to a stage lacks columns or holds values the stage cannot use."""


class ModelFitError(TierflowError):
    """A statistical model could not be fitted; the message says why and what to try."""


class PartialMonth(TierflowError):
    """A stage after extract was asked to run on a month some configured channels lack."""


_TRANSIENT_S3_CODES = frozenset(
    {"Throttling", "ThrottlingException", "SlowDown", "RequestTimeout", "RequestTimeTooSkewed",
     "InternalError", "ServiceUnavailable", "500", "502", "503", "504"}
)  # fmt: skip


def is_transient(error: BaseException) -> bool:
    """Whether trying again later may succeed: a network, storage service or database hiccup.

    The error and every error it was raised from are looked at, so a ``StorageError`` that
    wraps a refused connection is transient while one naming a missing key is not.  Library
    modules are only consulted when already imported: an error of a library nobody imported
    cannot be in the chain.
    """
    import sys

    botocore = sys.modules.get("botocore.exceptions")
    sqlalchemy = sys.modules.get("sqlalchemy.exc")
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ConnectionError | TimeoutError):
            return True
        if botocore is not None:
            if isinstance(current, botocore.ConnectionError | botocore.HTTPClientError):
                return True
            if isinstance(current, botocore.ClientError):
                code = str(current.response.get("Error", {}).get("Code", ""))
                status = str(current.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
                if code in _TRANSIENT_S3_CODES or status in _TRANSIENT_S3_CODES:
                    return True
        if sqlalchemy is not None:
            lost = (sqlalchemy.OperationalError, sqlalchemy.InterfaceError, sqlalchemy.DisconnectionError)
            if isinstance(current, (*lost, sqlalchemy.TimeoutError)):
                return True
            if isinstance(current, sqlalchemy.DBAPIError) and current.connection_invalidated:
                return True
        # An error raised while handling another, without `from`, still came from it.
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return False
