"""The publish stage on synthetic data, checked against the generator's ground truth, on both backends.

Upstream tables are built here from the synthetic sources so that the test
depends on nothing but the extract connectors and the generator's truth:

- record versions: the real extract connectors over the synthetic drops;
- identity map: the truth (``_truth/record_person.parquet``), oneid = person id,
  so "a member" below is a true person;
- tiers and scores: made up from truth (VIP = top 20% by latent spend level,
  other tiers by a hash of the person), model_version ``truth-model-1``.

Ground truth for consent is the source consent flags as the connectors read
them; for suppression, the generator's ``opted_out`` people and its opt-out
list normalized with the generator's own normalizers.
"""

from __future__ import annotations

import dataclasses
import hashlib

import botocore.exceptions
import numpy as np
import pandas as pd
import pytest

from tierlib.catalog import (
    exports_prefix,
    exports_success_key,
    identity_key,
    identity_map_key,
    scores_key,
    standardized_key,
    tiers_key,
)
from tierlib.config import load_config
from tierlib.errors import StorageError
from tierlib.extract import extract_table
from tierlib.period import periods_between
from tierlib.pipeline.context import RunContext
from tierlib.pipeline.publish import run_publish
from tierlib.publish import decode, holdout_draws, read_published, verify_published
from tierlib.storage import open_storage
from tierlib.synth import SynthSettings, generate
from tierlib.synth import normalize_email as reference_email
from tierlib.synth import normalize_phone as reference_phone

START, FIRST, SECOND = "2026-08", "2026-09", "2026-10"
TIER_NAMES = ("churn_risk", "potential_high_value", "dormant", "new_or_unknown", "regular")
FLAG_OF = {
    "sms": "consent_sms",
    "email": "consent_email",
    "wechat": "consent_wechat",
    "app_push": "consent_push",
}
VALUE_OF = {"sms": "phone", "email": "email", "wechat": "openid", "app_push": "device_id"}


@pytest.fixture(scope="module")
def upstream(tmp_path_factory) -> dict:
    """Record versions up to SECOND, orders of both months, the truth, the config.

    900 people over three months (the existing base arrives in the first): small
    enough to stay fast, big enough for every segment and channel to have members.
    """
    synthetic_sources = tmp_path_factory.mktemp("publish") / "sources"
    generate(SynthSettings(members=900, months=3, start=START, seed=5), str(synthetic_sources))
    with pytest.MonkeyPatch.context() as env:
        env.setenv("TIERFLOW_SOURCES", str(synthetic_sources))
        config = load_config("config/tierflow.yaml")
    settings = dataclasses.replace(config.stage("exports"), holdout_share=0.2)
    config = dataclasses.replace(config, stages={**config.stages, "exports": settings})
    records, orders = {}, {}
    for period in periods_between(START, SECOND):
        frames = []
        for name, channel in config.channels.items():
            result = extract_table(name, channel, "records", period)
            frames.append(result.accepted)
            if period in (FIRST, SECOND) and "orders" in channel.tables():
                orders[(period, name)] = extract_table(name, channel, "orders", period).accepted
        records[period] = pd.concat(frames, ignore_index=True)
    truth = synthetic_sources / "_truth"
    return {
        "config": config,
        "records": records,
        "orders": orders,
        "record_person": pd.read_parquet(truth / "record_person.parquet").astype("string"),
        "persons": pd.read_parquet(truth / "persons.parquet"),
        "optouts": pd.read_csv(
            synthetic_sources / "_suppression" / "optouts.csv", dtype="string", keep_default_na=False
        ),
    }


def _month_inputs(upstream: dict, period: str) -> dict[str, pd.DataFrame]:
    versions = pd.concat(
        [frame for month, frame in upstream["records"].items() if month <= period], ignore_index=True
    )
    truth = upstream["record_person"]
    known = versions[["channel", "record_id"]].drop_duplicates().astype("string")
    identity_map = known.merge(truth, on=["channel", "record_id"]).rename(columns={"person_id": "oneid"})
    persons = upstream["persons"].set_index("person_id").loc[sorted(identity_map["oneid"].unique())]
    value = persons["spend_level"].to_numpy()
    vip = value >= np.quantile(value, 0.8)
    bucket = [int(hashlib.sha256(p.encode()).hexdigest()[:8], 16) % len(TIER_NAMES) for p in persons.index]
    tiers = pd.DataFrame(
        {
            "oneid": persons.index.astype("string"),
            "tier": [TIER_NAMES[b] for b in bucket],
            "previous_tier": pd.Series(pd.NA, index=range(len(persons)), dtype="string"),
            "rfm_cell": "x",
            "lifecycle_stage": "active",
            "vip": vip,
            "predicted_value_90d": value,
            "churn_probability": 0.3,
        }
    )
    scores = tiers[["oneid", "predicted_value_90d", "churn_probability"]].assign(
        model_version="truth-model-1"
    )
    return {"records": versions, "identity_map": identity_map, "tiers": tiers, "scores": scores}


