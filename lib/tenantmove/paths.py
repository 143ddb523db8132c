"""Where things live: the project checkout, the sandbox's folder, the runs and the state."""

from __future__ import annotations

import os
from pathlib import Path


def project_root() -> Path | None:
    """The source checkout this package was installed from (editable install), if any."""
    here = Path(__file__).resolve()
    candidate = here.parents[2]
    if (candidate / "pyproject.toml").is_file() and (candidate / "notebooks").is_dir():
        return candidate
    return None


def _base() -> Path:
    """Where runs and state go by default: ``$TENANTMOVE_HOME``, else the source checkout, else
    ``~/.tenantmove``. Never the current folder: the runner and a notebook opened by hand (whose
    current folder is the run folder) must find the same state."""
    env = os.environ.get("TENANTMOVE_HOME")
    if env:
        return Path(env)
    return project_root() or Path.home() / ".tenantmove"


def default_sandbox_dir() -> Path:
    """The folder where a running sandbox writes ``endpoints.json`` and its CA."""
    env = os.environ.get("TENANTMOVE_SANDBOX_DIR")
    return Path(env) if env else _base() / ".sandbox"


def default_runs_dir() -> Path:
    env = os.environ.get("TENANTMOVE_RUNS_DIR")
    return Path(env) if env else _base() / "runs"


def default_state_dir(name: str) -> Path:
    """The migration's state folder when ``state_dir`` is empty: one place wherever a run starts."""
    return (_base() / "state" / name).resolve()


def notebooks_dir() -> Path:
    env = os.environ.get("TENANTMOVE_NOTEBOOKS_DIR")
    if env:
        return Path(env)
    root = project_root()
    if root:
        return root / "notebooks"
    return Path.cwd() / "notebooks"
