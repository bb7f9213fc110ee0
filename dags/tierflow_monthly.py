"""Monthly tiering: one run per month, on the first of the month for the month before.

Thin wiring only: every task calls a stage runner of ``tierlib.pipeline``, which
reads its inputs from storage, calls the library, writes its outputs and returns
its figures.  Nothing heavy is imported at module level, so the file parses fast.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import CronDataIntervalTimetable, Param, dag, get_current_context, task

from tierlib.pipeline.stages import STAGES

DEFAULT_ARGS = {"retries": 2, "retry_delay": timedelta(minutes=1), "retry_exponential_backoff": True}


def _context(channels: list[str] | None = None):
    from tierlib.airflow_support import config_path, period_from_context
    from tierlib.pipeline.context import RunContext

    context = get_current_context()
    return RunContext.open(config_path(), period_from_context(context), channels=channels)


@dag(
    dag_id="tierflow_monthly",
    schedule=CronDataIntervalTimetable("0 0 1 * *", timezone="UTC"),
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["tierflow"],
    params={
        "period": Param(
            None,
            type=["null", "string"],
            pattern=r"^\d{4}-(0[1-9]|1[0-2])$",
            description="Month to run, YYYY-MM. Empty: the month of the data interval.",
        ),
        "channels": Param([], type="array", description="Only these channels (empty: all configured)."),
    },
    doc_md=__doc__,
)
def tierflow_monthly():
    @task
    def plan_channels() -> list[str]:
        """The channels this run extracts: the 'channels' param, or every configured one."""
        return _context(get_current_context()["params"].get("channels") or None).channels

    @task(map_index_template="{{ task.op_kwargs['channel'] }}")
    def extract(channel: str) -> dict:
        from tierlib.pipeline.runner import run_stage

        return run_stage(_context([channel]), "extract", channel)

    def global_stage(name: str):
        @task(task_id=name)
        def run() -> dict:
            from tierlib.pipeline.runner import run_stage

            requested = get_current_context()["params"].get("channels") or None
            return run_stage(_context(requested), name)

        return run()

    upstream = extract.expand(channel=plan_channels())
    for stage in STAGES:
        if stage.name != "extract":
            current = global_stage(stage.name)
            upstream >> current
            upstream = current


tierflow_monthly()
