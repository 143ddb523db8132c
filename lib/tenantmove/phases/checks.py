"""Phase 90's registry of reconciliations. Each phase module registers the check of what it moved, next to the code
that moved it (``@reconciles("mail", "mail fidelity")``); phase 90 runs every registered check, in phase order,
over fresh reads of both tenants and never names an area itself. A new workload registers its check and phase 90
is not edited."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..engine import DeltaLinks, Workload
from ..runbook.context import Phase
from ..services.graph import GraphClient
from ..workloads.files import DriveCopy, reconcile
from ..workloads.inventory import Inventory

COLUMNS = ["area", "item", "source", "target", "missing", "extra", "mismatched", "detail"]


@dataclass
class Check:
    """One area's reconciliation: a row per item compared, and what to do again when it differs."""

    area: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    # what to do again, found wrong: (ledger kind, "key" | "name" | "scope" | "folder", value, why)
    reopen: list[tuple[str, str, str, str]] = field(default_factory=list)

    def add(self, item: str, source: int, target: int, missing: int = 0, extra: int = 0, mismatched: int = 0,
            detail: str = "") -> None:
        self.rows.append({"area": self.area, "item": item, "source": source, "target": target, "missing": missing,
                          "extra": extra, "mismatched": mismatched, "detail": detail})

    @property
    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=COLUMNS)

    @property
    def problems(self) -> pd.DataFrame:
        df = self.frame
        return df[(df["missing"] + df["extra"] + df["mismatched"]) > 0]


@dataclass
class Reads:
    """What every check may read: phase 90 itself, both tenants (the app's sign-ins and the people's, for
    OneNote), both inventories and the user mapping; ``shared`` keeps what two checks read once (team sites)."""

    phase: Phase
    old: GraphClient
    new: GraphClient
    old_person: GraphClient
    new_person: GraphClient
    src: Inventory
    tgt: Inventory
    moving: pd.DataFrame
    shared: dict[str, Any] = field(default_factory=dict)

    def once(self, name: str, make: Callable[[], Any]) -> Any:
        if name not in self.shared:
            self.shared[name] = make()
        return self.shared[name]


@dataclass(frozen=True)
class Area:
    names: tuple[str, ...]  # the areas its checks carry, in the verdict
    rerun: str  # the phase whose rerun repairs them ("" when only the admin can: a DNS record at the host)
    check: Callable[[Reads], list[Check]]
    order: tuple[str, int]  # (phase, registration): the report's order


_AREAS: list[Area] = []


def reconciles(*names: str, rerun: str | None = None) -> Callable[[Callable[[Reads], Any]], Callable[[Reads], Any]]:
    """Register a check of ``names`` (one :class:`Check` or a list, in that order); a rerun of the registering
    phase repairs them unless ``rerun`` names another ("" for none)."""
    def register(fn: Callable[[Reads], Any]) -> Callable[[Reads], Any]:
        module = fn.__module__.rsplit(".", 1)[-1]
        phase = rerun if rerun is not None else PHASE_OF.get(module, module)

        def as_list(reads: Reads) -> list[Check]:
            out = fn(reads)
            return list(out) if isinstance(out, list | tuple) else [out]

        _AREAS[:] = [a for a in _AREAS if a.names != names] + [
            Area(names, phase, as_list, (PHASE_OF.get(module, module), len(_AREAS)))]
        return fn
    return register


# the phase each module is (its notebook's name)
PHASE_OF = {"prepare": "00_prepare", "new_subscription": "10_new_subscription", "release_domain": "20_release_domain",
            "add_domain": "30_add_domain_and_users", "admin_settings": "40_admin_settings",
            "team_sites": "50_team_sites", "mailboxes": "60_mailboxes", "teams": "65_teams", "onedrive": "70_onedrive",
            "onenote": "80_onenote"}


def areas() -> list[Area]:
    """Every registered area, in phase order (each phase module is loaded, so that its checks register)."""
    from .. import phases

    for module in pkgutil.iter_modules(phases.__path__):
        if module.name in PHASE_OF:
            importlib.import_module(f"{phases.__name__}.{module.name}")
    return sorted(_AREAS, key=lambda a: a.order)


def rerun_of(area: str) -> str:
    """The phase whose rerun repairs ``area`` ("" when none does)."""
    return next((a.rerun for a in areas() if area in a.names), "")


def workload_check(area: str, workload: Workload) -> Check:
    """A workload reconciled by itself: every item it lists from the source now, found afresh in the target and
    compared (:meth:`~tenantmove.engine.Workload.differs`); a difference reopens the item by its key."""
    check = Check(area)
    for work in workload.list(DeltaLinks(None, workload.kind)):
        existing = workload.find(work)
        why = workload.differs(work, existing)
        if why:
            check.reopen.append((workload.kind, "key", work.key, f"{work.name}: {why}"))
        check.add(work.name, 1, int(existing is not None), missing=int(existing is None),
                  mismatched=int(bool(why) and existing is not None), detail=why)
    return check


def folder_check(check: Check, copy: DriveCopy, kind: str, where: str) -> Check:
    """Files per folder on both sides of each pair of drives (bytes; Office files by number); a folder that differs
    reopens its ledger items of ``kind`` (OneDrives and team-site libraries alike)."""
    for row in reconcile(copy):
        bad = row["verdict"] == "MISMATCH"
        if bad:
            check.reopen.append((kind, "folder", f"{row['drive'].lower()}|{row['folder']}",
                                 f"{row['drive']}: {row['folder']} differs in {where}"))
        check.add(f"{row['drive']}: {row['folder']}", row["old files"], row["new files"],
                  missing=max(0, row["old files"] - row["new files"]) if bad else 0,
                  mismatched=int(bad and row["old files"] <= row["new files"]),
                  detail=f"bytes {row['old bytes (not Office)']} -> {row['new bytes (not Office)']}" if bad else "")
    return check
