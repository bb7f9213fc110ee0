"""Real-stack test: the docker-compose topology as processes on loopback, driven through the REST API.

PostgreSQL (metadata) and Redis (Celery broker) are the servers on 127.0.0.1's standard ports;
S3 is a moto server this script starts.  It runs ``airflow db migrate`` and then the Airflow API
server, scheduler, DAG processor and a Celery worker (CeleryExecutor), creates the AWS connection,
unpauses ``tierflow_monthly``, triggers one month and a two-month backfill through REST API v2,
waits for them, and checks every month's outputs in the bucket.  Each phase is timed.

It uses its own database (dropped and recreated), its own Celery queue, bucket and temp
AIRFLOW_HOME, and on exit, failed or not, stops every process it started and drops what it made.

Exit status: 0 passed, 1 failed, 3 a prerequisite is missing (the message says which and how to
get it).  Settings (environment):

  REALSTACK_PG_URL      server to use, admin connection  (postgresql://postgres@127.0.0.1:5432/postgres)
  REALSTACK_DB          database created for the run      (tierflow_realstack)
  REALSTACK_REDIS_URL   Redis server                      (redis://127.0.0.1:6379)
  REALSTACK_REDIS_DB    Redis database number             (13)
  REALSTACK_MEMBERS     synthetic members                 (1000)
  REALSTACK_TIMEOUT     seconds to wait for each wait      (600)
  REALSTACK_INSTALL=1   if PostgreSQL/Redis are not installed: apt-get install them (root only)
  REALSTACK_KEEP=1      keep the temp folder and database for a look afterwards

When no server answers but the PostgreSQL or Redis programs are installed, it starts private
throwaway servers on free loopback ports in its temp folder.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script: tierlib comes from this checkout
    sys.path.insert(0, str(ROOT))
VENV_BIN = Path(sys.executable).parent
DAG_ID = "tierflow_monthly"
BUCKET = "tierflow-realstack"
PREFIX = "tierflow"
# Five months of history before the earliest month run: with two, the features stage's BG/NBD fit
# does not converge on 1,000 members (ModelFitError for 2026-06).  Not more: the first run also
# extracts every earlier month storage lacks, and each month of each channel is validated.
SYNTH_START, SYNTH_MONTHS = "2026-01", 8
TRIGGERED_PERIOD = "2026-08"
BACKFILL_PERIODS = ("2026-06", "2026-07")
ADMIN = "admin"

EXIT_FAILED = 1
EXIT_MISSING = 3


class Missing(Exception):
    """A prerequisite (server or program) is not there; the message says how to get it."""


class Failed(Exception):
    """The stack did not do what the test expects."""


def say(message: str) -> None:
    print(f"[realstack {time.strftime('%H:%M:%S')}] {message}", flush=True)


@dataclass
class Settings:
    pg_url: str
    database: str
    redis_url: str
    redis_db: int
    members: int
    timeout: float
    install: bool
    keep: bool
    run_id: str

    @classmethod
    def from_env(cls, env=os.environ) -> Settings:
        return cls(
            pg_url=env.get("REALSTACK_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
            database=env.get("REALSTACK_DB", "tierflow_realstack"),
            redis_url=env.get("REALSTACK_REDIS_URL", "redis://127.0.0.1:6379"),
            redis_db=int(env.get("REALSTACK_REDIS_DB", "13")),
            members=int(env.get("REALSTACK_MEMBERS", "1000")),
            timeout=float(env.get("REALSTACK_TIMEOUT", "600")),
            install=env.get("REALSTACK_INSTALL") == "1",
            keep=env.get("REALSTACK_KEEP") == "1",
            run_id=uuid.uuid4().hex[:8],
        )


class Phases:
    """Wall time of each named phase, printed as a table at the end (also after a failure)."""

    def __init__(self) -> None:
        self.seconds: list[tuple[str, float, str]] = []
        self._started = time.perf_counter()

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        say(f"== {name}")
        started = time.perf_counter()
        outcome = "failed"
        try:
            yield
            outcome = "ok"
        finally:
            self.seconds.append((name, time.perf_counter() - started, outcome))

    def report(self) -> None:
        print("\nreal-stack phases (wall seconds):", flush=True)
        for name, seconds, outcome in self.seconds:
            print(f"  {name:<48} {seconds:7.1f}  {outcome}")
        print(f"  {'total':<48} {time.perf_counter() - self._started:7.1f}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(what: str, check, timeout: float, interval: float = 1.0, alive=None):
    """Call ``check`` until it returns something truthy; ``alive`` raises if a process died."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if alive:
            alive()
        try:
            result = check()
            if result:
                return result
        except Failed:
            raise
        except Exception as error:  # the thing waited for is not up yet; say why on timeout
            last_error = error
        time.sleep(interval)
    raise Failed(
        f"timed out after {timeout:.0f} s waiting for {what}" + (f": {last_error}" if last_error else "")
    )