def _write_inputs(storage, upstream: dict, period: str) -> dict[str, pd.DataFrame]:
    inputs = _month_inputs(upstream, period)
    storage.write_parquet(identity_key(period, "records"), inputs["records"])
    storage.write_parquet(identity_map_key(period), inputs["identity_map"])
    storage.write_parquet(tiers_key(period), inputs["tiers"])
    storage.write_parquet(scores_key(period), inputs["scores"])
    for (month, channel), frame in upstream["orders"].items():
        if month == period:
            storage.write_parquet(standardized_key(period, channel, "orders"), frame)
    return inputs


def _published(storage, period: str) -> dict:
    manifest = verify_published(storage, period)
    tables = {}
    for entry in manifest["files"]:
        if entry["format"] == "parquet" or entry["role"] == "lift":
            key = manifest["prefix"] + entry["path"]
            if entry["path"].endswith(".parquet"):
                tables[(entry["channel"], entry["segment"], entry["role"])] = decode(
                    storage.read_bytes(key), "parquet", key
                )
    return {"manifest": manifest, "tables": tables}


def _context(upstream, storage, period, **exports) -> RunContext:
    config = upstream["config"]
    if exports:
        settings = dataclasses.replace(config.stage("exports"), **exports)
        config = dataclasses.replace(config, stages={**config.stages, "exports": settings})
    return RunContext(config=config, storage=storage, period=period)


def _latest(records: pd.DataFrame, record_person: pd.DataFrame) -> pd.DataFrame:
    ordered = records.assign(_order=range(len(records))).sort_values(
        ["channel", "record_id", "updated_at", "_order"]
    )
    latest = ordered.drop_duplicates(["channel", "record_id"], keep="last").astype(
        {"channel": "string", "record_id": "string"}
    )
    latest = latest.merge(record_person, on=["channel", "record_id"])
    latest["phone"] = truth_phone(latest["phone"])
    latest["email"] = truth_email(latest["email"])
    return latest


def truth_phone(values: pd.Series) -> pd.Series:
    """The generator's reference normalizer (11 national digits), written as E.164 for CN."""
    out = [
        None if pd.isna(v) or reference_phone(str(v)) is None else "+86" + reference_phone(str(v))
        for v in values
    ]
    return pd.Series(out, index=values.index, dtype="string")


def truth_email(values: pd.Series) -> pd.Series:
    out = [None if pd.isna(v) else reference_email(str(v)) for v in values]
    return pd.Series(out, index=values.index, dtype="string").replace("", pd.NA)


def _sha(values) -> set[str]:
    return {hashlib.sha256(value.encode()).hexdigest() for value in values}


