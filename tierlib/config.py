"""The one YAML config: storage, channels, and each stage's settings, validated on load.

``load_config(path)`` reads the file, expands ``${VAR}`` and ``${VAR:-default}``
from the environment (credentials never live in the file), resolves relative
local paths against the config file's folder, and checks every section.  An
error names the key, the bad value and what is allowed.
"""

from __future__ import annotations

import codecs
import dataclasses
import hashlib
import importlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from tierlib.errors import ConfigError
from tierlib.schemas import COLUMNS_BY_KIND, KINDS
from tierlib.settings import collect_settings, expand_variables, settings_from_mapping

DEFAULT_NULL_VALUES = ("NULL", "null", "Null", "\\N", "None", "none", "N/A", "n/a", "#N/A")
"""Spellings exports write for "no value" (SQL dumps, spreadsheets): read as missing."""

STAGE_SETTINGS: dict[str, str] = {
    "identity": "tierlib.identity:IdentitySettings",
    "features": "tierlib.features:FeatureSettings",
    "exports": "tierlib.publish._settings:PublishSettings",
    "model": "tierlib.model._settings:ModelSettings",
    "tiers": "tierlib.tiers._settings:TierSettings",
    "alerts": "tierlib.tiers._settings:AlertSettings",
    "validation": "tierlib.validation.settings:ValidationSettings",
    "report": "tierlib.report._settings:ReportSettings",
    "privacy": "tierlib.privacy._settings:PrivacySettings",
    "spark": "tierlib.spark._settings:SparkSettings",
    "operations": "tierlib.operations:OperationsSettings",
}
"""Config section -> ``module:Class`` of that stage's frozen settings dataclass."""


@dataclass(frozen=True)
class ChannelCodeRule:
    """Rows whose ``column`` holds a code outside ``allowed`` do not belong to this channel."""

    column: str
    allowed: tuple[str, ...]


@dataclass(frozen=True)
class NumberFormat:
    """How a channel writes the numbers of one column: ``1,234.50``, ``1.234,50``, ``¥128.00``.

    Without a declaration a number is plain (``1234.50``): ``1,234.50`` and ``¥128.00`` are
    quarantined as ``non_numeric_amount``, never guessed.
    """

    decimal: str = "."
    thousands: str | None = None
    """Group separator; groups must be of three digits (``1,234,567.5``), else the value is not a number."""
    currency: tuple[str, ...] = ()
    """Symbols or codes written before or after the number (``¥``, ``￥``, ``RMB``, ``元``)."""

    def __post_init__(self) -> None:
        problems = []
        if len(self.decimal) != 1 or self.decimal.isdigit():
            problems.append(f"decimal must be one character such as '.' or ',', got {self.decimal!r}")
        if self.thousands is not None and (len(self.thousands) != 1 or self.thousands.isdigit()):
            problems.append(f"thousands must be one character such as ',' or ' ', got {self.thousands!r}")
        if self.thousands is not None and self.thousands == self.decimal:
            problems.append(f"thousands and decimal are both {self.decimal!r}: a number would be ambiguous")
        for symbol in self.currency:
            if not symbol.strip() or any(c.isdigit() or c in "+-.," for c in symbol):
                problems.append(
                    f"currency {symbol!r} must be a symbol or code without digits, signs or separators"
                )
        if problems:
            raise ValueError("; ".join(problems))


@dataclass(frozen=True)
class TableMapping:
    """How one source table of a channel maps onto a standard table.

    ``columns`` maps standard column -> source column; standard columns not
    listed come out empty.  ``formats`` gives how a source time column is
    written: ``iso`` (default), ``epoch_s``, ``epoch_ms`` or a strftime pattern.
    ``numbers`` declares, per amount column, decimal and thousands separators and
    currency symbols.  ``redelivered`` (orders): an order id already delivered in an
    earlier month is a ``duplicate`` (quarantined) or an ``update`` (the later delivery
    replaces the earlier one).
    """

    columns: dict[str, str]
    file: str | None = None
    table: str | None = None
    time_column: str | None = None
    formats: dict[str, str] = field(default_factory=dict)
    numbers: dict[str, NumberFormat] = field(default_factory=dict)
    channel_code: ChannelCodeRule | None = None
    redelivered: Literal["duplicate", "update"] = "duplicate"


