"""The report stage on a real two-month run of the synthetic data, opened in headless Chromium.

One pipeline run (2026-09, then 2026-10, six months of history) is shared by
every test here.  Chromium is the Debian package, installed by
scripts/ensure_chromium.sh when missing; without apt or root the browser test
skips and says what is missing.
"""

from __future__ import annotations

import importlib.util
import io
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urljoin

import pytest

from tierlib.catalog import figures_key, report_chart_key, report_key, report_summary_key
from tierlib.pipeline.context import RunContext
from tierlib.pipeline.runner import run_pipeline, run_stage
from tierlib.pipeline.stages import stage_names
from tierlib.report import SECTION_IDS
from tierlib.storage import open_storage

pytestmark = pytest.mark.slow

PROJECT = Path(__file__).resolve().parent.parent
CONFIG = str(PROJECT / "config" / "tierflow.yaml")
FIRST, SECOND = "2026-09", "2026-10"
CHROMIUM = "/usr/bin/chromium"
SCREENSHOT_DIR = Path(tempfile.gettempdir()) / "tierflow-report-screenshots"


@pytest.fixture(scope="module")
def run_root(tmp_path_factory, synthetic_sources):
    """Storage root after the whole monthly pipeline ran for two months; env points the config at it."""
    root = tmp_path_factory.mktemp("report-run") / "storage"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("TIERFLOW_CONFIG", CONFIG)
        env.setenv("TIERFLOW_SOURCES", str(synthetic_sources))
        env.setenv("TIERFLOW_STORAGE", str(root))
        env.setenv("TIERFLOW_HISTORY_MONTHS", "6")
        for period in (FIRST, SECOND):
            ctx = RunContext.open(CONFIG, period)
            run_pipeline(ctx, [name for name in stage_names() if name != "report"])
            if "publish" not in stage_names():  # the lift section needs last month's published segments
                from tierlib.pipeline.publish import run_publish

                run_publish(ctx)
            run_stage(ctx, "report")
        yield root


def test_report_stage_writes_page_charts_and_summary(run_root):
    storage = open_storage(str(run_root))
    summary = storage.read_json(report_summary_key(SECOND))
    assert summary["sections"] == {section: "ok" for section in SECTION_IDS}
    html = storage.read_bytes(report_key(SECOND)).decode("utf-8")
    for section in SECTION_IDS:
        assert f'id="{section}" data-status="ok"' in html
    for name in summary["charts"]:
        assert storage.read_bytes(report_chart_key(SECOND, name)).startswith(b"\x89PNG")
    tiers = storage.read_parquet(f"tiers/period={SECOND}/tiers.parquet")
    headline = summary["headline"]
    assert headline["members"] == len(tiers)
    assert headline["tier_counts"] == tiers["tier"].value_counts().sort_index().to_dict()
    assert 0 < headline["active_members"] <= headline["members"]
    assert 0 < headline["top_share_of_revenue"] < 1
    assert "CLV baseline in use: no approved model yet" in html
    figures = storage.read_json(figures_key(SECOND, "report"))["figures"]
    assert figures["sections_missing"] == [] and figures["charts"] == len(summary["charts"])

    first = storage.read_json(report_summary_key(FIRST))
    assert first["sections"]["migration"] == "missing"
    first_html = storage.read_bytes(report_key(FIRST)).decode("utf-8")
    assert "No tiers for 2026-08, so no migration this month" in first_html
    # the second month's headline compares with the first's
    assert "vs last month" in html


def test_rerunning_the_report_gives_identical_files(run_root):
    storage = open_storage(str(run_root))
    before = {key: storage.read_bytes(key) for key in storage.list(f"reports/period={SECOND}/")}
    with pytest.MonkeyPatch.context() as env:
        env.setenv("TIERFLOW_STORAGE", str(run_root))
        run_stage(RunContext.open(CONFIG, SECOND), "report")
    after = {key: storage.read_bytes(key) for key in storage.list(f"reports/period={SECOND}/")}
    assert after == before


