"""The monthly pipeline without Airflow: the same stage runners the DAG tasks call.

Each stage runner takes a :class:`RunContext`, reads its inputs from storage,
calls the library, writes its outputs and returns its figures.  The DAG wires
the same runners into tasks; ``python -m tierlib run`` calls them in order.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from tierlib.catalog import figures_key
from tierlib.errors import TierflowError
from tierlib.pipeline.context import RunContext, log


@dataclass(frozen=True)
class Stage:
    name: str
    runner: str
    """``module:function`` taking a RunContext and returning figures."""

    def load(self) -> Callable[[RunContext], dict]:
        module_name, function_name = self.runner.split(":")
        return getattr(importlib.import_module(module_name), function_name)


STAGES: tuple[Stage, ...] = (Stage("extract", "tierlib.pipeline.extract:run_extract"),)


def stage_names() -> list[str]:
    return [stage.name for stage in STAGES]


def run_stage(ctx: RunContext, name: str) -> dict:
    stage = next((stage for stage in STAGES if stage.name == name), None)
    if stage is None:
        raise TierflowError(f"unknown stage {name!r}; stages are: {', '.join(stage_names())}")
    started = time.perf_counter()
    figures = stage.load()(ctx)
    seconds = round(time.perf_counter() - started, 3)
    ctx.storage.write_json(figures_key(ctx.period, name), {"figures": figures, "seconds": seconds})
    log.info("stage %s for %s done in %.1f s", name, ctx.period, seconds)
    return figures


def run_pipeline(ctx: RunContext, stages: list[str] | None = None, progress=None) -> dict[str, dict]:
    """Run the named stages (all by default) in pipeline order."""
    selected = stages or stage_names()
    unknown = sorted(set(selected) - set(stage_names()))
    if unknown:
        raise TierflowError(f"unknown stages {unknown}; stages are: {', '.join(stage_names())}")
    results = {}
    for stage in STAGES:
        if stage.name in selected:
            if progress:
                progress(f"[{ctx.period}] {stage.name} ...")
            results[stage.name] = run_stage(ctx, stage.name)
    return results


__all__ = ["STAGES", "RunContext", "Stage", "run_pipeline", "run_stage", "stage_names"]
