"""Who may open what, and who made it, for the phases that copy drives and lists (50's libraries and lists, 70's
OneDrives): the sharing workload over the phase's pairs of drives, run after their files; the link map copied
into the run folder with a file per owner; the access matrix shown; phase 90's comparison of the matrices, which
reopens each object that differs; and the authorship of files and list items, through SharePoint's REST API
where it takes the runbook's tokens, by PnP script otherwise."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from ..report import Report
from ..runbook.context import Phase
from ..services.sprest import SharePointRest
from ..workloads.authorship import Authorship
from ..workloads.files import DriveCopy
from ..workloads.inventory import Inventory
from ..workloads.onedrive import Pair
from ..workloads.sharing import LINK_MAP, LinkMap, Sharing, grantees, matrix
from .checks import Check
from .common import Steps, guest_rows

PASTED = ("A link pasted into a document, a mail or a chat still points at the old tenant and cannot be rewritten "
          "from here: the link map (old URL -> new URL) and each owner's list of their changed links are in this "
          "phase's folder (`link-map.csv`, `links/<owner>.csv`) for them to forward.")


def sharing_for(phase: Phase, copy: DriveCopy, src: Inventory, tgt: Inventory, moving: pd.DataFrame, kind: str,
                owner_of: Callable[[Pair], str] | None = None) -> Sharing:
    """The sharing workload over ``copy``'s drives: people and guests through the mapping, groups by nickname."""
    rows = pd.concat([moving[["source_upn", "target_upn"]], guest_rows(phase)[["source_upn", "target_upn"]]],
                     ignore_index=True)
    return Sharing(copy, grantees(src, tgt, rows), LinkMap(phase.state_dir / LINK_MAP), kind=kind, owner_of=owner_of)


def carry(phase: Phase, steps: Steps, workload: Sharing, where: str) -> dict[str, Any]:
    """Run the sharing after the files; show the access matrix and where the changed links are."""
    steps.run(workload)
    workload.links.write_run_copy(phase.folder)
    table = matrix(workload)
    phase.save_table(f"{workload.kind}-access", table)
    report: Report = steps.report
    differing = table[table["verdict"] != "same"]
    report.table(table.drop(columns=["key"]), f"Access to each shared object in {where}: who holds which role, old and "
                                              "new (the mapping names the old holders)")
    if not differing.empty:
        report.banner("warn", f"{len(differing)} holder(s) of access differ from the old tenant: see the items above "
                              "for the reason and the fix")
    report.text(PASTED)
    return {"shared objects": int(table["key"].nunique()), "access differing": len(differing),
            "permission calls": workload.calls, "resource units for permissions, old tenant": workload.units("old"),
            "resource units for permissions, new tenant": workload.units("new"),
            "links mapped": len(workload.links.rows())}


def access_check(area: str, workload: Sharing) -> Check:
    """Phase 90: each shared object's holders and roles on both sides; a difference names the holder and reopens
    the object (its rerun sets it right, taking away what the old tenant did not give)."""
    check = Check(area)
    for (drive, obj, key), rows in matrix(workload).groupby(["drive", "object", "key"], sort=True):
        bad = rows[rows["verdict"] != "same"]
        why = "; ".join(f"{r['who']}: {r['verdict']}" for _, r in bad.iterrows())
        if why:
            check.reopen.append((workload.kind, "key", str(key), f"{drive}: {obj}: {why}"))
        check.add(f"{drive}: {obj}", int((rows["old"] != "").sum()), int((rows["new"] != "").sum()),
                  missing=int((bad["new"] == "").sum()), extra=int((bad["old"] == "").sum()),
                  mismatched=int(((bad["old"] != "") & (bad["new"] != "")).sum()), detail=why)
    return check


def authored(phase: Phase, steps: Steps, make: Callable[[SharePointRest | None], Authorship], what: str) -> dict[str, Any]:
    """Run an authorship workload (``make(rest)``: rest None when SharePoint will not take the runbook's tokens, so
    the admin's PnP script does it); name the items whose author or editor does not move."""
    rest = phase.sharepoint("target")
    why_not = rest.usable()
    outcome = steps.run(make(None if why_not else rest))
    report: Report = steps.report
    if why_not and outcome.script:
        report.text(f"Who made and last changed the {what} is set by the PnP script `{outcome.script.name}`: "
                    f"{why_not}.")
    left = pd.DataFrame([{"item": i.name, "did not move": i.detail["left"]} for i in phase.ledger().items(outcome.kind)
                         if (i.detail or {}).get("left")], columns=["item", "did not move"])
    phase.save_table(f"{outcome.kind}-not-moving", left)
    if not left.empty:
        report.table(left, f"The {what} made or last changed by someone the mapping does not move: the new one shows "
                           "the migration account there (map the person and rerun to carry them)")
    return {f"{what} by people not moving": len(left)}
