"""SQL sources: one month of a table, bounded in the database's own types.

The month is ``[first instant, first instant of the next month)`` in ``run.timezone``,
and the table's ``time_column`` is compared with it the way the column is stored:

- a timestamp or date column with bound timestamps: naive columns hold local time,
  ``timestamptz`` (PostgreSQL) is compared as instants at ``run.timezone``, and MySQL /
  MariaDB ``TIMESTAMP`` columns are read in a UTC session and converted, so no server
  time zone setting shifts a row into another month;
- an integer or decimal column declared ``epoch_s`` / ``epoch_ms`` with the month's bounds
  as Unix instants;
- a text column (and every column on SQLite, which stores dates as text) by the shape
  its declared format gives a month's values (a regular expression the database runs),
  a day wider on each side where values may carry a UTC offset; the rows fetched are
  then parsed with the file connectors' own parser and kept exactly when they fall in
  the month.

A row whose time is empty, or written so that it fits no month's shape, belongs to no
month: every month's read carries it, so it is quarantined (``missing_date`` or
``unparseable_date``) and counted rather than lost.  :func:`count_month_rows` counts
what :func:`read_sql_month` reads, for waits that ask whether a month has arrived.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pandas as pd

from tierlib.errors import ExtractError
from tierlib.period import period_end, period_start

if TYPE_CHECKING:
    from tierlib.config import ChannelConfig, TableMapping

ConnectionLookup = Callable[[str], str]
"""``conn_id`` -> SQLAlchemy URL (the Airflow side passes one reading Airflow connections)."""

EPOCH_FORMATS = ("epoch_s", "epoch_ms")

_DIRECTIVES = {
    # The shape of each directive's values, without named groups: PostgreSQL, MariaDB and
    # SQLite run these alike.  Year and month are exact (they name the month); the other
    # fields only need their digits, so "2026/10/32" still looks like October, where it is
    # quarantined, rather than like no month at all.
    "d": r"[ 0-9]?[0-9]",
    "f": r"[0-9]{1,9}",
    "H": r"[0-9]{1,2}",
    "I": r"[0-9]{1,2}",
    "m": r"(?:1[0-2]|0[1-9]|[1-9])",
    "M": r"[0-9]{1,2}",
    "S": r"[0-9]{1,2}",
    "y": r"[0-9]{2}",
    "Y": r"[0-9]{4}",
    "z": r"(?:[+-][0-9]{2}:?[0-9]{2}(?::?[0-9]{2}(?:\.[0-9]{1,6})?)?|Z)",
    "p": r"(?:[AaPp][Mm])",
    "%": "%",
}
_REGEX_SPECIAL = set(r".^$*+?()[]{}|\\")


def time_format(mapping: TableMapping) -> str:
    """The declared format of the table's ``time_column`` (that of the standard column it feeds)."""
    for target, column in mapping.columns.items():
        if column == mapping.time_column and target in mapping.formats:
            return mapping.formats[target]
    return mapping.formats.get(mapping.time_column or "", "iso")


def time_format_problems(name: str, channel: ChannelConfig) -> list[str]:
    """Config problems: time formats a SQL month bound cannot be built from."""
    problems = []
    for kind, mapping in channel.tables().items():
        how = time_format(mapping)
        if how in ("iso", *EPOCH_FORMATS):
            continue
        unknown = sorted(set(re.findall(r"%(.)", how)) - set(_DIRECTIVES))
        target = next((t for t, c in mapping.columns.items() if c == mapping.time_column), "<time column>")
        if unknown or not re.search(r"%[Yy]", how) or "%m" not in how:
            problems.append(
                f"channels.{name}.{kind}.formats.{target}: {how!r} cannot bound a SQL month: it needs %Y "
                f"(or %y) and %m, and only {', '.join('%' + d for d in _DIRECTIVES)}"
                + (f" (not {', '.join('%' + d for d in unknown)})" if unknown else "")
            )
    return problems


# --- where the URL comes from ------------------------------------------------------------

