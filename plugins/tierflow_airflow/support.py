"""The facts the DAG files need from an Airflow run: its month, its config, its storage, its failures."""

from __future__ import annotations

import os
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from tierlib.period import period_for_run

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "config" / "tierflow.yaml"


OTHER_TASK_NAMES = ("plan_channels", "wait_for_drop", "summary", "train_candidate", "promote", "approve")
"""Task names of both DAGs that are not stage names: ``operations.timeouts`` may name them too."""


def operations_settings():
    """The config's ``operations`` section, read at DAG parse time without the full config."""
    from tierlib.errors import ConfigError
    from tierlib.operations import read_operations
    from tierlib.pipeline.stages import stage_names

    settings = read_operations(config_path())
    known = {*stage_names(), *OTHER_TASK_NAMES}
    unknown = sorted(set(settings.timeouts) - known)
    if unknown:
        raise ConfigError(
            f"{config_path()}: operations.timeouts names {unknown}, which are no task; "
            f"name a stage or task: {', '.join(sorted(known))}"
        )
    return settings


def default_args(settings) -> dict:
    """Task arguments of both DAGs: retries with backoff (for what is transient) and a timeout."""
    return {
        "retries": settings.retries,
        "retry_delay": timedelta(seconds=settings.retry_delay_seconds),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=settings.max_retry_delay_minutes),
        "execution_timeout": timedelta(minutes=settings.task_timeout_minutes),
    }


def fail_fast(function):
    """The adapter around every Tierflow task: a deterministic Tierflow error fails it at once.

    Trying a config error, a validation stop or a missing input again gives the same result,
    so it becomes ``AirflowFailException`` (no retries); an error that may pass (storage,
    network, database: ``tierlib.errors.is_transient``) and anything unexpected go to Airflow
    as they are, and retry with backoff.
    """
    import functools
    import inspect

    if inspect.isgeneratorfunction(function):  # tasks that yield asset Metadata

        @functools.wraps(function)
        def run_generator(*args, **kwargs):
            with _deterministic_errors_fail():
                return (yield from function(*args, **kwargs))

        run_generator.fails_fast = True
        return run_generator

    @functools.wraps(function)
    def run(*args, **kwargs):
        with _deterministic_errors_fail():
            return function(*args, **kwargs)

    run.fails_fast = True
    return run


@contextmanager
def _deterministic_errors_fail():
    from airflow.sdk.exceptions import AirflowFailException

    from tierlib.errors import TierflowError, is_transient

    try:
        yield
    except TierflowError as error:
        if is_transient(error):
            raise
        message = f"{type(error).__name__}: {error} (not retried: it would fail again)"
        raise AirflowFailException(message) from error


def tierflow_task(name: str, settings, decorator=None, **task_kwargs):
    """``@task`` (or ``decorator``, e.g. ``task.short_circuit``) with the fail-fast adapter and the
    timeout ``operations`` gives the stage or task ``name``: how every task of both DAGs is made."""

    def wrap(function):
        from airflow.sdk import task

        timeout = timedelta(minutes=settings.timeout_minutes(name))
        return (decorator or task)(execution_timeout=timeout, **task_kwargs)(fail_fast(function))

    return wrap


def start_date_text() -> str:
    """The first data interval of the schedules: ``TIERFLOW_START_DATE`` (default 2025-01-01)."""
    return os.environ.get("TIERFLOW_START_DATE", "2025-01-01")


def period_param_schema(description: str) -> dict:
    """Keyword arguments of a DAG's optional ``period`` Param: empty, or a month as YYYY-MM."""
    return {"type": ["null", "string"], "pattern": r"^\d{4}-(0[1-9]|1[0-2])$", "description": description}


def config_path() -> str:
    """``TIERFLOW_CONFIG`` if set, else the project's ``config/tierflow.yaml``."""
    return os.environ.get("TIERFLOW_CONFIG") or str(DEFAULT_CONFIG)


def period_from_context(context) -> str:
    """The month a task works on, from its Airflow context (see ``period_for_run``)."""
    params = context.get("params") or {}
    dag_run = context.get("dag_run")
    return period_for_run(
        params.get("period"),
        context.get("data_interval_start"),
        getattr(dag_run, "run_after", None),
    )


APPROVED_MODEL_ASSET = "tierflow://models/approved"
"""Updated by the quarterly DAG when it promotes a model; the monthly scoring reads it."""

TIERS_ASSET = "tierflow://tiers"
"""Updated by the monthly DAG when a month's tiers are written."""


