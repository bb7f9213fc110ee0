"""Run stages of one month in order, recording each stage's figures in storage."""

from __future__ import annotations

import time

from tierlib.catalog import figures_key
from tierlib.errors import TierflowError
from tierlib.pipeline.context import RunContext, log
from tierlib.pipeline.stages import STAGES, stage_names


def run_stage(ctx: RunContext, name: str, channel: str | None = None) -> dict:
    """Run one stage (for one channel, if it is a per-channel stage) and record its figures."""
    stage = next((stage for stage in STAGES if stage.name == name), None)
    if stage is None:
        raise TierflowError(f"unknown stage {name!r}; stages are: {', '.join(stage_names())}")
    if stage.per_channel and channel is None:
        return {each: run_stage(ctx, name, each) for each in ctx.channels}
    started = time.perf_counter()
    runner = stage.load()
    figures = runner(ctx, channel) if stage.per_channel else runner(ctx)
    seconds = round(time.perf_counter() - started, 3)
    label = name if channel is None else f"{name}/channel={channel}"
    ctx.storage.write_json(figures_key(ctx.period, label), {"figures": figures, "seconds": seconds})
    log.info("stage %s for %s done in %.1f s", label, ctx.period, seconds)
    return figures


def run_pipeline(ctx: RunContext, stages: list[str] | None = None, progress=None) -> dict[str, dict]:
    """Run the named stages (all by default) in pipeline order."""
    selected = stages or stage_names()
    unknown = sorted(set(selected) - set(stage_names()))
    if unknown:
        raise TierflowError(f"unknown stages {unknown}; stages are: {', '.join(stage_names())}")
    if ctx.engine == "spark":
        # Open the cluster's session before any stage: an unreachable cluster fails the run at
        # once, naming the master or URL, instead of after the stages before the first Spark one.
        session = ctx.spark()
        log.info("engine spark: session on %s (Spark %s)", _session_target(session), session.version)
    results = {}
    for stage in STAGES:
        if stage.name in selected:
            if progress:
                progress(f"[{ctx.period}] {stage.name} ...")
            results[stage.name] = run_stage(ctx, stage.name)
    return results


def _session_target(session) -> str:
    try:
        return session.sparkContext.master
    except Exception:  # Spark Connect sessions have no SparkContext
        return str(session.conf.get("spark.remote", "a Spark Connect server"))