def test_consent_and_suppression_hold_against_ground_truth(storage, upstream) -> None:
    inputs = _write_inputs(storage, upstream, FIRST)
    figures = run_publish(_context(upstream, storage, FIRST, formats=("parquet",)))
    assert figures["commit"] == "committed" and figures["model_version"] == "truth-model-1"
    published = _published(storage, FIRST)
    tables = published["tables"]
    latest = _latest(inputs["records"], upstream["record_person"])
    assignments = tables[(None, None, "assignments")]
    persons = upstream["persons"].set_index("person_id")
    opted_out = set(persons.index[persons["opted_out"]])
    listed_phones = set(truth_phone(upstream["optouts"]["phone"]).dropna())
    listed_emails = set(truth_email(upstream["optouts"]["email"]).dropna())
    assert opted_out and listed_phones and listed_emails

    # Nobody who opted out is in any file, sent or held out, and no listed value appears anywhere.
    # "Opted out" can only be acted on through the list: a person whose listed phone or e-mail is
    # on none of their record versions up to the month cannot be found (they gave an address we
    # never held); those are the only opted-out people allowed through, and only if such exist.
    versions = (
        inputs["records"]
        .astype({"channel": "string", "record_id": "string"})
        .merge(upstream["record_person"], on=["channel", "record_id"])
    )
    on_list = truth_phone(versions["phone"]).isin(listed_phones) | truth_email(versions["email"]).isin(
        listed_emails
    )
    findable = set(versions.loc[on_list.fillna(False).astype(bool), "person_id"])
    assert findable and findable <= opted_out
    assert not set(assignments["oneid"]) & findable
    assert set(assignments["oneid"]) & opted_out <= opted_out - findable
    for (channel, _segment, role), frame in tables.items():
        if channel is None:
            continue
        for column in ("phone", "email"):
            if column in frame:
                assert not set(frame[column].dropna()) & (listed_phones | listed_emails), (channel, role)
        if "hashed_phone" in frame:
            listed_hashes = (
                _sha(listed_phones) | _sha(p.lstrip("+") for p in listed_phones) | _sha(listed_emails)
            )
            assert (
                not (set(frame["hashed_phone"].dropna()) | set(frame["hashed_email"].dropna()))
                & listed_hashes
            )

    # Every member assigned to a contact channel consents on some record and refuses on none.
    checked = 0
    for channel, flag in FLAG_OF.items():
        members = set(assignments.loc[assignments["channel"] == channel, "oneid"])
        of_members = latest[latest["person_id"].isin(members)]
        refusing = set(of_members.loc[of_members[flag].eq(False).fillna(False), "person_id"])
        granting = set(of_members.loc[of_members[flag].eq(True).fillna(False), "person_id"])
        assert not members & refusing, channel
        assert members <= granting, channel
        checked += len(members)
        # ... and each value sent is on a latest record that consents, and on none that refuses.
        value = VALUE_OF[channel]
        column = {"app_push": "device_token"}.get(channel, value)
        sent = set().union(
            *(
                set(frame[column].dropna())
                for (c, _s, role), frame in tables.items()
                if c == channel and role in ("members", "holdout")
            )
        )
        carrying = latest[latest[value].isin(sent)]
        assert not set(carrying.loc[carrying[flag].eq(False).fillna(False), value]), channel
        assert set(carrying.loc[carrying[flag].eq(True).fillna(False), value]) == sent, channel
    assert checked > 300

    # Customer match: each hash is of a value whose own consent flag holds.
    for channel, platform_phone in (("google_ads", lambda p: p), ("meta_ads", lambda p: p.lstrip("+"))):
        phones = latest[latest["consent_sms"].eq(True).fillna(False) & latest["phone"].notna()]
        emails = latest[latest["consent_email"].eq(True).fillna(False) & latest["email"].notna()]
        allowed_phone = _sha(platform_phone(p) for p in phones["phone"])
        allowed_email = _sha(emails["email"])
        for (c, _s, role), frame in tables.items():
            if c == channel and role in ("members", "holdout"):
                assert set(frame["hashed_phone"].dropna()) <= allowed_phone
                assert set(frame["hashed_email"].dropna()) <= allowed_email

    # The guide tool gets members who consent to SMS (its default flag), with their own guide.
    crm = tables[("guide_crm", "vip", "members")]
    assert len(crm) and set(crm.columns) == {"oneid", "store_id", "guide_id"}
    guides = latest[latest["guide_id"].notna()].groupby("person_id")["guide_id"].agg(set)
    assert all(row.guide_id in guides[row.oneid] for row in crm.itertuples())

    # Segments follow the tiers; at most one segment per member per channel.
    vip = set(inputs["tiers"].loc[inputs["tiers"]["vip"], "oneid"])
    assert set(assignments.loc[assignments["segment"] == "vip", "oneid"]) <= vip
    assert not assignments.duplicated(["channel", "oneid"]).any()