def s3_access(config):
    """How a task or the UI view reaches S3: the Airflow connection ``storage.aws_conn_id`` names.

    The Amazon provider's hook turns the connection into a boto3 session (keys, role, profile:
    whatever it holds) and its botocore settings (``config_kwargs`` in the extra), kept as they
    are; its ``endpoint_url`` extra is used unless the config sets one.  Without a connection id,
    boto3's default chain; a connection that does not exist falls back to it too, with the
    hook's warning in the log.  The storage root, S3 source drops and opt-out lists all use it.
    """
    from tierlib.storage import S3Access

    storage = config.storage
    if not storage.aws_conn_id or not _reads_s3(config):
        return S3Access(endpoint_url=storage.endpoint_url, region_name=storage.region_name)
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    hook = AwsBaseHook(aws_conn_id=storage.aws_conn_id, client_type="s3")
    return S3Access(
        boto3_session=hook.get_session(region_name=storage.region_name),
        endpoint_url=storage.endpoint_url or hook.conn_config.get_service_endpoint_url("s3"),
        region_name=storage.region_name,
        botocore_config=hook.conn_config.botocore_config,
    )


def _reads_s3(config) -> bool:
    """Whether anything the run reads lives on S3 (so the connection is worth looking up)."""
    exports = config.stages.get("exports")
    locations = [
        config.storage.root,
        *(channel.location or "" for channel in config.channels.values()),
        *(getattr(exports, "suppression", None) or ()),
    ]
    privacy = config.stages.get("privacy")
    locations.append(getattr(privacy, "erasure_requests", None) or "")
    return any(str(location).startswith("s3://") for location in locations)


def open_run(period: str, channels: list[str] | None = None, dry_run: bool = False):
    """The RunContext of a task: the project config, with S3 access from its Airflow connection."""
    from tierlib.config import load_config
    from tierlib.pipeline.context import RunContext

    config = load_config(config_path())
    return RunContext.open(
        config,
        period,
        channels=channels,
        dry_run=dry_run,
        s3=s3_access(config),
        connections=sql_url_from_airflow,
        spark_clusters=spark_cluster_from_airflow,
    )


def spark_cluster_from_airflow(conn_id: str):
    """The Spark cluster of an Airflow connection (``spark.conn_id``, default ``spark_default``),
    in the Apache Spark provider's format: type ``spark`` (host ``spark://host``, ``yarn``,
    ``local[N]``, ``k8s://...`` and a port) or ``spark_connect`` (a Spark Connect server)."""
    from airflow.sdk import BaseHook

    from tierlib.spark import SparkUnavailable, cluster_from_connection

    try:
        connection = BaseHook.get_connection(conn_id)
    except Exception as error:  # Airflow raises its own not-found types, which differ by context
        raise SparkUnavailable(
            f"run.engine is spark and spark.master/spark.remote are empty, but the Airflow connection "
            f"{conn_id!r} (spark.conn_id) cannot be read: {error}; create it (type spark, host "
            "spark://master-host, port 7077) or set spark.master in the config"
        ) from error
    return cluster_from_connection(
        conn_id,
        connection.conn_type,
        connection.host,
        connection.port,
        connection.login,
        connection.password,
        connection.extra_dejson,
    )


def sql_url_from_airflow(conn_id: str) -> str:
    """The SQLAlchemy URL of an Airflow connection, for SQL channels that name a ``conn_id``.

    ``BaseHook.get_connection`` reads it wherever Airflow keeps it (the API server in a task,
    a secrets backend, an ``AIRFLOW_CONN_<ID>`` variable); ``schema`` is the database.
    """
    from airflow.sdk import BaseHook

    from tierlib.errors import ExtractError
    from tierlib.extract.sql import sqlalchemy_url

    try:
        connection = BaseHook.get_connection(conn_id)
    except Exception as error:  # Airflow raises its own not-found types, which differ by context
        raise ExtractError(
            f"Airflow connection {conn_id!r} cannot be read: {error}; create it in Airflow"
        ) from error
    return sqlalchemy_url(
        connection.conn_type,
        connection.host,
        connection.port,
        connection.login,
        connection.password,
        connection.schema,
        connection.extra_dejson,
    )


def record_failure(context) -> None:
    """Failure callback: write what failed, where and why to ``runs/period=M/failures/<task>.json``.

    It must never raise: a broken callback would hide the real failure.
    """
    from tierlib.catalog import figures_key
    from tierlib.pipeline.context import log

    task_instance = context.get("task_instance") or context.get("ti")
    task_id = getattr(task_instance, "task_id", "unknown")
    map_index = getattr(task_instance, "map_index", -1)
    try:
        ctx = open_run(period_from_context(context))
        label = f"failures/{task_id}" + (f"-{map_index}" if map_index not in (None, -1) else "")
        record = {
            "dag_id": getattr(context.get("dag"), "dag_id", None),
            "run_id": context.get("run_id"),
            "task_id": task_id,
            "map_index": map_index,
            "try_number": getattr(task_instance, "try_number", None),
            "error": f"{type(context.get('exception')).__name__}: {context.get('exception')}",
            "log_url": getattr(task_instance, "log_url", None),
        }
        ctx.storage.write_json(figures_key(ctx.period, label), record)
        log.error(
            "task %s failed for %s: %s (recorded at %s)",
            task_id,
            ctx.period,
            record["error"],
            ctx.storage.uri(figures_key(ctx.period, label)),
        )
    except Exception as error:  # never mask the task's own failure
        log.error("could not record the failure of %s: %s", task_id, error)
