"""Keyed hashing is required: the identity stage stops without TIERFLOW_IDENTITY_HASH_KEY unless waived."""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest

from tierlib.catalog import identity_key, standardized_key
from tierlib.config import parse_config
from tierlib.errors import ConfigError
from tierlib.identity import HASH_KEY_VARIABLE, IdentitySettings, identity_hash_key, value_hashes
from tierlib.pipeline.context import RunContext
from tierlib.pipeline.identity import run_identity
from tierlib.schemas import RECORD_COLUMNS, empty_frame

PROJECT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _context(root, allow_unkeyed: bool | None = None) -> RunContext:
    raw = {
        "storage": {"root": str(root)},
        "run": {"history_months": 1},
        "channels": {
            "app": {
                "connector": "file",
                "location": str(root / "sources"),
                "format": "csv",
                "records": {"file": "m.csv", "columns": {"record_id": "id"}},
            }
        },
        "validation": {"data_docs": "off"},
    }
    if allow_unkeyed is not None:
        raw["identity"] = {"allow_unkeyed_hashes": allow_unkeyed}
    ctx = RunContext.open(parse_config(raw), "2026-10")
    records = empty_frame(RECORD_COLUMNS)
    records = pd.concat(
        [
            records,
            pd.DataFrame(
                {
                    "channel": ["app", "app"],
                    "record_id": ["a1", "a2"],
                    "phone": ["13812345678", "13812345678"],
                    "updated_at": pd.to_datetime(["2026-10-02", "2026-10-03"]),
                }
            ),
        ],
        ignore_index=True,
    ).astype(RECORD_COLUMNS)
    ctx.storage.write_parquet(standardized_key("2026-10", "app", "records"), records)
    return ctx


def test_the_identity_stage_stops_without_a_key_and_says_how_to_set_it(tmp_path, monkeypatch):
    monkeypatch.delenv(HASH_KEY_VARIABLE, raising=False)
    ctx = _context(tmp_path)
    with pytest.raises(ConfigError) as stopped:
        run_identity(ctx)
    message = str(stopped.value)
    assert HASH_KEY_VARIABLE in message and "secrets.token_urlsafe" in message
    assert "identity.allow_unkeyed_hashes" in message
    assert not ctx.storage.exists(identity_key("2026-10", "identity_map"))  # stopped before writing


def test_a_short_key_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv(HASH_KEY_VARIABLE, "short")
    with pytest.raises(ConfigError, match="at least 16"):
        run_identity(_context(tmp_path))


def test_allow_unkeyed_hashes_is_the_explicit_choice_and_a_key_keys_the_merge_log(tmp_path, monkeypatch):
    monkeypatch.delenv(HASH_KEY_VARIABLE, raising=False)
    figures = run_identity(_context(tmp_path / "unkeyed", allow_unkeyed=True))
    assert figures["oneids"] == 1
    unkeyed = pd.read_parquet(tmp_path / "unkeyed" / identity_key("2026-10", "merge_log"))

    monkeypatch.setenv(HASH_KEY_VARIABLE, "a-test-key-of-enough-length")
    run_identity(_context(tmp_path / "keyed"))
    keyed = pd.read_parquet(tmp_path / "keyed" / identity_key("2026-10", "merge_log"))
    link = lambda log: log.loc[log["event"] == "link", "value_hash"].iloc[0]  # noqa: E731
    names, texts = pd.Series(["phone"]).to_numpy(), pd.Series(["+8613812345678"]).to_numpy()
    assert link(unkeyed) == value_hashes(names, texts, None)[0]
    assert link(keyed) == value_hashes(names, texts, b"a-test-key-of-enough-length")[0] != link(unkeyed)


def test_settings_default_to_requiring_the_key(monkeypatch):
    assert IdentitySettings().allow_unkeyed_hashes is False
    monkeypatch.setenv(HASH_KEY_VARIABLE, "x" * 16)
    assert identity_hash_key(False) == b"x" * 16
    monkeypatch.delenv(HASH_KEY_VARIABLE)
    assert identity_hash_key(True) is None


def test_the_oneid_command_needs_the_key_or_the_flag(tmp_path):
    records = tmp_path / "records.parquet"
    frame = pd.DataFrame({"channel": ["app"], "record_id": ["a1"], "phone": ["13812345678"]})
    frame = frame.reindex(columns=list(RECORD_COLUMNS)).astype(RECORD_COLUMNS)
    frame["updated_at"] = pd.Timestamp("2026-10-02")
    frame.to_parquet(records)
    env = {key: value for key, value in os.environ.items() if key != HASH_KEY_VARIABLE}
    command = [
        sys.executable,
        "-m",
        "tierlib",
        "oneid",
        "--records",
        str(records),
        "--out",
        str(tmp_path / "o"),
    ]
    stopped = subprocess.run(command, capture_output=True, text=True, env=env, cwd=PROJECT)
    assert stopped.returncode != 0 and HASH_KEY_VARIABLE in stopped.stderr
    assert "Traceback" not in stopped.stderr
    waived = subprocess.run(
        [*command, "--allow-unkeyed-hashes"], capture_output=True, text=True, env=env, cwd=PROJECT
    )
    assert waived.returncode == 0, waived.stderr
