"""Where every dataset lives in storage: one function per dataset, so no stage spells a key twice.

Layout: ``<area>/period=YYYY-MM/...``; re-running a month overwrites that month's keys.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from tierlib.schemas import COLUMNS_BY_KIND, LINEAGE_COLUMNS, empty_frame
from tierlib.storage import period_prefix


def _period(area: str, period: str) -> str:
    return period_prefix(area, period).rstrip("/")


def standardized_key(period: str, channel: str, kind: str) -> str:
    return f"{_period('standardized', period)}/channel={channel}/{kind}.parquet"


def standardized_marker_key(period: str, channel: str) -> str:
    """Written last when a channel's month is extracted; holds the figures."""
    return f"{_period('standardized', period)}/channel={channel}/_SUCCESS.json"


def quarantine_key(period: str, stage: str, channel: str, kind: str) -> str:
    return f"{_period('quarantine', period)}/stage={stage}/channel={channel}/{kind}.parquet"


def field_quarantine_key(period: str, stage: str, channel: str, kind: str) -> str:
    """Optional fields that were cleared (their rows kept), with the values as written.

    ``FIELD_QUARANTINE_COLUMNS``; beside ``quarantine/``, which holds whole rejected rows only.
    """
    return f"{_period('quarantine_fields', period)}/stage={stage}/channel={channel}/{kind}.parquet"


def identity_key(period: str, name: str) -> str:
    """identity_map, registry, merge_log, hub_values, or records (every record version up to the month)."""
    return f"{_period('identity', period)}/{name}.parquet"


def figures_key(period: str, stage: str) -> str:
    return f"{_period('runs', period)}/{stage}.json"


def identity_map_key(period: str) -> str:
    """channel, record_id, oneid of every record known up to the month."""
    return identity_key(period, "identity_map")


def features_key(period: str) -> str:
    """One row per OneID: the value features at the month's as-of date."""
    return f"{_period('features', period)}/features.parquet"


def clv_params_key(period: str) -> str:
    """The BG/NBD and Gamma-Gamma parameters fitted for the month's CLV features."""
    return f"{_period('features', period)}/clv_params.json"


def scores_key(period: str) -> str:
    return f"{_period('scores', period)}/scores.parquet"


def tiers_key(period: str) -> str:
    return f"{_period('tiers', period)}/tiers.parquet"


def migration_key(period: str) -> str:
    """Transition matrix from the month before, long form (from_tier, to_tier, members, rate)."""
    return f"{_period('tiers', period)}/migration.parquet"


def migration_summary_key(period: str) -> str:
    return f"{_period('tiers', period)}/migration.json"


def alerts_key(period: str) -> str:
    """High-value members inactive past the bound, with alert level."""
    return f"{_period('tiers', period)}/alerts.parquet"


def alerts_summary_key(period: str) -> str:
    """Threshold warnings and alert counts by level."""
    return f"{_period('tiers', period)}/alerts.json"


def model_versions_prefix() -> str:
    return "models/versions/"


def model_artifact_key(version: str) -> str:
    return f"{model_versions_prefix()}{version}/model.skops"


def model_card_key(version: str) -> str:
    return f"{model_versions_prefix()}{version}/card.json"


def approved_model_key() -> str:
    """The approved pointer: one small JSON object, replaced atomically, written last."""
    return "models/approved.json"


def retrain_decision_key(period: str) -> str:
    """What a quarterly retrain for the data month decided, and why."""
    return f"{_period('models/retrains', period)}/decision.json"


def exports_prefix(period: str) -> str:
    """The month's published exports; complete only while ``exports_success_key`` exists."""
    return f"{_period('exports', period)}/"


def exports_staging_prefix(period: str) -> str:
    """Where a publish writes and verifies its files before committing them."""
    return f"{_period('exports/_staging', period)}/"


def exports_manifest_key(period: str) -> str:
    return f"{exports_prefix(period)}manifest.json"


def exports_success_key(period: str) -> str:
    """Written last by a publish: names the manifest's SHA-256."""
    return f"{exports_prefix(period)}_SUCCESS"


def reports_prefix() -> str:
    """Every month's report lives under ``reports/period=YYYY-MM/``."""
    return "reports/"


def report_key(period: str) -> str:
    """The month's self-contained HTML report (charts embedded)."""
    return f"{_period('reports', period)}/report.html"


def report_chart_key(period: str, name: str) -> str:
    """One chart of the month's report as PNG (for e-mail)."""
    return f"{_period('reports', period)}/charts/{name}.png"


def report_summary_key(period: str) -> str:
    """The report's headline figures and section status; written last, so it marks a complete report."""
    return f"{_period('reports', period)}/summary.json"


def erased_key() -> str:
    """Keyed hashes of erased people's identifiers, record keys and OneIDs (no identifier itself)."""
    return "privacy/erased.parquet"


def erased_records_prefix() -> str:
    return "privacy/erased_records/"


def erased_records_key(period: str, source: str) -> str:
    """Keyed hashes of record keys a run's ``source`` (a channel's extract, or identity) excluded."""
    return f"{_period('privacy/erased_records', period)}/{source}.parquet"


def erasure_audit_key(stamp: str) -> str:
    """One purge's audit record: request ids, times and counts, never an identifier."""
    return f"privacy/audit/erase-{stamp}.json"


def read_standardized(
    storage, kind: str, periods: list[str], channels: list[str], columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """All accepted rows of ``kind`` for those months and channels, in a stable order.

    ``columns``: read only these (twenty million orders with every column take about 4 GB).
    """
    frames = []
    for period in periods:
        for channel in channels:
            key = standardized_key(period, channel, kind)
            if storage.exists(key):
                frames.append(storage.read_parquet(key, columns=columns))
    if not frames:
        empty = dict(COLUMNS_BY_KIND[kind])
        empty.update({"source_file": "string", "source_row": "int64"})
        if columns is not None:
            empty = {name: empty[name] for name in columns}
        return empty_frame(empty)
    frames = [frame for frame in frames if len(frame)] or frames[:1]
    return pd.concat(frames, ignore_index=True)


__all__ = [
    "LINEAGE_COLUMNS",
    "alerts_key",
    "alerts_summary_key",
    "approved_model_key",
    "erased_key",
    "erased_records_key",
    "erased_records_prefix",
    "erasure_audit_key",
    "exports_manifest_key",
    "exports_prefix",
    "exports_staging_prefix",
    "exports_success_key",
    "field_quarantine_key",
    "figures_key",
    "identity_key",
    "identity_map_key",
    "migration_key",
    "migration_summary_key",
    "model_artifact_key",
    "model_card_key",
    "model_versions_prefix",
    "quarantine_key",
    "read_standardized",
    "report_chart_key",
    "report_key",
    "report_summary_key",
    "reports_prefix",
    "retrain_decision_key",
    "scores_key",
    "standardized_key",
    "standardized_marker_key",
    "tiers_key",
]
