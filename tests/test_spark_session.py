"""The Spark engine's switch and session: config, which cluster, errors naming it, pandas 3 over Arrow."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tierlib.config import load_config, parse_config
from tierlib.errors import ConfigError
from tierlib.pipeline.context import RunContext
from tierlib.spark import (
    SparkCluster,
    SparkSettings,
    SparkUnavailable,
    cluster_from_environment,
    open_session,
    resolve_cluster,
)

PROJECT = Path(__file__).resolve().parent.parent
CONFIG = PROJECT / "config" / "tierflow.yaml"
MINIMAL = {
    "storage": {"root": "/tmp/tf-unused"},
    "channels": {
        "pos": {
            "connector": "file",
            "location": "/tmp/tf-unused",
            "format": "csv",
            "records": {"file": "r.csv", "columns": {"record_id": "id"}},
        }
    },
}


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_engine_defaults_to_embedded_and_spark_is_chosen_by_config_or_override():
    assert parse_config(MINIMAL).run.engine == "embedded"
    config = parse_config({**MINIMAL, "run": {"engine": "spark"}, "spark": {"master": "local[2]"}})
    assert config.run.engine == "spark" and config.stage("spark").master == "local[2]"
    assert config.with_engine("embedded").run.engine == "embedded"
    # where the work runs does not change what the run decides
    assert config.digest == parse_config(MINIMAL).digest


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (
            {"run": {"engine": "hadoop"}},
            r"run\.engine: 'hadoop' is not allowed; use one of 'embedded', 'spark'",
        ),
        ({"spark": {"master": "local[2]", "remote": "sc://h:15002"}}, "set remote .* or master .*, not both"),
        ({"spark": {"remote": "spark://h:7077"}}, "remote must be a Spark Connect URL such as sc://"),
        ({"spark": {"conf": {"executor.memory": "4g"}}}, "conf key 'executor.memory' is not a Spark setting"),
        ({"spark": {"mastr": "local[2]"}}, r"spark\.mastr: unknown key"),
    ],
)
def test_bad_engine_settings_name_the_key(section, message):
    with pytest.raises(ConfigError, match=message):
        parse_config({**MINIMAL, **section})


def test_the_config_master_wins_else_the_connection_names_the_cluster(monkeypatch):
    settings = SparkSettings(master="spark://sparkhost:7077", conf={"spark.executor.memory": "2g"})
    cluster = resolve_cluster(settings, "site.yaml")
    assert (cluster.master, cluster.source) == ("spark://sparkhost:7077", "spark.master in site.yaml")
    assert dict(cluster.conf) == {"spark.executor.memory": "2g"}

    monkeypatch.setenv("AIRFLOW_CONN_SPARK_DEFAULT", "spark://spark-master:7077")
    assert resolve_cluster(SparkSettings()).master == "spark://spark-master:7077"
    monkeypatch.setenv(
        "AIRFLOW_CONN_SPARK_DEFAULT",
        json.dumps({"conn_type": "spark", "host": "yarn", "extra": {"conf": {"spark.yarn.queue": "crm"}}}),
    )
    cluster = resolve_cluster(SparkSettings(conf={"spark.executor.cores": 2}))
    assert cluster.master == "yarn"
    assert dict(cluster.conf) == {"spark.yarn.queue": "crm", "spark.executor.cores": "2"}
    monkeypatch.setenv(
        "AIRFLOW_CONN_CLUSTER",
        json.dumps(
            {"conn_type": "spark_connect", "host": "connect.internal", "password": "t0k", "login": "etl"}
        ),
    )
    assert cluster_from_environment("cluster").remote == "sc://connect.internal:15002/;token=t0k;user_id=etl"


def test_no_cluster_named_says_which_keys_to_set(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_SPARK_DEFAULT", raising=False)
    with pytest.raises(SparkUnavailable, match=r"set spark\.master .* AIRFLOW_CONN_SPARK_DEFAULT"):
        resolve_cluster(SparkSettings())
    monkeypatch.setenv("AIRFLOW_CONN_SPARK_DEFAULT", "postgres://db:5432/crm")
    with pytest.raises(SparkUnavailable, match=r"of type 'postgres'.*'spark' .* 'spark_connect'"):
        resolve_cluster(SparkSettings())


@pytest.mark.parametrize("scheme", ["spark", "sc"])
def test_an_unreachable_cluster_fails_in_seconds_naming_its_url_and_what_named_it(scheme):
    port = closed_port()
    url = f"{scheme}://127.0.0.1:{port}"
    cluster = (
        SparkCluster(remote=url, source="spark.remote in site.yaml")
        if scheme == "sc"
        else SparkCluster(master=url, source="spark.master in site.yaml")
    )
    what = "Spark Connect server" if scheme == "sc" else "Spark master"
    with pytest.raises(
        SparkUnavailable, match=rf"the {what} {url} \(spark\.\w+ in site\.yaml\) cannot be reached"
    ):
        open_session(cluster)


def test_the_command_line_engine_override_fails_naming_the_master_without_a_traceback(
    pipeline_env, monkeypatch
):
    monkeypatch.setenv("TIERFLOW_SPARK_MASTER", f"spark://127.0.0.1:{closed_port()}")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tierlib",
            "run",
            "--config",
            str(CONFIG),
            "--period",
            "2026-10",
            "--engine",
            "spark",
        ],
        capture_output=True,
        text=True,
        cwd=PROJECT,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert "error: the Spark master spark://127.0.0.1:" in result.stderr
    assert f"spark.master in {CONFIG}" in result.stderr and "Traceback" not in result.stderr
    # nothing ran: the session is opened before the first stage
    assert not (pipeline_env / "runs").exists()


def test_a_run_on_the_spark_engine_gets_the_session_of_the_configured_master(spark_session, monkeypatch):
    monkeypatch.setenv("TIERFLOW_ENGINE", "spark")
    monkeypatch.setenv("TIERFLOW_SPARK_MASTER", "local[2]")
    ctx = RunContext.open(str(CONFIG), "2026-10")
    assert ctx.engine == "spark"
    session = ctx.spark()
    assert session is spark_session and session.sparkContext.master == "local[2]"
    assert session.conf.get("spark.sql.session.timeZone") == "UTC"
    assert RunContext.open(load_config(CONFIG), "2026-10", engine="embedded").engine == "embedded"


def test_python_workers_run_the_project_interpreter(spark_session):
    import os

    def interpreter(rows):
        import sys as worker_sys

        yield worker_sys.executable

    found = spark_session.sparkContext.parallelize(range(4), 2).mapPartitions(interpreter).collect()
    assert set(found) == {os.path.realpath(sys.executable)} or set(found) == {sys.executable}


def test_pandas_3_text_and_time_columns_cross_arrow_both_ways(spark_session):
    """PySpark 4.3 warns that pandas 3 is not fully supported: what Tierflow moves must round-trip."""
    frame = pd.DataFrame(
        {
            "oneid": pd.array(["O1", None, "会员-中文", ""], dtype="string"),
            "channel": pd.Categorical(["pos", "app", "pos", "app"]),
            # 02:30 on 2024-03-10 does not exist in America/New_York: a local-zone session shifts it
            "ts": pd.to_datetime(
                ["2024-03-10 02:30:00", None, "2024-10-27 01:30:00.123456", "1999-12-31 23:59:59"],
                format="ISO8601",
            ).astype("datetime64[us]"),
            "amount": [1.5, None, 1e-300, -0.0],
            "orders": pd.array([1, None, 3, 4], dtype="Int64"),
        }
    )
    df = spark_session.createDataFrame(frame)
    types = dict(df.dtypes)
    assert types == {
        "oneid": "string",
        "channel": "string",
        "ts": "timestamp",
        "amount": "double",
        "orders": "bigint",
    }
    back = df.toPandas()
    assert back["oneid"].isna().tolist() == [False, True, False, False]
    assert back["oneid"].tolist()[2:] == ["会员-中文", ""]
    assert back["channel"].tolist() == ["pos", "app", "pos", "app"]
    assert back["ts"].dtype.kind == "M"
    pd.testing.assert_series_equal(back["ts"].astype("datetime64[us]"), frame["ts"], check_names=False)
    assert back["amount"].tolist()[2] == 1e-300 and back["amount"].isna().tolist() == [
        False,
        True,
        False,
        False,
    ]
    assert back["orders"].isna().tolist() == [False, True, False, False]

    def per_group(part: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame(
            {"oneid": part["oneid"].iloc[:1], "rows": [len(part)], "last": [part["ts"].max()]}
        )

    grouped = (
        df.where("oneid is not null")
        .groupBy("oneid")
        .applyInPandas(per_group, "oneid string, rows long, last timestamp")
        .toPandas()
        .sort_values("oneid", ignore_index=True)
    )
    assert grouped["oneid"].tolist() == ["", "O1", "会员-中文"]
    assert grouped["last"].astype("datetime64[us]").tolist() == [
        pd.Timestamp("1999-12-31 23:59:59"),
        pd.Timestamp("2024-03-10 02:30:00"),
        pd.Timestamp("2024-10-27 01:30:00.123456"),
    ]