class Processes:
    """Children in their own process groups, logging to files; stopped in reverse start order."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.children: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str], cwd: Path = ROOT) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 -- closed with the process
        process = subprocess.Popen(
            argv, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        self.children.append((name, process))
        say(f"started {name} (pid {process.pid}): {' '.join(argv[:4])}")
        return process

    def check_alive(self, *others: Processes) -> None:
        for other in others:
            other.check_alive()
        for name, process in self.children:
            if process.poll() is not None:
                raise Failed(f"{name} exited with status {process.returncode}\n{self.tail(name)}")

    def tail(self, name: str, lines: int = 40) -> str:
        path = self.log_dir / f"{name}.log"
        if not path.exists():
            return ""
        text = path.read_text(errors="replace").splitlines()[-lines:]
        return f"--- last {len(text)} lines of {path}\n" + "\n".join(text)

    def stop_all(self) -> None:
        for _name, process in reversed(self.children):
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for name, process in reversed(self.children):
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                say(f"{name} did not stop on SIGTERM; killing it")
            # Also reap anything the child left in its group (task supervisors, Celery pool, uvicorn workers).
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
        self.children.clear()


# --- PostgreSQL and Redis ----------------------------------------------------------------------


def _postgres_answers(url: str) -> str | None:
    import psycopg2

    try:
        psycopg2.connect(url, connect_timeout=3).close()
        return None
    except psycopg2.OperationalError as error:
        return str(error).strip().splitlines()[0]


def _redis_answers(url: str) -> str | None:
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
        return None
    except redis.RedisError as error:
        return str(error)


def _postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _install_from_debian(packages: list[str]) -> None:
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise Missing("REALSTACK_INSTALL=1 needs root and apt-get to install " + " ".join(packages))
    say(f"installing {' '.join(packages)} from the Debian packages")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends", *packages]):
        if subprocess.run(argv, env=env).returncode != 0:
            raise Missing(f"{' '.join(argv)} failed; install {' '.join(packages)} yourself")


def _start_private_postgres(processes: Processes, bin_dir: Path, leftovers: list[Path]) -> str:
    """A throwaway cluster with trust auth on a free loopback port (as user postgres when root)."""
    # Its own temp folder: mkdtemp folders are private to us, and the server may run as postgres.
    data = Path(tempfile.mkdtemp(prefix="realstack-pg-"))
    leftovers.append(data)
    as_postgres: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        shutil.chown(data, "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    init = subprocess.run(
        [*as_postgres, str(bin_dir / "initdb"), "-D", str(data / "db"), "-U", "postgres", "--auth=trust"],
        capture_output=True,
        text=True,
    )
    if init.returncode != 0:
        raise Missing(f"could not create a private PostgreSQL cluster: {init.stderr.strip()}")
    argv = [*as_postgres, str(bin_dir / "postgres"), "-D", str(data / "db"), "-p", str(port), "-k", str(data)]
    processes.start("postgres", [*argv, "-c", "listen_addresses=127.0.0.1"], dict(os.environ))
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    wait_until(
        "the private PostgreSQL", lambda: _postgres_answers(url) is None, 60, 0.5, processes.check_alive
    )
    return url


def _start_private_redis(processes: Processes, workdir: Path) -> str:
    port = free_port()
    argv = [shutil.which("redis-server"), "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    processes.start("redis", [*argv, "--appendonly", "no", "--dir", str(workdir)], dict(os.environ))
    url = f"redis://127.0.0.1:{port}"
    wait_until("the private Redis", lambda: _redis_answers(url) is None, 30, 0.3, processes.check_alive)
    return url


def ensure_servers(
    settings: Settings, processes: Processes, workdir: Path, leftovers: list[Path]
) -> tuple[str, str]:
    """The PostgreSQL admin URL and Redis URL to use; private servers if none answers."""
    pg_url, redis_url = settings.pg_url, settings.redis_url
    pg_problem, redis_problem = _postgres_answers(pg_url), _redis_answers(redis_url)
    if pg_problem is None and redis_problem is None:
        return pg_url, redis_url
    missing = []
    if pg_problem and _postgres_bin() is None:
        missing.append(("postgresql", f"PostgreSQL at {pg_url} ({pg_problem})"))
    if redis_problem and not shutil.which("redis-server"):
        missing.append(("redis-server", f"Redis at {redis_url} ({redis_problem})"))
    if missing and settings.install:
        _install_from_debian([package for package, _ in missing])
    elif missing:
        raise Missing(
            "the real-stack test needs these servers and they are not there:\n"
            + "\n".join(f"  - {what}" for _, what in missing)
            + "\nStart them on 127.0.0.1 (PostgreSQL: trust auth for user postgres on 5432; Redis on 6379),"
            "\nor point REALSTACK_PG_URL / REALSTACK_REDIS_URL at yours,"
            "\nor install the programs (apt-get install postgresql redis-server) and this script starts"
            "\nprivate servers itself; as root, REALSTACK_INSTALL=1 runs that apt-get for you."
        )
    if pg_problem:
        say(f"no PostgreSQL at {pg_url} ({pg_problem}); starting a private one")
        pg_url = _start_private_postgres(processes, _postgres_bin(), leftovers)
    if redis_problem:
        say(f"no Redis at {redis_url} ({redis_problem}); starting a private one")
        redis_url = _start_private_redis(processes, workdir)
    return pg_url, redis_url


def _with_database(url: str, database: str, scheme: str | None = None) -> str:
    parts = urlsplit(url)
    return urlunsplit((scheme or parts.scheme, parts.netloc, f"/{database}", parts.query, ""))


def recreate_database(admin_url: str, database: str, drop_only: bool = False) -> None:
    import psycopg2
    from psycopg2 import sql

    connection = psycopg2.connect(admin_url, connect_timeout=5)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
            )
            if not drop_only:
                cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    finally:
        connection.close()


KOMBU_SHARED_KEYS = {
    "_kombu.binding_deadlines",
    "_kombu.binding.celery.pidbox",
    "_kombu.binding.reply.celery.pidbox",
    "_kombu.binding.celeryev",
}
"""Kombu's bookkeeping of the broadcast exchanges every Celery worker in a Redis database shares."""


