"""The purge works from what a file holds: every format, every form of an identifier, nobody else."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import sqlite3
import zipfile

import pandas as pd
import pyarrow.parquet as pq
import pytest

from tierlib.config import parse_config
from tierlib.errors import ConfigError, InputError
from tierlib.identity import IdentitySettings
from tierlib.pipeline.context import RunContext
from tierlib.privacy import ErasureFilter, PrivacySettings, Tombstone, read_requests, resolve_people
from tierlib.privacy._purge import Matcher, identifier_forms, purge_bytes

PHONE = "+8613812345678"
OTHER_PHONE = "+8613812345679"  # differs in the last digit: must survive


def _people():
    records = pd.DataFrame(
        {
            "channel": ["pos", "wechat", "pos", "app"],
            "record_id": ["V0001", "oAbc123xyz", "V0002", "V0001"],
            "phone": ["138 1234 5678", None, "13812345679", "13900000000"],
            "email": ["Li.Wei@Example.com", None, "zhang@example.com", None],
            "member_id": ["V0001", None, "V0002", None],
            "unionid": ["uUNION01", "uUNION01", None, None],
            "openid": [None, "oAbc123xyz", None, None],
            "device_id": [None, None, None, None],
            "platform_user_id": [None, None, None, None],
        }
    )
    identity_map = pd.DataFrame(
        {
            "channel": ["pos", "wechat", "pos", "app"],
            "record_id": ["V0001", "oAbc123xyz", "V0002", "V0001"],
            "oneid": ["P0000000001", "P0000000001", "P0000000002", "P0000000003"],
        }
    )
    requests = pd.DataFrame(
        {"request_id": ["R1"], "requested_at": ["2026-11-01"], "phone": ["+86 138-1234-5678"]}
    )
    requests = requests.reindex(
        columns=["request_id", "requested_at", "phone", "email", "member_id", "unionid", "oneid"]
    )
    erasure = ErasureFilter.of(requests.astype("string"), Tombstone(), b"k" * 16, IdentitySettings())
    return resolve_people(requests.astype("string"), records, identity_map, None, erasure)


@pytest.fixture(scope="module")
def matcher():
    return Matcher.of(_people(), b"k" * 16)


def test_a_person_is_found_by_the_requested_phone_and_by_the_oneid_it_resolves_to():
    people = _people()
    assert people.oneids == {"P0000000001"}
    # The WeChat record carries no phone: it goes because it shares the person's OneID.
    assert people.record_keys == {("pos", "V0001"), ("wechat", "oAbc123xyz")}
    assert people.values["phone"] == {PHONE} and people.values["email"] == {"li.wei@example.com"}
    assert people.requests == [{"request_id": "R1", "requested_at": "2026-11-01", "records": 1, "oneids": 1}]
    # A record id another channel also uses ("app"/"V0001") is no identifier of theirs.
    assert "V0001" not in identifier_forms(people, b"k" * 16)


def test_export_files_lose_the_rows_with_any_form_or_hash_of_the_phone(matcher):
    sha_e164 = hashlib.sha256(PHONE.encode()).hexdigest()
    md5_national = hashlib.md5(PHONE[3:].encode()).hexdigest()
    sha_digits = hashlib.sha256(PHONE[1:].encode()).hexdigest()
    other = hashlib.sha256(OTHER_PHONE.encode()).hexdigest()
    customer_match = f"hashed_email,hashed_phone\n,{sha_e164}\n,{other}\n,{sha_digits.upper()}\n"
    out = purge_bytes("exports/x/members.csv", customer_match.encode(), matcher)
    assert out.data.decode() == f"hashed_email,hashed_phone\n,{other}\n" and out.rows == 2
    tencent = f"{md5_national}\n{hashlib.md5(OTHER_PHONE[3:].encode()).hexdigest()}\n"  # one hash a line
    assert purge_bytes("exports/x/phones.txt", tencent.encode(), matcher).data.count(b"\n") == 1
    assert purge_bytes("a.csv", f"phone\n{OTHER_PHONE}\n".encode(), matcher).data is None  # untouched


def test_parquet_rows_go_by_any_cell_and_by_record_keys_of_the_same_channel(matcher):
    frame = pd.DataFrame(
        {
            "channel": ["pos", "pos", "app", "guide"],
            "record_id": ["V0001", "V0003", "V0001", "G1"],
            "row_json": [None, '{"vip_no": "V0001x"}', None, '{"mobile": "138 1234 5678"}'],
        }
    )
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    out = purge_bytes(
        "quarantine/period=2026-10/stage=extract/channel=pos/records.parquet", buffer.getvalue(), matcher
    )
    kept = pq.read_table(io.BytesIO(out.data)).to_pandas()
    # pos/V0001 goes (their record), app/V0001 stays (someone else's), the raw phone in JSON goes.
    assert list(zip(kept["channel"], kept["record_id"], strict=True)) == [("pos", "V0003"), ("app", "V0001")]


def test_the_registry_keeps_their_number_marked_erased(matcher):
    registry = pd.DataFrame(
        {
            "oneid": ["P0000000001", "P0000000002"],
            "first_seen": ["2026-01", "2026-01"],
            "last_seen": ["2026-09", "2026-09"],
            "status": ["active", "active"],
            "merged_into": pd.Series([None, None], dtype="string"),
        }
    )
    buffer = io.BytesIO()
    registry.to_parquet(buffer)
    out = purge_bytes("identity/period=2026-09/registry.parquet", buffer.getvalue(), matcher)
    kept = pq.read_table(io.BytesIO(out.data)).to_pandas()
    assert list(kept["status"]) == ["erased", "active"]
    again = io.BytesIO(out.data).getvalue()
    assert purge_bytes("identity/period=2026-09/registry.parquet", again, matcher).data is None  # done once


def test_json_html_gzip_and_zip(matcher):
    document = {"alerts": [{"oneid": "P0000000001", "level": "L1"}, {"oneid": "P0000000002"}], "note": "ok"}
    out = purge_bytes("tiers/alerts.json", json.dumps(document, indent=2).encode(), matcher)
    assert json.loads(out.data) == {"alerts": [{"oneid": "P0000000002"}], "note": "ok"}
    page = (
        "<table><tr><td>P0000000001</td><td>L1</td></tr><tr><td>P0000000002</td></tr></table>"
        "<p>Unexpected values: li.wei@example.com and 17700000000</p>"
    )
    html = purge_bytes("reports/period=2026-10/report.html", page.encode(), matcher).data.decode()
    assert "P0000000001" not in html and "P0000000002" in html
    assert "li.wei@example.com" not in html and "[erased]" in html and "17700000000" in html
    packed = purge_bytes(
        "exports/x/phones.csv.gz", gzip.compress(f"phone\n{PHONE}\n{OTHER_PHONE}\n".encode()), matcher
    )
    assert gzip.decompress(packed.data).decode() == f"phone\n{OTHER_PHONE}\n"
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as target:
        target.writestr("audience.txt", f"{PHONE[3:]}\n13900001111\n")
    zipped = purge_bytes("exports/x/audience.zip", archive.getvalue(), matcher)
    assert zipfile.ZipFile(io.BytesIO(zipped.data)).read("audience.txt") == b"13900001111\n"
    assert purge_bytes(
        "reports/chart.png", b"\x89PNG" + PHONE.encode(), matcher
    ).unreadable  # reported, not kept


def _config(tmp_path, **privacy):
    return parse_config(
        {
            "storage": {"root": str(tmp_path / "storage")},
            "channels": {
                "app": {
                    "connector": "file",
                    "location": str(tmp_path),
                    "format": "csv",
                    "records": {"file": "m.csv", "columns": {"record_id": "id"}},
                }
            },
            "privacy": privacy,
        },
        str(tmp_path / "tierflow.yaml"),
    )


def test_requests_are_checked_and_never_read_from_inside_the_storage_root(tmp_path):
    good = tmp_path / "requests.csv"
    good.write_text("request_id,requested_at,phone,email\nR1,2026-11-01, 13812345678 ,\n")
    config = _config(tmp_path, erasure_requests=str(good))
    requests = read_requests(RunContext(config=config, storage=None, period="2026-10"))
    assert requests.loc[0, "phone"] == "13812345678" and pd.isna(requests.loc[0, "oneid"])
    bad = tmp_path / "bad.csv"
    bad.write_text("request_id,phone\nR1,\n,13800000001\nR3,1\nR3,2\n")
    config = _config(tmp_path, erasure_requests=str(bad))
    with pytest.raises(InputError) as problems:
        read_requests(RunContext(config=config, storage=None, period="2026-10"))
    assert "row 2 (R1)" in str(problems.value) and "row 3: no request_id" in str(problems.value)
    assert "R3 appears more than once" in str(problems.value)
    inside = tmp_path / "storage" / "requests.csv"
    inside.parent.mkdir()
    inside.write_text(good.read_text())
    config = _config(tmp_path, erasure_requests=str(inside))
    with pytest.raises(ConfigError, match="inside the storage root"):
        read_requests(RunContext(config=config, storage=None, period="2026-10"))


def test_requests_from_a_sql_table(tmp_path):
    database = tmp_path / "crm.db"
    with sqlite3.connect(database) as connection:
        connection.execute("create table erasure_requests (request_id text, requested_at text, email text)")
        connection.execute("insert into erasure_requests values ('R9', '2026-11-03', 'a@b.cn')")
    config = _config(tmp_path, erasure_requests_url=f"sqlite:///{database}")
    requests = read_requests(RunContext(config=config, storage=None, period="2026-10"))
    assert list(requests["request_id"]) == ["R9"] and requests.loc[0, "email"] == "a@b.cn"
    assert PrivacySettings().erasure_requests is None


def test_a_malformed_row_of_an_erased_person_is_found_by_its_text():
    requests = pd.DataFrame({"request_id": ["R1"], "requested_at": [None], "phone": ["+86 138 1234 5678"]})
    requests = requests.reindex(
        columns=["request_id", "requested_at", "phone", "email", "member_id", "unionid", "oneid"]
    )
    erasure = ErasureFilter.of(requests.astype("string"), Tombstone(), None, IdentitySettings())
    rows = pd.Series(['{"line": "V9,13812345678,\\"broken"}', '{"line": "V8,13812345679,x"}', None])
    assert list(erasure.text_mask(rows)) == [True, False, False]
