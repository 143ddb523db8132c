"""Manual steps: the commands an admin runs where no API can do the work (Exchange Online PowerShell,
SharePoint Online Management Shell), written to a script in the run folder. The next run checks the
target and marks each one done, or writes it again with only what is still missing."""

from __future__ import annotations

from pathlib import Path

from ..clock import utc_now
from .workload import ManualStep

SCRIPT_SUFFIX = ".ps1"


def ps_quote(value: str) -> str:
    """A PowerShell single-quoted string (a quote inside is doubled)."""
    return "'" + str(value).replace("'", "''") + "'"


def write_script(path: Path, shell: str, preamble: tuple[str, ...] | list[str], steps: list[ManualStep],
                 phase: str, run_id: str, *, append: bool = False) -> Path:
    """The steps as a script; ``append``: to the script an earlier pass of the same phase execution wrote (the
    next lookup level of list items), never replacing what that pass asked for."""
    appending = append and path.is_file()
    lines = [f"# --- more steps of {phase}, run {run_id}, written {utc_now()} (UTC)", ""] if appending else [
        f"# tenantmove {phase}, run {run_id}, written {utc_now()} (UTC)",
        f"# Run in {shell}. Nothing here can be done through Microsoft Graph.",
        "# Afterwards rerun the phase: it reads the new tenant and marks each step done, or writes it again.",
        "$ErrorActionPreference = 'Stop'", *preamble, ""]
    for step in steps:
        lines.append(f"# {step.title}  [ledger key {step.key}]")
        if step.check:
            lines.append(f"# checked next run: {step.check}")
        lines += step.commands
        lines.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a" if appending else "w", encoding="utf-8") as fh:
        fh.write(("\n" if appending else "") + "\n".join(lines))
    return path
