"""Fail fast, retry what is transient: one adapter around every task of both DAGs (issue 18)."""

from __future__ import annotations

import socket
from datetime import timedelta
from pathlib import Path

import pytest

from tierlib.errors import ExtractError, InputError, StorageError, ValidationFailed, is_transient

PROJECT = Path(__file__).resolve().parent.parent


def load_dag(dag_id: str):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(PROJECT / "dags"))
    assert bag.import_errors == {}
    return bag.get_dag(dag_id)


def raised(error: Exception, cause: Exception | None = None) -> Exception:
    """``error`` as it is seen after ``raise error from cause``."""
    try:
        raise error from cause
    except Exception as caught:
        return caught


def test_network_storage_and_database_errors_are_transient_and_tierflow_verdicts_are_not():
    import botocore.exceptions
    import sqlalchemy.exc

    refused = botocore.exceptions.EndpointConnectionError(endpoint_url="http://127.0.0.1:9")
    assert is_transient(raised(StorageError("cannot reach the endpoint"), refused))
    throttled = botocore.exceptions.ClientError({"Error": {"Code": "SlowDown"}}, "PutObject")
    assert is_transient(raised(StorageError("could not write"), throttled))
    missing = botocore.exceptions.ClientError({"Error": {"Code": "NoSuchKey"}}, "GetObject")
    assert not is_transient(raised(StorageError("does not exist"), missing))
    lost = sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("server closed the connection"))
    assert is_transient(raised(ExtractError("reading orders failed"), lost))
    assert is_transient(raised(StorageError("reset"), ConnectionResetError()))
    assert not is_transient(ValidationFailed("pos orders: quarantined share 4% above 1%"))
    assert not is_transient(raised(InputError("no column phone"), KeyError("phone")))
    # Raised while handling a refused connection, without `from`: it still came from it.
    try:
        try:
            raise ConnectionRefusedError("refused")
        except ConnectionRefusedError:
            raise StorageError("could not list") from None
    except StorageError as suppressed:
        assert not is_transient(suppressed)
    try:
        try:
            raise ConnectionRefusedError("refused")
        except ConnectionRefusedError:
            raise StorageError("could not list")  # noqa: B904 - the implicit context is the point
    except StorageError as implicit:
        assert is_transient(implicit)


def test_the_adapter_fails_deterministic_errors_at_once_and_passes_transient_ones_on():
    from airflow.sdk.exceptions import AirflowFailException

    from tierflow_airflow.support import fail_fast

    @fail_fast
    def stop():
        raise ValidationFailed("channel pos: orders of 2026-10 lost 60% of their rows")

    with pytest.raises(AirflowFailException, match="ValidationFailed: channel pos") as failed:
        stop()
    assert isinstance(failed.value.__cause__, ValidationFailed)

    @fail_fast
    def unreachable():
        raise StorageError("cannot reach http://127.0.0.1:9") from ConnectionRefusedError()

    with pytest.raises(StorageError):
        unreachable()

    @fail_fast
    def yields_then_stops():
        yield 1
        raise InputError("tiers of 2026-10 have no column tier")

    generator = yields_then_stops()
    assert next(generator) == 1
    with pytest.raises(AirflowFailException, match="InputError"):
        next(generator)


def test_every_task_of_both_dags_runs_through_the_adapter_with_its_timeout(airflow_db, tmp_path, monkeypatch):
    config = (PROJECT / "config" / "tierflow.yaml").read_text(encoding="utf-8")
    config = config.replace("timeouts: {}", "timeouts: {extract: 7, train_candidate: 300}")
    config = config.replace("task_timeout_minutes: 120", "task_timeout_minutes: 45")
    (tmp_path / "tierflow.yaml").write_text(config, encoding="utf-8")
    monkeypatch.setenv("TIERFLOW_CONFIG", str(tmp_path / "tierflow.yaml"))
    monkeypatch.setenv("TIERFLOW_RETRIES", "3")
    for dag_id in ("tierflow_monthly", "tierflow_quarterly"):
        dag = load_dag(dag_id)
        for task in dag.tasks:
            callable_ = getattr(task, "python_callable", None)
            assert callable_ is not None and getattr(callable_, "fails_fast", False), task.task_id
            assert task.retries == 3 and task.retry_exponential_backoff, task.task_id
            name = task.task_id.rsplit(".", 1)[-1]
            minutes = {"channel": 7, "train_candidate": 300}.get(name, 45)
            assert task.execution_timeout == timedelta(minutes=minutes), task.task_id


def test_a_timeout_naming_no_task_stops_the_dag_from_loading(airflow_db, tmp_path, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    config = (PROJECT / "config" / "tierflow.yaml").read_text(encoding="utf-8")
    (tmp_path / "tierflow.yaml").write_text(config.replace("timeouts: {}", "timeouts: {extrct: 7}"))
    monkeypatch.setenv("TIERFLOW_CONFIG", str(tmp_path / "tierflow.yaml"))
    bag = DagBag(dag_folder=str(PROJECT / "dags"))
    errors = "\n".join(bag.import_errors.values())
    assert "operations.timeouts names ['extrct']" in errors and "extract" in errors


def tries(run) -> dict[str, tuple[str, int]]:
    """task id (with map index) -> (state, try number) of a finished dag.test() run."""
    return {
        f"{ti.task_id}[{ti.map_index}]": (str(ti.state).rsplit(".", 1)[-1].lower(), ti.try_number)
        for ti in run.get_task_instances()
    }


@pytest.mark.slow
def test_a_deterministic_failure_takes_one_try_despite_retries(
    airflow_db, pipeline_env, tmp_path, monkeypatch
):
    empty = tmp_path / "no-drops"
    empty.mkdir()
    monkeypatch.setenv("TIERFLOW_SOURCES", str(empty))  # every channel's drop is missing
    monkeypatch.setenv("TIERFLOW_RETRIES", "2")
    monkeypatch.setenv("TIERFLOW_RETRY_DELAY_SECONDS", "1")
    run = load_dag("tierflow_monthly").test(run_conf={"period": "2026-10", "channels": ["pos"]})
    assert str(run.state).endswith("failed")
    states = tries(run)
    failed = {task: attempt for task, (state, attempt) in states.items() if state == "failed"}
    assert list(failed) == ["extract.channel[0]"], states
    assert failed["extract.channel[0]"] == 1, states
    record = (pipeline_env / "runs" / "period=2026-10" / "failures" / "extract.channel-0.json").read_text()
    assert "not retried" in record and "pos" in record


@pytest.mark.slow
def test_an_unreachable_storage_is_retried(airflow_db, pipeline_env, monkeypatch):
    with socket.socket() as probe:  # a port nothing listens on: every connection is refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("TIERFLOW_STORAGE", "s3://tierflow-nowhere/root")
    monkeypatch.setenv("TIERFLOW_S3_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("TIERFLOW_AWS_CONN_ID", "")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("TIERFLOW_RETRIES", "1")
    monkeypatch.setenv("TIERFLOW_RETRY_DELAY_SECONDS", "1")
    run = load_dag("tierflow_monthly").test(run_conf={"period": "2026-10", "channels": ["pos"]})
    assert str(run.state).endswith("failed")
    states = tries(run)
    failed = {task: attempt for task, (state, attempt) in states.items() if state == "failed"}
    assert failed and all(attempt == 2 for attempt in failed.values()), states