@dataclass(frozen=True)
class ChannelConfig:
    """One source channel and the connector that reads it.

    ``file``: ``location`` is a local folder or ``s3://bucket/prefix`` holding one
    ``period=YYYY-MM/`` folder per month.  ``sql``: ``url`` is a SQLAlchemy URL, or
    ``conn_id`` names an Airflow connection (outside Airflow: the ``AIRFLOW_CONN_<ID>``
    environment variable), and each table's ``time_column`` bounds the rows to the month.

    The dialect of text files: ``encoding`` (a codec name, or ``auto`` to detect it per
    file), ``delimiter`` (CSV), and ``null_values``, the spellings that stand for no value.
    """

    connector: Literal["file", "sql"]
    records: TableMapping
    orders: TableMapping | None = None
    events: TableMapping | None = None
    location: str | None = None
    format: Literal["csv", "parquet", "jsonl"] | None = None
    url: str | None = None
    conn_id: str | None = None
    encoding: str = "utf-8"
    delimiter: str = ","
    null_values: tuple[str, ...] = DEFAULT_NULL_VALUES

    def __post_init__(self) -> None:
        problems = []
        if self.encoding != "auto":
            try:
                codecs.lookup(self.encoding)
            except LookupError:
                problems.append(
                    f"encoding {self.encoding!r} is not an encoding name; use one such as utf-8, gb18030 "
                    f"(GBK's superset), utf-16 or big5, or auto to detect it per file"
                )
        if len(self.delimiter) != 1 or self.delimiter in '"\r\n' or self.delimiter.isalnum():
            problems.append(
                f"delimiter must be one character such as ',', ';', '|' or '\\t', got {self.delimiter!r}"
            )
        if problems:
            raise ValueError("; ".join(problems))

    def tables(self) -> dict[str, TableMapping]:
        return {kind: mapping for kind in KINDS if (mapping := getattr(self, kind)) is not None}


@dataclass(frozen=True)
class StorageConfig:
    root: str
    endpoint_url: str | None = None
    region_name: str | None = None
    aws_conn_id: str | None = None
    """Airflow connection the DAG tasks take S3 credentials from (and the endpoint, when
    ``endpoint_url`` is empty).  Empty, and outside Airflow: boto3's default chain."""


@dataclass(frozen=True)
class RunConfig:
    history_months: int = 24
    """How many months of history (the run's month included) features look back on.

    Extract fills in any of those months not yet in storage, each read only from
    its own month of source data.
    """
    timezone: str = "Asia/Shanghai"
    """The business's local time zone: every naive timestamp is local time; Unix
    instants and times with an offset are converted to it."""
    engine: Literal["embedded", "spark"] = "embedded"
    """What runs the member-level stages: ``embedded`` (pandas and NumPy in the task's process,
    up to a few million members) or ``spark`` (the cluster of the ``spark`` section).  Both give
    the same outputs; ``python -m tierlib run --engine`` overrides it."""


