"""The page's own CJK face: the characters the report uses, cut from the chart font, as a WOFF2 data URI.

Browsers on machines without CJK fonts draw Chinese text as empty boxes; the charts
do not have the problem because matplotlib draws them with the pinned Noto Sans CJK.
The page gets the same font through ``@font-face``: fontTools keeps only the glyphs of
the characters on the page (a few hundred at most, tens of KB), so the report stays
self-contained and small, and renders the same offline on any machine.
"""

from __future__ import annotations

import base64
import io
import logging
from dataclasses import dataclass
from html.parser import HTMLParser

from tierlib.report._fonts import CjkFont

log = logging.getLogger("tierlib")

EMBEDDED_FAMILY = "Tierflow CJK"
"""The family name the page's ``@font-face`` declares (its own, so no installed font is confused with it)."""


@dataclass(frozen=True)
class WebFont:
    family: str
    data_uri: str
    """``data:font/woff2;base64,...``"""
    unicode_range: str
    """The characters the face holds, as CSS ``unicode-range`` (read back from the subset's cmap)."""
    characters: str
    """The same characters, in code point order."""
    source: str
    """The family it was cut from (``Noto Sans CJK SC``)."""

    @property
    def size_bytes(self) -> int:
        return len(self.data_uri) * 3 // 4


class _Text(HTMLParser):
    """The text a page shows: every text node outside ``<style>`` and ``<script>``."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs) -> None:
        if tag in ("style", "script"):
            self._skip += 1

    def handle_endtag(self, tag) -> None:
        if tag in ("style", "script") and self._skip:
            self._skip -= 1

    def handle_data(self, data) -> None:
        if not self._skip:
            self.parts.append(data)


def page_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    parser.close()
    return "".join(parser.parts)


def is_cjk(char: str) -> bool:
    """CJK radicals, punctuation, kana, ideographs, Hangul and full-width forms (U+2E80 and up)."""
    return ord(char) >= 0x2E80


def embedded_font(font: CjkFont, text: str) -> WebFont | None:
    """The face ``font`` names, cut down to the non-ASCII characters of ``text`` it has glyphs for.

    None when there is no font file, no such character, or the file cannot be read (logged: the
    page then asks the browser for installed CJK fonts, as before).
    """
    wanted = sorted({char for char in text if ord(char) > 0x7F})
    if font.path is None or not wanted:
        return None
    from fontTools.subset import Options, Subsetter
    from fontTools.ttLib import TTLibError

    try:
        face = _open_face(font.path, font.family)
        mapped = face.getBestCmap() or {}
        characters = [char for char in wanted if ord(char) in mapped]
        if not characters:
            return None
        options = Options()
        options.flavor = "woff2"
        options.desubroutinize = True  # smaller after WOFF2's brotli than shared subroutines
        subsetter = Subsetter(options)
        subsetter.populate(text="".join(characters))
        subsetter.subset(face)
        face.flavor = "woff2"
        buffer = io.BytesIO()
        face.save(buffer)
        kept = sorted(face.getBestCmap() or {})
    except (OSError, TTLibError, KeyError, ValueError, ImportError) as error:
        log.warning(
            "report: cannot embed %s from %s in the page (%s); the page asks the browser for installed "
            "CJK fonts instead. Install the project's requirements (fonttools, brotli) or set "
            "report.font_path to another TTF/OTF/TTC file",
            font.family,
            font.path,
            error,
        )
        return None
    held = set(kept)
    missing = [char for char in characters if ord(char) not in held]
    if missing:
        log.warning(
            "report: the embedded font lost %d characters while subsetting: %s", len(missing), missing
        )
    return WebFont(
        family=EMBEDDED_FAMILY,
        data_uri="data:font/woff2;base64," + base64.b64encode(buffer.getvalue()).decode("ascii"),
        unicode_range=unicode_range(kept),
        characters="".join(chr(point) for point in kept),
        source=font.family or font.path,
    )


def _open_face(path: str, family: str | None):
    """The face of ``path`` named ``family`` (a TTC holds several), loaded lazily and kept as is."""
    from fontTools.ttLib import TTCollection, TTFont

    with open(path, "rb") as handle:
        collection = handle.read(4) == b"ttcf"
    index = 0
    if collection:
        faces = TTCollection(path, lazy=True).fonts
        names = [_family_names(face) for face in faces]
        index = next((i for i, found in enumerate(names) if family in found), 0)
    # recalcTimestamp off: the same page must come out byte for byte on a rerun.
    return TTFont(path, fontNumber=index if collection else -1, lazy=True, recalcTimestamp=False)


def _family_names(face) -> set[str]:
    table = face["name"]
    return {str(name) for name_id in (1, 16) if (name := table.getDebugName(name_id))}


def unicode_range(points: list[int]) -> str:
    """``[0x4E00, 0x4E01, 0x4E02, 0x4E10]`` -> ``U+4E00-4E02, U+4E10``."""
    ranges: list[list[int]] = []
    for point in points:
        if ranges and point == ranges[-1][1] + 1:
            ranges[-1][1] = point
        else:
            ranges.append([point, point])
    return ", ".join(f"U+{low:X}" if low == high else f"U+{low:X}-{high:X}" for low, high in ranges)
