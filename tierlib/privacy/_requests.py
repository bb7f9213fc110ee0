"""Erasure requests: read from a CSV/Parquet file or a SQL table, checked, identifiers normalized."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from tierlib.errors import ConfigError, InputError
from tierlib.privacy._settings import PrivacySettings

IDENTIFIER_COLUMNS = ("phone", "email", "member_id", "unionid", "oneid")
"""What a request may identify a person by; one or more per request."""
REQUEST_COLUMNS = ("request_id", "requested_at", *IDENTIFIER_COLUMNS)


def empty_requests() -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype="string") for name in REQUEST_COLUMNS})


def read_requests(ctx) -> pd.DataFrame:
    """Every request of the run's config (``REQUEST_COLUMNS``, text), or none when it names no source.

    Problems (no request id, a request without any identifier, a request id twice) are
    reported together, each with its row, in one InputError.
    """
    settings: PrivacySettings | None = ctx.config.stages.get("privacy")
    if settings is None or not (settings.erasure_requests or settings.erasure_requests_url):
        return empty_requests()
    if settings.erasure_requests_url:
        where = f"privacy.erasure_requests_url (table {settings.erasure_requests_table})"
        frame = _read_sql(settings, where)
    else:
        where = f"privacy.erasure_requests ({settings.erasure_requests})"
        frame = _read_file(ctx, settings.erasure_requests, where)
    return _checked(frame, where)


def _read_file(ctx, location: str, where: str) -> pd.DataFrame:
    from tierlib.pipeline.context import read_location

    root = ctx.config.storage.root.rstrip("/")
    if location.startswith("s3://"):
        inside = location.startswith(root + "/")
    else:
        path = Path(location.removeprefix("file://"))
        if not path.is_absolute() and ctx.config.path != "<config>":
            path = Path(ctx.config.path).resolve().parent / path
        inside = not root.startswith("s3://") and _within(path, Path(root))
    if inside:
        raise ConfigError(
            f"{where} lies inside the storage root {root}: the requests hold the identifiers they "
            "erase, and an erasure leaves none of them in storage. Keep the requests elsewhere."
        )
    data = read_location(ctx, location, where, "Erasures must be applied before anything else runs")
    try:
        if location.lower().endswith(".parquet"):
            return pd.read_parquet(io.BytesIO(data)).astype("string")
        return pd.read_csv(io.BytesIO(data), dtype="string", keep_default_na=False, encoding="utf-8-sig")
    except (ValueError, UnicodeDecodeError, OSError) as error:
        raise InputError(f"{where}: cannot read the requests ({error}); give UTF-8 CSV or Parquet") from error


def _within(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


def _read_sql(settings: PrivacySettings, where: str) -> pd.DataFrame:
    import sqlalchemy as sa

    engine = sa.create_engine(settings.erasure_requests_url)
    try:
        with engine.connect() as connection:
            table = sa.Table(settings.erasure_requests_table, sa.MetaData(), autoload_with=connection)
            frame = pd.read_sql(sa.select(table), connection)
    except sa.exc.SQLAlchemyError as error:
        raise InputError(f"{where}: reading the requests failed: {error}") from error
    finally:
        engine.dispose()
    return frame.astype("string")


def _checked(frame: pd.DataFrame, where: str) -> pd.DataFrame:
    frame = frame.rename(columns={column: str(column).strip().lower() for column in frame.columns})
    if "request_id" not in frame.columns:
        raise InputError(f"{where}: no request_id column; columns: {', '.join(map(str, frame.columns))}")
    if not any(column in frame.columns for column in IDENTIFIER_COLUMNS):
        raise InputError(f"{where}: give at least one of the columns {', '.join(IDENTIFIER_COLUMNS)}")
    frame = frame.reindex(columns=list(REQUEST_COLUMNS)).astype("string")
    frame = frame.apply(lambda column: column.str.strip().replace("", pd.NA))
    problems = []
    for row, request in enumerate(frame.itertuples(index=False), start=2):
        if pd.isna(request.request_id):
            problems.append(f"row {row}: no request_id")
        elif all(pd.isna(getattr(request, column)) for column in IDENTIFIER_COLUMNS):
            problems.append(
                f"row {row} ({request.request_id}): names none of {', '.join(IDENTIFIER_COLUMNS)}"
            )
    twice = frame["request_id"].dropna()
    for request_id in sorted(set(twice[twice.duplicated()])):
        problems.append(f"request_id {request_id} appears more than once")
    if problems:
        raise InputError(
            f"{where}: " + "; ".join(problems) + ". Fix the requests: none is applied until then."
        )
    return frame.reset_index(drop=True)