_DRIVERS = {
    "postgres": "postgresql+psycopg2",
    "postgresql": "postgresql+psycopg2",
    "mysql": "mysql+pymysql",
    "mariadb": "mariadb+pymysql",
    "sqlite": "sqlite",
}


def sqlalchemy_url(
    conn_type: str,
    host: str | None = None,
    port: int | None = None,
    login: str | None = None,
    password: str | None = None,
    schema: str | None = None,
    extra: dict | None = None,
) -> str:
    """The SQLAlchemy URL of an Airflow-style connection (``schema`` is the database)."""
    import sqlalchemy as sa

    driver = conn_type if "+" in conn_type else _DRIVERS.get(conn_type)
    if driver is None:
        raise ExtractError(
            f"connection type {conn_type!r} is not a database Tierflow reads; use one of "
            f"{', '.join(sorted(_DRIVERS))} (or a SQLAlchemy driver name such as postgresql+psycopg2)"
        )
    if driver == "sqlite":
        return sa.engine.URL.create("sqlite", database=schema or host).render_as_string(hide_password=False)
    query = {str(k): str(v) for k, v in (extra or {}).items() if isinstance(v, str | int | float)}
    url = sa.engine.URL.create(
        driver, username=login, password=password, host=host, port=port, database=schema, query=query
    )
    return url.render_as_string(hide_password=False)


def connection_from_environment(conn_id: str) -> str:
    """The URL of ``conn_id`` from ``AIRFLOW_CONN_<ID>`` (Airflow's own convention: a URI or JSON)."""
    from urllib.parse import unquote, urlsplit

    variable = f"AIRFLOW_CONN_{conn_id.upper()}"
    value = os.environ.get(variable)
    if not value:
        raise ExtractError(
            f"connection {conn_id!r} is not defined: outside Airflow, set {variable} to its URI "
            f"(e.g. {variable}=postgresql://reader:PASSWORD@db.internal:5432/crm) or JSON "
            f'({{"conn_type": "postgres", "host": ..., "login": ..., "password": ..., "schema": ...}}); '
            f"under Airflow, create the connection {conn_id!r}"
        )
    if value.lstrip().startswith("{"):
        try:
            fields = json.loads(value)
        except json.JSONDecodeError as error:
            raise ExtractError(f"{variable} is not valid JSON: {error}") from error
        return sqlalchemy_url(
            fields.get("conn_type", ""),
            fields.get("host"),
            fields.get("port"),
            fields.get("login"),
            fields.get("password"),
            fields.get("schema"),
            fields.get("extra") if isinstance(fields.get("extra"), dict) else None,
        )
    parts = urlsplit(value)
    if parts.scheme == "sqlite" or "+" in parts.scheme:
        return value
    from urllib.parse import parse_qsl

    return sqlalchemy_url(
        parts.scheme,
        unquote(parts.hostname or "") or None,
        parts.port,
        unquote(parts.username) if parts.username else None,
        unquote(parts.password) if parts.password else None,
        unquote(parts.path.lstrip("/")) or None,
        dict(parse_qsl(parts.query)),
    )


def channel_url(
    channel_name: str, channel: ChannelConfig, connections: ConnectionLookup | None = None
) -> str:
    """The channel's SQLAlchemy URL: ``url``, or its ``conn_id`` through ``connections``
    (default: the ``AIRFLOW_CONN_<ID>`` environment variable)."""
    if channel.url:
        return channel.url
    lookup = connections or connection_from_environment
    try:
        return lookup(channel.conn_id)
    except ExtractError as error:
        raise ExtractError(f"channel {channel_name} (channels.{channel_name}.conn_id): {error}") from error


# --- the month bound --------------------------------------------------------------------