def delete_queue_keys(redis_url: str, db: int, queue: str) -> int:
    """Delete this run's Celery keys, and kombu's shared ones once no other worker's keys are left."""
    import redis

    client = redis.Redis.from_url(redis_url, db=db, socket_connect_timeout=3)
    keys = list(client.scan_iter(match=f"*{queue}*"))
    if keys:
        client.delete(*keys)
    rest = {key.decode() for key in client.scan_iter()}
    if rest and rest <= KOMBU_SHARED_KEYS:
        client.delete(*rest)
        keys += rest
    return len(keys)


# --- the REST API --------------------------------------------------------------------------------


class Api:
    """Airflow REST API v2 with a SimpleAuthManager token."""

    def __init__(self, base_url: str, username: str, password: str) -> None:
        import httpx

        self.base_url = base_url
        self.http = httpx.Client(base_url=base_url, timeout=30)
        self.username, self.password = username, password

    def login(self) -> None:
        response = self.http.post("/auth/token", json={"username": self.username, "password": self.password})
        if response.status_code >= 300:
            raise Failed(f"POST /auth/token: {response.status_code} {response.text}")
        self.http.headers["Authorization"] = f"Bearer {response.json()['access_token']}"

    def call(self, method: str, path: str, expect: tuple[int, ...] = (200,), **kwargs):
        response = self.http.request(method, f"/api/v2{path}", **kwargs)
        if response.status_code not in expect:
            raise Failed(f"{method} /api/v2{path}: {response.status_code} {response.text[:2000]}")
        return response.json() if response.content else None

    def close(self) -> None:
        self.http.close()


