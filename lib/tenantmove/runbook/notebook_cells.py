"""The notebooks' ``parameters`` cells, generated from the one parameter specification
(:data:`~tenantmove.runbook.params.SPEC`): each shows the common parameters and the phase's own.
``python -m tenantmove notebooks`` rewrites them;
``--check`` (and a test) fails when a notebook has drifted."""

from __future__ import annotations

import json
from pathlib import Path

from .approval_policy import APPROVAL_KEYS
from .change import CHANGE_KEYS
from .params import DNS_KEYS, TENANT_KEYS, Spec, specs_for

HEADER = [
    "# Parameters. papermill replaces this cell's values; `papermill --help-notebook` lists them.",
    "# Generated from tenantmove.runbook.params.SPEC by `python -m tenantmove notebooks`: edit SPEC, not this cell.",
    "# The defaults target the embedded sandbox, so running this notebook by accident touches nothing real.",
    "# Secrets are never parameters: name the environment variable (or file) that holds one.",
]
SHORT_DOCS = {
    "source": "the old tenant and its app registration (keys above)",
    "target": "the new tenant and its app registration (same keys)",
}


def parameters_cell(phase: str) -> str:
    """The parameters cell of the notebook ``phase`` (its name): the common parameters, then its own."""
    specs = specs_for(phase)
    lines = list(HEADER)
    lines.append("# source and target keys: " + "; ".join(f"{k} = {v}" for k, v in TENANT_KEYS.items()))
    if any(s.name == "dns" for s in specs):
        lines.append("# dns keys: " + "; ".join(f"{k} = {v}" for k, v in DNS_KEYS.items()))
    lines.append("# change keys: " + "; ".join(f"{k} = {v}" for k, v in CHANGE_KEYS.items()))
    lines.append("# approval keys: " + "; ".join(f"{k} = {v}" for k, v in APPROVAL_KEYS.items()))
    common, own = [s for s in specs if not s.phases], [s for s in specs if s.phases]
    lines += [_line(s) for s in common]
    if own:
        lines.append("# this phase's own (a parameter file may hold every phase's; each notebook takes its own):")
        lines += [_line(s) for s in own]
    return "\n".join(lines)


def _line(spec: Spec) -> str:
    return f"{spec.name}: {spec.type.__name__} = {spec.default!r}  # {SHORT_DOCS.get(spec.name, spec.doc)}"


def _cell_source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def sync(notebooks: list[Path], write: bool) -> list[Path]:
    """Notebooks whose parameters cell differs from :func:`parameters_cell` (rewritten if ``write``)."""
    drifted = []
    for path in notebooks:
        want = parameters_cell(path.stem)
        nb = json.loads(path.read_text(encoding="utf-8"))
        cells = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
        if len(cells) != 1:
            raise ValueError(f"{path}: expected exactly one cell tagged 'parameters', found {len(cells)}")
        if _cell_source(cells[0]) != want:
            drifted.append(path)
            if write:
                cells[0]["source"] = want.splitlines(keepends=True)
                path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return drifted
