"""The library's layers: imports only point down, and the sandbox stands apart.

    phases  ->  runbook  ->  workloads  ->  engine  ->  services  ->  plumbing (errors, redact, paths, clock, report)
    sandbox ->  plumbing only (it is Microsoft's cloud, not our client)
"""

from __future__ import annotations

import ast
from pathlib import Path

LIB = Path(__file__).resolve().parents[1] / "lib" / "tenantmove"
ALLOWED = {
    "__main__": {"runbook"},  # python -m tenantmove
    "phases": {"phases", "runbook", "workloads", "engine", "services", "plumbing"},
    "runbook": {"runbook", "workloads", "engine", "services", "plumbing", "sandbox"},
    "workloads": {"workloads", "engine", "services", "plumbing"},
    "engine": {"engine", "plumbing"},
    "services": {"services", "plumbing"},
    "plumbing": {"plumbing"},
    "sandbox": {"sandbox", "plumbing"},
}


def layer_of(parts: list[str]) -> str:
    return parts[0] if parts and parts[0] in ALLOWED else "plumbing"


def imported_layers(path: Path) -> set[tuple[str, int]]:
    rel = path.relative_to(LIB).with_suffix("").parts
    package = list(rel[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
                target = base + (node.module.split(".") if node.module else [])
                if not node.module:  # "from . import x" / "from .. import x": the names are modules
                    for alias in node.names:
                        found.add((layer_of(target + [alias.name]), node.lineno))
                    continue
            elif node.module and node.module.startswith("tenantmove."):
                target = node.module.split(".")[1:]
            else:
                continue
            found.add((layer_of(target), node.lineno))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("tenantmove."):
                    found.add((layer_of(alias.name.split(".")[1:]), node.lineno))
    return found


def test_imports_only_point_down() -> None:
    wrong = []
    for path in sorted(LIB.rglob("*.py")):
        parts = list(path.relative_to(LIB).parts[:-1]) or [path.stem]
        layer = "__main__" if parts == ["__main__"] else layer_of(parts)
        for target, line in imported_layers(path):
            if target not in ALLOWED[layer]:
                wrong.append(f"{path.relative_to(LIB)}:{line}: {layer} imports {target}")
    assert not wrong, "\n".join(wrong)


def test_the_sandbox_modules_import_no_circle() -> None:
    graph: dict[str, set[str]] = {}
    for path in (LIB / "sandbox").glob("*.py"):
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
                deps.add(node.module)
        graph[path.stem] = deps

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(d == goal or (d not in seen and reaches(d, goal, seen | {d})) for d in graph.get(start, ()))

    assert not [m for m in graph if reaches(m, m, set())]


def test_sibling_phases_do_not_import_each_other() -> None:
    """What two phases share lives below them (``phases/common.py``, ``phases/checks.py``, ``phases/access.py``,
    workloads); phase 90 too: it finds every area's reconciliation in the registry, where each phase put its own.
    ``rehearsal`` is no phase: it drives phases 20 and 30 as their notebooks do (and no phase imports it)."""
    shared = {"common", "checks", "access", "__init__"}
    wrong = []
    for path in sorted((LIB / "phases").glob("*.py")):
        if path.stem in shared | {"rehearsal"}:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                names = [node.module] if node.module else [a.name for a in node.names]
                wrong += [f"{path.name}:{node.lineno} imports {n}" for n in names if n and n not in shared]
    assert not wrong, "\n".join(wrong)


def test_every_phase_registers_the_check_of_what_it_moves() -> None:
    from tenantmove.phases.checks import areas, rerun_of

    names = [n for a in areas() for n in a.names]
    assert len(names) == len(set(names))  # an area is registered once
    assert {"users", "groups", "DNS records", "DNS records kept", "settings", "security", "lists", "library files",
            "files", "mail", "mail fidelity", "notebooks"} <= set(names)
    assert rerun_of("library files") == "50_team_sites" and rerun_of("mail fidelity") == "60_mailboxes"
    assert rerun_of("DNS records kept") == ""  # only the admin can restore a record at the DNS host
    assert [a.order[0] for a in areas()] == sorted(a.order[0] for a in areas())  # in phase order
