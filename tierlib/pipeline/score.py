"""Score stage: predicted 90-day value and churn probability for every member of the month.

Uses the model approved for the month (see ``ModelRegistry.approved_for``);
before any model is approved it falls back to the BG/NBD + Gamma-Gamma
baseline and says so in the log and in the figures (the report shows them).
"""

from __future__ import annotations

import tempfile

import pandas as pd

from tierlib.catalog import features_key, quarantine_key, scores_key
from tierlib.errors import InputError
from tierlib.pipeline.context import RunContext, log


def validate_output(ctx: RunContext, name: str, frame: pd.DataFrame, **checks) -> tuple[pd.DataFrame, dict]:
    """Run the GX suite of a derived dataset (``scores`` or ``tiers``) before it is written.

    A failed critical check raises ValidationFailed and nothing is written;
    rows failing a non-critical check are quarantined under
    ``quarantine/period=M/stage=<name>/channel=all/``.  Returns the accepted rows
    and the validation figures.
    """
    from tierlib.validation import data_docs_prefix, publish_data_docs, validate_dataset

    settings = ctx.config.stage("validation")
    docs = settings.data_docs != "off"
    with tempfile.TemporaryDirectory(prefix="tierflow-gx-") as workdir:
        outcome = validate_dataset(
            name, frame, period=ctx.period, settings=settings, context_dir=workdir, build_docs=docs, **checks
        )
        if docs:
            publish_data_docs(ctx.storage, workdir, data_docs_prefix(ctx.period, name))
    for failure in outcome.failures:
        log.error("%s %s: %s", name, ctx.period, failure.message)
    outcome.raise_for_failures()
    ctx.storage.write_parquet(quarantine_key(ctx.period, name, "all", name), outcome.quarantined)
    if len(outcome.quarantined):
        log.warning("%s %s: %d rows quarantined by validation", name, ctx.period, len(outcome.quarantined))
    return outcome.accepted, outcome.figures


def run_score(ctx: RunContext) -> dict:
    from tierlib.model import CLV_BASELINE_VERSION, ModelRegistry, score_members

    key = features_key(ctx.period)
    if not ctx.storage.exists(key):
        raise InputError(
            f"no features for {ctx.period} at {ctx.storage.uri(key)}: run the features stage first"
        )
    features = ctx.storage.read_parquet(key)
    registry = ModelRegistry(ctx.storage)
    entry = registry.approved_for(ctx.period)
    if entry is None:
        scores = score_members(features)
        source = "clv_baseline"
        note = (
            "no approved model for this month yet: scored with the CLV baseline "
            "(BG/NBD expected purchases x Gamma-Gamma order value); the quarterly retrain will replace it"
        )
        log.warning("score %s: %s", ctx.period, note)
    else:
        model = registry.load(entry["version"])
        model.threads = ctx.config.stage("model").threads  # this machine's bound, not the trainer's
        scores = score_members(features, model, entry["version"])
        source = "model"
        note = f"scored with approved model {entry['version']} (in effect from {entry['from_period']})"
        log.info("score %s: %s", ctx.period, note)
    scores, validation = validate_output(ctx, "scores", scores)
    ctx.storage.write_parquet(scores_key(ctx.period), scores)
    version = CLV_BASELINE_VERSION if entry is None else entry["version"]
    figures = {
        "members": len(scores),
        "model_version": version,
        "source": source,
        "fallback_to_clv_baseline": entry is None,
        "model_card": None if entry is None else entry["card_key"],
        "note": note,
        "predicted_value_90d_total": round(float(scores["predicted_value_90d"].sum()), 2),
        "predicted_value_90d_mean": round(float(scores["predicted_value_90d"].mean()), 4)
        if len(scores)
        else None,
        "churn_probability_mean": round(float(scores["churn_probability"].mean()), 6)
        if len(scores)
        else None,
        "validation": {
            k: validation[k] for k in ("rows_in", "accepted", "quarantined", "validation_seconds")
        },
        "output": scores_key(ctx.period),
    }
    log.info(
        "score %s: %d members in, %d scores out (%s)",
        ctx.period,
        len(features),
        len(scores),
        figures["model_version"],
    )
    return figures
