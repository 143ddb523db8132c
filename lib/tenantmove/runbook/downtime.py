"""The record of the cutover: when mail stopped (the old MX left DNS) and when it flowed again
(the new MX answered), kept in the migration's state folder across runs."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from ..clock import utc_now
from .audit import write_json_atomic

CUTOVER_FILE = "cutover.json"


class Downtime:
    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / CUTOVER_FILE
        self.data: dict[str, Any] = json.loads(self.path.read_text()) if self.path.is_file() else {}

    def mark(self, event: str, run_id: str, by: str, note: str = "", *, keep_first: bool = True) -> dict[str, Any]:
        """Record ``event`` now; a rerun keeps the first time unless told otherwise."""
        if keep_first and event in self.data:
            return self.data[event]
        self.data[event] = {"at": utc_now(), "run_id": run_id, "by": by, "note": note}
        write_json_atomic(self.path, self.data)
        return self.data[event]

    def roll_back(self, run_id: str, by: str, note: str = "") -> dict[str, Any]:
        """The cutover's marks become an attempt rolled back (kept in ``attempts``, with when and by whom); the next
        cutover records its own window."""
        attempt = {event: self.data.pop(event) for event in ("mail_down", "mail_up") if event in self.data}
        if attempt:
            attempt["rolled_back"] = {"at": utc_now(), "run_id": run_id, "by": by, "note": note}
            self.data.setdefault("attempts", []).append(attempt)
            write_json_atomic(self.path, self.data)
        return attempt

    def get(self, event: str) -> str | None:
        return (self.data.get(event) or {}).get("at")

    def window(self) -> dict[str, Any]:
        down, up = self.get("mail_down"), self.get("mail_up")
        minutes = None
        if down and up:
            fmt = "%Y-%m-%dT%H:%M:%SZ"
            minutes = round((dt.datetime.strptime(up, fmt) - dt.datetime.strptime(down, fmt)).total_seconds() / 60, 1)
        return {"mail stopped (old MX removed)": down or "not yet", "mail flows (new MX answers)": up or "not yet",
                "downtime (minutes)": minutes if minutes is not None else "open"}