@dataclass(frozen=True)
class Config:
    path: str
    storage: StorageConfig
    channels: dict[str, ChannelConfig]
    run: RunConfig
    stages: dict[str, Any]
    raw: dict[str, Any]

    def stage(self, name: str) -> Any:
        """The parsed settings of a stage section (defaults where the YAML has none)."""
        return self.stages[name]

    @property
    def digest(self) -> str:
        """SHA-256 of what the config decides (rules, mappings, settings): goes into manifests.

        Where data lives (the storage root, channel locations and URLs), what does the work
        (``run.engine``, the ``spark`` cluster) and how tasks are retried and waited for
        (``operations``) are left out: outputs do not depend on them, so the same
        configuration gives the same digest in every environment it is deployed to.
        """
        left_out = ("storage", "spark", "operations")
        decisions = {key: value for key, value in self.raw.items() if key not in left_out}
        if isinstance(decisions.get("run"), dict):
            decisions["run"] = {key: value for key, value in decisions["run"].items() if key != "engine"}
            if not decisions["run"]:
                del decisions["run"]
        decisions["channels"] = {
            name: {key: value for key, value in channel.items() if key not in ("location", "url")}
            for name, channel in (self.raw.get("channels") or {}).items()
        }
        canonical = json.dumps(decisions, sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()

    def with_engine(self, engine: str) -> Config:
        """This config with ``run.engine`` set to ``engine`` (``embedded`` or ``spark``)."""
        if engine not in ("embedded", "spark"):
            raise ConfigError(f"engine {engine!r} is not known; use embedded or spark")
        return dataclasses.replace(self, run=dataclasses.replace(self.run, engine=engine))

    def with_channels(self, names: list[str]) -> Config:
        unknown = sorted(set(names) - set(self.channels))
        if unknown:
            raise ConfigError(
                f"channels {unknown} are not in {self.path}; configured channels: {sorted(self.channels)}"
            )
        return dataclasses.replace(self, channels={n: c for n, c in self.channels.items() if n in names})


def _resolve_location(location: str | None, base: Path) -> str | None:
    if location is None or "://" in location:
        return location
    return str((base / location).resolve())


def _check_channel(name: str, channel: ChannelConfig) -> list[str]:
    problems = []
    where = f"channels.{name}"
    if channel.connector == "file" and (not channel.location or not channel.format):
        problems.append(f"{where}: a file connector needs 'location' (folder or s3://...) and 'format'")
    if channel.connector == "sql" and bool(channel.url) == bool(channel.conn_id):
        problems.append(
            f"{where}: a sql connector needs either 'url' (a SQLAlchemy URL without a password) or "
            f"'conn_id' (an Airflow connection; outside Airflow the AIRFLOW_CONN_<ID> environment variable)"
        )
    for kind, mapping in channel.tables().items():
        allowed = COLUMNS_BY_KIND[kind]
        for target in mapping.columns:
            if target not in allowed or target == "channel":
                problems.append(
                    f"{where}.{kind}.columns.{target}: not a standard {kind} column; "
                    f"allowed: {', '.join(c for c in allowed if c != 'channel')}"
                )
        key = "order_id" if kind == "orders" else "record_id"
        if key not in mapping.columns:
            problems.append(f"{where}.{kind}.columns: map the key column '{key}' to a source column")
        if channel.connector == "file" and not mapping.file:
            problems.append(f"{where}.{kind}.file: name the file inside each period=YYYY-MM/ folder")
        if channel.connector == "sql" and not (mapping.table and mapping.time_column):
            problems.append(f"{where}.{kind}: a sql table needs 'table' and 'time_column'")
        for target in mapping.numbers:
            if allowed.get(target) != "float64":
                numeric = ", ".join(c for c, dtype in allowed.items() if dtype == "float64") or "none"
                problems.append(
                    f"{where}.{kind}.numbers.{target}: not a number column of {kind}; numbers: {numeric}"
                )
        if mapping.redelivered != "duplicate" and kind != "orders":
            problems.append(f"{where}.{kind}.redelivered: only orders can be re-delivered as updates")
    if channel.connector == "sql":
        from tierlib.extract.sql import time_format_problems

        problems.extend(time_format_problems(name, channel))
    return problems


def parse_config(raw: Mapping[str, Any], path: str = "<config>") -> Config:
    """Validate an already-read mapping; ``path`` names the file in messages."""
    base = Path(path).resolve().parent if path != "<config>" else Path.cwd()
    raw = expand_variables(dict(raw or {}), "config")
    allowed = {"storage", "channels", "run", *STAGE_SETTINGS}
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ConfigError(f"{path}: unknown top-level keys {unknown}; allowed: {sorted(allowed)}")
    if "storage" not in raw or "channels" not in raw:
        raise ConfigError(f"{path}: 'storage' and 'channels' are required top-level keys")
    storage = settings_from_mapping(StorageConfig, raw["storage"], "storage")
    storage = dataclasses.replace(
        storage,
        root=_resolve_location(storage.root, base),
        endpoint_url=storage.endpoint_url or None,
        region_name=storage.region_name or None,
        aws_conn_id=storage.aws_conn_id or None,
    )
    if not isinstance(raw["channels"], Mapping) or not raw["channels"]:
        raise ConfigError(f"{path}: 'channels' must map each channel name to its connector settings")
    channels: dict[str, ChannelConfig] = {}
    problems: list[str] = []
    for name, settings in raw["channels"].items():
        if not re.fullmatch(r"[a-z][a-z0-9_]*", str(name)):
            problems.append(f"channels.{name}: channel names are lower-case letters, digits and _")
            continue
        channel = collect_settings(ChannelConfig, settings, f"channels.{name}", problems)
        if channel is None:
            continue
        channel = dataclasses.replace(channel, location=_resolve_location(channel.location, base))
        problems.extend(_check_channel(name, channel))
        channels[str(name)] = channel
    if problems:
        raise ConfigError(f"{path}: invalid config:\n  - " + "\n  - ".join(problems))
    if isinstance(raw.get("run"), Mapping) and "partitions" in raw["run"]:
        raise ConfigError(
            f"{path}: run.partitions is gone: the features and score stages no longer split into "
            "mapped tasks. Remove it; past one machine set run.engine: spark (docs/engines.md)"
        )
    run = settings_from_mapping(RunConfig, raw.get("run"), "run")
    try:
        ZoneInfo(run.timezone)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ConfigError(
            f"{path}: run.timezone {run.timezone!r} is not a time zone name such as Asia/Shanghai"
        ) from error
    if run.history_months < 1:
        raise ConfigError(f"{path}: run.history_months must be at least 1, got {run.history_months}")
    stages = {}
    for section, target in STAGE_SETTINGS.items():
        module_name, class_name = target.split(":")
        settings_class = getattr(importlib.import_module(module_name), class_name)
        stages[section] = settings_from_mapping(settings_class, raw.get(section), section)
    return Config(path=path, storage=storage, channels=channels, run=run, stages=stages, raw=raw)


def load_config(path: str | os.PathLike[str]) -> Config:
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"config file {file} does not exist; pass --config with the path to your YAML")
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ConfigError(f"{file}: not valid YAML: {error}") from error
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{file}: the config must be a YAML mapping of sections")
    return parse_config(raw, str(file))