def test_two_months_holdouts_deltas_lift_rerun(local_storage, upstream) -> None:
    storage = local_storage
    _write_inputs(storage, upstream, FIRST)
    run_publish(_context(upstream, storage, FIRST))
    _write_inputs(storage, upstream, SECOND)
    dry_run = dataclasses.replace(_context(upstream, storage, SECOND), dry_run=True)
    assert run_publish(dry_run)["commit"] == "staged (dry run)"
    assert read_published(storage, SECOND) is None  # a dry run publishes nothing
    run_publish(_context(upstream, storage, SECOND))
    first, second = _published(storage, FIRST), _published(storage, SECOND)
    settings = upstream["config"].stage("exports")

    # The same member keeps the same holdout status in both months, and it is the salted hash.
    both = first["tables"][(None, None, "assignments")].merge(
        second["tables"][(None, None, "assignments")],
        on=["channel", "segment", "oneid"],
        suffixes=("_1", "_2"),
    )
    assert len(both) > 200 and (both["group_1"] == both["group_2"]).all()
    for segment, rows in both.groupby("segment"):
        share, salt = settings.segment_holdout(segment)
        expected = np.where(holdout_draws(rows["oneid"], salt) < share, "holdout", "treated")
        assert (rows["group_1"].to_numpy() == expected).all()
    held = (both["group_1"] == "holdout").mean()
    assert 0.12 < held < 0.28

    # Deltas are the difference of the two months' sent lists.
    checked = 0
    for (channel, segment, role), now in second["tables"].items():
        if role != "members" or channel is None:
            continue
        before = first["tables"][(channel, segment, "members")]
        rows = lambda frame: set(map(tuple, frame.astype(object).fillna("").to_numpy()))  # noqa: E731
        added, removed = (
            second["tables"][(channel, segment, "added")],
            second["tables"][(channel, segment, "removed")],
        )
        assert rows(added) == rows(now) - rows(before)
        assert rows(removed) == rows(before) - rows(now)
        checked += len(added) + len(removed)
    assert checked > 0
    assert all(entry["delta_basis"] == "previous" for entry in second["manifest"]["segments"])
    assert all(entry["delta_basis"] == "none" for entry in first["manifest"]["segments"])

    # The lift report judges September's segments with October's orders.
    lift = second["tables"][(None, None, "lift")]
    assignments = first["tables"][(None, None, "assignments")]
    vip_sms = lift[(lift["segment"] == "vip") & (lift["channel"] == "sms")].iloc[0]
    in_first = assignments[(assignments["segment"] == "vip") & (assignments["channel"] == "sms")]
    assert vip_sms["treated_members"] == (in_first["group"] == "treated").sum()
    assert vip_sms["holdout_members"] == (in_first["group"] == "holdout").sum()
    assert vip_sms["conversion_lift_low"] <= vip_sms["conversion_lift"] <= vip_sms["conversion_lift_high"]
    assert lift["treated_converted"].sum() > 0

    # A rerun gives the same bytes and touches nothing.
    before = {key: storage.read_bytes(key) for key in storage.list("exports/")}
    assert run_publish(_context(upstream, storage, SECOND))["commit"] == "unchanged"
    assert {key: storage.read_bytes(key) for key in storage.list("exports/")} == before


def test_s3_two_months_with_a_failure_midway_through_the_commit(
    s3_root, s3_endpoint, s3_session, upstream
) -> None:
    """On the S3 server: September published; October's commit loses its connection halfway
    (September still verifies, October is invisible), the rerun completes, and the VIP holdout
    is the same people in both months."""
    storage = open_storage(s3_root, endpoint_url=s3_endpoint, boto3_session=s3_session)
    segments = {"vip": upstream["config"].stage("exports").segments["vip"]}
    lean = {"formats": ("csv",), "segments": segments}  # vip in 7 channels: 31 files
    _write_inputs(storage, upstream, FIRST)
    run_publish(_context(upstream, storage, FIRST, **lean))
    _write_inputs(storage, upstream, SECOND)
    copies = []

    def drop_connection(**_):
        copies.append(1)
        if len(copies) == 12:
            raise botocore.exceptions.EndpointConnectionError(endpoint_url=s3_endpoint)

    storage.client.meta.events.register("before-call.s3.CopyObject", drop_connection)
    with pytest.raises(StorageError):
        run_publish(_context(upstream, storage, SECOND, **lean))
    assert read_published(storage, SECOND) is None and not storage.exists(exports_success_key(SECOND))
    assert len(storage.list(exports_prefix(SECOND))) >= 11  # partly copied, and invisible without _SUCCESS
    verify_published(storage, FIRST)
    storage.client.meta.events.unregister("before-call.s3.CopyObject", drop_connection)
    assert run_publish(_context(upstream, storage, SECOND, **lean))["commit"] == "committed"
    verify_published(storage, SECOND)
    first, second = (
        _published(storage, period)["tables"][(None, None, "assignments")] for period in (FIRST, SECOND)
    )
    both = first.merge(second, on=["channel", "segment", "oneid"], suffixes=("_1", "_2"))
    assert len(both) > 100 and (both["group_1"] == both["group_2"]).all()
    assert set(both["group_1"]) == {"treated", "holdout"}


