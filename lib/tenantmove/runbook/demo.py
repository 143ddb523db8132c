"""The demo's stand-in admin: what a person watching ``make demo`` would do by hand, played by the sandbox. It
runs each manual script a phase writes through the sandbox's PowerShell, and for what no API shows (the manual
settings) it gives its word through the same ``done`` command a real admin uses. Nothing of it exists outside the
demo; the runner only knows the :class:`AdminHook` protocol."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import requests

from ..workloads.settings import MANUAL

SETTINGS_SCRIPT = "manual-manual-setting.ps1"


class AdminHook(Protocol):
    """Someone who runs a phase's manual script: returns what was done, line by line."""

    def __call__(self, tenant: str, script: Path, params_file: Path) -> list[str]: ...


class StandInAdmin:
    def __init__(self, sandbox: Any) -> None:
        self.sandbox = sandbox

    def __call__(self, tenant: str, script: Path, params_file: Path) -> list[str]:
        from .runner import cmd_done

        try:
            answer = self.sandbox.admin("POST", f"powershell/{tenant}", data=script.read_bytes())
        except requests.HTTPError as exc:
            return [f"refused: {exc.response.text[:300]}"]
        done = [str(line) for line in answer.get("done", [])]
        if script.name == SETTINGS_SCRIPT:  # no API shows these: the admin's word, as a real admin gives it
            keys = [m.key for m in MANUAL]
            code = cmd_done(params_file, keys, "demo: the stand-in admin ran the script; the sandbox imitates no "
                                               "Exchange organisation settings")
            done.append(f"python -m tenantmove done {params_file} {' '.join(keys)} (exit {code})")
        return done


class OutsideWriter:
    """The demo's outside world: from just before phase 20 until phase 30 is done, the sandbox's sending mail server
    writes to a person who moves, every few seconds, so phases 30 and 90 show what a sender saw of the window."""

    def __init__(self, sandbox: Any, people: list[str], every_seconds: float = 2.0) -> None:
        self.sandbox, self.people, self.every = sandbox, people, every_seconds

    def before(self, phase: str, domain: str) -> None:
        if phase.startswith("20"):
            to = [f"{person}@{domain}" for person in self.people]
            self.sandbox.admin("POST", "mailflow", json={"to": to, "every_seconds": self.every, "label": "mail-flow"})
            print(f"demo only: the outside world writes to {', '.join(to)} every {self.every:g} s until phase 30 "
                  "is done")

    def after(self, phase: str) -> None:
        if phase.startswith("30"):
            figures = self.sandbox.admin("POST", "mailflow/stop")["figures"]
            print(f"demo only: the outside world stopped writing: {figures['sent']} letters sent, "
                  f"{figures['delivered']} delivered, {figures['bounced']} bounced, {figures['queued']} still queued")