# --- the run -------------------------------------------------------------------------------------


class Harness:
    """Everything one run starts and makes, so that all of it can be stopped and removed."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.phases = Phases()
        self.workdir = Path(tempfile.mkdtemp(prefix="tierflow-realstack-"))
        (self.workdir / "logs").mkdir()
        self.servers = Processes(self.workdir / "logs")  # private PostgreSQL/Redis, the S3 server
        self.airflow = Processes(self.workdir / "logs")
        self.cleanup: list[tuple[str, object]] = []  # run while the servers are still up
        self.leftovers: list[Path] = [self.workdir]  # removed once every process has stopped
        self.queue = f"realstack-{settings.run_id}"
        self.password = secrets.token_urlsafe(16)
        self.pg_admin_url = self.redis_url = self.s3_endpoint = ""
        self.api_port = 0

    def alive(self) -> None:
        self.airflow.check_alive(self.servers)

    def base_env(self) -> dict[str, str]:
        """The machine's environment minus anything Airflow/AWS/Tierflow, plus dummy S3 keys."""
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("AIRFLOW", "_AIRFLOW", "AWS_", "TIERFLOW_"))
        }
        absent = str(self.workdir / "no-aws-config")
        env.update(
            PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
            PYTHONPATH=str(ROOT),
            AWS_ACCESS_KEY_ID="realstack",  # dummy keys for the loopback moto server, not secrets
            AWS_SECRET_ACCESS_KEY="realstack",
            AWS_DEFAULT_REGION="us-east-1",
            AWS_CONFIG_FILE=absent,
            AWS_SHARED_CREDENTIALS_FILE=absent,
        )
        return env

    def airflow_env(self) -> dict[str, str]:
        """One Airflow configuration for every process, as x-airflow-common is in the compose file."""
        from cryptography.fernet import Fernet

        database = _with_database(self.pg_admin_url, self.settings.database, "postgresql+psycopg2")
        api = f"http://127.0.0.1:{self.api_port}"
        # No S3 keys in the Airflow processes: tasks must take them from the aws_default
        # connection (storage.aws_conn_id), as a deployment keeps them in Airflow.
        keys = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
        base = {name: value for name, value in self.base_env().items() if name not in keys}
        return {
            **base,
            "AIRFLOW_HOME": str(self.workdir / "airflow"),
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database,
            "AIRFLOW__CELERY__BROKER_URL": _with_database(self.redis_url, str(self.settings.redis_db)),
            # SQLAlchemy 2.1's default PostgreSQL driver is psycopg 3: name psycopg2 explicitly.
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + database,
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "4",
            # Our own queue: this run's tasks never reach another worker on the same Redis.
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": self.queue,
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.api_port),
            "AIRFLOW__API__BASE_URL": api,
            "AIRFLOW__API__WORKERS": "1",
            # A port other than 8080 must be named here too, or task runners call the wrong server.
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.workdir / "passwords.json"),
            # Unpausing must not start the schedule's latest-month run: the test runs exactly the
            # months it asks for.  Manual runs and backfills still run.
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "TIERFLOW_CONFIG": str(ROOT / "config" / "tierflow.yaml"),
            "TIERFLOW_SOURCES": str(self.workdir / "sources"),
            "TIERFLOW_STORAGE": f"s3://{BUCKET}/{PREFIX}",
            "TIERFLOW_S3_ENDPOINT": self.s3_endpoint,
            # The identity stage requires a key; a fresh one per run, as a deployment would set one.
            "TIERFLOW_IDENTITY_HASH_KEY": secrets.token_urlsafe(32),
        }

    def run_checked(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        with open(self.workdir / "logs" / f"{name}.log", "wb") as log:
            result = subprocess.run(argv, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        if result.returncode != 0:
            raise Failed(
                f"{' '.join(argv)} exited with status {result.returncode}\n{self.airflow.tail(name)}"
            )

    def s3_client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.s3_endpoint,
            aws_access_key_id="realstack",
            aws_secret_access_key="realstack",
            region_name="us-east-1",
        )

    def keep_logs(self) -> Path:
        """Copy the process and task logs out of the work folder before it is removed."""
        target = ROOT / "var" / "realstack" / "last-failure"
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(self.workdir / "logs", target / "processes")
        if (self.workdir / "airflow" / "logs").is_dir():
            shutil.copytree(self.workdir / "airflow" / "logs", target / "tasks")
        return target

    def tear_down(self) -> None:
        self.airflow.stop_all()
        for what, action in reversed(self.cleanup):
            try:
                action()
            except Exception as error:  # go on with the rest; say what was left behind
                say(f"cleanup: could not {what}: {error}")
        self.servers.stop_all()
        for path in self.leftovers:
            shutil.rmtree(path, ignore_errors=True)


def run(h: Harness) -> None:
    settings, phases = h.settings, h.phases

    with phases("servers: PostgreSQL and Redis"):
        h.pg_admin_url, h.redis_url = ensure_servers(settings, h.servers, h.workdir, h.leftovers)
        recreate_database(h.pg_admin_url, settings.database)
        if not settings.keep:
            drop = lambda: recreate_database(h.pg_admin_url, settings.database, drop_only=True)  # noqa: E731
            h.cleanup.append((f"drop database {settings.database}", drop))
        h.cleanup.append(
            (
                f"delete Redis keys of {h.queue}",
                lambda: delete_queue_keys(h.redis_url, settings.redis_db, h.queue),
            )
        )
        where = urlsplit(h.pg_admin_url).netloc
        say(f"database {settings.database} on {where}; Redis db {settings.redis_db}, queue {h.queue}")

    with phases("S3: moto server and bucket"):
        port = free_port()
        h.s3_endpoint = f"http://127.0.0.1:{port}"
        moto = [str(VENV_BIN / "python"), "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
        h.servers.start("s3", moto, h.base_env())
        s3 = h.s3_client()
        wait_until("the S3 server", lambda: s3.list_buckets() is not None, 60, 0.3, h.alive)
        s3.create_bucket(Bucket=BUCKET)

    with phases(f"synthetic data ({settings.members} members)"):
        synth = [str(VENV_BIN / "python"), "-m", "tierlib", "synth", "--members", str(settings.members)]
        synth += ["--months", str(SYNTH_MONTHS), "--start", SYNTH_START, "--seed", "11"]
        h.run_checked("synth", [*synth, "--out", str(h.workdir / "sources")], h.base_env())

    h.api_port = free_port()
    env = h.airflow_env()
    (h.workdir / "airflow").mkdir()
    (h.workdir / "passwords.json").write_text(json.dumps({ADMIN: h.password}))

    with phases("airflow db migrate (PostgreSQL)"):
        h.run_checked("db-migrate", ["airflow", "db", "migrate"], env)

    with phases("start API server, scheduler, DAG processor, worker"):
        h.airflow.start("api-server", ["airflow", "api-server", "--port", str(h.api_port)], env)
        h.airflow.start("scheduler", ["airflow", "scheduler"], env)
        h.airflow.start("dag-processor", ["airflow", "dag-processor"], env)
        worker = ["airflow", "celery", "worker", "--queues", h.queue, "--celery-hostname", f"{h.queue}@%h"]
        h.airflow.start("celery-worker", worker, env)
        api = Api(f"http://127.0.0.1:{h.api_port}", ADMIN, h.password)
        h.cleanup.append(("close the API client", api.close))
        wait_until(
            "the API server", lambda: api.http.get("/api/v2/monitor/health").is_success, 180, 1, h.alive
        )
        api.login()

    with phases("DAG parsed by the DAG processor"):

        def dag_is_there():
            errors = api.call("GET", "/importErrors")["import_errors"]
            if errors:
                raise Failed(
                    "import errors:\n" + "\n".join(f"{e['filename']}: {e['stack_trace']}" for e in errors)
                )
            return api.call("GET", f"/dags/{DAG_ID}", expect=(200, 404)).get("dag_id")

        wait_until(f"DAG {DAG_ID} to be parsed", dag_is_there, 180, 2, h.alive)

    with phases("AWS connection through the REST API"):
        # The provider's connection test calls STS, which ignores the global endpoint_url.
        sts = {"sts": {"endpoint_url": h.s3_endpoint}}
        extra = json.dumps({"endpoint_url": h.s3_endpoint, "region_name": "us-east-1", "service_config": sts})
        connection = {"connection_id": "aws_default", "conn_type": "aws", "login": "realstack"}
        connection.update(password="realstack", extra=extra)
        api.call("POST", "/connections", expect=(201,), json=connection)
        tested = api.call("POST", "/connections/test", json=connection)
        if not tested.get("status"):
            raise Failed(f"the AWS connection does not reach the S3 server: {tested.get('message')}")
        say(f"connection aws_default -> {h.s3_endpoint}: {tested.get('message')}")
        api.call("PATCH", f"/dags/{DAG_ID}", json={"is_paused": False})

    with phases(f"monthly run {TRIGGERED_PERIOD} (trigger + wait)"):
        triggered_at = datetime.now(UTC)
        body = {"dag_run_id": f"realstack__{TRIGGERED_PERIOD}", "logical_date": None}
        body["conf"] = {"period": TRIGGERED_PERIOD}
        run_id = api.call("POST", f"/dags/{DAG_ID}/dagRuns", json=body)["dag_run_id"]
        wait_for_runs(api, [run_id], settings.timeout, h.alive)

    with phases(f"backfill {' + '.join(BACKFILL_PERIODS)} (create + wait)"):
        backfilled_at = datetime.now(UTC)
        request = {
            "dag_id": DAG_ID,
            "from_date": f"{BACKFILL_PERIODS[0]}-01T00:00:00Z",
            "to_date": f"{BACKFILL_PERIODS[-1]}-01T00:00:00Z",
            "reprocess_behavior": "completed",
            "max_active_runs": 1,  # in order: a month's tiers compare with the month before
        }
        planned = api.call("POST", "/backfills/dry_run", json=request)["backfills"]
        planned_months = sorted(entry["logical_date"][:7] for entry in planned)
        if planned_months != list(BACKFILL_PERIODS):
            raise Failed(f"backfill dry run plans {planned_months}, expected {list(BACKFILL_PERIODS)}")
        backfill_id = api.call("POST", "/backfills", json=request)["id"]
        runs = api.call("GET", f"/dags/{DAG_ID}/dagRuns", params={"run_type": "backfill"})["dag_runs"]
        months = sorted(run["logical_date"][:7] for run in runs)
        if months != list(BACKFILL_PERIODS):
            raise Failed(
                f"backfill {backfill_id} created runs for {months}, expected {list(BACKFILL_PERIODS)}"
            )
        wait_for_runs(api, [run["dag_run_id"] for run in runs], settings.timeout, h.alive)
        wait_until(
            f"backfill {backfill_id} to be marked complete",
            lambda: api.call("GET", f"/backfills/{backfill_id}")["completed_at"],
            120,
            2,
            h.alive,
        )

    with phases("check outputs in the bucket"):
        since = {TRIGGERED_PERIOD: triggered_at, **dict.fromkeys(BACKFILL_PERIODS, backfilled_at)}
        check_outputs(s3, {**h.base_env(), **env}, since)  # the checker holds the S3 keys itself


def wait_for_runs(api: Api, run_ids: list[str], timeout: float, alive) -> None:
    """Wait until every run succeeded; fail at the first task that fails or waits for a retry.

    The data and the servers are local and deterministic, so a retry means a bug: failing at
    once saves the DAG's retry delays and shows the first error rather than the last.
    """

    def finished():
        done = True
        for run_id in run_ids:
            state = api.call("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}")["state"]
            tasks = api.call("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances")["task_instances"]
            if state == "failed" or any(task["state"] in FAILED_TASK_STATES for task in tasks):
                raise Failed(f"DAG run {run_id} failed:\n{describe_run(api, run_id, tasks)}")
            done = done and state == "success"
        return done

    wait_until(f"runs {', '.join(run_ids)}", finished, timeout, 3, alive)
    for run_id in run_ids:
        tasks = api.call("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances")["task_instances"]
        say(f"succeeded: {run_id}; task seconds: {task_seconds(tasks)}")


def task_seconds(tasks: list[dict]) -> str:
    """'extract.channel x6 21-265, identity 17': where a run's time went, mapped tasks folded."""
    durations: dict[str, list[float]] = {}
    for task in sorted(tasks, key=lambda task: task["start_date"] or "~"):
        durations.setdefault(task["task_id"], []).append(task["duration"] or 0.0)
    parts = []
    for task_id, seconds in durations.items():
        if len(seconds) == 1:
            parts.append(f"{task_id} {seconds[0]:.0f}")
        else:
            parts.append(f"{task_id} x{len(seconds)} {min(seconds):.0f}-{max(seconds):.0f}")
    return ", ".join(parts)


FAILED_TASK_STATES = ("failed", "up_for_retry", "upstream_failed")


def describe_run(api: Api, run_id: str, tasks: list[dict]) -> str:
    """Each task's state, and the error and log tail of the ones that failed."""
    lines = [f"run {run_id}:"]
    for task in sorted(
        tasks, key=lambda task: (task["start_date"] or "~", task["task_id"], task["map_index"])
    ):
        label = task["task_id"] + (f"[{task['map_index']}]" if task["map_index"] >= 0 else "")
        lines.append(f"  {label:<28} {task['state']}")
        if task["state"] not in FAILED_TASK_STATES or not task["try_number"]:
            continue
        path = f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{task['task_id']}/logs/{task['try_number']}"
        with contextlib.suppress(Failed):
            log = api.call("GET", path, params={"map_index": task["map_index"], "full_content": True})
            entries = log.get("content") if isinstance(log, dict) else log
            for entry in (entries or [])[-25:]:
                entry = entry if isinstance(entry, dict) else {"event": str(entry)}
                lines.append(f"      {entry.get('event', '')}")
                for error in entry.get("error_detail") or []:
                    lines.append(f"      {error.get('exc_type')}: {error.get('exc_value')}")
                    for frame in (error.get("frames") or [])[-4:]:
                        lines.append(f"        at {frame['filename']}:{frame['lineno']} in {frame['name']}")
    return "\n".join(lines)


def check_outputs(s3, env: dict[str, str], since: dict[str, datetime]) -> None:
    """Every registered stage left its figures for every month, written by that month's run."""
    from tierlib.catalog import figures_key, standardized_marker_key
    from tierlib.config import load_config
    from tierlib.pipeline.stages import STAGES

    with _environment({key: value for key, value in env.items() if key.startswith("TIERFLOW_")}):
        channels = list(load_config(env["TIERFLOW_CONFIG"]).channels)
    objects = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=f"{PREFIX}/"):
        for item in page.get("Contents", []):
            objects[item["Key"][len(PREFIX) + 1 :]] = item["LastModified"]
    problems = []
    for period, started in since.items():
        expected = [standardized_marker_key(period, channel) for channel in channels]
        for stage in STAGES:
            if stage.per_channel:
                expected += [figures_key(period, f"{stage.name}/channel={channel}") for channel in channels]
            else:
                expected.append(figures_key(period, stage.name))
        for key in expected:
            if key not in objects:
                problems.append(f"missing {key}")
            elif objects[key] < started.replace(microsecond=0):
                problems.append(f"{key} was not written by the run of {period} ({objects[key]} < {started})")
        if any(stage.name == "publish" for stage in STAGES):
            problems += check_exports(s3, objects, period, env)
        say(f"{period}: all {len(expected)} stage figures and extract markers written by its run")
    if problems:
        raise Failed("outputs in the bucket are not as expected:\n  " + "\n  ".join(problems))
    stages = ", ".join(stage.name for stage in STAGES)
    say(f"{len(objects)} objects under s3://{BUCKET}/{PREFIX}/; stages checked: {stages}")


def check_exports(s3, objects: dict, period: str, env: dict[str, str]) -> list[str]:
    """With publish registered: the month's manifest, and every file it lists, as published."""
    prefix = f"exports/period={period}/"
    exports = [key for key in objects if key.startswith(prefix)]
    manifests = [key for key in exports if "manifest" in key.rsplit("/", 1)[-1]]
    if not manifests:
        return [f"no manifest under {prefix} although publish is a registered stage"]
    try:
        from tierlib.publish import verify_published
    except ImportError:  # an older publish: check the manifests are JSON objects beside some files
        verify_published = None
    if verify_published is not None:
        from tierlib.storage import open_storage

        aws = {key: value for key, value in env.items() if key.startswith("AWS_")}
        try:
            with _environment(aws):
                storage = open_storage(f"s3://{BUCKET}/{PREFIX}", endpoint_url=env["TIERFLOW_S3_ENDPOINT"])
                manifest = verify_published(storage, period)
        except Exception as error:  # PublishError names what differs
            return [f"exports of {period}: {error}"]
        say(f"{period}: manifest verified, {len(manifest['files'])} export files match their SHA-256")
        return []
    problems = []
    for key in manifests:
        body = s3.get_object(Bucket=BUCKET, Key=f"{PREFIX}/{key}")["Body"].read()
        try:
            if not isinstance(json.loads(body), dict):
                problems.append(f"{key} is not a JSON object")
        except ValueError as error:
            problems.append(f"{key} is not JSON: {error}")
    if len(exports) == len(manifests):
        problems.append(f"{prefix} holds manifests but no export files")
    say(f"{period}: {len(manifests)} manifests, {len(exports) - len(manifests)} export files")
    return problems


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:
    settings = Settings.from_env()
    h = Harness(settings)
    # CI cancelling the job (SIGTERM) unwinds through the same clean-up as Ctrl-C.
    previous_handler = signal.signal(signal.SIGTERM, _interrupt)
    say(f"run {settings.run_id}: work folder {h.workdir}")
    status = EXIT_FAILED
    try:
        run(h)
        status = 0
    except Missing as missing:
        print(f"\nREAL-STACK TEST NOT RUN: {missing}", file=sys.stderr, flush=True)
        status = EXIT_MISSING
    except Failed as failure:
        print(f"\nREAL-STACK TEST FAILED: {failure}", file=sys.stderr, flush=True)
        for name, _ in h.airflow.children:
            print(h.airflow.tail(name, 25), file=sys.stderr)
        print(f"logs kept in {h.keep_logs()}", file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        print("\nREAL-STACK TEST INTERRUPTED", file=sys.stderr, flush=True)
        status = 130
    except Exception:  # a bug in this script or an API answer it did not expect
        traceback.print_exc()
        print(
            f"\nREAL-STACK TEST FAILED (unexpected error above); logs kept in {h.keep_logs()}",
            file=sys.stderr,
        )
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # let clean-up finish
        with h.phases("stop processes and clean up"):
            if settings.keep:
                h.leftovers.remove(h.workdir)
                say(f"REALSTACK_KEEP=1: keeping {h.workdir} and database {settings.database}")
            h.tear_down()
        h.phases.report()
        signal.signal(signal.SIGTERM, previous_handler)
    if status == 0:
        print("REAL-STACK TEST PASSED", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
