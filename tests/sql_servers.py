"""The machine's PostgreSQL and MariaDB for tests: one database per test and process, dropped after.

Both servers run on every developer and CI machine (docs in DESIGN.md).  Where one is not
reachable the test is skipped with a message naming host:port and how to start it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

SERVERS = {
    "postgresql": {
        "host": "127.0.0.1",
        "port": 5432,
        "url": "postgresql+psycopg2://postgres@127.0.0.1:5432/{database}",
        "admin": "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres",
        "start": "service postgresql start (user postgres with trust authentication on 127.0.0.1)",
    },
    "mariadb": {
        "host": "127.0.0.1",
        "port": 3306,
        "url": "mariadb+pymysql://root@127.0.0.1:3306/{database}?charset=utf8mb4",
        "admin": "mariadb+pymysql://root@127.0.0.1:3306/?charset=utf8mb4",
        "start": "service mariadb start (user root with an empty password on 127.0.0.1)",
    },
}


def database_name(test_name: str) -> str:
    """``tierflow_<test>_<pid>``: another worktree may run the same test at the same moment."""
    stem = re.sub(r"[^a-z0-9]+", "_", test_name.lower()).strip("_")
    return f"tf_{stem[:40]}_{os.getpid()}"


@contextmanager
def fresh_database(server: str, test_name: str) -> Iterator[str]:
    """A fresh database on ``server`` for one test; yields its SQLAlchemy URL; dropped afterwards."""
    import sqlalchemy as sa

    spec = SERVERS[server]
    name = database_name(test_name)
    admin = sa.create_engine(spec["admin"], isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
            connection.execute(sa.text(f"CREATE DATABASE {name}"))
    except sa.exc.OperationalError as error:
        admin.dispose()
        pytest.skip(
            f"{server} is not reachable at {spec['host']}:{spec['port']} ({str(error).splitlines()[0]}); "
            f"start it: {spec['start']}"
        )
    try:
        yield spec["url"].format(database=name)
    finally:
        with admin.connect() as connection:
            if server == "postgresql":
                connection.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            else:
                connection.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()
