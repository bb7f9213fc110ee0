"""The stages of the monthly run, in order.  Light on purpose: the DAG file imports it at parse time."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Stage:
    name: str
    runner: str
    """``module:function`` taking a RunContext and returning a dict of figures."""
    per_channel: bool = False
    """The DAG maps this stage over channels; its runner takes ``(ctx, channel)``."""
    group: str = ""
    """The DAG's task group for this stage (default: the stage's own name)."""
    partitioned: bool = False
    """The DAG maps this stage over ``run.partitions`` hash partitions of the OneID: ``prepare``
    once, the runner once per partition (``(ctx, partition)``), then ``combine`` once, whose
    figures are the stage's.  Each step reads and writes storage; only figures go to XCom."""
    prepare: str = ""
    """``module:function`` taking a RunContext, run before the partitions (optional)."""
    combine: str = ""
    """``module:function`` taking a RunContext, run after every partition."""

    def load(self, step: str = "") -> Callable[..., dict]:
        """The runner, or the ``prepare``/``combine`` step of a partitioned stage."""
        target = getattr(self, step) if step else self.runner
        module_name, function_name = target.split(":")
        return getattr(importlib.import_module(module_name), function_name)


STAGES: tuple[Stage, ...] = (
    Stage("erasure", "tierlib.pipeline.erasure:run_erasure", group="privacy"),
    Stage("extract", "tierlib.pipeline.extract:run_extract_channel", per_channel=True, group="extract"),
    Stage("identity", "tierlib.pipeline.identity:run_identity", group="identity"),
    Stage(
        "features",
        "tierlib.pipeline.features:run_features_partition",
        group="value",
        partitioned=True,
        prepare="tierlib.pipeline.features:prepare_features",
        combine="tierlib.pipeline.features:combine_features",
    ),
    Stage(
        "score",
        "tierlib.pipeline.score:run_score_partition",
        group="value",
        partitioned=True,
        combine="tierlib.pipeline.score:combine_score",
    ),
    Stage("tiers", "tierlib.pipeline.tiers:run_tiers", group="tiers"),
    Stage("publish", "tierlib.pipeline.publish:run_publish", group="publish"),
    Stage("report", "tierlib.pipeline.report:run_report", group="report"),
)


def stage_names() -> list[str]:
    return [stage.name for stage in STAGES]