def _pattern(how: str, year: str | None = None, month: int | None = None, day: int | None = None) -> str:
    """A full-value regular expression for a strftime format; literal year/month/day where given."""
    out = [r"^\s*"]
    tokens = re.split(r"(%.)", how)
    for token in tokens:
        if not token:
            continue
        if token.startswith("%") and len(token) == 2:
            code = token[1]
            if code == "Y" and year is not None:
                out.append(year)
            elif code == "y" and year is not None:
                out.append(year[2:])
            elif code == "m" and month is not None:
                out.append(f"(?:{month:02d}|{month})" if month < 10 else f"{month}")
            elif code == "d" and day is not None:
                out.append(f"(?:{day:02d}|{day}| {day})" if day < 10 else f"{day}")
            else:
                out.append(_DIRECTIVES[code])
            continue
        for char in token:
            if char.isspace():
                out.append(r"\s+")
            elif char in _REGEX_SPECIAL:
                out.append("\\" + char)
            else:
                out.append(char)
    out.append(r"\s*$")
    return "".join(out)


def _iso_pattern(year: str | None = None, month: int | None = None, day: int | None = None) -> str:
    month_part = f"{month:02d}" if month is not None else "(?:0[1-9]|1[0-2])"
    text = rf"^\s*{year or '[0-9]{4}'}-?{month_part}"
    return text + (f"-?{day:02d}" if day is not None else "")


def month_patterns(how: str, period: str) -> tuple[str, list[str], str]:
    """(the month's shape, the neighbouring days' shapes, the shape of any month) of a text format.

    The neighbouring days (last of the month before, first of the next) matter only where
    values may carry a UTC offset (ISO, or a format with %z): an instant written there can
    fall in this month's local time.
    """
    start, end = period_start(period), period_end(period)
    before = start - pd.Timedelta(days=1)
    build = _iso_pattern if how == "iso" else (lambda **parts: _pattern(how, **parts))
    strict = build(year=f"{start.year:04d}", month=start.month)
    generic = build()
    offsets = how == "iso" or "%z" in how
    neighbours = []
    if offsets and (how == "iso" or "%d" in how):
        for moment in (before, end):
            neighbours.append(build(year=f"{moment.year:04d}", month=moment.month, day=moment.day))
    elif offsets:  # an offset but no day: the neighbouring months, whole
        for moment in (before, end):
            neighbours.append(build(year=f"{moment.year:04d}", month=moment.month))
    return strict, neighbours, generic


def _kind_of_type(column_type, dialect: str) -> str:
    """``aware``, ``utc`` (MySQL TIMESTAMP), ``naive``, ``date``, ``number`` or ``text``."""
    import sqlalchemy as sa

    if dialect == "sqlite":
        # SQLite keeps dates as text whatever the column says; only numbers compare as numbers.
        return "number" if isinstance(column_type, sa.Integer | sa.Numeric | sa.Float) else "text"
    if isinstance(column_type, sa.DateTime):
        if getattr(column_type, "timezone", False):
            return "aware"
        if dialect in ("mysql", "mariadb") and type(column_type).__name__ == "TIMESTAMP":
            return "utc"
        return "naive"
    if isinstance(column_type, sa.Date):
        return "date"
    if isinstance(column_type, sa.Integer | sa.Numeric | sa.Float):
        return "number"
    return "text"


