"""Score stage: predicted 90-day value and churn probability for every member of the month.

Uses the model approved for the month (see ``ModelRegistry.approved_for``);
before any model is approved it falls back to the BG/NBD + Gamma-Gamma
baseline and says so in the log and in the figures (the report shows them).
"""

from __future__ import annotations

from tierlib.catalog import features_key, scores_key
from tierlib.errors import InputError
from tierlib.pipeline.context import RunContext, log


def run_score(ctx: RunContext) -> dict:
    """Scores of every member with the model approved for the month, validated (GX), written."""
    from tierlib.model import CLV_BASELINE_VERSION, ModelRegistry, score_members
    from tierlib.validation import validate_output

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
    else:
        model = registry.load_approved(entry)
        model.threads = ctx.config.stage("model").score_threads  # this machine's bound, not the trainer's
        scores = score_members(features, model, entry["version"])
    del features
    if entry is None:
        source = "clv_baseline"
        note = (
            "no approved model for this month yet: scored with the CLV baseline "
            "(BG/NBD expected purchases x Gamma-Gamma order value); the quarterly retrain will replace it"
        )
        log.warning("score %s: %s", ctx.period, note)
    else:
        source = "model"
        note = f"scored with approved model {entry['version']} (in effect from {entry['from_period']})"
        log.info("score %s: %s", ctx.period, note)
    members_in = len(scores)
    # GX suite before writing: a failed critical check stops here (ValidationFailed), nothing written.
    outcome = validate_output(
        ctx.storage,
        "scores",
        scores,
        period=ctx.period,
        settings=ctx.config.stage("validation"),
        stage="score",
    )
    scores, validation = outcome.accepted, outcome.figures
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
            k: validation.get(k)
            for k in ("rows_in", "accepted", "quarantined", "validation_seconds", "data_docs")
        },
        "output": scores_key(ctx.period),
    }
    log.info(
        "score %s: %d members in, %d scores out (%s)",
        ctx.period,
        members_in,
        len(scores),
        figures["model_version"],
    )
    return figures