@pytest.fixture(scope="module")
def chromium() -> str:
    result = subprocess.run(
        ["bash", str(PROJECT / "scripts" / "ensure_chromium.sh")], capture_output=True, text=True, check=False
    )
    if result.returncode == 3:
        pytest.skip(f"headless Chromium is not available: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr[-2000:]
    return CHROMIUM


def _fontconfig(folder: Path) -> dict[str, str]:
    """A fontconfig file adding the project's CJK font, so Chromium renders Chinese text like the charts."""
    import noto_cjk_sans_otc

    conf = folder / "fonts.conf"
    conf.write_text(
        '<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd"><fontconfig>'
        '<include ignore_missing="yes">/etc/fonts/fonts.conf</include>'
        f"<dir>{Path(str(noto_cjk_sans_otc.FONT_PATH)).parent}</dir><cachedir>{folder / 'cache'}</cachedir>"
        "</fontconfig>"
    )
    return {"FONTCONFIG_FILE": str(conf)}


def _chromium(binary: str, work: Path, *arguments: str) -> subprocess.CompletedProcess:
    profile = Path(tempfile.mkdtemp(prefix="profile-", dir=work))
    command = [
        binary,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        *arguments,
    ]
    import os

    env = {**os.environ, **_fontconfig(work)}
    return subprocess.run(command, capture_output=True, text=True, timeout=180, env=env, check=False)


def test_report_opens_in_headless_chromium_with_every_section(run_root, chromium, tmp_path):
    from PIL import Image

    page = run_root / "reports" / f"period={SECOND}" / "report.html"
    dom = _chromium(chromium, tmp_path, "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    for section in SECTION_IDS:
        assert re.search(rf'<section class="card" id="{section}" data-status="ok">', dom.stdout), section
    images = re.findall(r'<img class="chart" src="data:image/png;base64,', dom.stdout)
    charts = open_storage(str(run_root)).read_json(report_summary_key(SECOND))["charts"]
    assert len(images) == len(charts) - 1  # every chart but the e-mail headline card, shown as HTML tiles

    SCREENSHOT_DIR.mkdir(exist_ok=True)
    shot = SCREENSHOT_DIR / f"report-{SECOND}.png"
    result = _chromium(chromium, tmp_path, "--window-size=1280,9000", f"--screenshot={shot}", page.as_uri())
    assert result.returncode == 0 and shot.is_file(), result.stderr[-2000:]
    assert shot.stat().st_size > 300_000
    image = Image.open(io.BytesIO(shot.read_bytes())).convert("RGB")
    assert image.size == (1280, 9000)
    # Most of the page is drawn, not background: count pixels that are neither the page grey nor white.
    small = image.resize((160, 1125))
    drawn = sum(1 for pixel in small.getdata() if pixel not in ((238, 241, 245), (255, 255, 255)))
    assert drawn / (160 * 1125) > 0.08


@pytest.fixture
def view_server(run_root, monkeypatch):
    """The report view's app on a free loopback port (login off), so pages carry its real CSP."""
    import socket
    import threading

    import uvicorn

    monkeypatch.setenv("TIERFLOW_CONFIG", CONFIG)
    monkeypatch.setenv("TIERFLOW_STORAGE", str(run_root))
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(_plugin_app(), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        thread.join(0.05)
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    server.should_exit = True
    thread.join(10)
    listener.close()


FONT_STATE = """
const done = arguments[arguments.length - 1];
document.fonts.ready.then(() => {
  const family = arguments[0];
  const faces = [...document.fonts].filter((face) => face.family.replace(/"/g, "") === family);
  const text = document.title + document.body.textContent;
  done({
    statuses: faces.map((face) => face.status),
    ranges: faces.map((face) => face.unicodeRange),
    check: document.fonts.check(`16px "${family}"`, text),
    text: text,
    used: getComputedStyle(document.querySelector(".chip")).fontFamily,
  });
});
"""


def test_the_embedded_font_loads_under_the_views_policy_and_covers_every_chinese_character(
    view_server, tmp_path
):
    """No CJK font is installed for this Chromium: the page's Chinese renders from its own face."""
    from tests.browser import chromium, console_errors, is_loopback, requests_seen, screenshot_on_failure
    from tierlib.report._webfont import EMBEDDED_FAMILY, is_cjk

    with chromium() as driver:
        try:
            driver.get(f"{view_server}/reports/{SECOND}")
            assert driver.execute_script("return document.URL").endswith(f"/period={SECOND}/report.html")
            state = driver.execute_async_script(FONT_STATE, EMBEDDED_FAMILY)
            assert state["statuses"] == ["loaded"]
            assert state["check"] is True
            assert state["used"].startswith(f'"{EMBEDDED_FAMILY}"')
            covered = set()
            for part in state["ranges"][0].split(","):
                low, _, high = part.strip().removeprefix("U+").partition("-")
                covered.update(range(int(low, 16), int(high or low, 16) + 1))
            chinese = {char for char in state["text"] if is_cjk(char)}
            assert len(chinese) > 20
            assert sorted(char for char in chinese if ord(char) not in covered) == []
            assert [url for url in requests_seen(driver) if not is_loopback(url)] == []
            assert [message for message in console_errors(driver) if "font" in message.lower()] == []
        except Exception:
            screenshot_on_failure(driver, tmp_path, "report-font")
            raise


def _plugin_app():
    spec = importlib.util.spec_from_file_location(
        "tierflow_reports_plugin", PROJECT / "plugins" / "tierflow_reports.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.create_app(require_login=False)


def test_airflow_view_serves_the_real_report_and_its_data_docs(run_root, monkeypatch):
    from fastapi.testclient import TestClient

    monkeypatch.setenv("TIERFLOW_CONFIG", CONFIG)
    monkeypatch.setenv("TIERFLOW_STORAGE", str(run_root))
    client = TestClient(_plugin_app())
    index = client.get("/")
    assert index.status_code == 200
    assert index.text.index(SECOND) < index.text.index(FIRST)  # newest first
    page = client.get(f"/reports/{SECOND}")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert all(f'id="{section}"' in page.text for section in SECTION_IDS)
    links = re.findall(r'href="(\.\./\.\./quality/[^"]+)"', page.text)
    assert links, "the report links no Data Docs"
    target = urljoin(str(page.url), links[0])
    docs = client.get(target)
    assert docs.status_code == 200 and docs.headers["content-type"].startswith("text/html")


# -- the view in a real browser, behind a real API server -----------------------------------


@pytest.fixture
def api_server(run_root, airflow_db, tmp_path):
    """``airflow api-server`` on a free loopback port, SimpleAuthManager with one admin, the plugin on."""
    import json
    import os
    import socket
    import time
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    passwords = tmp_path / "passwords.json"
    passwords.write_text(json.dumps({"admin": "browser-test-only-password"}))
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "AIRFLOW__CORE__AUTH_MANAGER": (
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
        ),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__API_AUTH__JWT_SECRET": "browser-test-only-jwt-secret-" + "x" * 40,
        "AIRFLOW__API__BASE_URL": base,
        "TIERFLOW_CONFIG": CONFIG,
        "TIERFLOW_STORAGE": str(run_root),
        "PYTHONPATH": f"{PROJECT}{os.pathsep}{PROJECT / 'plugins'}",
    }
    env.pop("TIERFLOW_REPORTS_AUTH", None)
    log = open(tmp_path / "api-server.log", "wb")  # noqa: SIM115  (closed below)
    server = subprocess.Popen(
        [sys.executable, "-m", "airflow", "api-server", "--port", str(port), "--host", "127.0.0.1"],
        env=env,
        cwd=PROJECT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/v2/monitor/health", timeout=5):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(
                        "the API server did not start:\n" + (tmp_path / "api-server.log").read_text()[-3000:]
                    )
                time.sleep(1)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def test_the_view_in_a_browser_opens_a_report_and_data_docs_and_nothing_leaves_loopback(api_server, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.browser import airflow_login, chromium, is_loopback, requests_seen, screenshot_on_failure

    with chromium() as driver:
        try:
            wait = WebDriverWait(driver, 60)
            airflow_login(driver, api_server, "admin", "browser-test-only-password")
            # The view as the UI shows it: Browse -> Tierflow reports, an iframe on /tierflow/.
            driver.get(f"{api_server}/plugin/tierflow_reports")
            frame = wait.until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "iframe")))
            assert frame.get_attribute("src").rstrip("/").endswith("/tierflow")
            driver.switch_to.frame(frame)
            wait.until(expected_conditions.element_to_be_clickable((By.LINK_TEXT, SECOND))).click()
            wait.until(expected_conditions.presence_of_element_located((By.ID, "alerts")))
            here = lambda current: current.execute_script("return document.URL")  # noqa: E731  (the frame's)
            assert here(driver).endswith(f"/tierflow/files/reports/period={SECOND}/report.html")
            driver.find_element(By.CSS_SELECTOR, "a[href*='data_docs']").click()
            wait.until(lambda current: "/data_docs/" in here(current))
            wait.until(expected_conditions.presence_of_element_located((By.LINK_TEXT, "result")))
            assert "Validation results" in driver.find_element(By.TAG_NAME, "body").text
            driver.find_element(By.LINK_TEXT, "result").click()
            wait.until(lambda current: "/validations/" in here(current))
            wait.until(
                lambda current: (
                    "Expectation Validation Result" in current.find_element(By.TAG_NAME, "body").text
                )
            )
            # A script in a served page never runs (sandbox): GX's pages had inline ones.
            assert driver.execute_script("return document.scripts.length") == 0
            driver.switch_to.default_content()
            seen = requests_seen(driver)
            assert any("/tierflow/files/quality/" in url for url in seen)
            assert [url for url in seen if not is_loopback(url)] == []
        except Exception:
            screenshot_on_failure(driver, tmp_path, "tierflow-view")
            raise
