"""The docker-compose stack, checked by its structure (no Docker daemon here or in CI).

The file is read the way Compose reads it: YAML merge keys resolved, then ``${VAR}``
interpolation with the values of ``.env.example``.  The real-stack test
(``make realstack-test``) runs the same topology as processes.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from tierflow_airflow.support import start_date_text

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "docker" / "Dockerfile"

AIRFLOW_SERVICES = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
    "airflow-worker": "celery worker",
}
ONE_SHOT = {"airflow-init", "minio-init", "tierflow-synth"}
BACKING = {"postgres", "redis", "minio"}
SECRET_NAME = re.compile(r"PASSWORD|SECRET|FERNET|TOKEN|ACCESS_KEY|_KEY$")

# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}; $$ is a literal $.
_BRACED = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def _env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def _references(text: str) -> list[re.Match[str]]:
    return list(_BRACED.finditer(text.replace("$$", "")))


def _interpolate(value, env: dict[str, str]):
    """Compose's variable substitution over a loaded document (strings anywhere inside it)."""
    if isinstance(value, dict):
        return {key: _interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [_interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        name, op, arg = match.group("name"), match.group("op"), match.group("arg")
        present = name in env and (env[name] != "" or op in (None, "-", "?"))
        if present:
            return env[name]
        if op in (":-", "-"):
            return arg
        if op in (":?", "?"):
            raise KeyError(f"{name}: {arg}")
        return ""

    placeholder = "\0"
    return _BRACED.sub(substitute, value.replace("$$", placeholder)).replace(placeholder, "$")


@pytest.fixture(scope="module")
def raw() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def compose(raw) -> dict:
    return _interpolate(raw, _env_example())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def _environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    assert isinstance(env, dict), "write environment as a mapping so the anchors merge"
    return {key: str(value) for key, value in env.items()}


def test_the_stack_has_every_service_of_the_airflow_3_topology(services):
    assert set(services) == set(AIRFLOW_SERVICES) | ONE_SHOT | BACKING
    for name, command in AIRFLOW_SERVICES.items():
        assert services[name]["command"] == command, name


def test_airflow_services_share_one_image_built_from_the_project(raw, services):
    common = raw["x-airflow-common"]
    assert common["build"] == {"context": ".", "dockerfile": "docker/Dockerfile"}
    for name in [*AIRFLOW_SERVICES, "airflow-init", "tierflow-synth"]:
        assert services[name]["image"] == services["airflow-apiserver"]["image"], name
        assert services[name]["build"]["dockerfile"] == "docker/Dockerfile", name


def test_dockerfile_builds_on_the_pinned_airflow_and_installs_the_pinned_requirements():
    dockerfile = DOCKERFILE.read_text()
    pinned = re.search(r"^apache-airflow==(\S+)$", (ROOT / "requirements.txt").read_text(), re.M).group(1)
    python = re.search(r'requires-python = ">=(3\.\d+)', (ROOT / "pyproject.toml").read_text()).group(1)
    assert re.search(
        rf"^FROM apache/airflow:{re.escape(pinned)}-python{re.escape(python)}$", dockerfile, re.M
    )
    assert re.search(r"pip install .*-r \S*requirements\.txt -c \S*constraints\.txt", dockerfile)


def test_build_context_whitelist_holds_what_the_image_needs():
    lines = (ROOT / "docker" / "Dockerfile.dockerignore").read_text().splitlines()
    ignore = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert ignore[0] == "*", "start from an empty context, then allow what the image needs"
    for needed in ("requirements.txt", "constraints.txt", "tierlib/", "dags/", "config/", "plugins/"):
        assert f"!{needed}" in ignore, needed
    assert "!docker/airflow-init.sh" in ignore
    assert (ROOT / "docker" / "airflow-init.sh").is_file()


def test_long_running_services_have_health_checks_and_one_shots_do_not_restart(services):
    for name in [*AIRFLOW_SERVICES, *BACKING]:
        check = services[name].get("healthcheck")
        assert check and check["test"][0] in ("CMD", "CMD-SHELL"), name
        assert services[name]["restart"] == "always", name
    for name in ONE_SHOT:
        assert "healthcheck" not in services[name], name
        assert services[name]["restart"] == "no", name


def test_health_checks_probe_the_ports_the_services_listen_on(services):
    api = services["airflow-apiserver"]
    assert any(port.endswith(":8080") for port in api["ports"])
    assert "http://localhost:8080/api/v2/monitor/health" in api["healthcheck"]["test"]
    scheduler = services["airflow-scheduler"]
    assert "http://localhost:8974/health" in scheduler["healthcheck"]["test"]
    assert _environment(scheduler)["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"] == "true"
    assert "DagProcessorJob" in " ".join(services["airflow-dag-processor"]["healthcheck"]["test"])
    assert "TriggererJob" in " ".join(services["airflow-triggerer"]["healthcheck"]["test"])
    assert "inspect ping" in " ".join(services["airflow-worker"]["healthcheck"]["test"])
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert services["minio"]["healthcheck"]["test"] == ["CMD", "mc", "ready", "local"]


def test_dependencies_wait_for_health_or_completion_and_have_no_cycle(services):
    for name, service in services.items():
        for target, rule in (service.get("depends_on") or {}).items():
            assert target in services, f"{name} depends on unknown {target}"
            condition = rule["condition"]
            if condition == "service_healthy":
                assert "healthcheck" in services[target], (
                    f"{name} waits for {target}, which has no health check"
                )
            else:
                assert condition == "service_completed_successfully", (name, target)
                assert target in ONE_SHOT, f"{name} waits for {target} to exit, but it runs forever"

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, f"dependency cycle {' -> '.join((*path, name))}"
        for target in services[name].get("depends_on") or {}:
            visit(target, (*path, name))

    for name in services:
        visit(name, ())


def test_airflow_services_start_after_the_database_broker_bucket_and_init(services):
    for name in AIRFLOW_SERVICES:
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert depends["redis"]["condition"] == "service_healthy", name
        assert depends["minio-init"]["condition"] == "service_completed_successfully", name
        assert depends["airflow-init"]["condition"] == "service_completed_successfully", name
    worker = services["airflow-worker"]["depends_on"]
    assert worker["airflow-apiserver"]["condition"] == "service_healthy"
    assert worker["tierflow-synth"]["condition"] == "service_completed_successfully"
    assert services["minio-init"]["depends_on"]["minio"]["condition"] == "service_healthy"


def test_airflow_runs_celery_on_postgres_and_redis_and_tasks_reach_the_api_server(services):
    for name in [*AIRFLOW_SERVICES, "airflow-init"]:
        env = _environment(services[name])
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        database = urlsplit(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
        assert (database.scheme, database.hostname) == ("postgresql+psycopg2", "postgres"), name
        backend = urlsplit(env["AIRFLOW__CELERY__RESULT_BACKEND"])
        # SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3, which the image does not pin.
        assert (backend.scheme, backend.hostname) == ("db+postgresql+psycopg2", "postgres"), name
        assert urlsplit(env["AIRFLOW__CELERY__BROKER_URL"]).hostname == "redis", name
        execution = urlsplit(env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
        assert (execution.hostname, execution.port, execution.path) == (
            "airflow-apiserver",
            8080,
            "/execution/",
        )
        assert env["AIRFLOW__API_AUTH__JWT_SECRET"] == _env_example()["AIRFLOW_JWT_SECRET"], name


def test_project_folders_are_mounted_where_airflow_and_python_look(services):
    for name in [*AIRFLOW_SERVICES, "airflow-init", "tierflow-synth"]:
        service = services[name]
        env = _environment(service)
        mounts = {}
        for volume in service["volumes"]:
            source, target, *mode = volume.split(":")
            mounts[target] = (source, mode)
        for folder in ("dags", "plugins", "config", "tierlib"):
            assert mounts[f"/opt/tierflow/{folder}"] == (f"./{folder}", ["ro"]), (name, folder)
        assert env["AIRFLOW__CORE__DAGS_FOLDER"] == "/opt/tierflow/dags"
        assert env["AIRFLOW__CORE__PLUGINS_FOLDER"] == "/opt/tierflow/plugins"
        assert env["PYTHONPATH"] == "/opt/tierflow"
        assert env["TIERFLOW_CONFIG"] == "/opt/tierflow/config/tierflow.yaml"
        assert "/opt/airflow/logs" in mounts and "/opt/tierflow/sources" in mounts
    for folder in ("dags", "config", "tierlib"):
        assert (ROOT / folder).is_dir()


def test_storage_and_the_aws_connection_point_at_the_minio_bucket(services):
    env = _environment(services["airflow-worker"])
    bucket = urlsplit(env["TIERFLOW_STORAGE"])
    assert (bucket.scheme, bucket.netloc) == ("s3", "tierflow")
    assert env["TIERFLOW_S3_ENDPOINT"] == "http://minio:9000"
    connection = json.loads(env["AIRFLOW_CONN_AWS_DEFAULT"])
    assert connection["conn_type"] == "aws"
    assert connection["extra"]["endpoint_url"] == "http://minio:9000"
    assert connection["login"] == env["AWS_ACCESS_KEY_ID"] == _env_example()["TIERFLOW_S3_ACCESS_KEY"]
    assert connection["password"] == env["AWS_SECRET_ACCESS_KEY"]
    assert "TIERFLOW_BUCKET" in services["minio-init"]["environment"]
    script = " ".join(services["minio-init"]["command"])
    assert "mc mb --ignore-existing" in script and "mc admin user add" in script


def test_project_config_resolves_to_the_bucket_under_the_compose_environment(services, monkeypatch):
    from tierlib.config import load_config

    env = _environment(services["airflow-worker"])
    for name in ("TIERFLOW_STORAGE", "TIERFLOW_S3_ENDPOINT", "TIERFLOW_SOURCES"):
        monkeypatch.setenv(name, env[name])
    config = load_config(ROOT / "config" / "tierflow.yaml")
    assert config.storage.root == "s3://tierflow/tierflow"
    assert config.storage.endpoint_url == "http://minio:9000"
    assert all(channel.location.startswith("/opt/tierflow/sources/") for channel in config.channels.values())


def test_no_secret_is_written_in_the_compose_file(raw):
    text = COMPOSE.read_text()
    for match in _references(text):
        if SECRET_NAME.search(match.group("name")):
            assert match.group("op") in (":?", "?"), f"{match.group(0)}: secrets get no default in the file"
    # Every value under a secret-looking key, and every password inside a URL, is interpolated.
    env_blocks = [raw["x-airflow-common"]["environment"]]
    env_blocks += [service.get("environment") or {} for service in raw["services"].values()]
    for env in env_blocks:
        for key, value in env.items():
            if SECRET_NAME.search(key) and key != "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE":
                assert re.fullmatch(r"\$\{[^}]+\}", str(value)), f"{key} must come from .env"
            for url in re.findall(r"\w[\w+.-]*://[^\s\"']+", str(value)):
                password = re.match(r"\w[\w+.-]*://[^/@]*?:([^/@]*)@", url)
                assert password is None or password.group(1).startswith("${"), url
    login = json.loads(
        re.sub(r"\$\{[^}]+\}", "x", raw["x-airflow-common"]["environment"]["AIRFLOW_CONN_AWS_DEFAULT"])
    )
    assert login["password"] == "x"


def test_every_variable_without_a_default_is_in_the_env_example(raw):
    example = _env_example()
    text = COMPOSE.read_text()
    for match in _references(text):
        if match.group("op") in (None, ":?", "?"):
            assert match.group("name") in example, f"{match.group(0)} is not in .env.example"
    # An unbraced or unescaped $NAME would be interpolated by Compose, not by the container's shell.
    assert not re.search(r"(?<!\$)\$[A-Za-z_]", text.replace("$$", ""))


def test_env_example_is_marked_as_development_only_and_env_is_ignored():
    text = ENV_EXAMPLE.read_text()
    assert "DEVELOPMENT CREDENTIALS ONLY" in text
    secrets = {name: value for name, value in _env_example().items() if SECRET_NAME.search(name)}
    assert secrets and all(value for value in secrets.values())
    assert ".env" in (ROOT / ".gitignore").read_text().split()


def test_compose_refuses_to_start_when_any_secret_is_missing_from_env(raw):
    example = _env_example()
    for name in (name for name in example if SECRET_NAME.search(name)):
        without = {key: value for key, value in example.items() if key != name}
        with pytest.raises(KeyError, match=name):
            _interpolate(raw, without)


def test_one_shot_commands_match_the_image_and_the_tierlib_cli(services):
    init = services["airflow-init"]["command"]
    assert init[0] == "bash" and init[1].startswith("/opt/tierflow/")
    assert (ROOT / init[1].removeprefix("/opt/tierflow/")).is_file(), "the image copies it from the repo"

    # The synth line, with the values the shell would see, must parse with tierlib's own CLI.
    script = services["tierflow-synth"]["command"][-1]
    env = _environment(services["tierflow-synth"])
    line = re.search(r"python -m tierlib (synth .*?--out \S+)", script.replace("\\\n", " "), re.S).group(1)
    line = re.sub(r'"?\$\{(\w+)\}"?', lambda match: env[match.group(1)], line)
    from tierlib.cli import build_parser

    args = build_parser().parse_args(shlex.split(line))
    assert (args.members, args.months, args.start) == (20000, 24, "2024-11")
    assert args.out == "/opt/tierflow/sources" == env["TIERFLOW_SOURCES"]
    assert "/opt/tierflow/sources/_truth/manifest.json" in script, "rerunning up must not regenerate"


def test_start_date_default_is_the_dags_own(services):
    dag = (ROOT / "dags" / "tierflow_monthly.py").read_text()
    assert "start_date_text()" in dag, "the DAG no longer takes its start date from start_date_text()"
    with pytest.MonkeyPatch.context() as env:
        env.delenv("TIERFLOW_START_DATE", raising=False)
        default = start_date_text()
    assert _environment(services["airflow-scheduler"])["TIERFLOW_START_DATE"] == default