def _month_clause(column, how: str, period: str, timezone: str, dialect: str, channel_name: str, key: str):
    import sqlalchemy as sa

    kind = _kind_of_type(column.type, dialect)
    zone = ZoneInfo(timezone)
    start, end = period_start(period), period_end(period)
    empty = column.is_(None)
    if kind in ("aware", "utc", "naive", "date"):
        if how in EPOCH_FORMATS:
            raise ExtractError(
                f"channel {channel_name}: column {column.name!r} is a {column.type} column, not a Unix "
                f"time: remove {key} (or set it to iso)"
            )
        if kind == "aware":
            low, high = start.replace(tzinfo=zone), end.replace(tzinfo=zone)
        elif kind == "utc":
            low, high = (_as_utc_naive(moment, zone) for moment in (start, end))
        elif kind == "date":
            low, high = start.date(), end.date()
        else:
            low, high = start, end
        return sa.or_(sa.and_(column >= low, column < high), empty)
    if kind == "number":
        if how not in EPOCH_FORMATS:
            if dialect == "sqlite":
                return sa.true()  # a SQLite column of numbers holding dates: parsed and placed in Python
            raise ExtractError(
                f"channel {channel_name}: column {column.name!r} is a {column.type} column: declare how it "
                f"holds time in {key} (epoch_s or epoch_ms), or bound the table by a timestamp column"
            )
        scale = 1000 if how == "epoch_ms" else 1
        low, high = (int(_epoch(moment, zone) * scale) for moment in (start, end))
        return sa.or_(sa.and_(column >= low, column < high), empty)
    if how in EPOCH_FORMATS:
        number = r"^\s*-?[0-9]+(\.[0-9]+)?\s*$"
        scale = 1000 if how == "epoch_ms" else 1
        low, high = (int(_epoch(moment, zone) * scale) for moment in (start, end))
        value = sa.case(
            (column.regexp_match(number), sa.cast(sa.func.trim(column), sa.Numeric(24, 6))), else_=None
        )
        return sa.or_(sa.and_(value >= low, value < high), sa.not_(column.regexp_match(number)), empty)
    strict, neighbours, generic = month_patterns(how, period)
    shapes = [column.regexp_match(pattern) for pattern in (strict, *neighbours)]
    return sa.or_(*shapes, sa.not_(column.regexp_match(generic)), empty)


def _epoch(moment: datetime, zone: ZoneInfo) -> float:
    return moment.replace(tzinfo=zone).timestamp()


