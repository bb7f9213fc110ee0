"""What every stage of one monthly run needs: the config, the storage, and the month."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from tierlib.config import Config, load_config
from tierlib.period import as_of, parse_period, shift_period
from tierlib.storage import S3Access

log = logging.getLogger("tierlib")


@dataclass(frozen=True)
class RunContext:
    config: Config
    storage: object
    period: str
    dry_run: bool = False
    """Compute and check everything, but publish nothing to marketers (exports stay staged)."""
    s3: S3Access = field(default_factory=S3Access)
    """How this run reaches S3: the storage root, source drops and opt-out lists alike."""
    connections: Callable[[str], str] | None = None
    """``conn_id`` -> SQLAlchemy URL for SQL channels that name a connection.  DAG tasks pass
    one reading Airflow connections; None reads ``AIRFLOW_CONN_<ID>`` from the environment."""
    spark_clusters: Callable[[str], object] | None = None
    """``spark.conn_id`` -> the Spark cluster it names (``tierlib.spark.SparkCluster``), when
    the config sets neither ``spark.master`` nor ``spark.remote``.  DAG tasks pass one reading
    Airflow connections; None reads ``AIRFLOW_CONN_<ID>`` from the environment."""

    @classmethod
    def open(
        cls,
        config: Config | str,
        period: str,
        channels: list[str] | None = None,
        dry_run: bool = False,
        s3: S3Access | None = None,
        connections: Callable[[str], str] | None = None,
        engine: str | None = None,
        spark_clusters: Callable[[str], object] | None = None,
    ) -> RunContext:
        """The run of ``period``.  ``s3`` comes from the Airflow connection in DAG tasks
        (``tierflow_airflow.support.s3_access``); by default the config's endpoint and region
        with boto3's default credential chain.  ``connections`` resolves SQL channels'
        ``conn_id`` and ``spark_clusters`` the Spark engine's (see the fields); ``engine``
        overrides ``run.engine``."""
        parse_period(period)
        config = load_config(config) if isinstance(config, str) else config
        if channels:
            config = config.with_channels(channels)
        if engine is not None:
            config = config.with_engine(engine)
        s3 = s3 or S3Access(endpoint_url=config.storage.endpoint_url, region_name=config.storage.region_name)
        return cls(
            config=config,
            storage=s3.open(config.storage.root),
            period=period,
            dry_run=dry_run,
            s3=s3,
            connections=connections,
            spark_clusters=spark_clusters,
        )

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

    @property
    def engine(self) -> str:
        """``embedded`` or ``spark`` (``run.engine``)."""
        return self.config.run.engine

    def spark(self):
        """The run's SparkSession on the configured cluster (opened once per process)."""
        from tierlib.spark import open_session, resolve_cluster

        cluster = resolve_cluster(self.config.stage("spark"), self.config.path, self.spark_clusters)
        return open_session(cluster, app_name=f"tierflow {self.period}")


def read_location(ctx: RunContext, location: str, where: str, needed_for: str) -> bytes:
    """The bytes of a file the config names: a local path (relative to the config file) or
    ``s3://bucket/key`` through the run's S3 access (the Airflow connection in DAG tasks).

    ``where`` names the config key in errors, ``needed_for`` says why the run cannot go on without it.
    """
    import posixpath
    from pathlib import Path

    from tierlib.errors import InputError, StorageError

    if location.startswith("s3://"):
        folder, name = posixpath.split(location)
        try:
            return ctx.s3.open(folder).read_bytes(name)
        except StorageError as error:
            raise InputError(f"{where}: {error}. {needed_for}") from error
    path = Path(location.removeprefix("file://"))
    if not path.is_absolute() and ctx.config.path != "<config>":
        path = Path(ctx.config.path).resolve().parent / path
    try:
        return path.read_bytes()
    except OSError as error:
        raise InputError(
            f"{where}: cannot read {path} ({error.strerror}). {needed_for}; fix the path"
        ) from error
