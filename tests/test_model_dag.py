"""The quarterly retrain DAG: its month, its schedule, and a run that promotes and updates the asset."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from tierlib.catalog import approved_model_key, retrain_decision_key
from tierlib.period import periods_between
from tierlib.pipeline.retrain import retrain_period
from tierlib.storage import open_storage

PROJECT = Path(__file__).resolve().parent.parent


def test_retrain_period_is_the_last_month_of_the_quarter_just_ended():
    # Scheduled on 1 January: the interval is October .. December, so December is the data month.
    assert retrain_period(None, datetime(2026, 1, 1, tzinfo=UTC), None) == "2025-12"
    assert retrain_period(None, datetime(2025, 7, 1, tzinfo=UTC), None) == "2025-06"
    assert retrain_period("2025-09", datetime(2026, 1, 1, tzinfo=UTC), None) == "2025-09"  # the param wins
    # Triggered without a date: the last complete month before it was asked to run.
    assert retrain_period(None, None, datetime(2026, 2, 14, tzinfo=UTC)) == "2026-01"


def load_dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(PROJECT / "dags" / "tierflow_quarterly.py"))
    assert bag.import_errors == {}
    return bag.get_dag("tierflow_quarterly")


@pytest.mark.slow
def test_dag_runs_on_the_first_of_each_quarter_and_produces_the_approved_model_asset(airflow_db):
    from airflow.timetables.base import DataInterval, TimeRestriction
    from airflow.timetables.interval import CronDataIntervalTimetable

    dag = load_dag()
    assert set(dag.task_ids) == {"train_candidate", "promote", "publish_approved_model"}
    assert dag.max_active_runs == 1
    publish = dag.get_task("publish_approved_model")
    assert [outlet.uri for outlet in publish.outlets] == ["tierflow://models/approved"]
    assert "promote" in publish.upstream_task_ids
    assert dag.timetable.expression == "0 0 1 1,4,7,10 *"
    # The scheduler's side of the same timetable: interval starts on the first of each quarter.
    timetable = CronDataIntervalTimetable(dag.timetable.expression, timezone=dag.timetable.timezone)
    restriction = TimeRestriction(earliest=datetime(2025, 1, 1, tzinfo=UTC), latest=None, catchup=True)
    info = timetable.next_dagrun_info(last_automated_data_interval=None, restriction=restriction)
    starts = []
    for _ in range(4):
        starts.append(info.data_interval.start)
        interval = DataInterval(info.data_interval.start, info.data_interval.end)
        info = timetable.next_dagrun_info(last_automated_data_interval=interval, restriction=restriction)
    assert [(s.month, s.day) for s in starts] == [(1, 1), (4, 1), (7, 1), (10, 1)]
    assert info.data_interval.end.month == 4  # each run covers one quarter and starts when it ends
    assert info.data_interval.start.year == 2026


@pytest.mark.slow
def test_dag_trains_promotes_then_keeps_the_model_on_a_rerun(
    airflow_db, synthetic_sources, tmp_path, monkeypatch
):
    from test_model_synthetic import standardize_history

    from tierlib.pipeline.context import RunContext
    from tierlib.pipeline.identity import run_identity

    # Normalized Gini separates the model from the CLV baseline clearly even on 1,500 people,
    # so the first run promotes for sure; the rerun then meets its own model and keeps it.
    raw = yaml.safe_load((PROJECT / "config" / "tierflow.yaml").read_text(encoding="utf-8"))
    raw["model"].update({"primary_metric": "normalized_gini", "importance_repeats": 0})
    config = tmp_path / "tierflow.yaml"
    config.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    root = tmp_path / "storage"
    monkeypatch.setenv("TIERFLOW_CONFIG", str(config))
    monkeypatch.setenv("TIERFLOW_SOURCES", str(synthetic_sources))
    monkeypatch.setenv("TIERFLOW_STORAGE", str(root))
    ctx = RunContext.open(str(config), "2026-08")
    standardize_history(ctx, periods_between("2024-11", "2026-08"))
    run_identity(ctx)

    dag = load_dag()
    first = dag.test(run_conf={"period": "2026-08"})
    assert str(first.state) in ("success", "DagRunState.SUCCESS"), first.state
    states = {ti.task_id: str(ti.state) for ti in first.get_task_instances()}
    assert states["publish_approved_model"].endswith("success"), states
    storage = open_storage(str(root))
    pointer = storage.read_json(approved_model_key())
    decision = storage.read_json(retrain_decision_key("2026-08"))
    assert decision["promote"] and pointer["version"] == decision["candidate"]
    assert pointer["from_period"] == "2026-09"

    second = dag.test(run_conf={"period": "2026-08"})
    assert str(second.state) in ("success", "DagRunState.SUCCESS"), second.state
    states = {ti.task_id: str(ti.state) for ti in second.get_task_instances()}
    assert states["publish_approved_model"].endswith("skipped"), states  # no asset event without a promotion
    assert not storage.read_json(retrain_decision_key("2026-08"))["promote"]
    assert storage.read_json(approved_model_key()) == pointer
