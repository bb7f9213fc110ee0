"""The Airflow UI view (plugins/tierflow_reports.py): Airflow loads it, it stays light, it serves reports."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tierlib.catalog import (
    approved_model_key,
    model_card_key,
    report_chart_key,
    report_key,
    report_summary_key,
)
from tierlib.storage import open_storage

PROJECT = Path(__file__).resolve().parent.parent
PLUGIN = PROJECT / "plugins" / "tierflow_reports.py"
CONFIG = str(PROJECT / "config" / "tierflow.yaml")


def _module():
    spec = importlib.util.spec_from_file_location("tierflow_reports_plugin_under_test", PLUGIN)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def storage_root(tmp_path, monkeypatch) -> Path:
    """Reports for three months (the newest without its summary yet), two model cards, and member data."""
    root = tmp_path / "storage"
    storage = open_storage(str(root))
    for period, members in (("2026-09", 1972), ("2026-10", 2010)):
        storage.write_bytes(report_key(period), f"<html><body>report {period}</body></html>".encode())
        storage.write_bytes(report_chart_key(period, "tiers"), b"\x89PNG fake")
        storage.write_json(
            report_summary_key(period),
            {
                "period": period,
                "headline": {
                    "members": members,
                    "revenue": 4.9e5,
                    "top_share_of_revenue": 0.56,
                    "alerts_total": 21,
                },
                "sections": {"glance": "ok", "lift": "ok" if period == "2026-10" else "missing"},
                "charts": ["tiers"],
            },
        )
    storage.write_bytes(report_key("2026-11"), b"<html>being written</html>")
    for version, period in (("m-2026-03-aaa", "2026-03"), ("m-2026-06-bbb", "2026-06")):
        metrics = {"top_share_capture": 0.7 if version.endswith("bbb") else 0.66}
        storage.write_json(
            model_card_key(version),
            {
                "period": period,
                "primary_metric": "top_share_capture",
                "metrics": {
                    "model": metrics,
                    "rfm_baseline": {"top_share_capture": 0.58},
                    "clv_baseline": {},
                },
            },
        )
    storage.write_json(
        approved_model_key(),
        {"version": "m-2026-06-bbb", "history": [{"version": "m-2026-06-bbb", "from_period": "2026-07"}]},
    )
    storage.write_json("quality/period=2026-10/data_docs/stage=tiers/index.html", {"not": "html, but served"})
    storage.write_parquet(
        "identity/period=2026-10/identity_map.parquet", __import__("pandas").DataFrame({"a": [1]})
    )
    monkeypatch.setenv("TIERFLOW_CONFIG", CONFIG)
    monkeypatch.setenv("TIERFLOW_STORAGE", str(root))
    return root


@pytest.fixture
def client(storage_root):
    from fastapi.testclient import TestClient

    return TestClient(_module().create_app(require_login=False))


def test_index_lists_reports_newest_first_and_model_cards(client):
    page = client.get("/")
    assert page.status_code == 200
    text = page.text
    assert text.index("2026-11") < text.index("2026-10") < text.index("2026-09")
    assert "2,010" in text and "56.0%" in text
    assert 'm-2026-06-bbb</a> <span class="badge">current</span>' in text
    assert "not approved" in text  # m-2026-03-aaa
    reports = client.get("/api/reports").json()
    assert [entry["period"] for entry in reports] == ["2026-11", "2026-10", "2026-09"]
    assert reports[0]["headline"] is None  # summary not written yet: the page is not complete
    assert reports[1]["headline"]["members"] == 2010
    models = client.get("/api/models").json()
    assert [(m["version"], m["approved_from"], m["current"]) for m in models] == [
        ("m-2026-06-bbb", "2026-07", True),
        ("m-2026-03-aaa", None, False),
    ]


def test_serves_a_report_through_files_so_relative_links_resolve(client):
    moved = client.get("/reports/2026-10", follow_redirects=False)
    assert moved.status_code == 307
    assert moved.headers["location"] == "../files/reports/period=2026-10/report.html"
    page = client.get("/reports/2026-10")
    assert page.status_code == 200 and "report 2026-10" in page.text
    assert page.headers["content-type"].startswith("text/html")
    chart = client.get("/files/reports/period=2026-10/charts/tiers.png")
    assert chart.status_code == 200 and chart.headers["content-type"] == "image/png"
    docs = client.get("/files/quality/period=2026-10/data_docs/stage=tiers/index.html")
    assert docs.status_code == 200
    card = client.get("/models/m-2026-06-bbb")
    assert card.status_code == 200 and "top_share_capture" in card.text and "0.700" in card.text


def test_serves_nothing_but_reports_data_docs_and_cards(client):
    for path in (
        "/files/identity/period=2026-10/identity_map.parquet",
        "/files/reports/period=2026-10/../../identity/period=2026-10/identity_map.parquet",
        "/files/reports/period=2026-10/%2e%2e/%2e%2e/identity/period=2026-10/identity_map.parquet",
        "/files/models/approved.json",
        "/reports/2026-13",
        "/models/..%2Fapproved.json",
        "/files/reports/period=2026-12/report.html",
    ):
        assert client.get(path).status_code == 404, path


def test_without_config_or_login_the_view_says_why(storage_root, monkeypatch):
    from fastapi.testclient import TestClient

    module = _module()
    locked = TestClient(module.create_app(require_login=True))
    assert locked.get("/").status_code == 401
    monkeypatch.delenv("TIERFLOW_CONFIG")
    answer = TestClient(module.create_app(require_login=False)).get("/api/reports")
    assert answer.status_code == 503 and "TIERFLOW_CONFIG" in answer.json()["detail"]


def test_loading_the_plugin_imports_nothing_heavy():
    code = (
        "import sys, airflow.plugins_manager, importlib.util as u; before = set(sys.modules);"
        f"spec = u.spec_from_file_location('p', {str(PLUGIN)!r}); m = u.module_from_spec(spec);"
        "spec.loader.exec_module(m);"
        "heavy = ('pandas', 'pyarrow', 'matplotlib', 'sklearn', 'great_expectations', 'boto3', 'tierlib');"
        "print([n for n in heavy if n in set(sys.modules) - before])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=PROJECT
    )
    assert result.stdout.strip() == "[]"


def test_airflow_registers_the_app_and_the_nav_view():
    code = (
        "import json; from airflow import plugins_manager as pm;"
        "apps, _ = pm.get_fastapi_plugins(); views, _ = pm._get_ui_plugins();"
        "print(json.dumps({'apps': [[a['name'], a['url_prefix']] for a in apps],"
        " 'views': [[v['name'], v['href'], v.get('url_route'), v.get('destination')] for v in views]}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=PROJECT
    )
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert ["Tierflow reports", "/tierflow"] in loaded["apps"]
    assert ["Tierflow reports", "tierflow/", "tierflow_reports", "nav"] in loaded["views"]


# -- access through Airflow's auth manager, on the API server's own app -----------------------


@pytest.fixture
def api_server(storage_root, airflow_db, monkeypatch):
    """Airflow's API app (plugins mounted) with an auth manager that grants DAGs per user.

    alice may read the monthly DAG; bob is a valid user who may read only another DAG.
    """
    from airflow.api_fastapi import app as api_app
    from fastapi.testclient import TestClient

    monkeypatch.setenv("AIRFLOW__CORE__AUTH_MANAGER", "airflow_auth.DagGrantsAuthManager")
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "alice:viewer,bob:viewer")
    monkeypatch.setenv("AIRFLOW__API_AUTH__JWT_SECRET", "test-only-jwt-secret-of-the-api-server-" + "x" * 40)
    monkeypatch.setenv(
        "TIERFLOW_TEST_DAG_GRANTS", json.dumps({"alice": ["tierflow_monthly"], "bob": ["other"]})
    )
    monkeypatch.delenv("TIERFLOW_REPORTS_AUTH", raising=False)
    api_app.purge_cached_app()
    try:
        client = TestClient(api_app.create_app("core"))
        yield client, api_app.get_auth_manager()
    finally:
        api_app.purge_cached_app()


def _bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_access_follows_the_auth_manager_read_access_to_the_monthly_dag(api_server):
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    client, manager = api_server
    alice = manager.generate_jwt(SimpleAuthManagerUser(username="alice", role="viewer"))
    bob = manager.generate_jwt(SimpleAuthManagerUser(username="bob", role="viewer"))
    for path in ("/tierflow/", "/tierflow/api/reports", "/tierflow/files/reports/period=2026-10/report.html"):
        allowed = client.get(path, headers=_bearer(alice))
        assert allowed.status_code == 200, (path, allowed.text)
        assert allowed.headers["content-security-policy"].startswith("sandbox allow-same-origin;")
        denied = client.get(path, headers=_bearer(bob))  # logged in, but no read access to the DAG
        assert denied.status_code == 403, path
        assert "report 2026-10" not in denied.text and denied.headers["content-security-policy"]
    # The UI's session cookie counts like a bearer token.
    client.cookies.set("_token", alice)
    assert client.get("/tierflow/api/models").status_code == 200
    client.cookies.clear()
    assert client.get("/tierflow/").status_code == 401


def test_forged_and_expired_tokens_are_refused(api_server):
    import jwt
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    client, manager = api_server
    genuine = manager.generate_jwt(SimpleAuthManagerUser(username="alice", role="viewer"))
    claims = jwt.decode(genuine, options={"verify_signature": False})
    forged = jwt.encode(claims, "not-the-servers-secret-" + "y" * 60, algorithm="HS512")
    assert client.get("/tierflow/", headers=_bearer(forged)).status_code in (401, 403)
    unsigned = jwt.encode({**claims, "sub": "alice"}, None, algorithm="none")
    assert client.get("/tierflow/", headers=_bearer(unsigned)).status_code in (401, 403)
    expired = manager.generate_jwt(
        SimpleAuthManagerUser(username="alice", role="viewer"), expiration_time_in_seconds=-3600
    )
    answer = client.get("/tierflow/api/reports", headers=_bearer(expired))
    assert answer.status_code == 401 and "expired" in answer.text.lower()


def test_every_file_is_served_sandboxed_and_data_docs_load_nothing_from_elsewhere(client, storage_root):
    page = (
        "<html><head><script src='https://code.jquery.com/jquery-3.7.1.min.js'></script>"
        '<link rel="stylesheet" href="https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css"/>'
        "</head><body onload=\"steal()\"><script>document.title='ran'</script>"
        '<img src="//cdn.example/x.png"><a href="https://greatexpectations.io">GX</a>'
        "Status: Failed</body></html>"
    )
    key = "quality/period=2026-10/data_docs/stage=extract/channel=pos/index.html"
    open_storage(str(storage_root)).write_bytes(key, page.encode())
    served = client.get(f"/files/{key}")
    assert served.status_code == 200
    text = served.text.lower()
    assert "<script" not in text and "onload" not in text and "jquery" not in text
    assert "//cdn.example" not in text and "bootstrapcdn" not in text and "greatexpectations.io" not in text
    assert "status: failed" in text
    for path in (
        f"/files/{key}",
        "/files/reports/period=2026-10/report.html",
        "/files/reports/period=2026-10/charts/tiers.png",
        "/models/m-2026-06-bbb",
        "/api/reports",
        "/",
        "/files/identity/period=2026-10/identity_map.parquet",  # refused, and still under the policy
    ):
        headers = client.get(path).headers
        policy = headers["content-security-policy"]
        sandbox = policy.split(";")[0].split()
        assert sandbox[0] == "sandbox" and set(sandbox[1:]) <= {"allow-same-origin"}, path  # no allow-scripts
        assert "default-src 'none'" in policy and "script-src 'none'" in policy, path
        assert headers["x-content-type-options"] == "nosniff", path


def test_index_and_card_pages_show_names_as_text_and_the_configured_top_share(
    storage_root, tmp_path, monkeypatch
):
    import yaml
    from fastapi.testclient import TestClient

    config = yaml.safe_load(Path(CONFIG).read_text())
    config["report"] = {**(config.get("report") or {}), "top_share": 0.1}
    custom = tmp_path / "tierflow.yaml"
    custom.write_text(yaml.safe_dump(config, allow_unicode=True))
    monkeypatch.setenv("TIERFLOW_CONFIG", str(custom))
    hostile = "<script>alert(1)</script>"
    storage = open_storage(str(storage_root))
    storage.write_json(
        model_card_key("m-2026-09-ccc"),
        {"period": hostile, "primary_metric": hostile, "metrics": {"model": {hostile: 0.5}}},
    )
    client = TestClient(_module().create_app(require_login=False))
    index = client.get("/").text
    assert "top-10% share" in index and "top-20%" not in index
    card = client.get("/models/m-2026-09-ccc").text
    for page in (index, card):
        assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert '<td>&lt;script&gt;alert(1)&lt;/script&gt;</td><td class="num">0.500</td>' in card
