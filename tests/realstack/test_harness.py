"""Fast checks of the real-stack harness's own logic (the full run is `make realstack-test`)."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import run_realstack as harness

from tierlib.catalog import figures_key, standardized_marker_key
from tierlib.config import load_config
from tierlib.pipeline import stages
from tierlib.pipeline.stages import STAGES

CLOSED = {
    "REALSTACK_PG_URL": "postgresql://postgres@127.0.0.1:1/postgres",
    "REALSTACK_REDIS_URL": "redis://127.0.0.1:1",
}


@pytest.fixture
def nothing_installed(monkeypatch):
    """No server answers and neither PostgreSQL's nor Redis's programs are on this machine."""
    for name, value in CLOSED.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(harness, "_postgres_bin", lambda: None)
    monkeypatch.setattr(harness.shutil, "which", lambda name: None)


def test_missing_servers_are_named_with_how_to_get_them(nothing_installed, tmp_path):
    settings = harness.Settings.from_env()
    with pytest.raises(harness.Missing) as missing:
        harness.ensure_servers(settings, harness.Processes(tmp_path), tmp_path, [])
    message = str(missing.value)
    assert f"PostgreSQL at {CLOSED['REALSTACK_PG_URL']}" in message
    assert f"Redis at {CLOSED['REALSTACK_REDIS_URL']}" in message
    assert "apt-get install postgresql redis-server" in message and "REALSTACK_INSTALL=1" in message


def test_a_missing_prerequisite_exits_with_its_own_status_and_leaves_nothing(nothing_installed, capsys):
    temp = Path(harness.tempfile.gettempdir())
    before = set(os.listdir(temp))
    assert harness.main() == harness.EXIT_MISSING
    err = capsys.readouterr().err
    assert "REAL-STACK TEST NOT RUN" in err and "Redis" in err
    after = set(os.listdir(temp))
    assert not [name for name in after - before if name.startswith("tierflow-realstack-")]


@pytest.fixture
def bucket(s3_endpoint):
    import boto3

    client = boto3.client("s3", endpoint_url=s3_endpoint)
    client.create_bucket(Bucket=harness.BUCKET)
    yield client
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=harness.BUCKET):
        for item in page.get("Contents", []):
            client.delete_object(Bucket=harness.BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=harness.BUCKET)


def _env(tmp_path) -> dict[str, str]:
    return {
        "TIERFLOW_CONFIG": str(harness.ROOT / "config" / "tierflow.yaml"),
        "TIERFLOW_SOURCES": str(tmp_path / "sources"),
        "TIERFLOW_STORAGE": f"s3://{harness.BUCKET}/{harness.PREFIX}",
    }


def _write_month(client, period: str, channels: list[str]) -> None:
    keys = [standardized_marker_key(period, channel) for channel in channels]
    for stage in stages.STAGES:
        if stage.per_channel:
            keys += [figures_key(period, f"{stage.name}/channel={channel}") for channel in channels]
        else:
            keys.append(figures_key(period, stage.name))
    for key in keys:
        client.put_object(Bucket=harness.BUCKET, Key=f"{harness.PREFIX}/{key}", Body=json.dumps({}).encode())


def test_output_check_wants_every_stage_of_every_month_written_by_its_run(bucket, tmp_path, monkeypatch):
    # Exports are checked by the publish stage's own verifier; this test is about the figures.
    without_publish = tuple(stage for stage in STAGES if stage.name != "publish")
    monkeypatch.setattr(stages, "STAGES", without_publish)
    env = _env(tmp_path)
    monkeypatch.setenv("TIERFLOW_SOURCES", env["TIERFLOW_SOURCES"])
    channels = list(load_config(env["TIERFLOW_CONFIG"]).channels)
    started = datetime.now(UTC) - timedelta(minutes=1)
    for period in ("2026-06", "2026-07"):
        _write_month(bucket, period, channels)

    harness.check_outputs(bucket, env, {"2026-06": started, "2026-07": started})

    with pytest.raises(harness.Failed, match=r"missing .*period=2026-08"):
        harness.check_outputs(bucket, env, {"2026-07": started, "2026-08": started})
    later = datetime.now(UTC) + timedelta(minutes=5)
    with pytest.raises(harness.Failed, match="was not written by the run of 2026-07"):
        harness.check_outputs(bucket, env, {"2026-07": later})
