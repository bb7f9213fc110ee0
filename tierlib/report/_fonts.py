"""A CJK font for matplotlib, so Chinese tier and RFM labels never render as empty boxes.

Looked for in this order: the file ``report.font_path`` names; the Noto Sans CJK
collection of the ``noto-cjk-sans-otc`` package (in requirements.txt); CJK fonts
installed on the machine (Debian ``fonts-noto-cjk``, ``fonts-wqy-microhei``, ...).
Without any, the report still renders, with a warning in the log, and Chinese
characters show as boxes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("tierlib")

CJK_FAMILIES = (
    "Noto Sans CJK SC",
    "Source Han Sans SC",
    "Noto Sans SC",
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "Microsoft YaHei",
    "PingFang SC",
    "SimHei",
)
"""Families that carry simplified Chinese, best first (the first ones ship with the project)."""

PROBE_TEXT = "高价值忠诚重要挽留"
"""Characters a usable font must have glyphs for."""


@dataclass(frozen=True)
class CjkFont:
    family: str | None
    """The family matplotlib draws with; None when no CJK font was found."""
    path: str | None
    source: str
    """``config``, ``package``, ``system`` or ``none``: for the log and the report's footer."""


def _package_font() -> Path | None:
    try:
        import noto_cjk_sans_otc
    except ImportError:
        return None
    path = Path(str(noto_cjk_sans_otc.FONT_PATH))
    return path if path.is_file() else None


def _families_in(path: Path) -> list[str]:
    from matplotlib import font_manager

    before = {entry.name for entry in font_manager.fontManager.ttflist}
    font_manager.fontManager.addfont(str(path))
    names = [entry.name for entry in font_manager.fontManager.ttflist if entry.fname == str(path)]
    return sorted(set(names) - before) or names


def _has_glyphs(path: str, family: str) -> bool:
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    entry = next((e for e in font_manager.fontManager.ttflist if e.fname == path and e.name == family), None)
    index = getattr(entry, "index", 0) if entry is not None else 0
    try:
        font = FT2Font(path, face_index=index)
    except (OSError, RuntimeError, TypeError, ValueError):
        return False
    return all(font.get_char_index(ord(char)) for char in PROBE_TEXT)


_CHOSEN: dict[str | None, CjkFont] = {}


def find_cjk_font(font_path: str | None = None) -> CjkFont:
    """Register and return the CJK font to draw with (the choice is made once per font_path)."""
    if font_path in _CHOSEN:
        return _CHOSEN[font_path]
    from matplotlib import font_manager

    chosen = CjkFont(None, None, "none")
    candidates: list[tuple[Path, str]] = []
    if font_path:
        path = Path(font_path).expanduser()
        if path.is_file():
            candidates.append((path, "config"))
        else:
            log.warning("report: report.font_path %s does not exist; looking for another CJK font", path)
    package = _package_font()
    if package is not None:
        candidates.append((package, "package"))
    for path, source in candidates:
        families = _families_in(path)
        preferred = [name for name in CJK_FAMILIES if name in families] + families
        usable = next((name for name in preferred if _has_glyphs(str(path), name)), None)
        if usable:
            chosen = CjkFont(usable, str(path), source)
            break
    if chosen.family is None:
        installed = {entry.name: entry.fname for entry in font_manager.fontManager.ttflist}
        for name in CJK_FAMILIES:
            if name in installed and _has_glyphs(installed[name], name):
                chosen = CjkFont(name, installed[name], "system")
                break
    if chosen.family is None:
        log.warning(
            "report: no CJK font found, so Chinese labels will show as boxes. Install the project's "
            "requirements (noto-cjk-sans-otc), or a system font (Debian: apt-get install fonts-noto-cjk), "
            "or set report.font_path to a TTF/OTF/TTC file"
        )
    else:
        log.info("report: drawing Chinese labels with %s (%s, %s)", chosen.family, chosen.source, chosen.path)
    _CHOSEN[font_path] = chosen
    return chosen
