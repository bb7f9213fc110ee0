import textwrap

import pytest

from tierlib.config import load_config, parse_config
from tierlib.errors import ConfigError

MINIMAL = {
    "storage": {"root": "store"},
    "channels": {
        "shop": {
            "connector": "file",
            "location": "drops/shop",
            "format": "csv",
            "records": {"file": "members.csv", "columns": {"record_id": "id", "phone": "tel"}},
        }
    },
}


def test_project_config_loads_every_channel(monkeypatch, tmp_path):
    monkeypatch.setenv("TIERFLOW_SOURCES", str(tmp_path / "src"))
    config = load_config("config/tierflow.yaml")
    assert list(config.channels) == ["app", "wechat", "ecommerce", "pos", "member_center", "guide"]
    assert config.channels["app"].location == str(tmp_path / "src" / "app")
    assert set(config.channels["pos"].tables()) == {"records", "orders"}
    assert config.channels["ecommerce"].orders.channel_code.allowed == ("TMALL", "JD", "DOUYIN")


def test_relative_paths_resolve_against_the_config_folder(tmp_path):
    path = tmp_path / "conf" / "t.yaml"
    path.parent.mkdir()
    path.write_text(
        textwrap.dedent(
            """
            storage: {root: ../store}
            channels:
              shop: {connector: file, location: drops, format: csv,
                     records: {file: m.csv, columns: {record_id: id}}}
            """
        )
    )
    config = load_config(path)
    assert config.storage.root == str(tmp_path / "store")
    assert config.channels["shop"].location == str(tmp_path / "conf" / "drops")


def test_error_names_key_value_and_allowed_values():
    raw = {**MINIMAL, "channels": {"shop": {**MINIMAL["channels"]["shop"], "format": "xlsx"}}}
    with pytest.raises(ConfigError) as error:
        parse_config(raw)
    message = str(error.value)
    assert "channels.shop.format" in message and "'xlsx'" in message and "'parquet'" in message


def test_all_problems_are_reported_at_once():
    shop = dict(MINIMAL["channels"]["shop"])
    shop["records"] = {"file": "m.csv", "columns": {"phone": "tel", "shoe_size": "s"}}
    shop["colour"] = "red"
    with pytest.raises(ConfigError) as error:
        parse_config({**MINIMAL, "channels": {"shop": shop}})
    message = str(error.value)
    assert "channels.shop.colour: unknown key" in message
    assert "channels.shop.records.columns.shoe_size" in message


def test_missing_key_column_and_sql_needs(tmp_path):
    raw = {
        "storage": {"root": "s"},
        "channels": {"db": {"connector": "sql", "records": {"columns": {"phone": "p"}}}},
    }
    with pytest.raises(ConfigError) as error:
        parse_config(raw)
    message = str(error.value)
    assert "needs either 'url'" in message and "'record_id'" in message and "'time_column'" in message


def test_unset_environment_variable_is_named(monkeypatch):
    monkeypatch.delenv("NO_SUCH_VARIABLE_X", raising=False)
    raw = {**MINIMAL, "storage": {"root": "${NO_SUCH_VARIABLE_X}"}}
    with pytest.raises(ConfigError, match="NO_SUCH_VARIABLE_X is not set"):
        parse_config(raw)


def test_config_digest_changes_with_content():
    first = parse_config(MINIMAL).digest
    changed = {**MINIMAL, "run": {"history_months": 12}}
    assert parse_config(MINIMAL).digest == first
    assert parse_config(changed).digest != first
    elsewhere = {**MINIMAL, "storage": {"root": "s3://bucket/prod"}}
    assert parse_config(elsewhere).digest == first  # where data lives is not a decision
    engine = {**changed, "run": {"history_months": 12, "engine": "spark"}, "spark": {"master": "yarn"}}
    assert parse_config(engine).digest == parse_config(changed).digest  # outputs do not depend on it


def test_run_partitions_is_gone_and_says_what_replaces_it():
    with pytest.raises(ConfigError, match=r"run\.partitions is gone.*set run\.engine: spark"):
        parse_config({**MINIMAL, "run": {"partitions": 4}})


def test_a_value_that_is_one_variable_takes_its_yaml_type(monkeypatch):
    monkeypatch.setenv("HISTORY_FOR_TEST", "6")
    raw = {**MINIMAL, "run": {"history_months": "${HISTORY_FOR_TEST}"}}
    assert parse_config(raw).run.history_months == 6
    monkeypatch.setenv("HISTORY_FOR_TEST", "six")
    with pytest.raises(ConfigError, match=r"run\.history_months: expected a whole number, got 'six'"):
        parse_config(raw)