def _as_utc_naive(moment: datetime, zone: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(_epoch(moment, zone), ZoneInfo("UTC")).replace(tzinfo=None)


def _placed(raw: pd.Series, how: str, period: str, timezone: str) -> tuple[pd.Series, pd.Series]:
    """(parsed local times, whether each lies in the month) of time values as the database holds them."""
    from tierlib.extract.standardize import parse_timestamps

    parsed = parse_timestamps(raw, how, timezone)
    return parsed, (parsed >= period_start(period)) & (parsed < period_end(period))


def _in_month(frame: pd.DataFrame, column: str, how: str, period: str, timezone: str) -> pd.Series:
    """Rows of the superset the database returned that belong to the month (or to none)."""
    raw = frame[column]
    parsed, placed = _placed(raw, how, period, timezone)
    if how in EPOCH_FORMATS or pd.api.types.is_datetime64_any_dtype(raw.dtype):
        return (placed | parsed.isna()).fillna(True).astype(bool)
    # A value that does not parse stays with the month its text names, or with every month
    # when it names none; never with a neighbouring month it only came along for.
    strict, _, generic = month_patterns(how, period)
    text = raw.astype("string")
    looks = text.str.contains(strict, regex=True) | ~text.str.contains(generic, regex=True)
    return (placed.fillna(False) | (parsed.isna() & looks.fillna(True))).astype(bool)


def _engine(url: str, dialect_timezone_utc: bool = True):
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    if engine.dialect.name in ("mysql", "mariadb") and dialect_timezone_utc:

        @sa.event.listens_for(engine, "connect")
        def _utc_session(dbapi_connection, _record) -> None:
            # TIMESTAMP columns are returned in the session's zone: UTC makes them instants we convert.
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SET time_zone = '+00:00'")

    return engine


def _month_select(
    connection, channel_name: str, channel: ChannelConfig, kind: str, period: str, timezone: str
):
    import sqlalchemy as sa

    mapping = channel.tables()[kind]
    table = sa.Table(mapping.table, sa.MetaData(), autoload_with=connection)
    if mapping.time_column not in table.columns:
        found = ", ".join(repr(c.name) for c in table.columns)
        raise ExtractError(
            f"channel {channel_name}: table {mapping.table} has no column {mapping.time_column!r} "
            f"(channels.{channel_name}.{kind}.time_column; its columns: {found}). The source schema changed: "
            f"fix the table, or update channels.{channel_name}.{kind}.time_column."
        )
    how = time_format(mapping)
    target = next((t for t, c in mapping.columns.items() if c == mapping.time_column), mapping.time_column)
    key = f"channels.{channel_name}.{kind}.formats.{target}"
    dialect = connection.dialect.name
    clause = _month_clause(
        table.columns[mapping.time_column], how, period, timezone, dialect, channel_name, key
    )
    return table, how, clause


def read_sql_month(
    channel_name: str,
    channel: ChannelConfig,
    kind: str,
    period: str,
    timezone: str = "Asia/Shanghai",
    connections: ConnectionLookup | None = None,
):
    """The rows of one month of a channel's SQL table, as the database holds them (a ``SourceTable``)."""
    import sqlalchemy as sa

    from tierlib.extract.connectors import SourceMissing, SourceTable

    mapping = channel.tables()[kind]
    url = channel_url(channel_name, channel, connections)
    source = f"{_redact(url)}#{mapping.table}"
    engine = _engine(url)
    try:
        with engine.connect() as connection:
            table, how, clause = _month_select(connection, channel_name, channel, kind, period, timezone)
            dialect = connection.dialect.name
            selected = [
                sa.type_coerce(c, sa.String).label(c.name)
                if dialect == "sqlite" and isinstance(c.type, sa.DateTime | sa.Date)
                else c
                for c in table.columns
            ]
            order = list(table.primary_key.columns) or list(table.columns)
            frame = pd.read_sql(sa.select(*selected).where(clause).order_by(*order), connection)
            utc_columns = [c.name for c in table.columns if _kind_of_type(c.type, dialect) == "utc"]
    except sa.exc.NoSuchTableError as error:
        raise SourceMissing(f"{source}: table {mapping.table} does not exist") from error
    except sa.exc.SQLAlchemyError as error:
        raise ExtractError(f"channel {channel_name}: reading {source} failed: {error}") from error
    finally:
        engine.dispose()
    for name in utc_columns:
        frame[name] = pd.to_datetime(frame[name], errors="coerce").dt.tz_localize("UTC")
    if len(frame):
        frame = frame.loc[_in_month(frame, mapping.time_column, how, period, timezone).to_numpy()]
        frame = frame.reset_index(drop=True)
    return SourceTable(frame, source, text_format=False)


def count_month_rows(
    channel_name: str,
    channel: ChannelConfig,
    kind: str,
    period: str,
    timezone: str = "Asia/Shanghai",
    connections: ConnectionLookup | None = None,
) -> int:
    """How many rows of the table lie in the month, by the same bound :func:`read_sql_month` reads.

    For a wait that asks whether a month has arrived.  Rows that belong to no month (empty
    or unreadable times) do not count: they are there every month.
    """
    import sqlalchemy as sa

    mapping = channel.tables()[kind]
    url = channel_url(channel_name, channel, connections)
    engine = _engine(url)
    try:
        with engine.connect() as connection:
            table, how, clause = _month_select(connection, channel_name, channel, kind, period, timezone)
            column = table.columns[mapping.time_column]
            if _kind_of_type(column.type, connection.dialect.name) in ("aware", "utc", "naive", "date") or (
                how in EPOCH_FORMATS and _kind_of_type(column.type, connection.dialect.name) == "number"
            ):
                placed = sa.and_(clause, column.is_not(None))
                query = sa.select(sa.func.count()).select_from(table).where(placed)
                return int(connection.execute(query).scalar_one())
            rows = pd.read_sql(sa.select(column).where(clause), connection)
    except sa.exc.NoSuchTableError as error:
        from tierlib.extract.connectors import SourceMissing

        raise SourceMissing(
            f"{_redact(url)}#{mapping.table}: table {mapping.table} does not exist"
        ) from error
    except sa.exc.SQLAlchemyError as error:
        raise ExtractError(
            f"channel {channel_name}: counting {_redact(url)}#{mapping.table} failed: {error}"
        ) from error
    finally:
        engine.dispose()
    return int(_placed(rows[mapping.time_column], how, period, timezone)[1].sum())


def _redact(url: str) -> str:
    """Never log a password that sits in a SQLAlchemy URL."""
    import sqlalchemy as sa

    return sa.engine.make_url(url).render_as_string(hide_password=True)
