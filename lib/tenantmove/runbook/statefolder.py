"""The one owner of where a migration's state folder is: the runner, every phase, ``done``, ``waive``,
``passwords`` and ``verify`` resolve it here, so an admin's command writes where the next run reads.

The folder is ``state_dir`` from the parameters (relative to where the command starts), else
``state/<name>`` under ``$TENANTMOVE_HOME`` or the checkout. A demo gives each of its runs a fresh sandbox and so
a fresh state folder inside that one; it leaves a pointer naming the newest, which the admin's commands follow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..paths import default_state_dir

POINTER = "CURRENT"  # in a demo's base state folder: the name of the sub-folder its newest run uses


def base(raw: dict[str, Any], cwd: Path | None = None) -> Path:
    """The state folder a parameter file names (not following a demo's pointer)."""
    given = str(raw.get("state_dir") or "")
    if given:
        path = Path(given).expanduser()
        return path if path.is_absolute() else (cwd or Path.cwd()) / path
    return default_state_dir(str(raw.get("name") or "demo"))


def resolve(raw: dict[str, Any], cwd: Path | None = None) -> Path:
    """The state folder the runs of this parameter file read and write now."""
    folder = base(raw, cwd)
    pointer = folder / POINTER
    if pointer.is_file():
        name = pointer.read_text(encoding="utf-8").strip()
        if name and "/" not in name and name not in (".", ".."):
            return folder / name
    return folder


def fresh(raw: dict[str, Any], run_name: str, cwd: Path | None = None) -> Path:
    """A new state folder inside the base one (a demo's fresh sandbox), made the one ``resolve`` gives."""
    folder = base(raw, cwd)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / POINTER).write_text(run_name + "\n", encoding="utf-8")
    return folder / run_name
