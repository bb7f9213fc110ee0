"""Data Docs in storage: GX renders them into a local folder; a stage runner copies them over.

GX's pages load jQuery, Bootstrap, Vega and Font Awesome from public CDNs and build the site's
index with JavaScript.  Stored pages are made offline (:func:`offline_page`): no script at all,
no stylesheet, font or image from elsewhere, a small stylesheet of our own instead, and an
index written as plain HTML (:func:`static_index`).  The validation pages themselves are
rendered on the server side, so they read the same without scripts.
"""

from __future__ import annotations

import os
import re
from html import escape
from pathlib import Path

from tierlib.period import parse_period


def data_docs_prefix(period: str, stage: str, channel: str | None = None) -> str:
    """``quality/period=M/data_docs/stage=S[/channel=C]/``: one site per stage run, ``index.html`` inside."""
    parse_period(period)
    prefix = f"quality/period={period}/data_docs/stage={stage}/"
    return f"{prefix}channel={channel}/" if channel else prefix


def publish_data_docs(storage, folder: str | os.PathLike[str], prefix: str) -> str | None:
    """Replace whatever is under ``prefix`` with the rendered site in ``folder``; its index's location.

    None when nothing was rendered (Data Docs off, or no validation ran).
    """
    root = Path(folder)
    index = root / "index.html"
    if not index.is_file():
        return None
    storage.delete_prefix(prefix)
    # The index goes last: a reader who finds it finds the pages it links to.
    files = sorted(
        path
        for path in root.rglob("*")
        if path.is_file() and path != index and _needed(path.relative_to(root))
    )
    pages = {}
    for path in files:
        data = path.read_bytes()
        if path.suffix == ".html":
            text = data.decode("utf-8")
            pages[path.relative_to(root).as_posix()] = text
            data = offline_page(text).encode("utf-8")
        storage.write_bytes(prefix + path.relative_to(root).as_posix(), data)
    storage.write_bytes(prefix + "index.html", static_index(pages).encode("utf-8"))
    return storage.uri(prefix + "index.html")


_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script\s*>|<script\b[^>]*/>", re.IGNORECASE | re.DOTALL)
_ELSEWHERE = r"(?:https?:)?//"
_REMOTE_TAG = re.compile(
    rf"<(?:link|img|iframe|source|embed|object)\b[^>]*\b(?:href|src|data)\s*=\s*[\"']?{_ELSEWHERE}[^>]*>",
    re.IGNORECASE,
)
_REMOTE_HREF = re.compile(rf"\bhref\s*=\s*([\"']){_ELSEWHERE}[^\"']*\1", re.IGNORECASE)
_REMOTE_CSS = re.compile(
    rf"@import\s+url\(\s*[\"']?{_ELSEWHERE}[^)]*\)\s*;?|url\(\s*[\"']?{_ELSEWHERE}[^)]*\)", re.IGNORECASE
)
_INLINE_HANDLER = re.compile(r"\son[a-z]+\s*=\s*(\"[^\"]*\"|'[^']*')", re.IGNORECASE)
MARKER = "<!-- tierflow: offline page -->"

OFFLINE_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI","Noto Sans CJK SC",sans-serif;margin:0;color:#1f2937;
     background:#f5f7fa;font-size:14px}
.container,.container-fluid{max-width:1200px;margin:0 auto;padding:12px 18px}
nav,.navbar{background:#0b3c5d;color:#fff;padding:10px 18px} nav a,.navbar a{color:#fff}
.card{background:#fff;border:1px solid #e5e7eb;border-radius:8px;margin:10px 0;padding:8px 14px}
.card-header{font-weight:600;border-bottom:1px solid #e5e7eb;padding:6px 0;margin-bottom:6px}
table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid #e5e7eb;padding:4px 8px;text-align:left}
.row{display:flex;flex-wrap:wrap;gap:12px} .col-12{flex:1 1 100%} .col-md-3,.col-lg-2{flex:0 1 240px}
.col-md-9,.col-lg-10{flex:1 1 600px} .d-none,.modal,.collapse:not(.show){display:none}
.text-success{color:#15803d} .text-danger{color:#b91c1c} .badge{border-radius:999px;padding:1px 8px}
ul{padding-left:20px} code,pre{background:#f1f5f9;border-radius:4px;padding:1px 4px}
"""


def offline_page(html: str) -> str:
    """A Data Docs page that loads nothing from elsewhere and runs no script (idempotent)."""
    if MARKER in html:
        return html
    html = _SCRIPT.sub("", html)
    html = _REMOTE_TAG.sub("", html)
    html = _REMOTE_HREF.sub("", html)
    html = _REMOTE_CSS.sub("", html)
    html = _INLINE_HANDLER.sub("", html)
    style = f"{MARKER}<style>{OFFLINE_STYLE}</style>"
    head = re.search(r"<head\b[^>]*>", html, re.IGNORECASE)
    return html[: head.end()] + style + html[head.end() :] if head else style + html


_STATUS = re.compile(r"Status:\s*(?:<[^>]+>\s*)*(Succeeded|Failed)", re.IGNORECASE)


def static_index(pages: dict[str, str]) -> str:
    """The site's index as plain HTML: every validation result (with its status) and every suite.

    ``pages`` maps each page's path in the site to its GX-rendered HTML.
    """
    rows = []
    for path, html in sorted(pages.items()):
        if not path.startswith("validations/"):
            continue
        parts = path.split("/")
        suite = ".".join(parts[1:-3]) or path
        run = parts[-3] if len(parts) >= 4 else ""
        found = _STATUS.search(html)
        status = found.group(1) if found else "?"
        css = "text-success" if status == "Succeeded" else "text-danger"
        rows.append(
            f"<tr><td class={css}>{escape(status)}</td><td>{escape(suite)}</td><td>{escape(run)}</td>"
            f'<td><a href="{escape(_url(path))}">result</a></td></tr>'
        )
    suites = "".join(
        f'<li><a href="{escape(_url(path))}">{escape(path[len("expectations/") : -len(".html")])}</a></li>'
        for path in sorted(pages)
        if path.startswith("expectations/") and path.endswith(".html")
    )
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>Data Docs</title>{MARKER}'
        f"<style>{OFFLINE_STYLE}</style></head><body><nav>Data Docs</nav><div class=container>"
        "<div class=card><div class=card-header>Validation results</div><table><thead><tr><th>status</th>"
        f"<th>suite</th><th>run</th><th></th></tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
        f"<div class=card><div class=card-header>Expectation suites</div><ul>{suites}</ul></div>"
        "</div></body></html>"
    )


def _url(path: str) -> str:
    from urllib.parse import quote

    return quote(path)


def _needed(relative: Path) -> bool:
    """GX copies 4 MB of fonts and tutorial images into every site; its pages use only these."""
    name = relative.as_posix()
    return not name.startswith("static/") or name.startswith("static/styles/") or name.endswith("favicon.ico")
