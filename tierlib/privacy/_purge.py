"""Purge what storage already holds of erased people: every file, from what it holds.

The purge does not keep a list of datasets or export kinds: it reads every object under the
storage root and removes the rows that mention a person (a Parquet or CSV row, a JSON list
item, an HTML table row or list item), wherever the file came from.  A row mentions a person
when a text cell holds one of their identifiers in any form storage may carry it: as the
sources spelled it, normalized (E.164 with and without ``+``, the national number, lower-case
e-mail, upper-case device id), hashed as ad platforms take it (MD5, SHA-1, SHA-256 of each
form), keyed as the merge log hashes it, their OneIDs, and their record ids inside rows of the
same channel.  The identity registry keeps their OneIDs, marked ``erased``, so no number is
reused.  Files are rewritten atomically; manifests and their ``_SUCCESS`` markers are
re-hashed; extract's markers count the rows as erased.  A file the purge cannot read (a
binary that holds an identifier) is reported, never silently kept.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import zipfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tierlib.identity import value_hashes
from tierlib.identity._regions import PHONE_REGIONS
from tierlib.privacy._people import ErasedPeople

ERASED_TEXT = "[erased]"
MIN_TOKEN = 4
"""Shorter values (a member number "12") would mention half the storage; records go by key."""
SKIP_PREFIXES = ("privacy/",)
"""The tombstone (keyed hashes) and the audit (counts) hold no identifier and are not scanned."""
_REGEX_SPECIAL = set(r".^$*+?()[]{}|\-/")
_EDGE_OPEN, _EDGE_CLOSE = r"(?:^|[^0-9A-Za-z])", r"(?:$|[^0-9A-Za-z])"
_DIGESTS = ("md5", "sha1", "sha256")


def _escape(token: str) -> str:
    """Escape for both Python ``re`` and RE2 (Arrow's regex engine)."""
    return "".join("\\" + char if char in _REGEX_SPECIAL else char for char in token)


def _pattern(tokens: Iterable[str]) -> str | None:
    alternatives = sorted({token for token in tokens if len(token) >= MIN_TOKEN}, key=lambda t: (-len(t), t))
    if not alternatives:
        return None
    return f"{_EDGE_OPEN}(?:{'|'.join(_escape(token) for token in alternatives)}){_EDGE_CLOSE}"


def identifier_forms(people: ErasedPeople, key: bytes | None) -> set[str]:
    """Every form an identifier of these people may take in storage (see the module's text)."""
    forms: set[str] = set(people.raw_values) | set(people.oneids)
    for name, values in people.values.items():
        for value in values:
            spelled = {value}
            if name == "phone":
                digits = value.lstrip("+")
                spelled |= {digits, "00" + digits}
                for region in PHONE_REGIONS.values():
                    if digits.startswith(region.country_code):
                        spelled.add(digits[len(region.country_code) :])
            elif name in ("email", "device_id"):
                spelled |= {value.lower(), value.upper()}
            forms |= spelled
            for text in spelled:
                for digest in _DIGESTS:
                    forms.add(hashlib.new(digest, text.encode("utf-8")).hexdigest())
        if name in ("phone", "email", "unionid", "device_id") and values:
            # The merge log's and hub table's keyed hashes (channel-scoped types go with their rows).
            ordered = sorted(values)
            forms |= set(value_hashes(np.array([name] * len(ordered), dtype=object), np.array(ordered), key))
    return {form for form in forms if form}


@dataclass
class Matcher:
    """Finds rows and text that mention the erased people."""

    pattern: str | None
    by_channel: dict[str, str]
    """Per channel: the pattern of its erased record ids (matched only in that channel's rows)."""
    oneids: frozenset[str]
    record_keys: frozenset[tuple[str, str]]
    _compiled: dict[str | None, re.Pattern] = field(default_factory=dict)

    @classmethod
    def of(cls, people: ErasedPeople, key: bytes | None) -> Matcher:
        patterns = {channel: _pattern(ids) for channel, ids in people.channel_values.items()}
        return cls(
            pattern=_pattern(identifier_forms(people, key)),
            by_channel={channel: pattern for channel, pattern in patterns.items() if pattern},
            oneids=people.oneids,
            record_keys=people.record_keys,
        )

    def __bool__(self) -> bool:
        return bool(self.pattern or self.by_channel or self.record_keys)

    def regex(self, channel: str | None = None) -> re.Pattern | None:
        source = self.pattern if channel is None else self.by_channel.get(channel)
        if source is None:
            return None
        if channel not in self._compiled:
            self._compiled[channel] = re.compile(source, re.IGNORECASE)
        return self._compiled[channel]

    def mentions(self, text: str, channels: Iterable[str] = ()) -> bool:
        patterns = [self.regex(None), *(self.regex(channel) for channel in channels)]
        return any(pattern is not None and pattern.search(text) for pattern in patterns)

    def arrow_mask(self, values: pa.ChunkedArray | pa.Array, channel: str | None = None) -> np.ndarray:
        source = self.pattern if channel is None else self.by_channel.get(channel)
        if source is None or not len(values):
            return np.zeros(len(values), dtype=bool)
        found = pc.match_substring_regex(values, source, ignore_case=True)
        return np.asarray(pc.fill_null(found, False).to_numpy(zero_copy_only=False), dtype=bool)


@dataclass
class FileOutcome:
    data: bytes | None
    """The rewritten bytes, or None when the file holds nothing of the people."""
    rows: int = 0
    """Rows, items or elements removed (or redacted)."""
    unreadable: bool = False
    """A file the purge cannot rewrite still mentions them (reported, not kept quietly)."""


def purge_bytes(name: str, data: bytes, matcher: Matcher, channels: tuple[str, ...] = ()) -> FileOutcome:
    """``data`` of the file called ``name`` without what mentions the people.

    ``channels``: channels the file belongs to by its path (``channel=pos``), so record ids of
    those channels count as mentions inside it.
    """
    lower = name.lower()
    if lower.endswith(".gz"):
        inner = purge_bytes(name[:-3], gzip.decompress(data), matcher, channels)
        if inner.data is None:
            return inner
        return FileOutcome(gzip.compress(inner.data, mtime=0), inner.rows, inner.unreadable)
    if lower.endswith(".zip"):
        return _purge_zip(data, matcher, channels)
    if lower.endswith(".parquet"):
        return _purge_parquet(data, matcher, channels)
    if lower.endswith(".json"):
        return _purge_json(data, matcher, channels)
    if lower.endswith((".html", ".htm")):
        return _purge_html(data, matcher, channels)
    if lower.endswith((".csv", ".tsv", ".txt", ".jsonl", ".ndjson", ".log")):
        return _purge_lines(data, matcher, channels, header=lower.endswith((".csv", ".tsv")))
    text = data.decode("latin-1")
    return FileOutcome(None, unreadable=matcher.mentions(text, channels))


def _purge_lines(data: bytes, matcher: Matcher, channels, header: bool) -> FileOutcome:
    text = data.decode("utf-8", errors="surrogateescape")
    lines = text.splitlines(keepends=True)
    start = 1 if header and lines else 0
    kept = lines[:start] + [line for line in lines[start:] if not matcher.mentions(line, channels)]
    removed = len(lines) - len(kept)
    if not removed:
        return FileOutcome(None)
    return FileOutcome("".join(kept).encode("utf-8", errors="surrogateescape"), removed)


def _purge_json(data: bytes, matcher: Matcher, channels) -> FileOutcome:
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return _purge_lines(data, matcher, channels, header=False)
    counter = Counter()

    def clean(value):
        if isinstance(value, dict):
            return {key: clean(item) for key, item in value.items() if not _mentions(key)}
        if isinstance(value, list):
            kept = []
            for item in value:
                if _mentions(json.dumps(item, ensure_ascii=False)):
                    counter["rows"] += 1
                    if isinstance(item, dict | list):
                        continue
                    item = ERASED_TEXT
                kept.append(item if isinstance(item, str) else clean(item))
            return kept
        if isinstance(value, str) and _mentions(value):
            counter["rows"] += 1
            return ERASED_TEXT
        return value

    def _mentions(text) -> bool:
        return isinstance(text, str) and matcher.mentions(text, channels)

    cleaned = clean(document)
    if not counter["rows"]:
        return FileOutcome(None)
    text = data.decode("utf-8")
    indent = 2 if text.lstrip().startswith(("{\n", "[\n")) else None
    out = json.dumps(cleaned, ensure_ascii=False, indent=indent, sort_keys=indent is not None) + (
        "\n" if text.endswith("\n") else ""
    )
    return FileOutcome(out.encode("utf-8"), counter["rows"])


_ROW = re.compile(r"<(tr|li)\b[^>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL)


def _purge_html(data: bytes, matcher: Matcher, channels) -> FileOutcome:
    text = data.decode("utf-8", errors="surrogateescape")
    removed = 0

    def row(match: re.Match) -> str:
        nonlocal removed
        inner = match.group(0)
        # Only the innermost row holding the mention goes (a row may nest a table).
        if _ROW.search(inner[1:]) or not matcher.mentions(_unescaped(inner), channels):
            return inner
        removed += 1
        return ""

    out = _ROW.sub(row, text)
    for pattern in (matcher.regex(None), *(matcher.regex(channel) for channel in channels)):
        if pattern is None:
            continue
        out, count = pattern.subn(
            lambda m: m.group(0).replace(m.group(0).strip("<>\"' ,;:()[]{}="), ERASED_TEXT), out
        )
        removed += count
    if not removed:
        return FileOutcome(None)
    return FileOutcome(out.encode("utf-8", errors="surrogateescape"), removed)


def _unescaped(html: str) -> str:
    import html as html_module

    return html_module.unescape(html)


def _purge_zip(data: bytes, matcher: Matcher, channels) -> FileOutcome:
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    rows, changed, unreadable = 0, False, False
    with zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            member = source.read(info)
            outcome = purge_bytes(info.filename, member, matcher, channels)
            rows += outcome.rows
            unreadable |= outcome.unreadable
            if outcome.data is not None:
                changed = True
                member = outcome.data
            target.writestr(info, member)
    return FileOutcome(out.getvalue() if changed else None, rows, unreadable)


REGISTRY_COLUMNS = ("oneid", "first_seen", "last_seen", "status", "merged_into")


def _purge_parquet(data: bytes, matcher: Matcher, channels) -> FileOutcome:
    table = pq.read_table(pa.BufferReader(data))
    mask = parquet_mentions(table, matcher, channels)
    if not mask.any():
        return FileOutcome(None)
    frame = table.to_pandas()
    if tuple(frame.columns) == REGISTRY_COLUMNS:
        # The registry keeps the number, marked erased, so it is never issued again.
        gone = frame["oneid"].isin(matcher.oneids).to_numpy(dtype=bool)
        done = (
            gone & (frame["status"] == "erased").to_numpy(dtype=bool) & frame["merged_into"].isna().to_numpy()
        )
        mask = mask & ~gone
        if not mask.any() and not (gone & ~done).any():
            return FileOutcome(None)
        frame.loc[gone, "status"] = "erased"
        frame.loc[gone, "merged_into"] = pd.NA
        rows = int((gone & ~done).sum())
    else:
        rows = 0
    rows += int(mask.sum())
    frame = frame.loc[~mask].reset_index(drop=True)
    out = io.BytesIO()
    from tierlib.storage._base import PARQUET_COMPRESSION, frame_to_table

    pq.write_table(frame_to_table(frame, where="purge"), out, compression=PARQUET_COMPRESSION)
    return FileOutcome(out.getvalue(), rows)


def parquet_mentions(table: pa.Table, matcher: Matcher, channels=()) -> np.ndarray:
    """Rows of ``table`` that mention the people (any text cell, record keys of their channels)."""
    mask = np.zeros(table.num_rows, dtype=bool)
    if not table.num_rows:
        return mask
    texts = {
        name: pc.cast(table[name], pa.large_string())
        for name in table.column_names
        if pa.types.is_string(table[name].type)
        or pa.types.is_large_string(table[name].type)
        or pa.types.is_dictionary(table[name].type)
    }
    for values in texts.values():
        mask |= matcher.arrow_mask(values)
    row_channels = [("channel", "record_id"), ("other_channel", "other_record_id")]
    for channel_column, record_column in row_channels:
        if channel_column in texts and record_column in texts:
            keys = list(zip(texts[channel_column].to_pylist(), texts[record_column].to_pylist(), strict=True))
            mask |= np.fromiter((key in matcher.record_keys for key in keys), dtype=bool, count=len(keys))
    if "channel" in texts and matcher.by_channel:
        channel_values = np.asarray(texts["channel"].to_pylist(), dtype=object)
        for channel in matcher.by_channel:
            rows = channel_values == channel
            if rows.any():
                for values in texts.values():
                    mask[rows] |= matcher.arrow_mask(values.filter(pa.array(rows)), channel)
    for channel in channels:
        for values in texts.values():
            mask |= matcher.arrow_mask(values, channel)
    return mask
