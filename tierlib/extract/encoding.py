"""Turn a text file's bytes into text in the encoding they are really in, or stop saying which it is.

Accepted text is never mojibake.  Declared encodings are checked against the bytes:

- a byte-order mark names its encoding: a UTF-8 one is dropped where UTF-8 is declared;
  a UTF-16/32 one (Excel's "Unicode text") where something else is declared stops;
- GBK and GB2312 are read as GB18030, their superset, which decodes every GBK byte the
  same way and also the characters GBK lacks (so a POS system's 𠀀 survives);
- bytes that are valid UTF-8 throughout, with non-ASCII text, are UTF-8: a file declared
  GBK (or any other non-UTF-8 encoding) stops, since GBK would decode most of it into
  other Chinese characters without one error;
- when the first line does not decode, or most lines with non-ASCII bytes do not and
  they are more than ``MISMATCH_SHARE`` of the file, the file is in another encoding:
  stop, naming it;
- otherwise the few lines that do not decode are a few rows typed elsewhere: they keep
  U+FFFD in place of the bad bytes and standardization quarantines them (``bad_encoding``).

``auto`` takes a byte-order mark, then UTF-16 recognized by its zero bytes, then UTF-8,
then GB18030 (what Chinese POS and ERP systems write), then charset-normalizer's guess.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

from tierlib.errors import ExtractError

MISMATCH_SHARE = 0.01
"""Lines that fail to decode, as a share of all lines, past which a file is in another encoding
(with at least ``MISMATCH_MIN_LINES`` of them, or its first line, the header of a CSV)."""
MISMATCH_MIN_LINES = 2

SAMPLE_LINES = 20_000
"""Lines with non-ASCII bytes examined when a file does not decode (evenly spread)."""

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_GBK_FAMILY = {"gbk", "gb2312", "gb18030", "hz"}


@dataclass(frozen=True)
class Decoded:
    text: str
    encoding: str
    """The codec the text was decoded with (after ``auto`` or the GB18030 widening)."""
    undecodable_lines: int = 0
    """Lines holding bytes that are not valid in ``encoding`` (their bytes became U+FFFD)."""
    hint: str = ""
    """For messages about those lines: what they most likely are."""


def codec_name(name: str) -> str:
    """Python's canonical name of an encoding (``UTF8`` -> ``utf-8``, ``cp936`` -> ``gbk``)."""
    return codecs.lookup(name).name


def decode(data: bytes, declared: str, where: str, key: str, delimiter_key: str | None = None) -> Decoded:
    """``data`` as text; ``where`` (channel and file) and ``key`` (the config key) go into messages."""
    bom = _bom(data)
    if declared == "auto":
        encoding = detect(data)
        return _decode_with(data, encoding, bom)
    wanted = codec_name(declared)
    family = _family_of(wanted)
    if bom and bom != family:
        raise _mismatch(
            where, key, declared, bom, f"it starts with a {bom.upper()} byte-order mark", delimiter_key
        )
    if not bom and family not in ("utf-16", "utf-32"):
        wide = _wide_without_bom(data)
        if wide:
            raise _mismatch(where, key, declared, wide, "every other byte is zero", delimiter_key)
    if family in ("utf-16", "utf-32") and not bom and b"\x00" not in data[:4096]:
        likely = detect(data)
        raise _mismatch(where, key, declared, likely, "it has no zero bytes, so it is not UTF-16/32", None)
    encoding = "gb18030" if wanted in _GBK_FAMILY else wanted
    try:
        text = data.decode(_codec_for(encoding, bom))
    except UnicodeDecodeError:
        return _decode_partly(data, declared, encoding, bom, where, key)
    if family not in ("utf-8", "utf-16", "utf-32") and not data.isascii() and _is_utf8(data):
        raise _mismatch(where, key, declared, "utf-8", _mojibake_example(data, encoding), None)
    return Decoded(text.removeprefix("\ufeff"), encoding)


def detect(data: bytes) -> str:
    """The most likely encoding of ``data`` (see the module's note on ``auto``)."""
    bom = _bom(data)
    if bom:
        return bom
    wide = _wide_without_bom(data)
    if wide:
        return wide
    if _is_utf8(data):
        return "utf-8"
    try:
        data.decode("gb18030")
    except UnicodeDecodeError:
        pass
    else:
        return "gb18030"
    from charset_normalizer import from_bytes

    best = from_bytes(data[:200_000]).best()
    return codec_name(best.encoding) if best is not None else "utf-8"


