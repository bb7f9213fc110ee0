"""Airflow operations (issue 8): consecutive months, backfill equals single runs, byte-identical reruns.

Twelve months of history: with fewer, the BG/NBD fit of the CLV features has too little
dropout evidence to converge on this small population.  One module-scoped pair of storages keeps
this affordable: storage A is filled by
three DAG runs that carry no period and take their month from the data interval,
as scheduled and backfilled runs do; storage B by three runs with the month given
as the ``period`` param, as a user triggering single months does.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest

from tierlib.storage import open_storage

pytestmark = pytest.mark.slow

MONTHS = ["2026-08", "2026-09", "2026-10"]
# A date given to a manual run on the interval timetable is the end of the month it covers.
INTERVAL_ENDS = [datetime(2026, month, 1, tzinfo=UTC) for month in (9, 10, 11)]
COMPARED_AREAS = ("standardized/", "identity/", "features/", "scores/", "tiers/", "exports/")


def load_dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder="dags")
    assert bag.import_errors == {}
    return bag.get_dag("tierflow_monthly")


def digests(root, areas=COMPARED_AREAS) -> dict[str, str]:
    storage = open_storage(str(root))
    return {
        key: hashlib.sha256(storage.read_bytes(key)).hexdigest()
        for key in storage.list("")
        if key.startswith(areas)
    }


def succeeded(run) -> bool:
    return str(run.state) in ("success", "DagRunState.SUCCESS")


@pytest.fixture(scope="module")
def two_storages(airflow_db, synthetic_sources, tmp_path_factory):
    """(A, B): the same three months, through interval-derived runs (A) and period params (B)."""
    roots = tmp_path_factory.mktemp("backfill") / "A", tmp_path_factory.mktemp("single") / "B"
    dag = load_dag()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("TIERFLOW_SOURCES", str(synthetic_sources))
        env.setenv("TIERFLOW_HISTORY_MONTHS", "12")
        env.setenv("TIERFLOW_STORAGE", str(roots[0]))
        for month, interval_end in zip(MONTHS, INTERVAL_ENDS, strict=True):
            run = dag.test(logical_date=interval_end)
            assert succeeded(run), f"interval-derived run for {month}: {run.state}"
            assert open_storage(str(roots[0])).exists(f"tiers/period={month}/tiers.parquet"), month
        env.setenv("TIERFLOW_STORAGE", str(roots[1]))
        for month in MONTHS:
            run = dag.test(run_conf={"period": month})
            assert succeeded(run), f"period-param run for {month}: {run.state}"
    return roots


def test_three_consecutive_months_score_tier_migrate_and_publish(two_storages):
    storage = open_storage(str(two_storages[1]))
    for month in MONTHS:
        assert storage.exists(f"tiers/period={month}/tiers.parquet")
        assert storage.exists(f"exports/period={month}/_SUCCESS")
    tiers = storage.read_parquet("tiers/period=2026-10/tiers.parquet")
    previous = storage.read_parquet("tiers/period=2026-09/tiers.parquet")
    assert tiers["oneid"].is_unique and tiers["tier"].notna().all()
    # Migration builds on the month before: most of last month's members carry their previous tier.
    carried = tiers.merge(previous[["oneid", "tier"]], on="oneid", suffixes=("", "_before"))
    assert len(carried) > 0.9 * len(previous)
    assert (carried["previous_tier"] == carried["tier_before"]).all()


def test_backfill_gives_the_same_outputs_as_single_runs(two_storages):
    backfilled, single = (digests(root) for root in two_storages)
    assert backfilled.keys() == single.keys()
    different = sorted(key for key in backfilled if backfilled[key] != single[key])
    assert different == []


def test_rerunning_a_month_gives_byte_identical_exports(two_storages, synthetic_sources, monkeypatch):
    root = two_storages[1]
    before = digests(root, ("exports/period=2026-10/",))
    assert any(key.endswith(".csv") for key in before)
    monkeypatch.setenv("TIERFLOW_SOURCES", str(synthetic_sources))
    monkeypatch.setenv("TIERFLOW_HISTORY_MONTHS", "12")
    monkeypatch.setenv("TIERFLOW_STORAGE", str(root))
    run = load_dag().test(run_conf={"period": "2026-10"})
    assert succeeded(run)
    assert digests(root, ("exports/period=2026-10/",)) == before


def test_skip_publish_and_dry_run_leave_the_published_month_alone(
    two_storages, synthetic_sources, monkeypatch
):
    root = two_storages[1]
    before = digests(root, ("exports/period=2026-10/",))
    monkeypatch.setenv("TIERFLOW_SOURCES", str(synthetic_sources))
    monkeypatch.setenv("TIERFLOW_HISTORY_MONTHS", "12")
    monkeypatch.setenv("TIERFLOW_STORAGE", str(root))
    dag = load_dag()
    for conf in ({"skip_publish": True}, {"dry_run": True}):
        run = dag.test(run_conf={"period": "2026-10", **conf})
        assert succeeded(run), conf
        states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
        if "skip_publish" in conf:
            assert states["publish.publish"].endswith("skipped"), (conf, states)
        assert not states["publish.publish"].endswith("failed"), (conf, states)
        assert digests(root, ("exports/period=2026-10/",)) == before, conf
