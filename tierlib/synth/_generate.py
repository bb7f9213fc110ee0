"""Orchestration: draw the world, write every channel's files, then the truth, atomically."""

from __future__ import annotations

import json
import os
import resource
import shutil
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tierlib.errors import StorageError
from tierlib.synth._activity import Orders, assign_orders, simulate_events, simulate_purchases
from tierlib.synth._calendar import DAY, month_starts, period_labels
from tierlib.synth._dialects import FORMATS, TABLES, World, build_table
from tierlib.synth._formats import BAD_ROW_REASONS, write_source_table
from tierlib.synth._people import CHANNELS, make_people
from tierlib.synth._records import make_records, make_versions
from tierlib.synth._settings import SynthSettings
from tierlib.synth._truth import (
    SPEND_WINDOW_DAYS,
    linkability,
    optouts_csv,
    persons_table,
    record_person_table,
    spend_after_table,
)
from tierlib.synth._unlinked import CASES, add_unlinked_records

GENERATOR_VERSION = "1"
WRITE_THREADS = 2
MANIFEST = os.path.join("_truth", "manifest.json")
# Independent random streams, so that changing one part of the world leaves the others alone.
STREAMS = ("people", "records", "versions", "purchases", "orders", "events", "optouts", "tables", "unlinked")


@dataclass(frozen=True)
class SynthSummary:
    out_dir: str
    persons: int
    rows: dict = field(default_factory=dict)
    """``{channel: {table: total rows}}`` over all months (bad rows included)."""
    bad_rows: dict = field(default_factory=dict)
    """``{reason: count}``."""
    linkability: dict = field(default_factory=dict)


def generate(
    settings: SynthSettings, out_dir: str, *, log: Callable[[str], None] | None = None
) -> SynthSummary:
    """Write a synthetic multi-channel dataset to ``out_dir`` and return what was written.

    ``out_dir`` must be absent, empty, or an earlier output of this generator (it is
    replaced whole).  ``log`` receives progress lines; pass ``None`` for silence.
    """
    settings.validate()
    out_dir = os.path.abspath(out_dir)
    _check_target(out_dir)
    clock = _Progress(log)
    streams = {
        name: np.random.default_rng(np.random.SeedSequence(settings.seed, spawn_key=(i,)))
        for i, name in enumerate(STREAMS)
    }
    bounds = month_starts(settings.start, settings.months)
    labels = period_labels(settings.start, settings.months)
    span_start, span_end = int(bounds[0]), int(bounds[-1])

    people = make_people(settings.members, bounds, settings.new_member_share, streams["people"])
    records = make_records(people, bounds, streams["records"])
    versions = make_versions(people, records, bounds, streams["versions"])
    clock.step(f"{people.n:,} people, {len(records):,} records, {len(versions.record):,} member rows")
    temp_dir = f"{out_dir}.partial-{os.getpid()}"
    shutil.rmtree(temp_dir, ignore_errors=True)
    truth_dir = os.path.join(temp_dir, "_truth")
    os.makedirs(truth_dir)
    try:
        with ThreadPoolExecutor(max_workers=WRITE_THREADS) as pool:
            horizon = span_end + SPEND_WINDOW_DAYS * DAY
            person, purchase_time, churned_at = simulate_purchases(
                people, span_start, horizon, streams["purchases"]
            )
            all_orders = assign_orders(people, records, person, purchase_time, streams["orders"])
            del person, purchase_time
            orders = _orders_in_span(all_orders, span_start, span_end)
            # The truth needs every order up to 90 days past the span; the files only those inside it.
            net = all_orders.amount - all_orders.refund
            spend_job = pool.submit(
                _write_spend_after, people, all_orders.person, all_orders.time, net, bounds, truth_dir
            )
            del all_orders, net
            clock.step(f"{len(orders.time):,} orders in the span")
            events = simulate_events(people, records, churned_at, span_start, span_end, streams["events"])
            clock.step(f"{len(events.time):,} events")

            # After orders and events: the new records place none, and draw from their own stream.
            names = people.names()
            ordinary = (records, versions)
            if settings.unlinked_records:
                records, versions = add_unlinked_records(
                    people, names, records, versions, bounds, streams["unlinked"]
                )
            world = World(people, records, versions, orders, events, bounds, names)
            tasks = [(channel, table) for channel in CHANNELS for table in TABLES[channel]]
            seeds = streams["tables"].integers(0, 2**63, size=(len(tasks), 2))
            write = partial(_write_table, world, temp_dir, labels, span_end, settings.bad_rate, clock)
            # Biggest tables first keeps both threads busy to the end.
            size = {"orders": len(orders.time), "events": len(events.time), "members": len(versions.record)}
            by_size = sorted(range(len(tasks)), key=lambda k: -size[tasks[k][1]])
            futures = {k: pool.submit(write, *tasks[k], seeds[k]) for k in by_size}
            truth_job = pool.submit(
                _write_truth, people, records, ordinary, churned_at, temp_dir, streams["optouts"]
            )
            results = [futures[k].result() for k in range(len(tasks))]
            del world, orders, events
        bad_table = _bad_rows_table(tasks, results)
        pq.write_table(bad_table, os.path.join(truth_dir, "bad_rows.parquet"))
        clock.step("wrote ground truth")
        manifest = _manifest(settings, labels, people, records, tasks, results, bad_table, truth_job.result())
        manifest["truth_rows"]["spend_after"] = spend_job.result()
        with open(os.path.join(truth_dir, "manifest.json"), "w", encoding="utf-8") as handle:
            json.dump(manifest, handle, indent=2, sort_keys=True, ensure_ascii=False)
            handle.write("\n")
        _swap_into_place(temp_dir, out_dir)
    except BaseException:
        shutil.rmtree(temp_dir, ignore_errors=True)
        raise
    link = manifest["linkability"]
    clock.step(f"done: {out_dir} (linkability {link['all_versions']:.4f})")
    return SynthSummary(
        out_dir=out_dir,
        persons=people.n,
        rows=manifest["rows"],
        bad_rows=manifest["bad_rows"],
        linkability=link,
    )


