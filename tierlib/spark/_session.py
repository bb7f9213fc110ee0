"""The one way Tierflow opens a Spark session: which cluster, how it is configured, and errors
that name the cluster and what to do when it cannot be reached."""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from tierlib.errors import ConfigError, TierflowError
from tierlib.spark._settings import SparkSettings

DEFAULT_CONF = {
    # Naive timestamps are local business time already (run.timezone); a UTC session moves them
    # through Arrow unchanged, where the machine's zone would shift times in its DST gaps.
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.ui.showConsoleProgress": "false",
}
"""Tierflow's session defaults; ``spark.conf`` entries win over them."""

CONNECT_TIMEOUT_SECONDS = 5.0


class SparkUnavailable(TierflowError):
    """The Spark engine cannot start: no cluster named, cluster unreachable, pyspark or Java missing."""


@dataclass(frozen=True)
class SparkCluster:
    """Where the session goes: a Spark Connect URL (``remote``) or a classic ``master``."""

    remote: str | None = None
    master: str | None = None
    conf: tuple[tuple[str, str], ...] = ()
    source: str = "spark"
    """What named it, for messages: ``spark.master in <config>`` or ``Airflow connection ...``."""

    @property
    def url(self) -> str:
        return self.remote or self.master or ""


ClusterLookup = Callable[[str], SparkCluster]
"""``conn_id`` -> the cluster it names (the Airflow side passes one reading Airflow connections)."""


def resolve_cluster(
    settings: SparkSettings, config_path: str = "<config>", lookup: ClusterLookup | None = None
) -> SparkCluster:
    """The cluster of a run: ``spark.remote`` or ``spark.master`` when set, else ``spark.conn_id``.

    ``lookup`` reads the connection (default: ``AIRFLOW_CONN_<ID>`` from the environment).
    """
    conf = tuple((key, _text(value)) for key, value in settings.conf.items())
    if settings.remote or settings.master:
        key = "spark.remote" if settings.remote else "spark.master"
        return SparkCluster(settings.remote, settings.master, conf, f"{key} in {config_path}")
    cluster = (lookup or cluster_from_environment)(settings.conn_id)
    return SparkCluster(cluster.remote, cluster.master, cluster.conf + conf, cluster.source)


def cluster_from_environment(conn_id: str) -> SparkCluster:
    """The cluster of ``conn_id`` from ``AIRFLOW_CONN_<ID>`` (a URI or JSON, as Airflow reads it)."""
    variable = f"AIRFLOW_CONN_{conn_id.upper()}"
    value = os.environ.get(variable)
    if not value:
        raise SparkUnavailable(
            f"run.engine is spark but no cluster is named: set spark.master (local[2], "
            f"spark://host:7077, yarn) or spark.remote (sc://host:15002) in the config, or define "
            f"the connection {conn_id!r} (spark.conn_id): under Airflow create it, outside Airflow set "
            f"{variable}, e.g. {variable}=spark://spark-master:7077"
        )
    if value.lstrip().startswith("{"):
        try:
            fields = json.loads(value)
        except json.JSONDecodeError as error:
            raise SparkUnavailable(f"{variable} is not valid JSON: {error}") from error
        extra = fields.get("extra") if isinstance(fields.get("extra"), dict) else {}
        return cluster_from_connection(
            conn_id,
            fields.get("conn_type", ""),
            fields.get("host"),
            fields.get("port"),
            fields.get("login"),
            fields.get("password"),
            extra,
            source=f"{variable}",
        )
    parts = urlsplit(value)
    return cluster_from_connection(
        conn_id,
        parts.scheme.replace("-", "_"),
        unquote(parts.hostname or "") or None,
        parts.port,
        unquote(parts.username) if parts.username else None,
        unquote(parts.password) if parts.password else None,
        {},
        source=f"{variable}",
    )


