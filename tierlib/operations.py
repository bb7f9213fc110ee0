"""How the scheduled runs behave on a bad night: retries, timeouts, and how long to wait for drops.

The ``operations`` section of the config.  The DAG files need it while they are parsed, where
the full config (and pandas, which it brings) is too heavy, so :func:`read_operations` reads
this one section on its own; ``load_config`` checks it like every other section.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tierlib.errors import ConfigError


@dataclass(frozen=True)
class OperationsSettings:
    retries: int = 2
    """Tries after the first for a task that failed on something transient (storage, network,
    database); a deterministic Tierflow error (config, validation, missing input) never retries."""
    retry_delay_seconds: int = 30
    """The wait before the first retry; it doubles with each retry, up to ``max_retry_delay_minutes``."""
    max_retry_delay_minutes: int = 10
    task_timeout_minutes: int = 120
    """How long one try of any task may run before it is stopped (and retried, as transient)."""
    timeouts: dict[str, int] = field(default_factory=dict)
    """Minutes per stage or task name, overriding ``task_timeout_minutes``, e.g. ``{extract: 240}``."""
    drop_deadline_hours: float = 72
    """How long after a month ends each channel's drop may arrive: extract waits for it until
    then, and fails naming the channel and what is missing after."""
    drop_check_minutes: float = 15
    """How often a waiting channel is checked again."""

    def __post_init__(self) -> None:
        problems = [
            f"{name} must be at least {least}, got {getattr(self, name)}"
            for name, least in (
                ("retries", 0),
                ("retry_delay_seconds", 0),
                ("max_retry_delay_minutes", 0),
                ("task_timeout_minutes", 1),
                ("drop_deadline_hours", 0),
            )
            if getattr(self, name) < least
        ]
        problems += [
            f"timeouts.{name} must be at least 1 minute, got {minutes}"
            for name, minutes in self.timeouts.items()
            if minutes < 1
        ]
        if self.drop_check_minutes <= 0:
            problems.append(f"drop_check_minutes must be more than 0, got {self.drop_check_minutes}")
        if problems:
            raise ValueError("; ".join(problems))

    def timeout_minutes(self, name: str) -> int:
        """The timeout of the task (or stage) ``name``."""
        return int(self.timeouts.get(name, self.task_timeout_minutes))


def read_operations(path: str | Path) -> OperationsSettings:
    """The ``operations`` section of the config at ``path`` (defaults for keys it leaves out)."""
    import yaml

    from tierlib.settings import expand_variables, settings_from_mapping

    file = Path(path)
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except OSError as error:
        raise ConfigError(f"config file {file} cannot be read ({error}); set TIERFLOW_CONFIG") from error
    except yaml.YAMLError as error:
        raise ConfigError(f"{file}: not valid YAML: {error}") from error
    section = expand_variables(raw.get("operations") or {}, "operations")
    try:
        return settings_from_mapping(OperationsSettings, section, "operations")
    except ConfigError as error:
        raise ConfigError(f"{file}: {error}") from error
