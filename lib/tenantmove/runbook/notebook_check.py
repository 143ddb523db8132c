"""What an executed notebook says about how it was run: code that differs from the committed notebook of the
tenantmove version that ran it, and cells run out of order or more than once (an admin stepping through by
hand). Warnings for the auditor, not failures: a hand-stepped run can be right."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from ..paths import notebooks_dir, project_root

SKIP_TAGS = {"parameters", "injected-parameters"}


def _code_cells(nb: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in nb.get("cells", []) if c.get("cell_type") == "code"]


def _source(cell: dict[str, Any]) -> str:
    src = cell.get("source", "")
    return ("".join(src) if isinstance(src, list) else str(src)).strip()


def committed(stem: str, commit: str) -> dict[str, Any] | None:
    """The notebook as committed at ``commit`` (the working copy when that is the checkout, or unknown)."""
    root = project_root()
    clean = commit.split("+")[0]
    if root is not None and clean and not clean.startswith("unknown"):
        out = subprocess.run(["git", "-C", str(root), "show", f"{clean}:notebooks/{stem}.ipynb"], capture_output=True,
                             text=True, timeout=20, check=False)
        if out.returncode == 0:
            return json.loads(out.stdout)
    path = notebooks_dir() / f"{stem}.ipynb"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def check(executed: Path, reference: dict[str, Any] | None) -> list[str]:
    nb = json.loads(executed.read_text(encoding="utf-8"))
    name = executed.name
    warnings = []
    cells = [c for c in _code_cells(nb) if not SKIP_TAGS & set(c.get("metadata", {}).get("tags", []))]
    if reference is None:
        warnings.append(f"{name}: no committed notebook of this version to compare with")
    else:
        want = {c.get("id"): _source(c) for c in _code_cells(reference)
                if not SKIP_TAGS & set(c.get("metadata", {}).get("tags", []))}
        for cell in cells:
            if cell.get("id") not in want:
                warnings.append(f"{name}: cell {cell.get('id')} is not in the committed notebook (added by hand)")
            elif _source(cell) != want[cell.get("id")]:
                warnings.append(f"{name}: cell {cell.get('id')} differs from the committed notebook (edited by hand)")
        missing = set(want) - {c.get("id") for c in cells}
        if missing:
            warnings.append(f"{name}: cell(s) {', '.join(sorted(str(m) for m in missing))} of the committed notebook "
                            "are missing")
    counts = [c.get("execution_count") for c in _code_cells(nb) if c.get("execution_count") is not None]
    if counts != sorted(counts) or len(set(counts)) != len(counts):
        warnings.append(f"{name}: cells ran out of order (execution counts {counts})")
    elif counts and max(counts) > len(counts):
        warnings.append(f"{name}: some cells ran more than once ({max(counts)} executions for {len(counts)} cells)")
    return warnings


def check_run(run_dir: Path, commit: str) -> list[str]:
    """Every executed phase notebook of a run (earlier attempts kept beside them included)."""
    out = []
    for path in sorted(run_dir.glob("*.ipynb")):
        stem = path.stem.split(".attempt-")[0]
        out += check(path, committed(stem, commit))
    return out
