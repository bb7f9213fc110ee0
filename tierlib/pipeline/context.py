"""What every stage of one monthly run needs: the config, the storage, and the month."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from tierlib.config import Config, load_config
from tierlib.period import as_of, parse_period, shift_period

log = logging.getLogger("tierlib")


@dataclass(frozen=True)
class RunContext:
    config: Config
    storage: object
    period: str
    dry_run: bool = False
    """Compute and check everything, but publish nothing to marketers (exports stay staged)."""
    connections: Callable[[str], str] | None = None
    """``conn_id`` -> SQLAlchemy URL for SQL channels that name a connection.  DAG tasks pass
    one reading Airflow connections; None reads ``AIRFLOW_CONN_<ID>`` from the environment."""

    @classmethod
    def open(
        cls,
        config: Config | str,
        period: str,
        channels: list[str] | None = None,
        dry_run: bool = False,
        boto3_session=None,
        endpoint_url: str | None = None,
        connections: Callable[[str], str] | None = None,
    ) -> RunContext:
        """The run of ``period``.  ``boto3_session`` and ``endpoint_url`` (S3 storage only) come
        from an Airflow connection in DAG tasks; the config's ``endpoint_url`` wins when set.
        ``connections`` resolves SQL channels' ``conn_id`` (see the field)."""
        from tierlib.storage import open_storage

        parse_period(period)
        config = load_config(config) if isinstance(config, str) else config
        if channels:
            config = config.with_channels(channels)
        storage = open_storage(
            config.storage.root,
            endpoint_url=config.storage.endpoint_url or endpoint_url,
            region_name=config.storage.region_name,
            boto3_session=boto3_session,
        )
        return cls(config=config, storage=storage, period=period, dry_run=dry_run, connections=connections)

    @property
    def as_of(self) -> datetime:
        return as_of(self.period)

    @property
    def history_periods(self) -> list[str]:
        """The months features look back on, oldest first, ending with the run's month."""
        months = self.config.run.history_months
        return [shift_period(self.period, offset) for offset in range(1 - months, 1)]

    @property
    def channels(self) -> list[str]:
        return list(self.config.channels)
