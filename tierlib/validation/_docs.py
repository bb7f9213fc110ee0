"""Data Docs in storage: GX renders them into a local folder; a stage runner copies them over."""

from __future__ import annotations

import os
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
    for path in [*files, index]:
        storage.write_bytes(prefix + path.relative_to(root).as_posix(), path.read_bytes())
    return storage.uri(prefix + "index.html")


def _needed(relative: Path) -> bool:
    """GX copies 4 MB of fonts and tutorial images into every site; its pages use only these."""
    name = relative.as_posix()
    return not name.startswith("static/") or name.startswith("static/styles/") or name.endswith("favicon.ico")
