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

    def load(self) -> Callable[..., dict]:
        """The runner."""
        module_name, function_name = self.runner.split(":")
        return getattr(importlib.import_module(module_name), function_name)


STAGES: tuple[Stage, ...] = (
    Stage("erasure", "tierlib.pipeline.erasure:run_erasure", group="privacy"),
    Stage("extract", "tierlib.pipeline.extract:run_extract_channel", per_channel=True, group="extract"),
    Stage("identity", "tierlib.pipeline.identity:run_identity", group="identity"),
    Stage("features", "tierlib.pipeline.features:run_features", group="value"),
    Stage("score", "tierlib.pipeline.score:run_score", group="value"),
    Stage("tiers", "tierlib.pipeline.tiers:run_tiers", group="tiers"),
    Stage("publish", "tierlib.pipeline.publish:run_publish", group="publish"),
    Stage("report", "tierlib.pipeline.report:run_report", group="report"),
)


def stage_names() -> list[str]:
    return [stage.name for stage in STAGES]
