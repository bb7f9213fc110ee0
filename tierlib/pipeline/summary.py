"""One month's headline figures, gathered from what each stage recorded under ``runs/period=M/``."""

from __future__ import annotations

from tierlib.catalog import figures_key
from tierlib.pipeline.context import RunContext
from tierlib.pipeline.stages import STAGES


def run_summary(ctx: RunContext) -> dict:
    """Members, rows in and quarantined, and each stage's scalar figures and seconds.

    Stages write their figures as they finish; this only reads them, so it can
    run last in the DAG and its return value shows in the Airflow UI.
    """
    summary: dict = {"period": ctx.period, "stages": {}}
    rows_in = accepted = quarantined = erased = 0
    for stage in STAGES:
        if stage.per_channel:
            for channel in ctx.channels:
                key = figures_key(ctx.period, f"{stage.name}/channel={channel}")
                if not ctx.storage.exists(key):
                    continue
                recorded = ctx.storage.read_json(key)
                for counts in (recorded["figures"].get("tables") or {}).values():
                    rows_in += counts.get("rows_in", 0)
                    accepted += counts.get("accepted", 0)
                    quarantined += counts.get("quarantined", 0)
                    erased += counts.get("erased", 0)
                summary["stages"].setdefault(stage.name, {"seconds": 0.0})["seconds"] += recorded["seconds"]
            continue
        key = figures_key(ctx.period, stage.name)
        if ctx.storage.exists(key):
            recorded = ctx.storage.read_json(key)
            scalars = {
                k: v for k, v in recorded["figures"].items() if isinstance(v, int | float | str | bool)
            }
            summary["stages"][stage.name] = {"seconds": recorded["seconds"], **scalars}
    summary["rows_in"] = rows_in
    summary["rows_accepted"] = accepted
    summary["rows_quarantined"] = quarantined
    summary["rows_erased"] = erased  # left out for erasure requests (docs/security.md)
    summary["members"] = summary["stages"].get("identity", {}).get("oneids")
    return summary
