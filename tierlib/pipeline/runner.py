"""Run stages of one month in order, recording each stage's figures in storage."""

from __future__ import annotations

import time

from tierlib.catalog import figures_key
from tierlib.errors import TierflowError
from tierlib.pipeline.context import RunContext, log
from tierlib.pipeline.stages import STAGES, stage_names


def run_stage(
    ctx: RunContext,
    name: str,
    channel: str | None = None,
    partition: int | None = None,
    step: str | None = None,
) -> dict:
    """Run one stage (for one channel, if it is a per-channel stage) and record its figures.

    A partitioned stage runs whole (prepare, every partition, combine) unless ``partition`` or
    ``step`` (``"prepare"`` or ``"combine"``) names one piece, as the DAG's mapped tasks do.
    """
    stage = next((stage for stage in STAGES if stage.name == name), None)
    if stage is None:
        raise TierflowError(f"unknown stage {name!r}; stages are: {', '.join(stage_names())}")
    if stage.per_channel and channel is None:
        return {each: run_stage(ctx, name, each) for each in ctx.channels}
    if stage.partitioned and partition is None and step is None:
        return _run_partitioned(ctx, stage)
    started = time.perf_counter()
    if step:
        if step not in ("prepare", "combine") or not stage.partitioned:
            raise TierflowError(f"stage {name!r} has no step {step!r}")
        figures = stage.load(step)(ctx) if getattr(stage, step) else {}
    elif partition is not None:
        figures = stage.load()(ctx, partition)
    else:
        runner = stage.load()
        figures = runner(ctx, channel) if stage.per_channel else runner(ctx)
    seconds = round(time.perf_counter() - started, 3)
    label = name if channel is None else f"{name}/channel={channel}"
    if partition is not None:
        label = f"{name}/partition={partition}"
    elif step == "prepare":
        label = f"{name}/prepare"
    ctx.storage.write_json(figures_key(ctx.period, label), {"figures": figures, "seconds": seconds})
    log.info("stage %s for %s done in %.1f s", label, ctx.period, seconds)
    return figures


def _run_partitioned(ctx: RunContext, stage) -> dict:
    """Prepare, every partition in turn, combine: what the DAG's mapped tasks do, in one process."""
    from tierlib.pipeline.partitions import partition_count

    started = time.perf_counter()
    if stage.prepare:
        run_stage(ctx, stage.name, step="prepare")
    for partition in range(partition_count(ctx)):
        run_stage(ctx, stage.name, partition=partition)
    figures = run_stage(ctx, stage.name, step="combine")
    seconds = round(time.perf_counter() - started, 3)
    ctx.storage.write_json(figures_key(ctx.period, stage.name), {"figures": figures, "seconds": seconds})
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
