"""Quarterly retrain: time-split training set, a candidate fit, then promote it or keep the current model.

``retrain_period`` names the data month a retrain works on; ``run_train``
and ``run_promote`` are the two steps the quarterly DAG runs as tasks;
``run_retrain`` does both (the CLI).  The data month M is the last complete
month: features and labels use only data before ``as_of(M)``, and an approved
model scores months after M.
"""

from __future__ import annotations

import time
from datetime import datetime

import pandas as pd

from tierlib.catalog import identity_key, retrain_decision_key
from tierlib.errors import InputError
from tierlib.period import parse_period, period_for_run, period_of, previous_period, shift_period
from tierlib.pipeline.context import RunContext, log


def retrain_period(
    requested: str | None, data_interval_end: datetime | None, run_after: datetime | None
) -> str:
    """The data month of a quarterly run: the last month of the quarter its interval covers.

    An explicit ``period`` wins.  A scheduled run on 1 January covers October to
    December, so its data month is December (the month before the interval
    end).  A run triggered without a date works on the last complete month.
    """
    if requested:
        return period_for_run(requested, None, None)
    if data_interval_end is not None:
        return previous_period(period_of(data_interval_end))
    return period_for_run(None, None, run_after)


def identity_period(ctx: RunContext) -> str:
    """The latest month at or before the run's month whose identity map is stored."""
    for offset in range(ctx.config.run.history_months):
        period = shift_period(ctx.period, -offset)
        if ctx.storage.exists(identity_key(period, "identity_map")):
            if offset:
                log.warning("retrain %s: no identity map for %s; using %s's", ctx.period, ctx.period, period)
            return period
    raise InputError(
        f"retrain {ctx.period}: no identity map in the last {ctx.config.run.history_months} months under "
        f"{ctx.storage.uri('identity/')}; run the monthly pipeline (extract, identity) for {ctx.period} first"
    )


def member_tables(ctx: RunContext) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Orders, events and record versions of the history window, read as the feature stage reads them."""
    from tierlib.pipeline.features import member_tables as feature_stage_tables

    return feature_stage_tables(ctx, identity_period(ctx))


def feature_function(ctx: RunContext):
    """``(orders, events, records, as_of) -> features`` with the config's feature settings bound."""
    from tierlib.features import compute_features

    settings = ctx.config.stages.get("features")  # None: the feature stage's defaults

    def features_at(orders, events, records, as_of):
        return compute_features(orders, events, records, as_of, settings)

    return features_at


def run_train(ctx: RunContext) -> dict:
    """Fit a candidate on data up to the run's month and store it with its model card."""
    from tierlib.model import ModelRegistry, build_card, build_training_set, fit_candidate, incumbent_metrics

    settings = ctx.config.stage("model")
    started = time.perf_counter()
    orders, events, records = member_tables(ctx)
    training, validation = build_training_set(
        orders, events, records, ctx.as_of, feature_function(ctx), settings
    )
    built = time.perf_counter() - started
    log.info(
        "retrain %s: training set %d rows over %d cutoffs, validation %d rows (%.1f s)",
        ctx.period,
        len(training),
        training["cutoff"].nunique(),
        len(validation),
        built,
    )
    model, seconds = fit_candidate(training, settings)
    registry = ModelRegistry(ctx.storage)
    first_month = shift_period(ctx.period, 1)
    current = registry.approved_for(first_month)
    incumbent = None if current is None else registry.load_approved(current)
    card = build_card(
        model=model,
        training=training,
        validation=validation,
        settings=settings,
        training_seconds=seconds,
        incumbent=incumbent_metrics(
            validation, incumbent, None if current is None else current["version"], settings
        ),
        period=ctx.period,
    )
    card["config_digest"] = ctx.config.digest
    version = registry.save(model, card, ctx.period)
    metric = settings.primary_metric
    side_by_side = {name: scorer.get(metric) for name, scorer in card["metrics"].items()}
    log.info(
        "retrain %s: candidate %s, %s %s (fit %.1f s)", ctx.period, version, metric, side_by_side, seconds
    )
    return {
        "period": ctx.period,
        "candidate": version,
        "metric": metric,
        "metrics": card["metrics"],
        "incumbent": card["incumbent"],
        "rows": card["rows"],
        "training_seconds": seconds,
        "training_set_seconds": round(built, 3),
    }


def run_promote(ctx: RunContext, version: str) -> dict:
    """Promote ``version`` if it beats the model in effect by the margin; record the decision either way."""
    from tierlib.model import ModelRegistry, decide_promotion

    settings = ctx.config.stage("model")
    registry = ModelRegistry(ctx.storage)
    decision = decide_promotion(registry.card(version), version, settings)
    first_month = shift_period(ctx.period, 1)
    if decision.promote:
        pointer = registry.approve(version, decision.to_dict(), first_month)
        log.info("retrain %s: %s; scores months from %s", ctx.period, decision.reason, first_month)
    else:
        pointer = registry.approved()
        log.warning("retrain %s: %s", ctx.period, decision.reason)
    in_effect = registry.approved_for(first_month)
    result = {
        "period": ctx.period,
        **decision.to_dict(),
        "approved_version": None if in_effect is None else in_effect["version"],
        "from_period": first_month,
        "current_pointer_version": None if pointer is None else pointer["version"],
    }
    ctx.storage.write_json(retrain_decision_key(ctx.period), result)
    return result


def run_retrain(ctx: RunContext) -> dict:
    """Train a candidate and decide on it: the whole quarterly retrain in one call."""
    parse_period(ctx.period)
    trained = run_train(ctx)
    decided = run_promote(ctx, trained["candidate"])
    return {"train": trained, "promotion": decided}
