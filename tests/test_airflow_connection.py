"""How DAG tasks open their run: S3 through an Airflow connection (storage.aws_conn_id); failures recorded."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from tierflow_airflow.support import open_run, record_failure
from tierlib.errors import StorageError


@pytest.fixture
def keys_only_in_the_connection(s3_root: str, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """S3 storage configured with no endpoint and no keys in the environment, only a connection."""
    connection = {
        "conn_type": "aws",
        "login": "from-the-connection",  # dummy keys for the loopback S3 server, not secrets
        "password": "from-the-connection",
        "extra": {"endpoint_url": s3_endpoint, "region_name": "us-east-1"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_TIERFLOW_TEST_S3", json.dumps(connection))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "TIERFLOW_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance-metadata lookups off AWS
    monkeypatch.setenv("TIERFLOW_STORAGE", s3_root)
    monkeypatch.setenv("TIERFLOW_S3_ENDPOINT", "")
    return "tierflow_test_s3"


def test_tasks_reach_s3_with_the_connections_keys_and_endpoint(keys_only_in_the_connection, monkeypatch):
    monkeypatch.setenv("TIERFLOW_AWS_CONN_ID", keys_only_in_the_connection)
    ctx = open_run("2026-10")
    ctx.storage.write_json("probe/connection.json", {"month": ctx.period})
    assert ctx.storage.read_json("probe/connection.json") == {"month": "2026-10"}


def test_without_the_connection_the_same_environment_has_no_keys(keys_only_in_the_connection, monkeypatch):
    monkeypatch.setenv("TIERFLOW_AWS_CONN_ID", "")
    ctx = open_run("2026-10")
    with pytest.raises(StorageError) as error:
        ctx.storage.write_json("probe/connection.json", {"month": ctx.period})
    assert "storage.aws_conn_id" in str(error.value)


def test_a_failed_task_is_recorded_in_the_months_run_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("TIERFLOW_CONFIG", raising=False)
    monkeypatch.setenv("TIERFLOW_STORAGE", str(tmp_path / "storage"))
    task_instance = SimpleNamespace(task_id="value.features_partition", map_index=3, try_number=2)
    context = {
        "params": {"period": "2026-10"},
        "task_instance": task_instance,
        "dag": SimpleNamespace(dag_id="tierflow_monthly"),
        "run_id": "manual__2026-11-01",
        "exception": ValueError("partition 3 of 8 has no rows"),
    }
    record_failure(context)
    failures = tmp_path / "storage" / "runs" / "period=2026-10" / "failures"
    record = json.loads((failures / "value.features_partition-3.json").read_text())
    assert record["error"] == "ValueError: partition 3 of 8 has no rows"
    assert record["dag_id"] == "tierflow_monthly" and record["run_id"] == "manual__2026-11-01"
    assert (record["map_index"], record["try_number"]) == (3, 2)


def test_recording_a_failure_never_raises(tmp_path, monkeypatch):
    monkeypatch.setenv("TIERFLOW_CONFIG", str(tmp_path / "missing.yaml"))
    record_failure({"params": {"period": "2026-10"}, "exception": RuntimeError("boom")})  # logs, no raise


def test_source_drops_opt_out_lists_and_the_view_use_the_connection_and_its_botocore_settings(
    keys_only_in_the_connection, s3_root, monkeypatch
):
    """One credential path: the same session, endpoint and botocore settings for every S3 read."""
    import importlib.util
    from pathlib import Path

    from tierlib.config import ChannelConfig, TableMapping
    from tierlib.extract.connectors import read_source_table
    from tierlib.pipeline.context import read_location

    connection = json.loads(__import__("os").environ["AIRFLOW_CONN_TIERFLOW_TEST_S3"])
    connection["extra"]["config_kwargs"] = {"connect_timeout": 7, "retries": {"max_attempts": 3}}
    monkeypatch.setenv("AIRFLOW_CONN_TIERFLOW_TEST_S3", json.dumps(connection))
    monkeypatch.setenv("TIERFLOW_AWS_CONN_ID", keys_only_in_the_connection)
    ctx = open_run("2026-10")
    config = ctx.storage.client.meta.config
    assert config.connect_timeout == 7 and config.retries["total_max_attempts"] == 4  # kept, not replaced

    ctx.storage.write_bytes("drops/app/period=2026-10/members.csv", b"user_id,mobile\nu1,13812345678\n")
    ctx.storage.write_bytes("lists/optouts.csv", b"phone\n13900001111\n")
    channel = ChannelConfig(
        connector="file",
        location=f"{s3_root}/drops/app",
        format="csv",
        records=TableMapping(columns={"record_id": "user_id"}, file="members.csv"),
    )
    table = read_source_table("app", channel, "records", "2026-10", s3=ctx.s3)
    assert list(table.frame["user_id"]) == ["u1"]
    assert (
        read_location(ctx, f"{s3_root}/lists/optouts.csv", "exports.suppression[0]", "needed")
        == b"phone\n13900001111\n"
    )
    # Without the run's access (boto3's default chain, no keys in the environment) the same reads fail.
    with pytest.raises(StorageError):
        read_source_table("app", channel, "records", "2026-10")

    plugin = Path(__file__).resolve().parent.parent / "plugins" / "tierflow_reports.py"
    spec = importlib.util.spec_from_file_location("tierflow_reports_connection_test", plugin)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setenv(
        "TIERFLOW_CONFIG", str(Path(__file__).resolve().parent.parent / "config" / "tierflow.yaml")
    )
    view_storage = module.open_tierflow_storage()
    assert view_storage.read_bytes("lists/optouts.csv") == b"phone\n13900001111\n"
    assert view_storage.client.meta.config.connect_timeout == 7


def test_sql_channels_read_their_url_from_the_airflow_connection(monkeypatch):
    from tierflow_airflow.support import sql_url_from_airflow
    from tierlib.errors import ExtractError

    connection = {"conn_type": "postgres", "host": "db.internal", "port": 5433, "login": "reader",
                  "password": "p@ss word", "schema": "crm"}  # fmt: skip
    monkeypatch.setenv("AIRFLOW_CONN_TIERFLOW_TEST_CRM", json.dumps(connection))
    import sqlalchemy as sa

    url = sa.engine.make_url(sql_url_from_airflow("tierflow_test_crm"))
    assert (url.drivername, url.username, url.password) == ("postgresql+psycopg2", "reader", "p@ss word")
    assert (url.host, url.port, url.database) == ("db.internal", 5433, "crm")
    monkeypatch.setenv("AIRFLOW_CONN_TIERFLOW_TEST_POS", "mysql://pos:secret@10.0.0.5:3306/pos")
    assert sql_url_from_airflow("tierflow_test_pos") == "mysql+pymysql://pos:secret@10.0.0.5:3306/pos"
    with pytest.raises(ExtractError, match="tierflow_test_none"):
        sql_url_from_airflow("tierflow_test_none")


def test_the_spark_engine_reads_its_cluster_from_the_airflow_connection(monkeypatch):
    from tierflow_airflow.support import spark_cluster_from_airflow
    from tierlib.spark import SparkSettings, SparkUnavailable, resolve_cluster

    connection = {"conn_type": "spark", "host": "spark://spark-master.internal", "port": 7077,
                  "extra": {"conf": {"spark.executor.memory": "4g"}}}  # fmt: skip
    monkeypatch.setenv("AIRFLOW_CONN_TIERFLOW_TEST_SPARK", json.dumps(connection))
    cluster = resolve_cluster(SparkSettings(conn_id="tierflow_test_spark"), lookup=spark_cluster_from_airflow)
    assert cluster.master == "spark://spark-master.internal:7077"
    assert dict(cluster.conf) == {"spark.executor.memory": "4g"}
    assert cluster.source == "Airflow connection 'tierflow_test_spark'"
    with pytest.raises(
        SparkUnavailable, match=r"Airflow connection 'tierflow_absent_spark' \(spark\.conn_id\)"
    ):
        spark_cluster_from_airflow("tierflow_absent_spark")
