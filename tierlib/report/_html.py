"""The report page: one self-contained HTML file (styles inline, charts as base64 PNG).

Every piece of HTML comes from a Jinja2 template under ``templates/`` rendered with
autoescaping, so a tier label, channel or segment name is always text, never markup.
Sections build their data in Python (``_build``) and hand it to their template.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pandas as pd
from markupsafe import Markup

from tierlib.report import _format as fmt
from tierlib.report import _style as style

TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class Chart:
    name: str
    """File name stem under ``charts/`` (``tiers`` -> ``charts/tiers.png``)."""
    png: bytes
    alt: str
    width_px: int

    @property
    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    body: Markup
    """The section's content, rendered from its template."""
    status: str = "ok"
    """``ok``, or ``missing`` when the section's input was not there (the body says why)."""
    charts: tuple[Chart, ...] = field(default_factory=tuple)


@cache
def _environment():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(
        count=fmt.count,
        compact=fmt.compact,
        percent=fmt.percent,
        signed=fmt.signed,
        metric=fmt.metric,
    )
    environment.globals["style"] = style
    return environment


def render(template: str, **context) -> Markup:
    """``templates/<template>`` rendered with ``context`` (autoescaped)."""
    return Markup(_environment().get_template(template).render(**context))


def missing_section(section_id: str, title: str, message: str) -> Section:
    """A section whose input is not there: its body says why."""
    return Section(section_id, title, render("missing.html", message=message), "missing")


@dataclass(frozen=True)
class Table:
    headings: tuple[tuple[str, bool], ...]
    """(heading, numeric) per column."""
    rows: tuple[tuple[str, tuple[tuple[str, bool], ...]], ...]
    """(row class, ((text, numeric), ...)) per row."""


def table(
    frame: pd.DataFrame,
    columns: Sequence[tuple[str, str, Callable[[object], str] | None]],
    *,
    numeric: Sequence[str] = (),
    row_class: Callable[[pd.Series], str] | None = None,
) -> Table:
    """The cells of ``frame`` as text: (column, heading, formatter) per column; numbers right-aligned."""
    headings = tuple((heading, name in numeric) for name, heading, _ in columns)
    rows = []
    for _, row in frame.iterrows():
        cells = []
        for name, _, formatter in columns:
            value = row[name]
            text = formatter(value) if formatter else ("" if pd.isna(value) else str(value))
            cells.append((text, name in numeric))
        rows.append((row_class(row) if row_class else "", tuple(cells)))
    return Table(headings, tuple(rows))


def page(title: str, sections: Sequence[Section | tuple[Section, Section]], **context) -> str:
    """The whole document; a pair of sections sits side by side."""
    return render("page.html", title=title, items=list(sections), **context) + "\n"
