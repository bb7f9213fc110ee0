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
    """The whole stage in this process: every partition, then the combine."""
    from tierlib.pipeline.partitions import partition_count

    for partition in range(partition_count(ctx)):
        run_score_partition(ctx, partition)
    return combine_score(ctx)


def run_score_partition(ctx: RunContext, partition: int) -> dict:
    """Scores of the members in one OneID partition (each member's score is its own row's)."""
    from tierlib.model import ModelRegistry, score_members
    from tierlib.pipeline.partitions import partition_count, partition_key, partitions_of

    key = features_key(ctx.period)
    if not ctx.storage.exists(key):
        raise InputError(
            f"no features for {ctx.period} at {ctx.storage.uri(key)}: run the features stage first"
        )
    features = ctx.storage.read_parquet(key)
    count = partition_count(ctx)
    if count > 1:
        features = features[partitions_of(features["oneid"], count) == partition].reset_index(drop=True)
    registry = ModelRegistry(ctx.storage)
    entry = registry.approved_for(ctx.period)
    if entry is None:
        scores = score_members(features)
    else:
        model = registry.load_approved(entry)
        model.threads = ctx.config.stage("model").score_threads  # this machine's bound, not the trainer's
        scores = score_members(features, model, entry["version"])
    ctx.storage.write_parquet(partition_key("score", ctx.period, partition, count, "scores"), scores)
    figures = {"partition": partition, "members": len(scores), "entry": entry}
    ctx.storage.write_json(partition_key("score", ctx.period, partition, count, "scores.json"), figures)
    return {"partition": partition, "members": len(scores)}


def combine_score(ctx: RunContext) -> dict:
    """Every partition's scores in OneID order, validated (GX) and written as the month's scores."""
    import pandas as pd

    from tierlib.model import CLV_BASELINE_VERSION, SCORE_COLUMNS
    from tierlib.pipeline.partitions import partition_count, partition_outputs
    from tierlib.validation import validate_output

    count = partition_count(ctx)
    markers, parts = partition_outputs(ctx, "score", "scores.json", "scores")
    entries = [marker["entry"] for marker in markers]
    if any(each != entries[0] for each in entries):
        raise InputError(
            f"score {ctx.period}: the partitions were scored with different models ({entries}): "
            "run every partition again"
        )
    entry = entries[0]
    frames = [part for part in parts if len(part)] or parts[:1]
    scores = pd.concat(frames, ignore_index=True).astype(SCORE_COLUMNS)
    scores = scores.sort_values("oneid", kind="stable").reset_index(drop=True)
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
        "partitions": count,
    }
    log.info(
        "score %s: %d members in, %d scores out (%s)",
        ctx.period,
        members_in,
        len(scores),
        figures["model_version"],
    )
    return figures
