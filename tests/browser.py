"""The one way tests drive a real browser: headless Debian Chromium through Selenium.

``scripts/ensure_chromium.sh`` installs ``chromium`` and ``chromium-driver`` from Debian where they
are missing (root and apt-get needed); without them the browser tests skip and say what is missing.
No browser is downloaded from anywhere else.

    with chromium() as driver:
        airflow_login(driver, "http://127.0.0.1:8080", "admin", "secret")
        driver.get(...)
        assert all(is_loopback(url) for url in requests_seen(driver))
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest

PROJECT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

# As root in a container Chromium needs --no-sandbox; the networking flags keep it from calling
# Google's services, which this machine's closed network refuses (and which would pollute the
# request log the privacy tests read).
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
)


def ensure_chromium() -> None:
    """Install Chromium and its driver where missing, or skip the calling test saying why."""
    result = subprocess.run(
        ["bash", str(PROJECT / "scripts" / "ensure_chromium.sh")], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        pytest.skip(f"headless Chromium is not available: {result.stderr.strip() or result.stdout.strip()}")


@contextmanager
def chromium(width: int = 1400, height: int = 1000, downloads: Path | None = None) -> Iterator:
    """A headless Chromium session whose network requests are recorded (see ``requests_seen``)."""
    ensure_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory(prefix="tierflow-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={profile}")
        options.add_argument(f"--window-size={width},{height}")
        options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
        if downloads is not None:
            options.add_experimental_option("prefs", {"download.default_directory": str(downloads)})
        driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
        driver.set_page_load_timeout(60)
        driver._tierflow_requests = []
        try:
            yield driver
        finally:
            driver.quit()


def requests_seen(driver) -> list[str]:
    """Every URL the browser requested since the session began (page loads, scripts, fonts, XHR).

    Chromium's performance log is drained on each read, so the URLs are kept on the driver.
    """
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            driver._tierflow_requests.append(message["params"]["request"]["url"])
    return list(driver._tierflow_requests)


def is_loopback(url: str) -> bool:
    """True for requests that stay on this machine (loopback hosts, data: and blob: URLs)."""
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about", "chrome", "devtools"):
        return True
    return parts.hostname in ("127.0.0.1", "localhost", "::1")


def console_errors(driver) -> list[str]:
    """The page's console messages at level SEVERE (script errors, blocked resources)."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def airflow_login(driver, base_url: str, username: str, password: str, timeout: float = 60) -> None:
    """Sign in to the Airflow 3 UI with the auth manager's login form.

    Typing into the fields and pressing Enter signs in; clicking the button right after typing
    did not (seen with Selenium 4.51 on Airflow 3.3). Signed in once the ``_token`` cookie is set.
    """
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(driver, timeout)
    driver.get(f"{base_url.rstrip('/')}/auth/login/")
    user = wait.until(expected_conditions.element_to_be_clickable((By.NAME, "username")))
    user.send_keys(username)
    secret = driver.find_element(By.NAME, "password")
    secret.send_keys(password)
    secret.send_keys(Keys.ENTER)
    wait.until(lambda current: current.get_cookie("_token") is not None)


def screenshot_on_failure(driver, folder: Path, name: str) -> Path:
    """Save the current page as ``folder/name.png`` (for a failed browser step) and return the path."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{name}.png"
    driver.save_screenshot(str(target))
    return target
