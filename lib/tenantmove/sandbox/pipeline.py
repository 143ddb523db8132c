"""A PowerShell pipeline as an admin's read-only export script writes one: ``Get-X ... | [Select-Object ...] |
[Get-Recipient] | Export-Csv -Path P [-Append]``. ``Select-Object`` takes property names, calculated properties
(``@{Name='N';Expression={...}}`` whose expression is a quoted string, ``$_.P`` or ``$_.P -join 'sep'``) and
``-ExpandProperty P`` (each value of P becomes an object of its own). Values keep their types until ``Export-Csv``,
which writes a collection as PowerShell does: its type name, not its contents (so a script must join it first)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Rows = list[Any]
Reader = Callable[[Any, dict[str, str]], list[dict[str, Any]]]

CALCULATED_RE = re.compile(r"^@\{\s*(?:n|name|l|label)\s*=\s*'((?:[^']|'')*)'\s*;\s*(?:e|expression)\s*=\s*\{(.*)\}\s*\}$",
                           re.IGNORECASE | re.DOTALL)
JOIN_RE = re.compile(r"^\$_\.(\w+)(?:\s+-join\s+'((?:[^']|'')*)')?$", re.IGNORECASE)
LITERAL_RE = re.compile(r"^'((?:[^']|'')*)'$")


def split_top(text: str, sep: str) -> list[str]:
    """``text`` split at ``sep`` outside quotes and braces."""
    parts, depth, quoted, start = [], 0, False, 0
    for i, ch in enumerate(text):
        if ch == "'":
            quoted = not quoted
        elif not quoted and ch == "{":
            depth += 1
        elif not quoted and ch == "}":
            depth -= 1
        elif not quoted and depth == 0 and text.startswith(sep, i):
            parts.append(text[start:i])
            start = i + len(sep)
    parts.append(text[start:])
    return [p.strip() for p in parts]


def _value(expression: str, row: Any) -> Any:
    body = expression.strip()
    literal = LITERAL_RE.match(body)
    if literal:
        return literal.group(1).replace("''", "'")
    joined = JOIN_RE.match(body)
    if not joined:
        raise ValueError(f"Select-Object: the sandbox evaluates 'text', $_.P and $_.P -join 'sep', not {{{body}}}")
    value = row.get(joined.group(1)) if isinstance(row, dict) else None
    if joined.group(2) is not None and isinstance(value, list):
        return joined.group(2).replace("''", "'").join(str(v) for v in value)
    return value


def select(rows: Rows, rest: str) -> Rows:
    """``Select-Object`` over the rows."""
    if rest.lower().startswith("-expandproperty"):
        name = rest.split(None, 1)[1].strip() if len(rest.split(None, 1)) > 1 else ""
        if not name:
            raise ValueError("Select-Object -ExpandProperty needs a property name")
        out: Rows = []
        for row in rows:
            value = row.get(name) if isinstance(row, dict) else None
            out += value if isinstance(value, list) else [] if value is None else [value]
        return out
    wanted: list[tuple[str, str | None]] = []
    for prop in split_top(rest, ","):
        calculated = CALCULATED_RE.match(prop)
        if calculated:
            wanted.append((calculated.group(1).replace("''", "'"), calculated.group(2)))
        elif re.fullmatch(r"\w+", prop):
            wanted.append((prop, None))
        else:
            raise ValueError(f"Select-Object: {prop!r} is neither a property name nor @{{Name=...;Expression={{...}}}}")
    return [{name: (_value(expr, row) if expr is not None else (row.get(name) if isinstance(row, dict) else None))
             for name, expr in wanted} for row in rows]


def run(tenant: Any, line: str, parse: Callable[[str], tuple[str, dict[str, str]]], readers: dict[str, Reader],
        export: Callable[[Rows, dict[str, str]], str]) -> str:
    """The pipeline on one line, into ``export`` (Export-Csv)."""
    stages = split_top(line, "|")
    cmdlet, params = parse(stages[0])
    reader = readers.get(cmdlet.lower())
    if reader is None:
        raise ValueError(f"the sandbox pipes the rows of {', '.join(sorted(readers))} only, not {cmdlet}")
    rows: Rows = reader(tenant, params)
    for stage in stages[1:]:
        name, rest = (stage.split(None, 1) + [""])[:2]
        if name.lower() == "select-object":
            rows = select(rows, rest.strip())
        elif name.lower() in readers and not rest.strip():  # a Get- cmdlet taking each object as its -Identity
            rows = [found for row in rows for found in readers[name.lower()](tenant, {"identity": str(row)})]
        elif name.lower() == "export-csv":
            return export(rows, parse(stage)[1])
        else:
            raise ValueError(f"the sandbox's pipes take Select-Object, Get- cmdlets and Export-Csv, not {name}")
    raise ValueError("a pipe ends in Export-Csv -Path ... in the sandbox")
