"""Results that show themselves: a :class:`Report` is a title and a few sections (tables, facts,
verdict lines, prose). In a notebook it renders as HTML (``_repr_html_``); elsewhere it is plain text.
Library code builds reports and returns them; it never draws while it works, so the same calls are
quiet in tests and reusable by a verification phase."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from .redact import redact

BANNER_COLOURS = {"ok": "#1b7f3b", "warn": "#a36200", "fail": "#b00020"}
BANNER_ICONS = {"ok": "✔", "warn": "⚠", "fail": "✖"}
TABLE_STYLE = "<style>.tm-table td, .tm-table th {text-align: left !important; vertical-align: top}</style>"


def inline_markdown(text: str) -> str:
    """The little markdown the runbook's prose uses (**bold**, `code`), escaped for HTML."""
    out = html.escape(text)
    out = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", out)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", out)


def table_html(df: pd.DataFrame, title: str = "", max_rows: int = 50) -> str:
    """A plan or an inventory as a table; long tables show their first rows and say so."""
    head = f"<h4>{html.escape(title)}</h4>" if title else ""
    if df.empty:
        return head + "<p><em>(none)</em></p>"
    note = ""
    shown = df
    if len(df) > max_rows:
        shown = df.head(max_rows)
        note = f"<p><em>{len(df)} rows; the first {max_rows} are shown, all are in the run folder.</em></p>"
    return (head + TABLE_STYLE + "<div class='tm-table'>" +
            shown.to_html(index=False, escape=True, na_rep="", justify="left") + "</div>" + note)


BAR_COLOURS = ("#1b7f3b", "#b00020", "#a36200", "#3d6fb6")


def bars_html(df: pd.DataFrame, label: str, values: list[str], title: str = "", unit: str = "") -> str:
    """A horizontal stacked bar per row (plain HTML: readable in the saved notebook and its HTML rendering)."""
    head = f"<h4>{html.escape(title)}</h4>" if title else ""
    if df.empty:
        return head + "<p><em>(none)</em></p>"
    top = max(float(df[values].sum(axis=1).max()), 1.0)
    legend = " ".join(f"<span style='color:{BAR_COLOURS[i % 4]}'>■</span> {html.escape(v)}"
                      for i, v in enumerate(values))
    rows = []
    for _, row in df.iterrows():
        segs = "".join(f"<div title='{html.escape(v)}: {row[v]:,} {unit}' style='display:inline-block;height:14px;"
                       f"width:{300 * float(row[v]) / top:.1f}px;background:{BAR_COLOURS[i % 4]}'></div>"
                       for i, v in enumerate(values))
        total = " / ".join(f"{row[v]:,}" for v in values)
        rows.append(f"<tr><td style='text-align:left'>{html.escape(str(row[label]))}</td><td>{segs}</td>"
                    f"<td style='text-align:left'>{total} {html.escape(unit)}</td></tr>")
    return f"{head}<p>{legend}</p><table>{''.join(rows)}</table>"


def facts_html(title: str, rows: dict[str, Any]) -> str:
    cells = "".join(f"<tr><th style='text-align:left'>{html.escape(str(k))}</th>"
                    f"<td style='text-align:left'>{html.escape(str(v))}</td></tr>" for k, v in rows.items())
    return f"<h3>{html.escape(title)}</h3><table>{cells}</table>"


def banner_html(kind: str, text: str) -> str:
    return (f"<div style='padding:6px 10px;border-left:6px solid {BANNER_COLOURS[kind]};font-weight:bold'>"
            f"{BANNER_ICONS[kind]} {html.escape(text)}</div>")


@dataclass
class Section:
    kind: str  # table | bars | facts | banner | text
    title: str = ""
    body: Any = None
    level: str = "ok"


@dataclass
class Report:
    """A titled list of sections; ``+`` joins reports, in order."""

    title: str = ""
    sections: list[Section] = field(default_factory=list)

    def table(self, df: pd.DataFrame, title: str = "") -> Report:
        self.sections.append(Section("table", title, df))
        return self

    def bars(self, df: pd.DataFrame, label: str, values: list[str], title: str = "", unit: str = "") -> Report:
        """A bar chart of ``values`` per ``label`` (the text form is the table)."""
        self.sections.append(Section("bars", title, (df, label, list(values), unit)))
        return self

    def facts(self, title: str, rows: dict[str, Any]) -> Report:
        self.sections.append(Section("facts", title, dict(rows)))
        return self

    def banner(self, level: str, text: str) -> Report:
        if level not in BANNER_COLOURS:
            raise ValueError(level)
        self.sections.append(Section("banner", "", text, level))
        return self

    def text(self, text: str) -> Report:
        self.sections.append(Section("text", "", text))
        return self

    def add(self, other: Report | None) -> Report:
        if other is not None:
            if other.title:
                self.sections.append(Section("heading", other.title))
            self.sections.extend(other.sections)
        return self

    def banners(self) -> list[tuple[str, str]]:
        """The verdict lines, which the display also prints so that logs carry them."""
        return [(s.level, str(s.body)) for s in self.sections if s.kind == "banner"]

    def _repr_html_(self) -> str:
        parts = [f"<h3>{html.escape(self.title)}</h3>"] if self.title else []
        for s in self.sections:
            if s.kind == "table":
                parts.append(table_html(s.body, s.title))
            elif s.kind == "facts":
                parts.append(facts_html(s.title, s.body))
            elif s.kind == "bars":
                parts.append(bars_html(*s.body[:3], title=s.title, unit=s.body[3]))
            elif s.kind == "banner":
                parts.append(banner_html(s.level, str(s.body)))
            elif s.kind == "heading":
                parts.append(f"<h3>{html.escape(s.title)}</h3>")
            else:
                parts.append(f"<p>{inline_markdown(str(s.body))}</p>")
        return redact("".join(parts))

    def __repr__(self) -> str:  # the text/plain form in a saved notebook: the report, redacted
        return str(self)

    def __str__(self) -> str:
        lines = [self.title] if self.title else []
        for s in self.sections:
            if s.kind == "table":
                lines += [f"{s.title}:" if s.title else "", s.body.to_string(index=False) if not s.body.empty
                          else "(none)"]
            elif s.kind == "facts":
                lines += [f"{s.title}:"] + [f"  {k}: {v}" for k, v in s.body.items()]
            elif s.kind == "bars":
                frame = s.body[0][[s.body[1], *s.body[2]]]
                lines += [f"{s.title}:", frame.to_string(index=False) if not frame.empty else "(none)"]
            elif s.kind == "banner":
                lines.append(f"{BANNER_ICONS[s.level]} {s.body}")
            elif s.kind == "heading":
                lines.append(s.title)
            else:
                lines.append(str(s.body))
        return redact("\n".join(line for line in lines if line))


class ShowsItself:
    """For objects with a ``report()``: HTML in a notebook, the report's text everywhere else (a
    dataclass using it says ``repr=False`` so that its generated repr does not replace this one)."""

    def report(self) -> Report:
        raise NotImplementedError

    def _repr_html_(self) -> str:
        return self.report()._repr_html_()

    def __repr__(self) -> str:
        return str(self.report())
