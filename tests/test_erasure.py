"""Erasure end to end on the synthetic data: requests, the next run, the purge, the month after.

One September run (2026-09, six months of history) is shared.  Three people are erased: one
with a quarantined row (so quarantine and Data Docs hold them), one in the month's alert list
(so the report names their OneID) and one in the SMS export (so exports and customer-match
hashes hold them).  Copies of September's storage then go three ways for October: untouched
(the baseline), with the requests only (the next run leaves them out and lists them in the
removed deltas), and purged by ``python -m tierlib erase`` first.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from test_model_synthetic import standardize_history

from tierlib.catalog import erasure_audit_key, features_key, identity_key, scores_key, tiers_key
from tierlib.identity import normalize_email, normalize_phone
from tierlib.period import periods_between
from tierlib.pipeline.context import RunContext
from tierlib.pipeline.runner import run_pipeline
from tierlib.publish import verify_published
from tierlib.storage import open_storage

pytestmark = pytest.mark.slow

PROJECT = Path(__file__).resolve().parent.parent
CONFIG = str(PROJECT / "config" / "tierflow.yaml")
SEPTEMBER, OCTOBER = "2026-09", "2026-10"
IDS = ("phone", "email", "member_id", "unionid", "openid", "device_id", "platform_user_id")


@pytest.fixture(scope="module")
def september(tmp_path_factory, synthetic_sources):
    root = tmp_path_factory.mktemp("erasure") / "september"
    with _env(synthetic_sources, root, None):
        ctx = RunContext.open(CONFIG, SEPTEMBER)
        standardize_history(ctx, periods_between("2026-04", "2026-08"))
        run_pipeline(ctx)
    return root


@pytest.fixture(scope="module")
def chosen(september, tmp_path_factory):
    """The three people, their requests (written outside storage) and every form of their identifiers."""
    storage = open_storage(str(september))
    identity_map = storage.read_parquet(identity_key(SEPTEMBER, "identity_map"))
    records = storage.read_parquet(identity_key(SEPTEMBER, "records")).merge(identity_map)
    quarantined = _quarantined_person(storage, identity_map)
    alerted = storage.read_parquet(f"tiers/period={SEPTEMBER}/alerts.parquet")["oneid"].iloc[0]
    assignments = storage.read_parquet(f"exports/period={SEPTEMBER}/assignments.parquet")
    in_sms = assignments[(assignments["channel"] == "sms") & (assignments["group"] == "treated")]
    texted = next(oneid for oneid in in_sms["oneid"] if oneid not in (quarantined, alerted))
    people = [quarantined, alerted, texted]
    assert len(set(people)) == 3
    mine = records[records["oneid"].isin(people)]
    phone_of_alerted = mine.loc[mine["oneid"] == alerted, "phone"].dropna().iloc[0]
    texted_rows = mine[mine["oneid"] == texted]
    email = texted_rows["email"].dropna()
    requests = pd.DataFrame(
        [
            {"request_id": "ER-1", "requested_at": "2026-10-05", "oneid": quarantined},
            {"request_id": "ER-2", "requested_at": "2026-10-06", "phone": phone_of_alerted},
            {"request_id": "ER-3", "requested_at": "2026-10-07", "email": email.iloc[0].upper()}
            if len(email)
            else {
                "request_id": "ER-3",
                "requested_at": "2026-10-07",
                "phone": texted_rows["phone"].dropna().iloc[0],
            },
        ]
    )
    path = tmp_path_factory.mktemp("requests") / "erasures.csv"
    requests.to_csv(path, index=False)
    return {"oneids": people, "requests": path, "tokens": _forms(storage, mine), "records": mine}


def _quarantined_person(storage, identity_map) -> str:
    """A OneID with a row in September's extract quarantine (matched by its record id)."""
    known = {(c, r): o for c, r, o in identity_map[["channel", "record_id", "oneid"]].itertuples(index=False)}
    for key in storage.list(f"quarantine/period={SEPTEMBER}/stage=extract/"):
        rows = storage.read_parquet(key)
        for channel, row_json in zip(rows["channel"], rows["row_json"], strict=True):
            for value in json.loads(row_json).values():
                if (channel, value) in known:
                    return known[(channel, value)]
    pytest.fail("September's quarantine holds no row of a known record; the synthetic data changed")


