"""One call for a stage runner: validate a dataset it made, publish Data Docs, quarantine, stop on failure."""

from __future__ import annotations

import dataclasses
import logging
import tempfile

import pandas as pd

from tierlib.catalog import quarantine_key
from tierlib.validation._datasets import validate_dataset
from tierlib.validation._docs import data_docs_prefix, publish_data_docs
from tierlib.validation._outcome import ValidationOutcome, raise_for_failures
from tierlib.validation.settings import ValidationSettings

log = logging.getLogger("tierlib")


def validate_output(
    storage,
    name: str,
    df: pd.DataFrame,
    *,
    period: str,
    settings: ValidationSettings,
    stage: str | None = None,
    channel: str | None = None,
    **inputs,
) -> ValidationOutcome:
    """Validate ``df`` (a :data:`DATASETS` name) and act on the outcome, before the runner writes anything.

    Renders the Data Docs and copies them to
    ``quality/period=M/data_docs/stage=S[/channel=C]/dataset=<name>/``, writes the quarantined
    rows (possibly none, so a rerun replaces an older file) to
    ``quarantine/period=M/stage=S/channel=<channel or all>/<name>.parquet``, logs the counts,
    and raises ``ValidationFailed`` naming every failure.  ``inputs`` go to
    :func:`validate_dataset` (``records``, ``allowed_tiers``, ``required_columns``, ``id_columns``,
    ``expected_rows``, ``source``).  The outcome's figures carry ``data_docs`` (the index's location).
    """
    stage = stage or name
    with tempfile.TemporaryDirectory(prefix="tierflow-gx-") as workdir:
        outcome = validate_dataset(
            name,
            df,
            period=period,
            settings=settings,
            context_dir=workdir,
            stage=stage,
            channel=channel,
            **inputs,
        )
        docs = None
        if settings.data_docs != "off":
            prefix = f"{data_docs_prefix(period, stage, channel)}dataset={name}/"
            docs = publish_data_docs(storage, workdir, prefix)
    figures = {**outcome.figures, "data_docs": docs}
    label = f"{stage} {period} {name}" + (f" channel {channel}" if channel else "")
    log.info(
        "validate %s: %d rows in = %d accepted + %d quarantined in %.1f s; Data Docs at %s",
        label,
        figures["rows_in"],
        figures["accepted"],
        figures["quarantined"],
        figures["validation_seconds"],
        docs,
    )
    for failure in outcome.failures:
        log.error("validate %s: %s", label, failure.message)
    raise_for_failures([outcome])
    storage.write_parquet(quarantine_key(period, stage, channel or "all", name), outcome.quarantined)
    return dataclasses.replace(outcome, figures=figures)
