"""Shared fixtures.  Keep each one small and say what it gives.

S3: one moto server per test session on loopback (offline, real HTTP), one
bucket in it, and a fresh prefix per test, so tests never see each other's keys.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tierlib.storage import Storage, open_storage

PROJECT = Path(__file__).resolve().parent.parent

# Airflow reads its configuration when first imported, so its home (SQLite
# metadata, logs) is set here, before any test module can import it.
_AIRFLOW_HOME = tempfile.mkdtemp(prefix="tierflow-test-airflow-")
os.environ.update(
    {
        "AIRFLOW_HOME": _AIRFLOW_HOME,
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_AIRFLOW_HOME}/airflow.db",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
    }
)
# Tests run the keyed path production runs; this key is for tests only and keys synthetic data.
os.environ.setdefault("TIERFLOW_IDENTITY_HASH_KEY", "tierflow-tests-only-key-not-a-secret")

S3_TEST_BUCKET = "tierflow-test"


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of an S3-compatible server (moto) on 127.0.0.1, with dummy credentials in the env.

    The environment is changed only while the session's S3 fixtures live:
    dummy keys (not secrets), a region, and no AWS config files or endpoint
    overrides from the machine running the tests.
    """
    from moto.server import ThreadedMotoServer

    no_file = str(tmp_path_factory.mktemp("aws") / "absent")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        env.setenv("AWS_DEFAULT_REGION", "us-east-1")
        env.setenv("AWS_CONFIG_FILE", no_file)
        env.setenv("AWS_SHARED_CREDENTIALS_FILE", no_file)
        for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
            env.delenv(name, raising=False)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        try:
            yield f"http://{host}:{port}"
        finally:
            server.stop()


@pytest.fixture(scope="session")
def s3_session(s3_endpoint: str):
    """A boto3 session holding the dummy credentials.

    Pass it as ``boto3_session`` to skip boto3 reloading its service models for
    every storage (a few hundred ms each); clients made from it are independent.
    """
    import boto3

    return boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )


@pytest.fixture(scope="session")
def s3_bucket(s3_endpoint: str, s3_session) -> str:
    """Name of a bucket that exists on ``s3_endpoint``."""
    s3_session.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=S3_TEST_BUCKET)
    return S3_TEST_BUCKET


@pytest.fixture
def s3_root(s3_bucket: str) -> str:
    """A storage root no other test uses: ``s3://<bucket>/<unique prefix>``."""
    return f"s3://{s3_bucket}/test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def s3_storage(s3_root: str, s3_endpoint: str, s3_session) -> Storage:
    """A fresh, empty S3 storage on the test server."""
    return open_storage(s3_root, endpoint_url=s3_endpoint, boto3_session=s3_session)


@pytest.fixture
def local_storage(tmp_path) -> Storage:
    """A fresh, empty local storage in a temp folder (created on first write)."""
    return open_storage(tmp_path / "storage")


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest) -> Storage:
    """A fresh, empty storage of each backend: tests using it run once per backend."""
    # Looked up lazily so that a run of local tests alone never starts the S3 server.
    return request.getfixturevalue(f"{request.param}_storage")


@pytest.fixture(scope="session")
def airflow_db() -> str:
    """A migrated Airflow metadata database (SQLite) in this session's AIRFLOW_HOME."""
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return os.environ["AIRFLOW_HOME"]


SYNTH_MEMBERS = 1500
SYNTH_START = "2024-11"
SYNTH_MONTHS = 24


@pytest.fixture(scope="session")
def synthetic_sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Synthetic six-channel source drops with ground truth, made once per session (read-only for tests).

    1,500 people over 24 months from 2024-11 (so 2026-08 .. 2026-10 are runnable months).
    """
    out = tmp_path_factory.mktemp("synthetic") / "sources"
    sizes = ["--members", str(SYNTH_MEMBERS), "--months", str(SYNTH_MONTHS), "--start", SYNTH_START]
    command = [sys.executable, "-m", "tierlib", "synth", *sizes, "--seed", "11", "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, cwd=PROJECT, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return out


@pytest.fixture
def pipeline_env(tmp_path: Path, synthetic_sources: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Points the project config at the synthetic sources and a fresh local storage root; returns the root.

    History is 12 months (``TIERFLOW_HISTORY_MONTHS``) unless the test sets it.
    """
    root = tmp_path / "storage"
    monkeypatch.setenv("TIERFLOW_CONFIG", str(PROJECT / "config" / "tierflow.yaml"))
    monkeypatch.setenv("TIERFLOW_SOURCES", str(synthetic_sources))
    monkeypatch.setenv("TIERFLOW_STORAGE", str(root))
    # A year of history keeps a first run's extract affordable; a test may ask for more.
    monkeypatch.setenv("TIERFLOW_HISTORY_MONTHS", "12")
    return root


@pytest.fixture(scope="session")
def spark_session():
    """One SparkSession in local[2] for the whole test session (starting one takes about 8 s).

    Opened through ``tierlib.spark.open_session``, as the Spark engine opens it; stage runs with
    ``run.engine: spark`` and ``spark.master: local[2]`` get this same session back.
    """
    from tierlib.spark import SparkCluster, open_session

    cluster = SparkCluster(
        master="local[2]",
        conf=(("spark.sql.shuffle.partitions", "4"), ("spark.ui.enabled", "false")),
        source="tests/conftest.py",
    )
    session = open_session(cluster, app_name="tierflow tests")
    yield session
    session.stop()
