"""The few facts the DAG files need from the Airflow run, as plain functions (tested without Airflow)."""

from __future__ import annotations

import os
from pathlib import Path

from tierlib.period import period_for_run

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config" / "tierflow.yaml"


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