def _forms(storage, records: pd.DataFrame) -> set[str]:
    """Every form of these people's identifiers the test can compute without tierlib's purge."""
    forms = set(records["oneid"]) | set(records["record_id"])
    for column in IDS:
        forms |= {value.strip() for value in records[column].dropna().astype(str)}
    phones = set(normalize_phone(records["phone"]).dropna())
    emails = set(normalize_email(records["email"]).dropna())
    spelled = {f for p in phones for f in (p, p[1:], p[3:])} | emails
    for text in spelled:
        forms |= {text} | {hashlib.new(name, text.encode()).hexdigest() for name in ("md5", "sha1", "sha256")}
    log = storage.read_parquet(identity_key(SEPTEMBER, "merge_log"))
    theirs = log["oneid"].isin(set(records["oneid"])) & log["value_hash"].notna()
    forms |= set(log.loc[theirs, "value_hash"])  # the keyed hashes storage itself carried
    return {form for form in forms if len(form) >= 5}


def _mentions(root: Path, forms: set[str], oneids) -> list[tuple[str, str]]:
    """(file, form) for every file under ``root`` holding a form: Parquet as text, the rest as bytes."""
    hits = []
    lowered = {form.lower() for form in forms}
    for path in glob.glob(f"{root}/**/*", recursive=True):
        if os.path.isdir(path) or f"{os.sep}privacy{os.sep}" in path:
            continue
        if path.endswith(".parquet"):
            frame = pd.read_parquet(path)
            if "status" in frame.columns and "merged_into" in frame.columns:  # the registry keeps the number
                assert (frame.loc[frame["oneid"].isin(oneids), "status"] == "erased").all(), path
                frame = frame[~frame["oneid"].isin(oneids)]
            text = frame.to_csv(index=False)
        else:
            text = Path(path).read_bytes().decode("utf-8", errors="replace")
        text = text.lower()
        hits += [(path[len(str(root)) :], form) for form in lowered if form in text]
    return hits


def _env(sources, root, requests):
    env = pytest.MonkeyPatch()
    env.setenv("TIERFLOW_CONFIG", CONFIG)
    env.setenv("TIERFLOW_SOURCES", str(sources))
    env.setenv("TIERFLOW_STORAGE", str(root))
    env.setenv("TIERFLOW_HISTORY_MONTHS", "6")
    if requests:
        env.setenv("TIERFLOW_ERASURE_REQUESTS", str(requests))
    else:
        env.delenv("TIERFLOW_ERASURE_REQUESTS", raising=False)

    class Context:
        def __enter__(self):
            return env

        def __exit__(self, *exc):
            env.undo()

    return Context()


@pytest.fixture(scope="module")
def octobers(september, chosen, synthetic_sources):
    """October three ways: baseline, requests only (next run), purged first then run."""
    base = september.parent
    roots = {name: base / name for name in ("baseline", "requests", "purged")}
    for root in roots.values():
        shutil.copytree(september, root)
    with _env(synthetic_sources, roots["purged"], chosen["requests"]):
        erase = subprocess.run(
            [sys.executable, "-m", "tierlib", "erase", "--config", CONFIG],
            capture_output=True,
            text=True,
            cwd=PROJECT,
            env={**os.environ, "PYTHONPATH": str(PROJECT)},
        )
    assert erase.returncode == 0, erase.stderr[-3000:]
    audit = json.loads(erase.stdout)
    purged_hits = _mentions(roots["purged"], chosen["tokens"], chosen["oneids"])
    copy = base / "purged-before-october"
    shutil.copytree(roots["purged"], copy)
    for name, root in roots.items():
        with _env(synthetic_sources, root, None if name == "baseline" else chosen["requests"]):
            run_pipeline(RunContext.open(CONFIG, OCTOBER))
    return {
        **{name: open_storage(str(root)) for name, root in roots.items()},
        "audit": audit,
        "purged_hits": purged_hits,
        "purged_root": copy,
    }


def test_the_purge_leaves_no_form_of_their_identifiers_anywhere_in_storage(octobers, chosen):
    assert octobers["purged_hits"] == []
    # Sanity: the same scan finds them in the storage before the purge.
    assert _mentions(octobers["purged_root"].parent / "september", chosen["tokens"], [])
    audit = octobers["audit"]
    assert [entry["request_id"] for entry in audit["requests"]] == ["ER-1", "ER-2", "ER-3"]
    assert all(entry["oneids"] >= 1 and entry["records"] >= 1 for entry in audit["requests"][1:])
    assert audit["people"]["oneids"] == 3 and audit["files_still_mentioning"] == 0
    for area in (
        "standardized",
        "quarantine",
        "identity",
        "features",
        "scores",
        "tiers",
        "exports",
        "reports",
    ):
        assert audit["rows_removed"].get(area, 0) > 0, area
    storage = open_storage(str(octobers["purged_root"]))
    audit_keys = storage.list("privacy/audit/")
    assert audit_keys and audit_keys[0].startswith(erasure_audit_key("")[: -len(".json")])
    text = storage.read_bytes(audit_keys[0]).decode().lower()
    assert not [form for form in chosen["tokens"] if form.lower() in text]  # counts only
    assert len(verify_published(storage, SEPTEMBER)["files"]) > 0  # manifests re-hashed
    for key in storage.list(f"standardized/period={SEPTEMBER}/"):
        if key.endswith("_SUCCESS.json"):
            for counts in storage.read_json(key).values():
                assert counts["rows_in"] == counts["accepted"] + counts["quarantined"] + counts.get(
                    "erased", 0
                )