def _manifest(settings, labels, people, records, tasks, results, bad_table, link) -> dict:
    """What was written, for readers and tests; no paths or timings, so reruns give the same bytes."""
    rows = {channel: {} for channel in CHANNELS}
    rows_by_period = {channel: {} for channel in CHANNELS}
    for (channel, table), (counts, _) in zip(tasks, results, strict=True):
        rows[channel][table] = int(sum(counts.values()))
        rows_by_period[channel][table] = counts
    reasons = bad_table.column("reason").to_pylist()
    return {
        "generator": "tierlib.synth",
        "generator_version": GENERATOR_VERSION,
        "settings": settings.to_dict(),
        "seed": settings.seed,
        "periods": labels,
        "formats": FORMATS,
        "persons": people.n,
        "records": len(records),
        "rows": rows,
        "rows_by_period": rows_by_period,
        "bad_rows": {reason: reasons.count(reason) for reason in BAD_ROW_REASONS},
        "linkability": link,
        "truth_rows": {"record_person": len(records), "persons": people.n, "bad_rows": bad_table.num_rows},
        "optouts": int(people.opted_out.sum()),
        "notes": {
            "spend_after": "zero rows (no order in the window) are omitted; "
            "only people acquired before as_of",
            "timezone": "local time is UTC+8; wechat epoch seconds are Unix instants, "
            "guide ISO strings carry +08:00",
        },
    }


def _write_spend_after(people, person, time, net, bounds, truth_dir) -> int:
    table = spend_after_table(people, person, time, net, bounds)
    pq.write_table(table, os.path.join(truth_dir, "spend_after.parquet"))
    return table.num_rows


