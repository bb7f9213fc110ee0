"""The pages of the Airflow UI view (plugins/tierflow_reports.py): the index and a readable model card."""

from __future__ import annotations

import json

from tierlib.report._html import render
from tierlib.report._listing import list_model_cards, list_reports
from tierlib.report._settings import ReportSettings

SCORERS = ("model", "rfm_baseline", "clv_baseline")


def index_page(config, storage) -> str:
    """Every month with a report (newest first) and every model card, as one page."""
    return render(
        "view_index.html",
        title="Tierflow reports",
        root=storage.root,
        reports=list_reports(storage),
        cards=list_model_cards(storage),
        top_share=ReportSettings.of(config).top_share,
    )


def card_page(version: str, card: dict) -> str:
    """A model card: its out-of-time metrics per scorer, its key facts, and the whole card."""
    metrics = card.get("metrics") or {}
    scorers = [name for name in SCORERS if name in metrics]
    facts = {
        key: card.get(key) for key in ("period", "trained_at", "training_seconds", "primary_metric", "rows")
    }
    return render(
        "view_card.html",
        title=f"Model card {version}",
        scorers=scorers,
        metrics=metrics,
        metric_names=sorted({metric for scorer in scorers for metric in (metrics[scorer] or {})}),
        facts=json.dumps(facts, indent=2, ensure_ascii=False),
        whole=json.dumps(card, indent=2, ensure_ascii=False),
    )
