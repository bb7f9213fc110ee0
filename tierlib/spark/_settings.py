"""Settings of the Spark engine: the ``spark`` section of the YAML config (used when
``run.engine: spark``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SparkSettings:
    """Which Spark cluster runs the member stages, and how the session is configured.

    Set at most one of ``remote`` and ``master``.  With neither, the cluster comes from the
    connection ``conn_id`` names: the Airflow connection in DAG tasks, the
    ``AIRFLOW_CONN_<ID>`` environment variable outside Airflow.
    """

    remote: str | None = None
    """A Spark Connect server, ``sc://host:15002`` (the client needs no Java)."""
    master: str | None = None
    """A classic master: ``local[2]``, ``spark://host:7077``, ``yarn``, ``k8s://https://...``."""
    conf: dict[str, Any] = field(default_factory=dict)
    """Passed to the session as given (``spark.executor.memory: 4g``, ...); it wins over
    Tierflow's own defaults (UTC session time zone, Arrow transfers)."""
    conn_id: str = "spark_default"
    """The connection that names the cluster when ``remote`` and ``master`` are empty."""

    def __post_init__(self) -> None:
        problems = []
        if self.remote and self.master:
            problems.append(
                f"set remote ({self.remote!r}) or master ({self.master!r}), not both: "
                "remote is a Spark Connect server, master a classic cluster"
            )
        if self.remote and not self.remote.startswith("sc://"):
            problems.append(
                f"remote must be a Spark Connect URL such as sc://host:15002, got {self.remote!r}"
            )
        for key, value in self.conf.items():
            if not key.startswith("spark."):
                problems.append(f"conf key {key!r} is not a Spark setting (they start with 'spark.')")
            if not isinstance(value, str | int | float | bool):
                problems.append(f"conf {key!r}: a value is text or a number, got {value!r}")
        if problems:
            raise ValueError("; ".join(problems))