def test_the_next_run_leaves_them_out_and_lists_them_in_the_removed_deltas(octobers, chosen):
    storage = octobers["requests"]
    oneids = chosen["oneids"]
    for key in (features_key(OCTOBER), scores_key(OCTOBER), tiers_key(OCTOBER)):
        assert not storage.read_parquet(key)["oneid"].isin(oneids).any(), key
    registry = storage.read_parquet(identity_key(OCTOBER, "registry")).set_index("oneid")
    assert (registry.loc[oneids, "status"] == "erased").all()
    identity_map = storage.read_parquet(identity_key(OCTOBER, "identity_map"))
    gone = set(zip(chosen["records"]["channel"], chosen["records"]["record_id"], strict=True))
    assert not set(zip(identity_map["channel"], identity_map["record_id"], strict=True)) & gone
    # New OneIDs are numbered past every number ever issued, the erased ones included.
    assert not set(identity_map["oneid"]) & set(oneids)
    assignments = storage.read_parquet(f"exports/period={OCTOBER}/assignments.parquet")
    assert not assignments["oneid"].isin(oneids).any()
    texted = chosen["oneids"][2]
    phones = set(
        normalize_phone(chosen["records"].loc[chosen["records"]["oneid"] == texted, "phone"]).dropna()
    )
    removed = "".join(
        storage.read_bytes(key).decode()
        for key in storage.list(f"exports/period={OCTOBER}/channel=sms/")
        if key.endswith("removed.csv")
    )
    members = "".join(
        storage.read_bytes(key).decode()
        for key in storage.list(f"exports/period={OCTOBER}/channel=sms/")
        if key.endswith(("members.csv", "holdout.csv", "added.csv"))
    )
    assert any(phone in removed for phone in phones) and not any(phone in members for phone in phones)
    extract = storage.read_json(f"runs/period={OCTOBER}/extract/channel=app.json")["figures"]
    erased_rows = sum(
        storage.read_json(key)["figures"]["totals"]["erased"]
        for key in storage.list(f"runs/period={OCTOBER}/extract/")
    )
    assert erased_rows > 0 and "erased" in extract["totals"]


def test_the_month_after_a_purge_is_otherwise_unchanged(octobers, chosen):
    purged, requested, baseline = octobers["purged"], octobers["requests"], octobers["baseline"]
    oneids = set(chosen["oneids"])
    # Leaving them out with or without the purge gives the same month, file for file.
    for key in (
        identity_key(OCTOBER, "identity_map"),
        features_key(OCTOBER),
        scores_key(OCTOBER),
        tiers_key(OCTOBER),
    ):
        assert purged.read_bytes(key) == requested.read_bytes(key), key
    assert _mentions(Path(purged.root), chosen["tokens"], chosen["oneids"]) == []
    # Everyone else keeps their OneID, record for record, as if nothing had been erased.
    theirs = baseline.read_parquet(identity_key(OCTOBER, "identity_map"))
    kept = purged.read_parquet(identity_key(OCTOBER, "identity_map"))
    pd.testing.assert_frame_equal(theirs[~theirs["oneid"].isin(oneids)].reset_index(drop=True), kept)
    registry = purged.read_parquet(identity_key(OCTOBER, "registry"))
    before = baseline.read_parquet(identity_key(OCTOBER, "registry"))
    others = ~before["oneid"].isin(oneids)
    pd.testing.assert_frame_equal(
        before[others].reset_index(drop=True),
        registry[~registry["oneid"].isin(oneids)].reset_index(drop=True),
    )
    # Per-member features that do not depend on the population are the same for everyone else.
    columns = ["oneid", "frequency", "monetary", "recency_days", "tenure_days", "views", "channel_count"]
    mine = purged.read_parquet(features_key(OCTOBER))
    base = baseline.read_parquet(features_key(OCTOBER))
    pd.testing.assert_frame_equal(
        base.loc[~base["oneid"].isin(oneids), columns].reset_index(drop=True),
        mine[columns].reset_index(drop=True),
    )
