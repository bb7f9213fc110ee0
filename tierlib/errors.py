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
