"""Quarterly retrain of the tiering model, on the first of January, April, July and October.

Each run covers the quarter that just ended (data up to the last day of its
last month): it builds the time-split training set, fits a candidate, judges
it on the out-of-time window beside the RFM and CLV baselines, and promotes
it only if it beats the model in effect by the configured margin.  A
promotion updates the ``tierflow://models/approved`` asset, which the
monthly DAG consumes.  Backfill older quarters with
``airflow backfill create --dag-id tierflow_quarterly --from-date ... --to-date ...``.

Thin wiring only: tasks call ``tierlib.pipeline.retrain``; nothing heavy is
imported at module level, so the file parses fast.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Asset, CronDataIntervalTimetable, Metadata, Param, dag, get_current_context, task

from tierflow_airflow.support import (
    APPROVED_MODEL_ASSET,
    default_args,
    operations_settings,
    period_param_schema,
    start_date_text,
    tierflow_task,
)

APPROVED_MODEL = Asset(APPROVED_MODEL_ASSET, group="tierflow")
"""Updated when a retrain promotes a new model; its event's extra names the version."""
OPERATIONS = operations_settings()


def _context():
    from tierflow_airflow.support import open_run
    from tierlib.pipeline.retrain import retrain_period

    context = get_current_context()
    dag_run = context.get("dag_run")
    period = retrain_period(
        (context.get("params") or {}).get("period"),
        context.get("data_interval_end"),
        getattr(dag_run, "run_after", None),
    )
    return open_run(period)


@dag(
    dag_id="tierflow_quarterly",
    schedule=CronDataIntervalTimetable("0 0 1 1,4,7,10 *", timezone="UTC"),
    start_date=pendulum.parse(start_date_text()),
    # Each retrain needs the monthly pipeline's identity for its last month; older quarters
    # are retrained on purpose, with `airflow backfill create`, not all at once on deploy.
    catchup=False,
    max_active_runs=1,
    default_args=default_args(OPERATIONS),
    tags=["tierflow"],
    params={
        "period": Param(
            None,
            **period_param_schema(
                "Last data month to train on, YYYY-MM. Empty: the quarter that just ended."
            ),
        ),
    },
    doc_md=__doc__,
)
def tierflow_quarterly():
    @tierflow_task("train_candidate", OPERATIONS)
    def train_candidate() -> dict:
        """Fit a candidate and store it with its model card (metrics beside both baselines)."""
        from tierlib.pipeline.retrain import run_train

        return run_train(_context())

    @tierflow_task("promote", OPERATIONS, decorator=task.short_circuit)
    def promote(trained: dict) -> bool:
        """Approve the candidate if it beats the model in effect by the margin; False skips the asset."""
        from tierlib.pipeline.retrain import run_promote

        return bool(run_promote(_context(), trained["candidate"])["promote"])

    @tierflow_task("promote", OPERATIONS, outlets=[APPROVED_MODEL])
    def publish_approved_model(trained: dict):
        """Mark the approved-model asset as updated, naming the version."""
        yield Metadata(APPROVED_MODEL, {"version": trained["candidate"], "period": trained["period"]})

    trained = train_candidate()
    promote(trained) >> publish_approved_model(trained)


tierflow_quarterly()
