"""The Spark engine (``run.engine: spark``): the member-level stages on a Spark cluster, with
the embedded engine's own per-member functions, giving the same outputs.

Nothing here imports pyspark at module level: the config loads this package's settings on
machines without Spark.
"""

from tierlib.spark._session import (
    ClusterLookup,
    SparkCluster,
    SparkUnavailable,
    cluster_from_connection,
    cluster_from_environment,
    open_session,
    resolve_cluster,
)
from tierlib.spark._settings import SparkSettings

__all__ = [
    "ClusterLookup",
    "SparkCluster",
    "SparkSettings",
    "SparkUnavailable",
    "cluster_from_connection",
    "cluster_from_environment",
    "open_session",
    "resolve_cluster",
]
