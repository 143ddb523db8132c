"""The admin's word kept in the state folder as CSV, one row appended per statement and never rewritten: manual
items marked done (``manual-done.csv``), security gaps waived (``waivers.csv``). Read back by key; the last row
for a key wins."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from ..clock import utc_now


def append(path: Path, fields: list[str], row: dict[str, str]) -> dict[str, str]:
    """``row`` (with ``at`` set to now if the fields name it) appended; the header written with the first row."""
    row = {**row, "at": utc_now()} if "at" in fields else dict(row)
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.is_file()
    with open(path, "a", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        if new:
            writer.writeheader()
        writer.writerow(row)
    return row


def append_json(path: Path, entry: dict[str, Any]) -> None:
    """One JSON object appended as a line (a record that is only ever added to)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry, sort_keys=True) + "\n")


def read_json_lines(path: Path) -> list[dict[str, Any]]:
    """Every object of a JSON-lines file, in order (none when it does not exist)."""
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def by_key(path: Path) -> dict[str, dict[str, str]]:
    if not path.is_file():
        return {}
    with open(path, newline="", encoding="utf-8") as fh:
        return {row["key"]: row for row in csv.DictReader(fh)}
