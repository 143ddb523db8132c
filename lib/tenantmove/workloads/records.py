"""The admin's word kept in the state folder as CSV, one row appended per statement and never rewritten: manual
items marked done (``manual-done.csv``), security gaps waived (``waivers.csv``). Read back by key; the last row
for a key wins."""

from __future__ import annotations

import csv
from pathlib import Path

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


def by_key(path: Path) -> dict[str, dict[str, str]]:
    if not path.is_file():
        return {}
    with open(path, newline="", encoding="utf-8") as fh:
        return {row["key"]: row for row in csv.DictReader(fh)}
