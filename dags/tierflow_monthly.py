"""Monthly tiering: one run per month, on the first of the month for the month before.

Runs happen in month order (one at a time: the OneID registry and the migration
matrix build on the month before). Backfill from the UI (Trigger -> Backfill) or
with ``airflow backfill create --dag-id tierflow_monthly --from-date 2026-01-01
--to-date 2026-04-01``. Trigger one month by hand with the ``period`` param.

Thin wiring only: every task calls a stage runner of ``tierlib.pipeline``, which
reads its inputs from storage, calls the library, writes its outputs and returns
its figures. Nothing heavy is imported at module level, so the file parses fast.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import (
    Asset,
    CronDataIntervalTimetable,
    Param,
    TaskGroup,
    dag,
    get_current_context,
    task,
)

from tierflow_airflow.support import (
    APPROVED_MODEL_ASSET,
    TIERS_ASSET,
    default_args,
    operations_settings,
    period_param_schema,
    record_failure,
    start_date_text,
    tierflow_task,
)
from tierlib.pipeline.stages import STAGES

APPROVED_MODEL = Asset(APPROVED_MODEL_ASSET, group="tierflow")
TIERS = Asset(TIERS_ASSET, group="tierflow")
INLETS = {"score": [APPROVED_MODEL]}
OUTLETS = {"tiers": [TIERS]}
TRIGGER_RULES = {"report": "none_failed"}
"""The report runs when publish was skipped on purpose (skip_publish), not when anything failed."""

OPERATIONS = operations_settings()
DEFAULT_ARGS = {**default_args(OPERATIONS), "on_failure_callback": record_failure}


def _context(channels: list[str] | None = None):
    from tierflow_airflow.support import open_run, period_from_context

    context = get_current_context()
    params = context.get("params") or {}
    return open_run(period_from_context(context), channels, bool(params.get("dry_run")))


def _skip_publish(context) -> bool:
    params = context["params"]
    return bool(params.get("skip_publish"))


def _extract_group():
    """The extract stage: one mapped task per channel; returns (first task, last task)."""
    with TaskGroup("extract", tooltip="read, standardize and validate each channel's month"):

        @tierflow_task("plan_channels", OPERATIONS)
        def plan_channels() -> list[str]:
            """The channels this run extracts: the 'channels' param, or every configured one."""
            return _context(get_current_context()["params"].get("channels") or None).channels

        @tierflow_task("extract", OPERATIONS, map_index_template="{{ task.op_kwargs['channel'] }}")
        def channel(channel: str) -> dict:
            from tierlib.pipeline.runner import run_stage

            return run_stage(_context([channel]), "extract", channel)

        planned = plan_channels()
        return planned, channel.expand(channel=planned)


@dag(
    dag_id="tierflow_monthly",
    schedule=CronDataIntervalTimetable("0 0 1 * *", timezone="UTC"),
    start_date=pendulum.parse(start_date_text()),
    catchup=True,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["tierflow"],
    params={
        "period": Param(
            None, **period_param_schema("Month to run, YYYY-MM. Empty: the month of the data interval.")
        ),
        "channels": Param(
            [], type="array", description="Extract only these channels (empty: all configured)."
        ),
        "skip_publish": Param(False, type="boolean", description="Compute tiers but publish no exports."),
        "dry_run": Param(
            False, type="boolean", description="Stage and verify exports but commit none to marketers."
        ),
    },
    doc_md=__doc__,
)
def tierflow_monthly():
    upstream = None
    groups: dict[str, TaskGroup] = {}
    for stage in STAGES:
        if stage.per_channel:
            first, current = _extract_group()
            if upstream is not None:
                upstream >> first
            upstream = current
            continue
        group_name = stage.group or stage.name
        group = groups.get(group_name) or groups.setdefault(group_name, TaskGroup(group_name))
        decorate = tierflow_task(
            stage.name,
            OPERATIONS,
            task_id=stage.name,
            inlets=INLETS.get(stage.name),
            outlets=OUTLETS.get(stage.name),
            trigger_rule=TRIGGER_RULES.get(stage.name, "all_success"),
        )

        def run(name: str = stage.name) -> dict:
            from tierlib.pipeline.runner import run_stage

            # Stages after extract always see every channel: a partial OneID would retire people.
            return run_stage(_context(), name)

        decorated = decorate(run)
        if stage.name == "publish":
            # skip_if wraps a task, so it goes on after @task, as @task.skip_if stacks above @task.
            decorated = task.skip_if(_skip_publish)(decorated)
        with group:
            current = decorated()
        if upstream is not None:
            upstream >> current
        upstream = current

    @tierflow_task("summary", OPERATIONS)
    def summary() -> dict:
        """The month's headline figures (members, rows, quarantine, tiers, exports), shown as XCom."""
        from tierlib.pipeline.context import log
        from tierlib.pipeline.summary import run_summary

        figures = run_summary(_context())
        log.info("run summary: %s", figures)
        return figures

    upstream >> summary()


tierflow_monthly()