def cluster_from_connection(
    conn_id: str,
    conn_type: str,
    host: str | None,
    port: int | None,
    login: str | None,
    password: str | None,
    extra: dict,
    source: str = "",
) -> SparkCluster:
    """The cluster of a connection in the Apache Spark provider's format.

    ``spark``: host is ``spark://host`` (or a bare host), ``yarn``, ``local[N]`` or
    ``k8s://https://...``; the port is appended when set.  ``spark_connect``: a Spark Connect
    server at host:port (default 15002), the password as its token, the login as its user id.
    Extra ``conf`` (a mapping) is passed to the session.
    """
    source = source or f"Airflow connection {conn_id!r}"
    conf = tuple((str(k), _text(v)) for k, v in (extra.get("conf") or {}).items())
    if not host:
        raise SparkUnavailable(f"{source} has no host: set it to the Spark master or Connect server")
    if conn_type == "spark_connect":
        address = host.removeprefix("sc://")
        remote = f"sc://{address}:{port or 15002}"
        options = [f"token={password}"] if password else []
        if login:
            options.append(f"user_id={login}")
        if extra.get("use_ssl"):
            options.append("use_ssl=true")
        if options:  # Spark Connect's URL parameters: sc://host:port/;token=...;user_id=...
            remote += "/;" + ";".join(options)
        return SparkCluster(remote=remote, conf=conf, source=source)
    if conn_type != "spark":
        raise SparkUnavailable(
            f"{source} is of type {conn_type!r}: the Spark engine reads connections of type "
            "'spark' (a master) or 'spark_connect' (a Spark Connect server)"
        )
    master = host
    if port:
        master = f"{master}:{port}"
    if "://" not in master and not master.startswith(("yarn", "local")):
        master = f"spark://{master}"
    return SparkCluster(master=master, conf=conf, source=source)


def open_session(cluster: SparkCluster, app_name: str = "tierflow"):
    """A SparkSession on ``cluster`` (the active one when it is already open in this process).

    Checks first what can be checked quickly: pyspark installed, Java present (classic
    masters), the master's or server's port open.  Every failure names the cluster, what named
    it and what to do.
    """
    if not cluster.url:
        raise ConfigError("spark: no master or remote to open a session on")
    try:
        from pyspark.sql import SparkSession
    except ImportError as error:
        raise SparkUnavailable(
            f"run.engine is spark but pyspark is not installed ({error}): "
            "pip install -r requirements-spark.txt -c constraints.txt (make test does)"
        ) from error
    # Python workers must run this interpreter (it has tierlib, pandas and pyarrow): without it
    # they start whatever `python3` is on PATH and fail with "No module named 'pandas'".
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    _check_reachable(cluster)
    builder = SparkSession.builder.appName(app_name)
    if cluster.remote:
        builder = builder.remote(cluster.remote)
    else:
        _check_java(cluster)
        builder = builder.master(cluster.master)
    for key, value in {**DEFAULT_CONF, **dict(cluster.conf)}.items():
        builder = builder.config(key, value)
    try:
        return builder.getOrCreate()
    except Exception as error:  # py4j, gRPC and Spark raise their own types
        raise SparkUnavailable(
            f"cannot start a Spark session on {cluster.url} ({cluster.source}): "
            f"{_first_line(error)}. Check that the cluster is up and that this machine may reach it"
        ) from error


def _check_reachable(cluster: SparkCluster) -> None:
    """Fail in seconds on a master or Connect server that does not answer (Spark retries for a minute)."""
    url = cluster.url
    if not url.startswith(("spark://", "sc://")):
        return  # local needs no network; yarn and k8s resolve the cluster from their own config
    parts = urlsplit(url.split("/;", 1)[0].split(",", 1)[0])
    default_port = 15002 if url.startswith("sc://") else 7077
    host, port = parts.hostname or "", parts.port or default_port
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_SECONDS):
            pass
    except OSError as error:
        what = "Spark Connect server" if cluster.remote else "Spark master"
        raise SparkUnavailable(
            f"the {what} {url} ({cluster.source}) cannot be reached: {error.strerror or error}. "
            f"Start the cluster, or point {cluster.source} at a running one"
        ) from error


def _check_java(cluster: SparkCluster) -> None:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and os.access(os.path.join(java_home, "bin", "java"), os.X_OK):
        return
    if shutil.which("java"):
        return
    raise SparkUnavailable(
        f"Spark on {cluster.url} ({cluster.source}) needs Java 17 on this machine and none was found: "
        "run scripts/ensure_java.sh (installs openjdk-17-jre-headless), or set JAVA_HOME"
    )


def _text(value) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _first_line(error: Exception) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:400]