def _decode_with(data: bytes, encoding: str, bom: str | None) -> Decoded:
    try:
        return Decoded(data.decode(_codec_for(encoding, bom)).removeprefix("\ufeff"), encoding)
    except UnicodeDecodeError:
        text = data.decode(_codec_for(encoding, bom), errors="replace").removeprefix("\ufeff")
        return Decoded(text, encoding, _count_lines_with(text), "")


def _decode_partly(data: bytes, declared: str, encoding: str, bom, where: str, key: str) -> Decoded:
    lines = data.split(b"\n")
    foreign = [line for line in lines if not line.isascii()]
    step = max(1, len(foreign) // SAMPLE_LINES)
    sample = foreign[::step]
    failing = sum(1 for line in sample if not _decodes(line, encoding))
    estimated = round(failing / len(sample) * len(foreign)) if sample else 0
    likely = detect(data)
    if encoding != "utf-8":
        as_utf8 = sum(1 for line in sample if _decodes(line, "utf-8"))
        if as_utf8 * 2 > len(sample):
            raise _mismatch(
                where, key, declared, "utf-8", "most of its non-ASCII lines are valid UTF-8", None
            )
    if not _decodes(lines[0], encoding):
        raise _mismatch(where, key, declared, likely, "its first line does not decode", None)
    if (
        failing * 2 > len(sample)
        and estimated >= MISMATCH_MIN_LINES
        and estimated > MISMATCH_SHARE * len(lines)
    ):
        shown = f"{estimated} of its {len(lines)} lines do not decode as {declared}"
        raise _mismatch(where, key, declared, likely, shown, None)
    text = data.decode(_codec_for(encoding, bom), errors="replace").removeprefix("\ufeff")
    hint = f"the file is {declared}, but these rows' bytes are not (they may be {likely})"
    return Decoded(text, encoding, _count_lines_with(text), hint)


def _mismatch(where, key, declared, likely, evidence, delimiter_key) -> ExtractError:
    extra = ""
    if likely in ("utf-16", "utf-16-le", "utf-16-be") and delimiter_key:
        extra = (
            f' Excel\'s "Unicode text" export is UTF-16 and tab-delimited: set {delimiter_key}: '
            f'"\\t" as well.'
        )
    return ExtractError(
        f"{where}: the bytes are not {declared}: {evidence}. The file is most likely {likely}. "
        f"Set {key}: {likely} (or auto to detect it per file), or have the export written in {declared}."
        f"{extra}"
    )


def _mojibake_example(data: bytes, encoding: str) -> str:
    line = next(line for line in data.split(b"\n") if not line.isascii())
    wrong = line.decode(encoding, errors="replace").strip()[:40]
    right = line.decode("utf-8", errors="replace").strip()[:40]
    return (
        f"they are valid UTF-8 throughout, and read as {encoding} a line such as {right!r} "
        f"would become {wrong!r}"
    )


def _codec_for(encoding: str, bom: str | None) -> str:
    # "utf-8-sig" drops a UTF-8 mark; "utf-16"/"utf-32" read their mark and drop it.
    return "utf-8-sig" if encoding == "utf-8" and bom == "utf-8" else encoding


def _family_of(name: str) -> str:
    if name.startswith("utf-16") or name.startswith("utf_16"):
        return "utf-16"
    if name.startswith("utf-32") or name.startswith("utf_32"):
        return "utf-32"
    return "utf-8" if name in ("utf-8", "utf_8", "utf-8-sig", "utf_8_sig") else name


def _bom(data: bytes) -> str | None:
    return next((name for mark, name in _BOMS if data.startswith(mark)), None)


def _wide_without_bom(data: bytes) -> str | None:
    """UTF-16 without a mark: CSV and JSON punctuation are ASCII, so half the bytes are zero."""
    head = data[:4096]
    if len(head) < 8 or head.count(0) < len(head) // 4:
        return None
    even, odd = head[0::2].count(0), head[1::2].count(0)
    return "utf-16-le" if odd > even else "utf-16-be"


def _is_utf8(data: bytes) -> bool:
    return _decodes(data, "utf-8")


def _decodes(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def _count_lines_with(text: str) -> int:
    return sum(1 for line in text.split("\n") if "\ufffd" in line)