def _all_file_text(storage, period: str) -> str:
    """Every file of the month a marketer sends from, as text (archives opened), to look identifiers up."""
    import io
    import zipfile

    manifest = verify_published(storage, period)
    parts = []
    for entry in manifest["files"]:
        if entry["role"] in ("removed", "upload_removed"):
            continue  # last month's rows to take out of the audience: the newly held back are there
        data = storage.read_bytes(manifest["prefix"] + entry["path"])
        if entry["format"] == "zip":
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                parts += [archive.read(name).decode() for name in archive.namelist()]
        elif entry["format"] == "parquet":
            frame = decode(data, "parquet", entry["path"])
            parts += [frame[column].astype("string").str.cat(sep="\n") or "" for column in frame.columns]
        else:
            parts.append(data.decode())
    return "\n".join(parts)


def test_global_control_and_contact_budget_over_two_months_and_a_byte_identical_rerun(
    local_storage, upstream
) -> None:
    from tierlib.publish._settings import ContactBudget, GlobalControl

    storage = local_storage
    program = {
        "global_control": GlobalControl(share=0.1, salt="stage-control", rotation="quarter"),
        "contact_budget": ContactBudget(max_contacts=3, window_months=2, channel_order=("guide_crm", "sms")),
    }
    figures = {}
    for period in (FIRST, SECOND):
        _write_inputs(storage, upstream, period)
        figures[period] = run_publish(_context(upstream, storage, period, **program))
    # 2026-09 and 2026-10 fall in different quarters: the control is drawn afresh.
    controls = {}
    for period in (FIRST, SECOND):
        tiers = _month_inputs(upstream, period)["tiers"]
        quarter = "2026Q3" if period == FIRST else "2026Q4"
        draws = holdout_draws(tiers["oneid"], f"stage-control:{quarter}")
        controls[period] = set(tiers["oneid"][draws < 0.1])
        assert figures[period]["members_in_global_control"] == len(controls[period]) > 40
    assert controls[FIRST] != controls[SECOND]

    # In no file of any channel: neither their oneids, nor their phones in any form we write.
    records = _month_inputs(upstream, SECOND)["records"]
    identity_map = _month_inputs(upstream, SECOND)["identity_map"]
    theirs = records.merge(identity_map, on=["channel", "record_id"])
    theirs = theirs[theirs["oneid"].isin(controls[SECOND])]
    phones = {reference_phone(value) for value in theirs["phone"].dropna()} - {None}
    national = {phone.removeprefix("+86") for phone in phones}
    forms = {"+86" + n for n in national} | {hashlib.md5(n.encode()).hexdigest() for n in national}
    forms |= {hashlib.sha256(n.encode()).hexdigest() for n in national}
    text = _all_file_text(storage, SECOND)
    published = _published(storage, SECOND)["tables"]
    assignments = published[(None, None, "assignments")]
    assert not controls[SECOND] & set(assignments["oneid"])
    assert phones and not [form for form in forms if form in text]

    # The budget holds for every member over the two-month window, across channels.
    logs = pd.concat(
        [_published(storage, period)["tables"][(None, None, "contact_log")] for period in (FIRST, SECOND)]
    )
    assert logs.groupby("oneid").size().max() <= 3
    treated = assignments[assignments["group"] == "treated"]
    assert len(treated) == len(published[(None, None, "contact_log")])
    assert (
        sum(
            segment["over_budget"]
            for channel in figures[SECOND]["channels"].values()
            for segment in channel["segments"].values()
        )
        > 0
    )

    # The program's lift of September is judged on October's orders.
    program_lift = published[(None, None, "program_lift")].set_index("tier")
    september = _published(storage, FIRST)["tables"][(None, None, "program")]
    assert program_lift.loc["all", "control_members"] == (september["group"] == "global_control").sum() > 0
    assert program_lift.loc["all", "contacted_members"] == (september["group"] == "contacted").sum()

    # A rerun of October gives the same bytes and touches nothing.
    before = {key: storage.read_bytes(key) for key in storage.list(f"exports/period={SECOND}/")}
    assert run_publish(_context(upstream, storage, SECOND, **program))["commit"] == "unchanged"
    assert {key: storage.read_bytes(key) for key in storage.list(f"exports/period={SECOND}/")} == before
