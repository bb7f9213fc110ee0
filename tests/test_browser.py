"""The browser harness records what a page requests, so privacy tests can trust its request log."""

from __future__ import annotations

import http.server
import threading
from functools import partial

import pytest

from tests.browser import chromium, console_errors, is_loopback, requests_seen


@pytest.fixture
def served(tmp_path):
    """A page on a loopback HTTP server that loads one local and one outside script."""
    (tmp_path / "local.js").write_text("document.title = 'local script ran';\n")
    (tmp_path / "index.html").write_text(
        "<!doctype html><html><head><script src='local.js'></script>"
        "<script src='http://198.51.100.7/outside.js'></script></head><body>hello</body></html>"
    )
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_every_request_of_a_page_is_recorded_and_outside_hosts_stand_out(served):
    with chromium() as driver:
        driver.get(f"{served}/index.html")
        assert driver.title == "local script ran"
        seen = requests_seen(driver)
        assert f"{served}/index.html" in seen and f"{served}/local.js" in seen
        assert [url for url in seen if not is_loopback(url)] == ["http://198.51.100.7/outside.js"]
        assert requests_seen(driver) == seen  # reading the log twice loses nothing
        assert any("outside.js" in message for message in console_errors(driver))


def test_loopback_means_this_machine_only():
    assert is_loopback("http://127.0.0.1:8080/tierflow/") and is_loopback("http://localhost/x")
    assert is_loopback("data:font/woff2;base64,AAAA") and is_loopback("http://[::1]:9000/")
    assert not is_loopback("https://cdn.jsdelivr.net/npm/x.js") and not is_loopback("http://10.0.0.1/")
