"""What the Airflow UI view lists: the stored reports and model cards, read from storage."""

from __future__ import annotations

import re

from tierlib.catalog import (
    approved_model_key,
    model_card_key,
    model_versions_prefix,
    report_key,
    report_summary_key,
    reports_prefix,
)

_REPORT = re.compile(r"^reports/period=(\d{4}-\d{2})/report\.html$")

SERVABLE = (
    re.compile(r"^reports/period=\d{4}-\d{2}/(report\.html|summary\.json|charts/[A-Za-z0-9_-]+\.png)$"),
    re.compile(r"^quality/period=\d{4}-\d{2}/data_docs/[A-Za-z0-9_=./ -]+$"),  # GX run names hold spaces
    re.compile(r"^models/versions/[A-Za-z0-9_.=-]+/card\.json$"),
)
"""Storage keys the view may serve: reports, Data Docs and model cards; never data or exports."""


def servable(key: str) -> bool:
    """Whether the UI view may hand out ``key`` (no member data, no path tricks)."""
    if ".." in key.split("/") or key.startswith("/") or "//" in key:
        return False
    return any(pattern.match(key) for pattern in SERVABLE)


def list_reports(storage) -> list[dict]:
    """Every month with a report, newest first, with its headline figures when the summary is there."""
    months = []
    for key in storage.list(reports_prefix()):
        match = _REPORT.match(key)
        if match:
            months.append(match.group(1))
    entries = []
    for period in sorted(set(months), reverse=True):
        entry = {"period": period, "report_key": report_key(period), "headline": None, "sections": None}
        summary_key = report_summary_key(period)
        if storage.exists(summary_key):
            summary = storage.read_json(summary_key)
            entry["headline"] = summary.get("headline")
            entry["sections"] = summary.get("sections")
            entry["charts"] = summary.get("charts", [])
        entries.append(entry)
    return entries


def list_model_cards(storage) -> list[dict]:
    """Every stored model version with its card's key facts and whether (and from when) it is approved."""
    approved = storage.read_json(approved_model_key()) if storage.exists(approved_model_key()) else {}
    approvals = {entry["version"]: entry.get("from_period") for entry in approved.get("history", [])}
    current = approved.get("version")
    versions = sorted(
        {
            key[len(model_versions_prefix()) :].split("/", 1)[0]
            for key in storage.list(model_versions_prefix())
        }
    )
    cards = []
    for version in versions:
        key = model_card_key(version)
        if not storage.exists(key):
            continue
        card = storage.read_json(key)
        metric = card.get("primary_metric", "top_share_capture")
        metrics = card.get("metrics") or {}
        cards.append(
            {
                "version": version,
                "card_key": key,
                "period": card.get("period"),
                "trained_at": card.get("trained_at"),
                "primary_metric": metric,
                "model": (metrics.get("model") or {}).get(metric),
                "rfm_baseline": (metrics.get("rfm_baseline") or {}).get(metric),
                "clv_baseline": (metrics.get("clv_baseline") or {}).get(metric),
                "approved_from": approvals.get(version),
                "current": version == current,
            }
        )
    cards.sort(key=lambda card: (card.get("period") or "", card["version"]), reverse=True)
    return cards
