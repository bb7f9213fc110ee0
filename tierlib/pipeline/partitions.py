"""Hash partitions of the OneID for the stages that run as K mapped tasks (features, score).

A partition is a stable function of the OneID alone, so every row of a member lands in the
same partition and reruns split the same way.  Data moves between the steps through storage:
``features/period=M/partitions=K/part=k/<name>.parquet`` (and the same under ``scores/``);
only small figures travel back to the DAG.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tierlib.catalog import features_key, scores_key


def partition_count(ctx) -> int:
    """``run.partitions`` of the run's config (1: no split)."""
    return int(getattr(ctx.config.run, "partitions", 1))


def partitions_of(oneids, count: int) -> np.ndarray:
    """Partition 0..count-1 of each OneID (a fixed-key hash of the text: the same on every worker)."""
    if count == 1:
        return np.zeros(len(oneids), dtype=np.int64)
    if isinstance(getattr(oneids, "dtype", None), pd.CategoricalDtype):
        # Hash each distinct OneID once; the rows take their category's partition.
        categorical = pd.Categorical(oneids)
        return partitions_of(categorical.categories, count)[categorical.codes]
    values = np.asarray(pd.Series(oneids, dtype="string").to_numpy(dtype=object))
    return (pd.util.hash_array(values) % np.uint64(count)).astype(np.int64)


def split_by_partition(frame: pd.DataFrame, count: int) -> list[pd.DataFrame]:
    """``frame`` (with a ``oneid`` column) cut into ``count`` frames, each keeping the row order."""
    parts = partitions_of(frame["oneid"], count)
    return [frame[parts == partition].reset_index(drop=True) for partition in range(count)]


def partition_key(stage: str, period: str, partition: int, count: int, name: str) -> str:
    """Where partition ``partition`` of ``count`` keeps its table ``name`` (``.parquet``/``.json``)."""
    prefix = {"features": features_key, "score": scores_key}[stage](period).rsplit("/", 1)[0]
    suffix = name if name.endswith(".json") else f"{name}.parquet"
    return f"{prefix}/partitions={count}/part={partition}/{suffix}"


def partition_outputs(ctx, stage: str, marker: str, table: str) -> tuple[list[dict], list[pd.DataFrame]]:
    """Every partition's figures (``marker``, JSON) and table of ``stage``, for its combine step.

    A partition without its marker has not run (or failed midway): the combine stops naming it.
    """
    from tierlib.errors import InputError

    count = partition_count(ctx)
    figures = []
    for partition in range(count):
        key = partition_key(stage, ctx.period, partition, count, marker)
        if not ctx.storage.exists(key):
            raise InputError(
                f"{stage} {ctx.period}: partition {partition} of {count} has not run "
                f"(no {ctx.storage.uri(key)}): run it before the combine"
            )
        figures.append(ctx.storage.read_json(key))
    tables = [
        ctx.storage.read_parquet(partition_key(stage, ctx.period, partition, count, table))
        for partition in range(count)
    ]
    return figures, tables
