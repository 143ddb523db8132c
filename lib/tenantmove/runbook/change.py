"""The change this migration is, as a change-management process records it: the ticket, who asked for it, the window
it may run in, its risk and its way back (the ``change`` parameter). Every page's header shows it; a run that
would change something outside its window is refused unless the override's reason is given, and then the reason
is on the record."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

CHANGE_KEYS = {
    "ticket": "the change request's number in your change system, e.g. CHG0012345",
    "requester": "who asked for the change (a name or address)",
    "window": "when it may change anything, UTC, start/end: 2027-01-09T18:00Z/2027-01-10T06:00Z",
    "risk": "low | medium | high",
    "backout": "the way back if the cutover cannot finish, e.g. notebook 25_rollback_domain",
    "override": "run outside the window anyway: the reason, recorded in the dossier (empty: refuse)",
}
RISKS = ("low", "medium", "high")


def parse_time(text: str) -> dt.datetime | None:
    """A UTC time as the parameters write it (``2027-01-09T18:00Z``); None if it is none, or has no zone."""
    try:
        when = dt.datetime.fromisoformat(str(text).strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return when.astimezone(dt.UTC) if when.tzinfo is not None else None


@dataclass(frozen=True)
class Change:
    ticket: str = ""
    requester: str = ""
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    risk: str = ""
    backout: str = ""
    override: str = ""

    @classmethod
    def of(cls, raw: dict[str, Any] | None) -> Change:
        raw = raw or {}
        start, end = _window(str(raw.get("window") or ""))
        return cls(str(raw.get("ticket") or "").strip(), str(raw.get("requester") or "").strip(), start, end,
                   str(raw.get("risk") or "").strip().lower(), str(raw.get("backout") or "").strip(),
                   str(raw.get("override") or "").strip())

    @property
    def window(self) -> str:
        if self.start is None or self.end is None:
            return ""
        return f"{_stamp(self.start)} to {_stamp(self.end)} (UTC)"

    def in_window(self, when: dt.datetime) -> bool:
        """True when no window is set, or ``when`` falls in it."""
        return self.start is None or self.end is None or self.start <= when <= self.end

    def facts(self) -> dict[str, str]:
        """The header's lines (only those given)."""
        rows = {"change ticket": self.ticket, "requested by": self.requester, "change window": self.window,
                "risk": self.risk, "way back (backout)": self.backout}
        return {k: v for k, v in rows.items() if v}

    def outside(self, when: dt.datetime) -> str:
        """'' in the window; otherwise the sentence saying so (with the override's reason when one is given)."""
        if self.in_window(when):
            return ""
        side = "before" if self.start is not None and when < self.start else "after"
        text = f"{_stamp(when)} is {side} the change window {self.window}"
        return text + (f"; run anyway, override recorded: {self.override}" if self.override else "")


def _stamp(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%MZ")


def _window(text: str) -> tuple[dt.datetime | None, dt.datetime | None]:
    if "/" not in text:
        return None, None
    start, end = (parse_time(part) for part in text.split("/", 1))
    return start, end


def problems(raw: Any, production: bool, applies: bool, bad: Callable[[str, str, str], None]) -> None:
    """Each wrong key of the ``change`` parameter, through ``bad(where, what, fix)``. A production run that applies
    anything needs a ticket and a window: the change system's record of it."""
    if not isinstance(raw, dict):
        return
    for key in raw:
        if key not in CHANGE_KEYS:
            bad(f"change.{key}", "is not a key of change", f"the keys are {', '.join(CHANGE_KEYS)}")
    window = str(raw.get("window") or "").strip()
    if window:
        start, end = _window(window)
        if start is None or end is None:
            bad("change.window", f"{window!r} is not a UTC window start/end",
                "write it as 2027-01-09T18:00Z/2027-01-10T06:00Z")
        elif end <= start:
            bad("change.window", f"{window!r} ends before it starts", "give the start first, then the end")
    risk = str(raw.get("risk") or "").strip().lower()
    if risk and risk not in RISKS:
        bad("change.risk", f"must be one of {', '.join(RISKS)}, not {risk!r}", "as your change system rates it")
    if production and applies:
        for key in ("ticket", "window"):
            if not str(raw.get(key) or "").strip():
                bad(f"change.{key}", "is empty, but this run changes Microsoft 365 (dry_run: false)",
                    f"give the change's {key} ({CHANGE_KEYS[key]})")