def _write_truth(people, records, ordinary, churned_at, temp_dir, rng) -> dict:
    """Who is who, the people table and the opt-out list; returns the linkability figures.

    Linkability is that of the ordinary records (``ordinary``: records and versions before the
    cases of ``_unlinked`` were added); the cases are counted apart.
    """
    truth_dir = os.path.join(temp_dir, "_truth")
    pq.write_table(record_person_table(records), os.path.join(truth_dir, "record_person.parquet"))
    pq.write_table(persons_table(people, churned_at), os.path.join(truth_dir, "persons.parquet"))
    suppression_dir = os.path.join(temp_dir, "_suppression")
    os.makedirs(suppression_dir)
    with open(os.path.join(suppression_dir, "optouts.csv"), "wb") as handle:
        handle.write(optouts_csv(people, rng))
    figures = linkability(people, *ordinary)
    for code, name in enumerate(CASES[1:], 1):
        figures[f"records_{name}"] = 0 if records.case is None else int((records.case == code).sum())
    return figures


def _write_table(
    world, temp_dir, labels, span_end, bad_rate, clock, channel, table, seeds
) -> tuple[dict, dict]:
    """Build one channel table and write its months; its own seeds keep threads deterministic."""
    source = build_table(world, channel, table, np.random.default_rng(int(seeds[0])))
    counts, bad = write_source_table(
        source, temp_dir, labels, span_end, bad_rate, np.random.default_rng(int(seeds[1]))
    )
    del source
    # The allocator keeps freed blocks per thread; hand them back before the next big table.
    pa.default_memory_pool().release_unused()
    clock.step(f"wrote {channel}/{table}: {sum(counts.values()):,} rows")
    return counts, bad


def _orders_in_span(orders: Orders, span_start: int, span_end: int) -> Orders:
    """Orders the files show (each channel's builder puts its own in time order, in parallel)."""
    rows = np.flatnonzero((orders.time >= span_start) & (orders.time < span_end))
    return Orders(**{name: getattr(orders, name)[rows] for name in Orders.__dataclass_fields__})


def _bad_rows_table(tasks, results) -> pa.Table:
    channel, table, period, source_file, source_row, reason = [], [], [], [], [], []
    for (channel_name, table_name), (_, bad) in zip(tasks, results, strict=True):
        count = len(bad["reason"])
        ext = FORMATS[channel_name]
        channel += [channel_name] * count
        table += [table_name] * count
        period += bad["period"]
        source_file += [f"{channel_name}/period={p}/{table_name}.{ext}" for p in bad["period"]]
        source_row += bad["source_row"]
        reason += [str(r) for r in bad["reason"]]
    return pa.table(
        {
            "channel": pa.array(channel, type=pa.string()),
            "table": pa.array(table, type=pa.string()),
            "period": pa.array(period, type=pa.string()),
            "source_file": pa.array(source_file, type=pa.string()),
            "source_row": pa.array(source_row, type=pa.int64()),
            "reason": pa.array(reason, type=pa.string()),
        }
    )


def _check_target(out_dir: str) -> None:
    if os.path.exists(out_dir):
        if not os.path.isdir(out_dir):
            raise StorageError(f"{out_dir} exists and is not a folder: choose another --out")
        if os.listdir(out_dir) and not os.path.exists(os.path.join(out_dir, MANIFEST)):
            raise StorageError(
                f"{out_dir} is not empty and holds no earlier synthetic dataset ({MANIFEST} missing): "
                "choose an empty or new folder for --out"
            )


def _swap_into_place(temp_dir: str, out_dir: str) -> None:
    """Replace ``out_dir`` by ``temp_dir`` with renames, so readers never see a half-written dataset."""
    old_dir = f"{out_dir}.old-{os.getpid()}"
    if os.path.exists(out_dir):
        os.rename(out_dir, old_dir)
    os.rename(temp_dir, out_dir)
    shutil.rmtree(old_dir, ignore_errors=True)


class _Progress:
    def __init__(self, log: Callable[[str], None] | None) -> None:
        self._log = log
        self._start = time.perf_counter()

    def step(self, message: str) -> None:
        if self._log is not None:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux
            self._log(f"[synth {time.perf_counter() - self._start:6.1f}s, peak {peak:4.1f} GiB] {message}")


def stderr_log(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()
